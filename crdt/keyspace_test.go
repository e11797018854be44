package crdt

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

func stamp(ms int64, r string) Stamp { return Stamp{TS: MakeTimestamp(ms, 0), Replica: ReplicaID(r)} }

func mustApply(t testing.TB, k *Keyspace, key string, op Op, at Stamp) Entry {
	t.Helper()
	d, err := k.Apply(key, op, at)
	if err != nil {
		t.Fatalf("Apply(%s, %v): %v", key, op.Kind, err)
	}
	return d
}

func view(t testing.TB, k *Keyspace, key string, nowMs int64) string {
	t.Helper()
	e, ok := k.Get(key)
	if !ok {
		return "<absent>"
	}
	return string(e.JSON(nowMs))
}

func TestKeyspaceRegister(t *testing.T) {
	k := NewKeyspace(KeyspaceConfig{})
	d := mustApply(t, k, "k", Op{Kind: OpSet, Value: []byte(`"a"`)}, stamp(10, "n1"))
	if r := d.State.(*Register); string(r.Value) != `"a"` || r.TS != MakeTimestamp(10, 0) {
		t.Fatalf("delta %+v", r)
	}
	e1, _ := k.Get("k")
	mustApply(t, k, "k", Op{Kind: OpSet, Value: []byte(`"b"`)}, stamp(11, "n1"))
	e2, _ := k.Get("k")
	if view(t, k, "k", 11) != `"b"` || e1.ETag() == e2.ETag() {
		t.Fatalf("view %s, etags %s %s", view(t, k, "k", 11), e1.ETag(), e2.ETag())
	}
	// An older concurrent write loses; a newer one wins.
	if ch, _ := k.Join("k", Entry{Mod: MakeTimestamp(9, 0), State: &Register{Value: []byte(`"old"`), TS: MakeTimestamp(9, 0), Replica: "n2"}}); ch {
		t.Fatal("older write changed the register")
	}
	mustApply(t, k, "k", Op{Kind: OpDelete}, stamp(12, "n2"))
	e, ok := k.Get("k")
	if !ok || e.Live(12) || e.JSON(12) != nil || e.Type() != TypeRegister {
		t.Fatalf("after delete: %+v live=%v", e, e.Live(12))
	}
	// Writing over the tombstone keeps the register incarnation.
	mustApply(t, k, "k", Op{Kind: OpSet, Value: []byte(`1`)}, stamp(13, "n1"))
	if view(t, k, "k", 13) != `1` {
		t.Fatalf("view %s", view(t, k, "k", 13))
	}
}

