package raft

import (
	"fmt"
	"testing"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice/crdt"
)

const now = int64(1_700_000_000_000)

// TestDaprSaveCases covers the etag and first-write rules of Dapr's in-memory store for saves.
func TestDaprSaveCases(t *testing.T) {
	type tc struct {
		name       string
		existing   bool   // key "k" holds "old" before the test
		deleted    bool   // ... and was then deleted
		etag       string // "current" means the key's current etag
		hasETag    bool
		firstWrite bool
		want       Status
	}
	cases := []tc{
		{name: "no etag last-write upserts", existing: true, want: StatusApplied},
		{name: "no etag on missing key creates", want: StatusApplied},
		{name: "etag matches", existing: true, hasETag: true, etag: "current", want: StatusApplied},
		{name: "etag mismatch", existing: true, hasETag: true, etag: "stale", want: StatusETagMismatch},
		{name: "etag on missing key", hasETag: true, etag: "stale", want: StatusNotFound},
		{name: "etag on deleted key", existing: true, deleted: true, hasETag: true, etag: "current", want: StatusNotFound},
		{name: "first-write on missing key creates", firstWrite: true, want: StatusApplied},
		{name: "first-write on deleted key creates", existing: true, deleted: true, firstWrite: true, want: StatusApplied},
		{name: "first-write on existing key", existing: true, firstWrite: true, want: StatusETagMismatch},
		{name: "first-write with correct etag", existing: true, firstWrite: true, hasETag: true, etag: "current", want: StatusApplied},
		{name: "first-write with stale etag", existing: true, firstWrite: true, hasETag: true, etag: "stale", want: StatusETagMismatch},
		{name: "empty etag given counts as an etag", existing: true, hasETag: true, etag: "", want: StatusETagMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			var cur string
			if c.existing {
				cur = h.one(set("k", "old", now)).ETag
			}
			if c.deleted {
				h.one(&Command{Op: OpDelete, Now: now, Delete: &DeleteCmd{Key: "k", Proposed: stamp(now, "n1")}})
			}
			etag := c.etag
			if etag == "current" {
				etag = cur
			}
			cmd := set("k", "new", now+1)
			cmd.Set.ETag, cmd.Set.HasETag, cmd.Set.FirstWrite = etag, c.hasETag, c.firstWrite
			r := h.one(cmd)
			if r.Status != c.want {
				t.Fatalf("status = %v, want %v", r.Status, c.want)
			}
			got, live := h.value("k", now+1)
			switch c.want {
			case StatusApplied:
				if !live || got != "new" || r.ETag == "" || r.ETag == cur {
					t.Fatalf("after apply: value %q live %v, etag %q (old %q)", got, live, r.ETag, cur)
				}
				if e, _ := h.get("k"); e.ETag() != r.ETag {
					t.Fatalf("result etag %q != entry etag %q", r.ETag, e.ETag())
				}
				if r.Err() != nil {
					t.Fatalf("Err() = %v", r.Err())
				}
			case StatusETagMismatch:
				if r.ETag != cur || got != "old" {
					t.Fatalf("mismatch: etag %q (want current %q), value %q", r.ETag, cur, got)
				}
			case StatusNotFound:
				if r.ETag != "" || live {
					t.Fatalf("not found: etag %q, live %v", r.ETag, live)
				}
			}
			if c.want != StatusApplied && r.Err() == nil {
				t.Fatal("Err() of a failed check is nil")
			}
		})
	}
}

