package crdt

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"unsafe"
)

const (
	shareKeys  = 2000
	shareValue = 4096 // bytes: the values dominate the heap
)

// shareConfig has few buckets, so the maps weigh little next to the values.
var shareConfig = KeyspaceConfig{Shards: 4, Buckets: 16}

// decodedRegisters returns shareKeys register entries decoded one by one,
// as from a Raft log or gossip, each with its own copy of the value.
func decodedRegisters(t *testing.T, ms int64) []KV {
	t.Helper()
	v := make([]byte, shareValue)
	kvs := make([]KV, shareKeys)
	for i := range kvs {
		v[0] = byte(i)
		ts := MakeTimestamp(ms, uint16(i))
		enc := AppendEntry(nil, Entry{Mod: ts, State: &Register{Value: v, TS: ts, Replica: "node-1.1804b2f3c4d5e6f7"}})
		e, _, err := DecodeEntry(enc)
		if err != nil {
			t.Fatal(err)
		}
		kvs[i] = KV{Key: fmt.Sprintf("k%04d", i), Entry: e}
	}
	return kvs
}

// heapGrowth returns the heap growth across fn in units of one copy of the
// shareKeys values.
func heapGrowth(fn func()) float64 {
	before := heapInUse()
	fn()
	return (float64(heapInUse()) - float64(before)) / (shareKeys * shareValue)
}

func registerOf(k *Keyspace, key string) *Register {
	e, _ := k.Get(key)
	r, _ := e.State.(*Register)
	return r
}

func encodeKeyspace(k *Keyspace) map[string]string {
	sn := k.Snapshot()
	defer sn.Release()
	return encodeAll(sn)
}

// TestKeyspacesShareRegisters: the same decoded entries joined into two
// keyspaces are held once, and later writes to one keyspace never change
// the other.
func TestKeyspacesShareRegisters(t *testing.T) {
	a, b := NewKeyspace(shareConfig), NewKeyspace(shareConfig)
	growth := heapGrowth(func() {
		for _, kv := range decodedRegisters(t, 1) {
			a.Join(kv.Key, kv.Entry)
			b.Join(kv.Key, kv.Entry)
		}
	})
	if growth > 1.5 {
		t.Fatalf("two keyspaces hold %.2f copies of the values, want one", growth)
	}
	if registerOf(a, "k0001") != registerOf(b, "k0001") {
		t.Fatal("the keyspaces hold different registers")
	}
	wantB, digestB := encodeKeyspace(b), b.Digest()
	for i := range shareKeys {
		key := fmt.Sprintf("k%04d", i)
		at := stamp(int64(10+i), "a")
		switch i % 4 {
		case 0:
			mustApply(t, a, key, Op{Kind: OpSet, Value: []byte(`"new"`), ExpireAt: 5}, at)
		case 1:
			mustApply(t, a, key, Op{Kind: OpDelete}, at)
		case 2:
			a.Join(key, Entry{Mod: MakeTimestamp(int64(10+i), 0), State: &Register{TS: 1, Replica: "z"}})
		}
	}
	a.Expire(1 << 40)
	a.Collect(MakeTimestamp(1<<40, 0))
	if !maps.Equal(encodeKeyspace(b), wantB) || !slices.Equal(b.Digest(), digestB) {
		t.Fatal("writes to one keyspace changed the other")
	}
	for _, k := range []*Keyspace{a, b} {
		if sums, _, _ := recount(k); !slices.Equal(k.Digest(), sums) {
			t.Fatal("digest differs from a recomputation")
		}
	}
}

// TestKeyspaceAdoptsStoredEqualRegister: a keyspace holding its own copy of
// a register adopts an equal one that another keyspace stores (a node's
// replica joining its committed state), freeing its copy; an equal register
// freshly decoded (a duplicate delta) is not adopted.
func TestKeyspaceAdoptsStoredEqualRegister(t *testing.T) {
	replica, committed := NewKeyspace(shareConfig), NewKeyspace(shareConfig)
	for _, kv := range decodedRegisters(t, 1) {
		replica.Join(kv.Key, kv.Entry)
	}
	for _, kv := range decodedRegisters(t, 1) {
		committed.Join(kv.Key, kv.Entry)
	}
	digest := replica.Digest()
	dup := decodedRegisters(t, 1)
	own := registerOf(replica, "k0001")
	for _, kv := range dup {
		if ch, _ := replica.Join(kv.Key, kv.Entry); ch {
			t.Fatal("an equal entry changed the replica")
		}
	}
	if registerOf(replica, "k0001") != own {
		t.Fatal("a freshly decoded duplicate was adopted")
	}
	dup, own = nil, nil
	growth := heapGrowth(func() {
		for i := range shareKeys {
			key := fmt.Sprintf("k%04d", i)
			e, _ := committed.Get(key)
			if ch, _ := replica.Join(key, e); ch {
				t.Fatal("an equal entry changed the replica")
			}
		}
	})
	if growth > -0.5 {
		t.Fatalf("adopting the committed registers freed %.2f copies, want one", -growth)
	}
	if registerOf(replica, "k0001") != registerOf(committed, "k0001") {
		t.Fatal("the replica did not adopt the committed register")
	}
	if !slices.Equal(replica.Digest(), digest) || !slices.Equal(replica.Digest(), committed.Digest()) {
		t.Fatal("adoption changed the digest")
	}
	want := encodeKeyspace(committed)
	mustApply(t, replica, "k0002", Op{Kind: OpSet, Value: []byte(`1`)}, stamp(100, "r"))
	mustApply(t, replica, "k0003", Op{Kind: OpDelete}, stamp(100, "r"))
	if !maps.Equal(encodeKeyspace(committed), want) {
		t.Fatal("writes to the replica changed the committed state")
	}
	if sums, _, _ := recount(replica); !slices.Equal(replica.Digest(), sums) {
		t.Fatal("digest differs from a recomputation")
	}
}

// TestDecodeInternsReplicas: decoded replica ids share memory; the table
// stays bounded under many distinct ids.
func TestDecodeInternsReplicas(t *testing.T) {
	dec := func(rep ReplicaID) ReplicaID {
		e, _, err := DecodeEntry(AppendEntry(nil, Entry{Mod: 1, State: &Register{TS: 1, Replica: rep}}))
		if err != nil {
			t.Fatal(err)
		}
		return e.State.(*Register).Replica
	}
	a, b := dec("node-7.abc"), dec("node-7.abc")
	if a != "node-7.abc" || unsafe.StringData(string(a)) != unsafe.StringData(string(b)) {
		t.Fatal("decoded replica ids are not interned")
	}
	for i := range 3 * maxInterned {
		if got := dec(ReplicaID(fmt.Sprint("r", i))); got != ReplicaID(fmt.Sprint("r", i)) {
			t.Fatalf("decoded %q", got)
		}
	}
	interned.RLock()
	n := len(interned.m)
	interned.RUnlock()
	if n > maxInterned {
		t.Fatalf("%d interned ids", n)
	}
}