func TestKeyspaceTypes(t *testing.T) {
	k := NewKeyspace(KeyspaceConfig{})
	steps := []struct {
		key  string
		op   Op
		want string
	}{
		{"g", Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 5}, `5`},
		{"g", Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 2}, `7`},
		{"p", Op{Kind: OpDecrement, Amount: 3}, `-3`},
		{"s", Op{Kind: OpAdd, Elements: []string{"b", "a", "a"}}, `["a","b"]`},
		{"s", Op{Kind: OpRemove, Elements: []string{"a", "zz"}}, `["b"]`},
		{"f", Op{Kind: OpEnable}, `true`},
		{"f", Op{Kind: OpDisable}, `false`},
		{"mv", Op{Kind: OpAssign, Value: []byte(`{"x":1}`)}, `[{"x":1}]`},
		{"m", Op{Kind: OpMapUpdate, Field: "n", Nested: &Op{Kind: OpIncrement, Type: TypePNCounter, Amount: 4}}, `{"n":4}`},
		{"m", Op{Kind: OpMapUpdate, Field: "q\"", Nested: &Op{Kind: OpSet, Value: []byte(`true`)}}, `{"n":4,"q\"":true}`},
		{"m", Op{Kind: OpMapUpdate, Field: "in", Nested: &Op{Kind: OpMapUpdate, Field: "s", Nested: &Op{Kind: OpAdd, Elements: []string{"e"}}}}, `{"in":{"s":["e"]},"n":4,"q\"":true}`},
		{"m", Op{Kind: OpMapRemove, Field: "n"}, `{"in":{"s":["e"]},"q\"":true}`},
	}
	for i, s := range steps {
		mustApply(t, k, s.key, s.op, stamp(int64(10+i), "n1"))
		if got := view(t, k, s.key, 100); got != s.want {
			t.Fatalf("step %d: %s = %s, want %s", i, s.key, got, s.want)
		}
	}
	errCases := []struct {
		key  string
		op   Op
		want error
	}{
		{"g", Op{Kind: OpAdd, Elements: []string{"x"}}, ErrWrongType},
		{"g", Op{Kind: OpDecrement, Amount: 1}, ErrWrongType},
		{"g", Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 1<<64 - 1}, ErrOverflow},
		{"p", Op{Kind: OpDecrement, Amount: 1 << 63}, ErrOverflow},
		{"g", Op{Kind: OpIncrement, Amount: 1}, ErrInvalidOp},
		{"g", Op{Kind: OpIncrement, Type: TypeGCounter}, ErrInvalidOp},
		{"s", Op{Kind: OpAdd}, ErrInvalidOp},
		{"x", Op{}, ErrInvalidOp},
		{"x", Op{Kind: OpAdd, Type: TypeFlag, Elements: []string{"a"}}, ErrInvalidOp},
		{"m", Op{Kind: OpMapUpdate, Field: "in", Nested: &Op{Kind: OpEnable}}, ErrWrongType},
		{"m", Op{Kind: OpMapUpdate, Field: "z", Nested: &Op{Kind: OpDelete}}, ErrInvalidOp},
		{"m", Op{Kind: OpMapUpdate, Field: "z"}, ErrInvalidOp},
	}
	for _, c := range errCases {
		if _, err := k.Apply(c.key, c.op, stamp(50, "n1")); !errors.Is(err, c.want) {
			t.Errorf("Apply(%s, %+v) err = %v, want %v", c.key, c.op, err, c.want)
		}
	}
	if _, err := k.Apply("g", Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 1}, Stamp{TS: 5}); !errors.Is(err, ErrInvalidOp) {
		t.Errorf("stamp without replica: %v", err)
	}
}

// TestKeyspaceDeleteRecreate: deleting a non-register key leaves a
// TypeNone tombstone; re-creating it, under any type, starts from nothing,
// and concurrent updates to the old incarnation are discarded.
func TestKeyspaceDeleteRecreate(t *testing.T) {
	a, b := NewKeyspace(KeyspaceConfig{}), NewKeyspace(KeyspaceConfig{})
	d1 := mustApply(t, a, "s", Op{Kind: OpAdd, Elements: []string{"x"}}, stamp(10, "a"))
	b.Join("s", d1)
	late := mustApply(t, b, "s", Op{Kind: OpAdd, Elements: []string{"late"}}, stamp(11, "b"))
	del := mustApply(t, a, "s", Op{Kind: OpDelete}, stamp(12, "a"))
	if del.Type() != TypeNone || del.Inc != stamp(12, "a") {
		t.Fatalf("delete delta %+v", del)
	}
	if _, err := a.Apply("s", Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 2}, stamp(13, "a")); err != nil {
		t.Fatalf("re-create as another type: %v", err)
	}
	a.Join("s", late) // an update of the dead incarnation
	if got := view(t, a, "s", 100); got != `2` {
		t.Fatalf("re-created key = %s", got)
	}
	re := mustApply(t, a, "s2", Op{Kind: OpAdd, Elements: []string{"old"}}, stamp(20, "a"))
	b.Join("s2", re)
	for _, k := range []*Keyspace{a, b} {
		mustApply(t, k, "s2", Op{Kind: OpDelete}, stamp(21, "a"))
	}
	// Both replicas re-create the key after seeing the same delete: the
	// incarnations agree, so both adds survive.
	x := mustApply(t, a, "s2", Op{Kind: OpAdd, Elements: []string{"p"}}, stamp(22, "a"))
	y := mustApply(t, b, "s2", Op{Kind: OpAdd, Elements: []string{"q"}}, stamp(22, "b"))
	a.Join("s2", y)
	b.Join("s2", x)
	if va, vb := view(t, a, "s2", 100), view(t, b, "s2", 100); va != `["p","q"]` || vb != va {
		t.Fatalf("re-created set: %s / %s", va, vb)
	}
}