// TestDaprDeleteCases covers the same rules for deletes.
func TestDaprDeleteCases(t *testing.T) {
	cases := []struct {
		name       string
		existing   bool
		etag       string
		hasETag    bool
		firstWrite bool
		want       Status
	}{
		{name: "delete existing", existing: true, want: StatusApplied},
		{name: "delete missing without etag", want: StatusApplied},
		{name: "delete with matching etag", existing: true, hasETag: true, etag: "current", want: StatusApplied},
		{name: "delete with stale etag", existing: true, hasETag: true, etag: "stale", want: StatusETagMismatch},
		{name: "delete missing with etag", hasETag: true, etag: "stale", want: StatusNotFound},
		{name: "first-write delete of existing without etag", existing: true, firstWrite: true, want: StatusETagMismatch},
		{name: "first-write delete with etag", existing: true, firstWrite: true, hasETag: true, etag: "current", want: StatusApplied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			var cur string
			if c.existing {
				cur = h.one(set("k", "old", now)).ETag
			}
			etag := c.etag
			if etag == "current" {
				etag = cur
			}
			r := h.one(&Command{Op: OpDelete, Now: now + 1, Delete: &DeleteCmd{
				Key: "k", ETag: etag, HasETag: c.hasETag, FirstWrite: c.firstWrite, Proposed: stamp(now+1, "n2")}})
			if r.Status != c.want {
				t.Fatalf("status = %v, want %v", r.Status, c.want)
			}
			_, live := h.value("k", now+1)
			if live != (c.existing && c.want != StatusApplied) {
				t.Fatalf("live after delete = %v", live)
			}
			if c.want == StatusApplied && r.ETag != "" {
				t.Fatalf("delete returned etag %q", r.ETag)
			}
		})
	}
}

func TestTxn(t *testing.T) {
	h := newHarness(t)
	ea := h.one(set("a", "a0", now)).ETag
	eb := h.one(set("b", "b0", now)).ETag
	item := func(key, value, etag string) TxnItem {
		return TxnItem{Set: &SetCmd{Key: key, Value: []byte(value), ETag: etag, HasETag: etag != "", Proposed: stamp(now+1, "n1")}}
	}
	del := func(key, etag string) TxnItem {
		return TxnItem{Delete: &DeleteCmd{Key: key, ETag: etag, HasETag: etag != "", Proposed: stamp(now+1, "n1")}}
	}

	// One bad etag: nothing is applied, the failing key is named.
	r := h.one(&Command{Op: OpTxn, Now: now + 1, Txn: []TxnItem{item("a", "a1", ea), item("b", "b1", "stale"), item("c", "c1", "")}})
	if r.Status != StatusETagMismatch || r.Key != "b" || r.ETag != eb {
		t.Fatalf("bad etag txn: %+v", r)
	}
	for k, want := range map[string]string{"a": "a0", "b": "b0"} {
		if v, _ := h.value(k, now+1); v != want {
			t.Fatalf("%s = %q after failed txn, want %q", k, v, want)
		}
	}
	if _, ok := h.get("c"); ok {
		t.Fatal("c was created by a failed txn")
	}

	// An etag on a missing key fails the whole transaction too.
	r = h.one(&Command{Op: OpTxn, Now: now + 1, Txn: []TxnItem{item("a", "a1", ea), item("zz", "z", "stale")}})
	if r.Status != StatusNotFound || r.Key != "zz" {
		t.Fatalf("missing-key txn: %+v", r)
	}

	// All good, including the delete of a key that does not exist.
	r = h.one(&Command{Op: OpTxn, Now: now + 1, Txn: []TxnItem{item("a", "a1", ea), del("b", eb), item("c", "c1", ""), del("nope", "")}})
	if r.Status != StatusApplied {
		t.Fatalf("good txn: %+v", r)
	}
	if v, _ := h.value("a", now+1); v != "a1" {
		t.Fatalf("a = %q", v)
	}
	if _, live := h.value("b", now+1); live {
		t.Fatal("b still live")
	}
	if v, _ := h.value("c", now+1); v != "c1" {
		t.Fatalf("c = %q", v)
	}

	// The etags were checked against the state before the transaction: a second write to the
	// same key inside one transaction does not see the first.
	ea1, _ := h.get("a")
	r = h.one(&Command{Op: OpTxn, Now: now + 2, Txn: []TxnItem{item("a", "a2", ea1.ETag()), item("a", "a3", ea1.ETag())}})
	if r.Status != StatusApplied {
		t.Fatalf("double write txn: %+v", r)
	}
	if v, _ := h.value("a", now+2); v != "a3" {
		t.Fatalf("a = %q, want the last write", v)
	}
}

