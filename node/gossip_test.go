package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lattice-state/lattice/crdt"
)

func kvs(keys ...string) []crdt.KV {
	out := make([]crdt.KV, len(keys))
	for i, k := range keys {
		out[i] = crdt.KV{Key: k}
	}
	return out
}

func keysOf(items []crdt.KV) []string {
	out := make([]string, len(items))
	for i, kv := range items {
		out[i] = kv.Key
	}
	return out
}

// A sender takes every batch queued behind the first into one request, in
// queue order, without writing into the first batch's array (it is shared by
// the senders of every peer).
func TestPeerSenderDrainCoalescesInOrder(t *testing.T) {
	s := &peerSender{queue: make(chan streamBatch, 8)}
	backing := kvs("a", "b", "spare")
	first := backing[:2]
	s.queue <- streamBatch{items: kvs("c")}
	s.queue <- streamBatch{items: kvs("d", "e")}
	got := keysOf(s.drain(first))
	if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Fatalf("drained %v, want %v", got, want)
	}
	if backing[2].Key != "spare" {
		t.Fatalf("drain wrote into the first batch's array: %q", backing[2].Key)
	}
	if len(s.queue) != 0 {
		t.Fatalf("%d batches left in the queue", len(s.queue))
	}
	if got := keysOf(s.drain(kvs("x"))); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("drain of an empty queue = %v", got)
	}
	close(s.queue)
	if got := keysOf(s.drain(kvs("y"))); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("drain of a closed queue = %v", got)
	}
}

// Stream messages stay under the limit by splitting the lot; every item is in
// exactly one message, in order.
func TestStreamMessagesSplitLargeLots(t *testing.T) {
	n := &Node{cfg: Config{NodeID: "n1"}, clock: crdt.NewClock(crdt.ClockConfig{})}
	d := newDisseminator(n)
	ks := crdt.NewKeyspace(crdt.KeyspaceConfig{})
	var items []crdt.KV
	value := []byte(`"` + strings.Repeat("x", 4<<10) + `"`)
	for i := range 600 { // about 2.4 MiB
		key := fmt.Sprintf("k%03d", i)
		at := crdt.Stamp{TS: crdt.MakeTimestamp(1_700_000_000_000+int64(i), 0), Replica: "n1.1"}
		e, err := ks.Apply(key, crdt.Op{Kind: crdt.OpSet, Type: crdt.TypeRegister, Value: value}, at)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, crdt.KV{Key: key, Entry: e})
	}
	msgs := d.streamMessages(items)
	if len(msgs) < 3 {
		t.Fatalf("%d messages for 2.4 MiB, want at least 3", len(msgs))
	}
	var keys []string
	for _, m := range msgs {
		if len(m) > streamLimit {
			t.Fatalf("message of %d bytes over the %d limit", len(m), streamLimit)
		}
		b, err := decodeDeltaBatch(m)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, keysOf(b.Items)...)
	}
	if !slices.Equal(keys, keysOf(items)) {
		t.Fatalf("messages carry %d keys, not the %d items in order", len(keys), len(items))
	}
}