func TestKeyspaceTypeConflict(t *testing.T) {
	a, b := NewKeyspace(KeyspaceConfig{}), NewKeyspace(KeyspaceConfig{})
	da := mustApply(t, a, "k", Op{Kind: OpSet, Value: []byte(`1`)}, stamp(10, "a"))
	db := mustApply(t, b, "k", Op{Kind: OpAdd, Elements: []string{"e"}}, stamp(9, "b"))
	a.Join("k", db)
	b.Join("k", da)
	ea, _ := a.Get("k")
	eb, _ := b.Get("k")
	if !Equal(ea, eb) || ea.Type() != TypeORSet {
		t.Fatalf("conflict resolved to %v / %v", ea.Type(), eb.Type())
	}
}

func TestKeyspaceJoinEffective(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		es := genEntries(t, 2)
		k := NewKeyspace(KeyspaceConfig{Shards: 1, Buckets: 1})
		k.Join("k", es[0])
		old, _ := k.Get("k")
		changed, eff := k.Join("k", es[1])
		now, _ := k.Get("k")
		want, wantChanged := JoinEntries(old, es[1])
		if changed != wantChanged || !Equal(now, want) {
			t.Fatalf("Join changed=%v (want %v)", changed, wantChanged)
		}
		if changed {
			if got, _ := JoinEntries(old, eff); !Equal(got, now) {
				t.Fatalf("old ⊔ effective != new")
			}
		}
	})
}

func TestKeyspaceExpireAndCollect(t *testing.T) {
	k := NewKeyspace(KeyspaceConfig{})
	live := mustApply(t, k, "ttl", Op{Kind: OpSet, Value: []byte(`1`), ExpireAt: 100}, stamp(10, "a"))
	mustApply(t, k, "keep", Op{Kind: OpSet, Value: []byte(`2`)}, stamp(10, "a"))
	mustApply(t, k, "gone", Op{Kind: OpSet, Value: []byte(`3`)}, stamp(10, "a"))
	mustApply(t, k, "gone", Op{Kind: OpDelete}, stamp(20, "a"))
	mustApply(t, k, "set", Op{Kind: OpAdd, Elements: []string{"x"}}, stamp(10, "a"))
	mustApply(t, k, "set", Op{Kind: OpDelete}, stamp(30, "a"))
	if got := k.Expire(99); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if e, _ := k.Get("ttl"); e.Live(100) || !e.Live(99) {
		t.Fatal("Live ignores expiry")
	}
	if got := k.Expire(100); !slices.Equal(got, []string{"ttl"}) {
		t.Fatalf("Expire = %v", got)
	}
	e, _ := k.Get("ttl")
	if r := e.State.(*Register); !r.Deleted || r.Value != nil || r.TS != MakeTimestamp(10, 0) {
		t.Fatalf("expired register %+v", r)
	}
	if ch, _ := k.Join("ttl", live); ch {
		t.Fatal("the live value resurrected an expired key")
	}
	if got := k.Expire(1000); len(got) != 0 {
		t.Fatalf("expired twice: %v", got)
	}
	if n := k.Collect(MakeTimestamp(25, 0)); n != 2 { // ttl (Mod 10) and gone (Mod 20)
		t.Fatalf("Collect = %d", n)
	}
	if _, ok := k.Get("gone"); ok {
		t.Fatal("tombstone kept")
	}
	if n := k.Collect(MakeTimestamp(1000, 0)); n != 1 || k.Len() != 1 {
		t.Fatalf("second Collect = %d, Len = %d", n, k.Len())
	}
}