func TestWrongType(t *testing.T) {
	h := newHarness(t)
	counter := counterEntry(t, 5)
	h.one(&Command{Op: OpMerge, Merges: []crdt.KV{{Key: "ctr", Entry: counter}}})
	r := h.one(set("ctr", "x", now))
	if r.Status != StatusWrongType || r.Key != "ctr" {
		t.Fatalf("set on counter: %+v", r)
	}
	r = h.one(&Command{Op: OpTxn, Now: now, Txn: []TxnItem{asItem(set("other", "v", now)), asItem(set("ctr", "v", now))}})
	if r.Status != StatusWrongType {
		t.Fatalf("txn over counter: %+v", r)
	}
	if _, ok := h.get("other"); ok {
		t.Fatal("txn with a wrong-type item applied its other items")
	}
	// A Dapr delete removes a key of any type.
	r = h.one(&Command{Op: OpDelete, Now: now, Delete: &DeleteCmd{Key: "ctr", Proposed: stamp(now, "n1")}})
	if r.Status != StatusApplied {
		t.Fatalf("delete of counter: %+v", r)
	}
	if e, _ := h.get("ctr"); e.Live(now) {
		t.Fatalf("counter still live after delete: %+v", e)
	}
	// ...after which a register may be created over it.
	r = h.one(set("ctr", "now a register", now+1))
	if e, _ := h.get("ctr"); r.Status != StatusApplied || r.ETag != e.ETag() {
		t.Fatalf("set over deleted counter: %+v (stored etag %q)", r, e.ETag())
	}
}

// counterEntry builds a grow-only counter entry with the given count.
func counterEntry(t testing.TB, n uint64) crdt.Entry {
	t.Helper()
	ks := crdt.NewKeyspace(crdt.KeyspaceConfig{})
	if _, err := ks.Apply("c", crdt.Op{Kind: crdt.OpIncrement, Type: crdt.TypeGCounter, Amount: n}, stamp(now-1000, "n9")); err != nil {
		t.Fatal(err)
	}
	e, _ := ks.Get("c")
	return e
}

func TestRequestIDIdempotency(t *testing.T) {
	h := newHarness(t)
	e0 := h.one(set("k", "v0", now)).ETag
	cas := set("k", "v1", now+1)
	cas.RequestID = "req-1"
	cas.Set.ETag, cas.Set.HasETag = e0, true
	first := h.one(cas)
	if first.Status != StatusApplied {
		t.Fatalf("first CAS: %+v", first)
	}
	retry := h.one(cas)
	if retry.Status != StatusAlreadyApplied || retry.ETag != first.ETag || retry.Index != first.Index {
		t.Fatalf("retry: %+v, first %+v", retry, first)
	}
	if retry.Err() != nil {
		t.Fatalf("AlreadyApplied Err() = %v", retry.Err())
	}
	// The same CAS without a request id is a mismatch: the etag moved on.
	cas.RequestID = ""
	if r := h.one(cas); r.Status != StatusETagMismatch {
		t.Fatalf("CAS without id: %+v", r)
	}
	// A failed command is not remembered: its retry is evaluated again.
	bad := set("k", "v2", now+2)
	bad.RequestID = "req-2"
	bad.Set.ETag, bad.Set.HasETag = "stale", true
	if r := h.one(bad); r.Status != StatusETagMismatch {
		t.Fatalf("bad: %+v", r)
	}
	bad.Set.ETag = first.ETag
	if r := h.one(bad); r.Status != StatusApplied {
		t.Fatalf("retry of a failed request with a good etag: %+v", r)
	}
	// Transactions are idempotent too.
	item := asItem(set("t", "1", now+3))
	item.Set.FirstWrite = true
	txn := &Command{Op: OpTxn, RequestID: "req-3", Now: now + 3, Txn: []TxnItem{item}}
	if r := h.one(txn); r.Status != StatusApplied {
		t.Fatalf("txn: %+v", r)
	}
	if r := h.one(txn); r.Status != StatusAlreadyApplied {
		t.Fatalf("txn retry: %+v", r)
	}
}

func TestRequestMemoryIsBounded(t *testing.T) {
	h := newHarness(t)
	first := set("k", "v", now)
	first.RequestID = "first"
	h.one(first)
	for i := range requestMemorySize - 1 {
		c := set("k", "v", now)
		c.RequestID = fmt.Sprintf("r%d", i)
		h.one(c)
	}
	if r := h.one(first); r.Status != StatusAlreadyApplied {
		t.Fatalf("still remembered: %+v", r)
	}
	c := set("k", "v", now)
	c.RequestID = "one-more"
	h.one(c)
	if r := h.one(first); r.Status != StatusApplied {
		t.Fatalf("evicted id answered %+v", r)
	}
	if n := len(h.f.requests.list()); n != requestMemorySize {
		t.Fatalf("memory holds %d ids", n)
	}
}

