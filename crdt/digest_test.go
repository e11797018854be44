package crdt

import (
	"fmt"
	"slices"
	"testing"
)

// TestHashStable pins the hashes that replicas compare (digests, BucketKeys,
// ETags): they must not change between builds or processes.
func TestHashStable(t *testing.T) {
	reg := Entry{Mod: 7, State: &Register{Value: []byte(`"hello"`), TS: 7, Replica: "n1"}}
	set := Entry{Inc: Stamp{TS: 3, Replica: "n2"}, Mod: 9, State: NewORSet().AddDelta("n1", "a", "b")}
	set.State.settle()
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"key", hashString(seedKey, "key-1"), 0x27b542062ae10868},
		{"bytes", hashBytes(seedEntry, []byte("a fairly long value of more than sixteen bytes")), 0x6356a8f37fe14314},
		{"register", reg.Hash(), 0xfb5bbab15eff7d6f},
		{"stored register", reg.State.(*Register).bareHash(), 0xfb5bbab15eff7d6f},
		{"orset", set.Hash(), 0x6bcd5bf4e5306a9f},
	} {
		if c.got != c.want {
			t.Errorf("%s hash = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if b := NewKeyspace(KeyspaceConfig{}).Bucket("key-1"); b != 635 {
		t.Errorf("bucket of key-1 = %d, want 635", b)
	}
}

// TestDigestPendingBounded: an item is queued once however often it is
// written in place, and items replaced before a digest (here frozen by Get,
// so the next write copies) leave dead entries on the pending list, which
// stays bounded without a Digest; the digest stays exact.
func TestDigestPendingBounded(t *testing.T) {
	k := NewKeyspace(KeyspaceConfig{Shards: 1, Buckets: 4})
	for i := range 2000 {
		key := fmt.Sprintf("s%d", i%10)
		mustApply(t, k, key, Op{Kind: OpAdd, Elements: []string{fmt.Sprint(i)}}, stamp(int64(i+1), "a"))
		if i%20 < 10 {
			k.Get(key)
		}
		s := &k.shards[0]
		if s.queued != min(i+1, 10) || len(s.pending) > 2*s.queued+16 {
			t.Fatalf("write %d: %d pending, %d queued", i, len(s.pending), s.queued)
		}
	}
	sums, _, _ := recount(k)
	if !slices.Equal(k.Digest(), sums) {
		t.Fatal("digest differs from a recomputation")
	}
	if s := &k.shards[0]; len(s.pending) != 0 || s.queued != 0 {
		t.Fatalf("after Digest: %d pending, %d queued", len(s.pending), s.queued)
	}
}

// TestDigestCopiedRegister: a register copied by value from a stored one
// (with its cached hash) and changed is hashed afresh when stored.
func TestDigestCopiedRegister(t *testing.T) {
	k := NewKeyspace(KeyspaceConfig{Shards: 1, Buckets: 4})
	mustApply(t, k, "r", Op{Kind: OpSet, Value: []byte(`1`)}, stamp(1, "a"))
	e, _ := k.Get("r")
	c := *e.State.(*Register)
	c.Value, c.TS = []byte(`2`), MakeTimestamp(2, 0)
	k.Join("r", Entry{Mod: c.TS, State: &c})
	sums, _, _ := recount(k)
	if !slices.Equal(k.Digest(), sums) {
		t.Fatal("digest differs from a recomputation")
	}
}