func TestKeyspaceSnapshotIsolation(t *testing.T) {
	k := NewKeyspace(KeyspaceConfig{Shards: 4, Buckets: 16})
	for i := range 50 {
		mustApply(t, k, fmt.Sprintf("r%02d", i), Op{Kind: OpSet, Value: []byte(fmt.Sprint(i))}, stamp(10, "a"))
	}
	mustApply(t, k, "set", Op{Kind: OpAdd, Elements: []string{"x"}}, stamp(10, "a"))
	mustApply(t, k, "set", Op{Kind: OpAdd, Elements: []string{"y"}}, stamp(11, "a")) // in place
	got, _ := k.Get("set")
	sn := k.Snapshot()
	mustApply(t, k, "set", Op{Kind: OpAdd, Elements: []string{"z"}}, stamp(12, "a"))
	mustApply(t, k, "set", Op{Kind: OpAdd, Elements: []string{"w"}}, stamp(13, "a"))
	mustApply(t, k, "r00", Op{Kind: OpSet, Value: []byte(`"new"`)}, stamp(12, "a"))
	mustApply(t, k, "r01", Op{Kind: OpDelete}, stamp(12, "a"))
	mustApply(t, k, "new", Op{Kind: OpSet, Value: []byte(`1`)}, stamp(12, "a"))
	k.Collect(MakeTimestamp(100, 0))
	if string(got.JSON(0)) != `["x","y"]` {
		t.Fatalf("an entry handed out by Get changed: %s", got.JSON(0))
	}
	var keys []string
	sn.Range(func(key string, e Entry) bool {
		keys = append(keys, key)
		switch key {
		case "set":
			if string(e.JSON(0)) != `["x","y"]` {
				t.Errorf("snapshot set = %s", e.JSON(0))
			}
		case "r00", "r01":
			if string(e.JSON(0)) != key[2:] && string(e.JSON(0)) != key[1:] {
				t.Errorf("snapshot %s = %s", key, e.JSON(0))
			}
		}
		return true
	})
	if len(keys) != 51 || !slices.IsSorted(keys) || sn.Len() != 51 {
		t.Fatalf("snapshot keys %d sorted=%v", len(keys), slices.IsSorted(keys))
	}
	if e, ok := sn.Get("r00"); !ok || string(e.JSON(0)) != "0" {
		t.Fatalf("snapshot Get r00")
	}
	sn.Release()
	sn.Release()
	if v, typ, etag, ok := k.View("set", 0); !ok || typ != TypeORSet || string(v) != `["w","x","y","z"]` || etag == got.ETag() {
		t.Fatalf("View = %s %v %s %v", v, typ, etag, ok)
	}
	if _, _, _, ok := k.View("r01", 0); ok {
		t.Fatal("View of a tombstone")
	}
	if view(t, k, "set", 0) != `["w","x","y","z"]` || view(t, k, "r00", 0) != `"new"` || k.Len() != 51 {
		t.Fatalf("live view after snapshot: %s %s %d", view(t, k, "set", 0), view(t, k, "r00", 0), k.Len())
	}
	n := 0
	k.Snapshot().Range(func(string, Entry) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("Range did not stop: %d", n)
	}
}

// recount recomputes the digest and memory of k from scratch.
func recount(k *Keyspace) ([]uint64, int64, int) {
	sums := make([]uint64, k.nb)
	var mem int64
	sn := k.Snapshot()
	defer sn.Release()
	sn.Range(func(key string, e Entry) bool {
		h := k.keyHash(key)
		sums[k.bucketOf(h)] += mix64(h, e.Hash())
		_, plain := plainRegister(e)
		mem += entryBytes(key, e, !plain)
		return true
	})
	return sums, mem, sn.Len()
}