func TestTTLAndExpire(t *testing.T) {
	h := newHarness(t)
	c := set("k", "v", now)
	c.Set.TTLSeconds = 10
	etag := h.one(c).ETag
	e, _ := h.get("k")
	if r := e.State.(*crdt.Register); r.ExpireAt != now+10_000 {
		t.Fatalf("ExpireAt = %d, want %d", r.ExpireAt, now+10_000)
	}
	// Liveness follows the command's clock, before any Expire command.
	late := set("k", "v2", now+10_000)
	late.Set.ETag, late.Set.HasETag = etag, true
	if r := h.one(late); r.Status != StatusNotFound {
		t.Fatalf("etag on expired key: %+v", r)
	}
	if r := h.one(&Command{Op: OpExpire, Now: now + 9_999}); r.Count != 0 {
		t.Fatalf("expired too early: %+v", r)
	}
	h.changes = nil
	r := h.one(&Command{Op: OpExpire, Now: now + 10_000})
	if r.Status != StatusApplied || r.Count != 1 {
		t.Fatalf("expire: %+v", r)
	}
	if len(h.changes) != 1 || len(h.changes[0].kvs) != 1 || h.changes[0].kvs[0].Key != "k" {
		t.Fatalf("OnApply after expire: %+v", h.changes)
	}
	e, ok := h.get("k")
	if !ok || e.Live(now) {
		t.Fatalf("after expire the key must be a tombstone: %+v %v", e, ok)
	}
	// Re-saving without a TTL removes it.
	c = set("k2", "v", now)
	c.Set.TTLSeconds = 1
	h.one(c)
	h.one(set("k2", "v", now))
	if r := h.one(&Command{Op: OpExpire, Now: now + 5_000}); r.Count != 0 {
		t.Fatalf("TTL survived a save without TTL: %+v", r)
	}
}

func TestCollectHorizon(t *testing.T) {
	h := newHarness(t)
	h.one(set("a", "1", now))
	h.one(set("b", "1", now))
	h.one(&Command{Op: OpDelete, Now: now, Delete: &DeleteCmd{Key: "a", Proposed: stamp(now, "n1")}})
	h.one(&Command{Op: OpDelete, Now: now + 5000, Delete: &DeleteCmd{Key: "b", Proposed: stamp(now+5000, "n1")}})
	hz := crdt.MakeTimestamp(now+1000, 0)
	r := h.one(&Command{Op: OpCollect, Horizon: hz})
	if r.Status != StatusApplied || r.Count != 1 {
		t.Fatalf("collect: %+v", r)
	}
	if _, ok := h.get("a"); ok {
		t.Fatal("old tombstone not collected")
	}
	if _, ok := h.get("b"); !ok {
		t.Fatal("recent tombstone collected")
	}
	if got := crdt.Timestamp(h.f.horizon.Load()); got != hz {
		t.Fatalf("horizon = %v", got)
	}
	// A lower horizon never moves it back.
	h.one(&Command{Op: OpCollect, Horizon: hz - 100})
	if got := crdt.Timestamp(h.f.horizon.Load()); got != hz {
		t.Fatalf("horizon moved back to %v", got)
	}
}

func TestStampIsRaisedAboveCommitted(t *testing.T) {
	h := newHarness(t)
	h.one(set("k", "v", now+5000))
	before, _ := h.get("k")
	c := set("k", "late", now) // proposer clock behind the committed write
	if r := h.one(c); r.Status != StatusApplied {
		t.Fatal(r)
	}
	e, _ := h.get("k")
	reg := e.State.(*crdt.Register)
	if reg.TS <= before.Mod || string(reg.Value) != "late" {
		t.Fatalf("TS %v not above committed %v (value %q)", reg.TS, before.Mod, reg.Value)
	}
	// A proposal ahead of the committed state keeps its own stamp.
	ahead := set("k", "ahead", now+9000)
	h.one(ahead)
	e, _ = h.get("k")
	if reg := e.State.(*crdt.Register); reg.TS != ahead.Set.Proposed.TS || reg.Replica != "n1" {
		t.Fatalf("stamp = %v/%v, want the proposed one", reg.TS, reg.Replica)
	}
}

func TestMergesAndReads(t *testing.T) {
	h := newHarness(t)
	src := newHarness(t)
	src.one(set("m", "from-replica", now))
	me, _ := src.get("m")

	// Merges are applied first, even when the command's own check then fails.
	c := set("m", "cas", now+1)
	c.Merges = []crdt.KV{{Key: "m", Entry: me}}
	c.Set.ETag, c.Set.HasETag = "stale", true
	if r := h.one(c); r.Status != StatusETagMismatch || r.ETag != me.ETag() {
		t.Fatalf("CAS after merge: %+v (replica etag %q)", r, me.ETag())
	}
	// ...so an etag read from the node's replica works at once.
	c.Set.ETag = me.ETag()
	if r := h.one(c); r.Status != StatusApplied {
		t.Fatalf("CAS with replica etag: %+v", r)
	}

	// A read with merges reports the joined entries of the requested keys that exist.
	src.one(set("r", "x", now+2))
	re, _ := src.get("r")
	r := h.one(&Command{Op: OpRead, Merges: []crdt.KV{{Key: "r", Entry: re}}, Keys: []string{"r", "missing", "m"}})
	if r.Status != StatusApplied || len(r.Entries) != 2 || r.Entries[0].Key != "r" || r.Entries[1].Key != "m" {
		t.Fatalf("read: %+v", r)
	}
	if r.Entries[0].Entry.ETag() != re.ETag() {
		t.Fatal("read did not report the merged entry")
	}
	// Merging the same state again changes nothing (idempotent join) and reports no change.
	h.changes = nil
	h.one(&Command{Op: OpMerge, Merges: []crdt.KV{{Key: "r", Entry: re}}})
	if len(h.changes) != 0 {
		t.Fatalf("idempotent merge reported changes: %+v", h.changes)
	}
}

func TestBatchEntryAndOnApply(t *testing.T) {
	h := newHarness(t)
	cas := set("k", "2", now)
	cas.Set.FirstWrite = true
	res := h.apply(set("k", "1", now), cas, set("j", "x", now), set("k", "3", now))
	want := []Status{StatusApplied, StatusETagMismatch, StatusApplied, StatusApplied}
	for i, r := range res {
		if r.Status != want[i] || r.Index != h.index {
			t.Fatalf("result %d = %+v, want %v at index %d", i, r, want[i], h.index)
		}
	}
	if len(h.changes) != 1 {
		t.Fatalf("OnApply called %d times for one entry", len(h.changes))
	}
	ch := h.changes[0]
	if ch.index != h.index || len(ch.kvs) != 2 || ch.kvs[0].Key != "k" || ch.kvs[1].Key != "j" {
		t.Fatalf("OnApply got %+v", ch)
	}
	if v := ch.kvs[0].Entry.State.(*crdt.Register).Value; string(v) != "3" {
		t.Fatalf("OnApply reported %q, want the post-entry value", v)
	}
	if got := h.f.applied.current(); got != h.index {
		t.Fatalf("applied index %d, want %d", got, h.index)
	}
}

func TestNonCommandEntriesAdvanceAppliedIndex(t *testing.T) {
	h := newHarness(t)
	out := h.f.ApplyBatch([]*hraft.Log{{Index: 7, Type: hraft.LogConfiguration}})
	if out[0] != nil || h.f.applied.current() != 7 {
		t.Fatalf("response %v, applied %d", out[0], h.f.applied.current())
	}
}

func TestInvalidCommandInEntry(t *testing.T) {
	h := newHarness(t)
	// A well-formed envelope with a semantically invalid command (empty key) gets StatusInvalid.
	r := h.one(&Command{Op: OpSet, Set: &SetCmd{Key: "", Proposed: stamp(now, "n1")}})
	if r.Status != StatusInvalid || r.Err() == nil {
		t.Fatalf("got %+v", r)
	}
}

func TestCorruptEntryStopsTheNode(t *testing.T) {
	h := newHarness(t)
	defer func() {
		if recover() == nil {
			t.Fatal("a corrupt entry was applied")
		}
	}()
	h.f.ApplyBatch([]*hraft.Log{{Index: 1, Type: hraft.LogCommand, Data: []byte{entryVersion, 1, 3, byte(OpSet), 0xff}}})
}