// TestKeyspaceIncremental: the digest, memory accounting and count kept on
// every write equal a recomputation, and replicas with equal entries reached
// by different paths have equal digests.
func TestKeyspaceIncremental(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := NewKeyspace(KeyspaceConfig{Shards: 2, Buckets: 8})
		b := NewKeyspace(KeyspaceConfig{Shards: 4, Buckets: 8})
		keys := rapid.SampledFrom([]string{"k1", "k2", "k3", "k4", "k5"})
		var deltas []KV
		collected := false
		for i := range rapid.IntRange(1, 30).Draw(t, "n") {
			key := keys.Draw(t, "key")
			typ := rapid.SampledFrom(allTypes).Draw(t, "type")
			op := genOp(t, typ, 0)
			switch rapid.IntRange(0, 6).Draw(t, "what") {
			case 0:
				op = Op{Kind: OpDelete, Type: typ}
			case 1:
				a.Expire(int64(i))
				continue
			case 6: // an old register with a newer Mod: only Mod changes, or a register item is made
				d := Entry{Mod: MakeTimestamp(int64(i+1), 0), State: &Register{TS: 1, Replica: "z"}}
				a.Join(key, d)
				deltas = append(deltas, KV{key, d})
				continue
			case 2:
				collected = a.Collect(MakeTimestamp(int64(i)-5, 0)) > 0 || collected
				continue
			case 3:
				a.Snapshot() // never released: every later write copies
			}
			d, err := a.Apply(key, op, stamp(int64(i+1), "a"))
			if err == nil {
				deltas = append(deltas, KV{key, d})
			}
			if rapid.Bool().Draw(t, "get") {
				a.Get(key)
			}
			if rapid.IntRange(0, 3).Draw(t, "check") == 0 {
				// Digest (or BucketKeys) between writes: later writes must
				// update what it summed and cached.
				if rapid.Bool().Draw(t, "bucketKeys") {
					a.BucketKeys(a.Bucket(key))
				} else if sums, _, _ := recount(a); !slices.Equal(a.Digest(), sums) {
					t.Fatalf("digest after write %d differs from a recomputation", i)
				}
			}
		}
		sums, mem, n := recount(a)
		if !slices.Equal(a.Digest(), sums) || a.MemoryBytes() != mem || a.Len() != n {
			t.Fatalf("incremental digest/memory/len differ: mem %d vs %d, len %d vs %d", a.MemoryBytes(), mem, a.Len(), n)
		}
		if collected {
			// Collection follows a horizon all replicas agree on; b has not
			// collected, so its tombstones may still shadow re-created keys.
			return
		}
		// b receives the same deltas in reverse order; then both hold the same entries.
		for i := len(deltas) - 1; i >= 0; i-- {
			b.Join(deltas[i].Key, deltas[i].Entry)
		}
		for _, key := range []string{"k1", "k2", "k3", "k4", "k5"} {
			ea, oka := a.Get(key)
			if !oka {
				continue // collected on a
			}
			b.Join(key, ea)
			eb, _ := b.Get(key)
			if !Equal(ea, eb) {
				t.Fatalf("%s: %v vs %v", key, dump(ea.State), dump(eb.State))
			}
			if !slices.Contains(b.BucketKeys(b.Bucket(key)), KeyHash{Key: key, Hash: ea.Hash()}) {
				t.Fatalf("BucketKeys misses %s", key)
			}
		}
	})
}

func TestKeyspaceConcurrent(t *testing.T) {
	k := NewKeyspace(KeyspaceConfig{Shards: 4, Buckets: 64})
	const workers, n = 4, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep := fmt.Sprintf("w%d", w)
			for i := range n {
				at := stamp(int64(i+1), rep)
				if _, err := k.Apply("counter", Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 1}, at); err != nil {
					t.Error(err)
					return
				}
				if _, err := k.Apply("set", Op{Kind: OpAdd, Elements: []string{fmt.Sprintf("%s-%d", rep, i)}}, at); err != nil {
					t.Error(err)
					return
				}
				if _, err := k.Apply(fmt.Sprintf("r%d", i%17), Op{Kind: OpSet, Value: []byte(`1`)}, at); err != nil {
					t.Error(err)
					return
				}
				switch i % 50 {
				case 0:
					sn := k.Snapshot()
					sn.Range(func(string, Entry) bool { return true })
					sn.Release()
				case 25:
					k.Digest()
					k.BucketKeys(i % 64)
				}
				if e, ok := k.Get("set"); ok {
					_ = e.JSON(0)
				}
			}
		}()
	}
	wg.Wait()
	if got := view(t, k, "counter", 0); got != fmt.Sprint(workers*n) {
		t.Fatalf("counter = %s", got)
	}
	e, _ := k.Get("set")
	if e.State.(*ORSet).Len() != workers*n {
		t.Fatalf("set has %d elements", e.State.(*ORSet).Len())
	}
	sums, mem, cnt := recount(k)
	if !slices.Equal(k.Digest(), sums) || k.MemoryBytes() != mem || k.Len() != cnt {
		t.Fatal("incremental digest/memory/len differ after concurrent writes")
	}
}

func TestKeyspaceConfig(t *testing.T) {
	if err := DefaultKeyspaceConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []KeyspaceConfig{{Shards: 3, Buckets: 8}, {Shards: 16, Buckets: 8}, {}} {
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
	}
	k := NewKeyspace(KeyspaceConfig{Shards: 16, Buckets: 4})
	if len(k.shards) != 4 || len(k.Digest()) != 4 || k.BucketKeys(4) != nil {
		t.Fatalf("shards %d", len(k.shards))
	}
}

func encodeAll(sn *Snapshot) map[string]string {
	out := map[string]string{}
	sn.Range(func(key string, e Entry) bool {
		out[key] = string(AppendEntry(nil, e))
		return true
	})
	return out
}

// TestSnapshotProperty: whatever happens after a snapshot is taken (writes
// in place, deletes, expiry, collection, other snapshots taken or
// released), the snapshot's content never changes, and a fresh snapshot
// agrees with Get.
func TestSnapshotProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := NewKeyspace(KeyspaceConfig{Shards: 2, Buckets: 4})
		keys := rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f"})
		type taken struct {
			sn   *Snapshot
			want map[string]string
		}
		var snaps []taken
		for i := range rapid.IntRange(1, 40).Draw(t, "n") {
			key := keys.Draw(t, "key")
			switch rapid.IntRange(0, 11).Draw(t, "what") {
			case 0:
				sn := k.Snapshot()
				snaps = append(snaps, taken{sn, encodeAll(sn)})
			case 1:
				if len(snaps) > 0 {
					j := rapid.IntRange(0, len(snaps)-1).Draw(t, "release")
					snaps[j].sn.Release()
					snaps = slices.Delete(snaps, j, j+1)
				}
			case 2:
				k.Expire(int64(i))
			case 3:
				k.Collect(MakeTimestamp(int64(i)-3, 0))
			case 4:
				k.Get(key)
			case 5: // the same state with a newer Mod
				if e, ok := k.Get(key); ok {
					e.Mod += MakeTimestamp(1000, 0)
					k.Join(key, e)
				}
			case 6: // an entry that loses wholly but has a newer Mod: only Mod changes
				k.Join(key, Entry{Mod: MakeTimestamp(int64(i+1000), 0), State: &Register{TS: 1, Replica: "z"}})
			default:
				typ := rapid.SampledFrom([]Type{TypeRegister, TypeORSet, TypeORMap, TypeGCounter}).Draw(t, "type")
				op := genOp(t, typ, 0)
				if rapid.IntRange(0, 4).Draw(t, "del") == 0 {
					op = Op{Kind: OpDelete, Type: typ}
				}
				_, _ = k.Apply(key, op, stamp(int64(i+1), string(genReplica.Draw(t, "r"))))
			}
		}
		for _, s := range snaps {
			if got := encodeAll(s.sn); !maps.Equal(got, s.want) {
				t.Fatalf("a snapshot changed")
			}
		}
		sn := k.Snapshot()
		defer sn.Release()
		n := 0
		sn.Range(func(key string, e Entry) bool {
			n++
			got, ok := k.Get(key)
			if !ok || !Equal(got, e) {
				t.Fatalf("fresh snapshot and Get disagree on %s", key)
			}
			return true
		})
		if n != k.Len() {
			t.Fatalf("snapshot has %d keys, Len %d", n, k.Len())
		}
	})
}
