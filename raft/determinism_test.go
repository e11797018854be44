package raft

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice/crdt"
)

// randomLog generates n entries of mixed commands. It drives a reference FSM so that some etags
// are the current ones (CAS successes) and others stale.
func randomLog(t testing.TB, seed uint64, n int) []*hraft.Log {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ref := newHarness(t)
	replica := crdt.NewKeyspace(crdt.KeyspaceConfig{})
	key := func() string { return fmt.Sprintf("k%02d", rng.IntN(40)) }
	clock := now
	var etags []string
	etag := func() (string, bool) {
		switch {
		case rng.IntN(3) == 0:
			return "", false
		case len(etags) > 0 && rng.IntN(4) != 0:
			return etags[len(etags)-1-rng.IntN(min(len(etags), 3))], true
		}
		return "stale", true
	}
	setCmd := func() *SetCmd {
		s := &SetCmd{Key: key(), Value: fmt.Appendf(nil, `"v%d"`, rng.IntN(1000)), FirstWrite: rng.IntN(5) == 0,
			Proposed: crdt.Stamp{TS: crdt.MakeTimestamp(clock-int64(rng.IntN(50)), 0), Replica: crdt.ReplicaID(fmt.Sprintf("n%d", rng.IntN(3)))}}
		if rng.IntN(4) == 0 {
			s.TTLSeconds = int64(1 + rng.IntN(5))
		}
		s.ETag, s.HasETag = etag()
		return s
	}
	delCmd := func() *DeleteCmd {
		d := &DeleteCmd{Key: key(), Proposed: crdt.Stamp{TS: crdt.MakeTimestamp(clock, 0), Replica: "n1"}}
		d.ETag, d.HasETag = etag()
		return d
	}
	merges := func() []crdt.KV {
		if rng.IntN(3) != 0 {
			return nil
		}
		var out []crdt.KV
		for range 1 + rng.IntN(3) {
			k := key()
			at := crdt.Stamp{TS: crdt.MakeTimestamp(clock-int64(rng.IntN(3000)), uint16(rng.IntN(4))), Replica: crdt.ReplicaID(fmt.Sprintf("n%d", rng.IntN(3)))}
			var op crdt.Op
			if rng.IntN(2) == 0 {
				op = crdt.Op{Kind: crdt.OpSet, Type: crdt.TypeRegister, Value: fmt.Appendf(nil, `"r%d"`, rng.IntN(100))}
			} else {
				op = crdt.Op{Kind: crdt.OpDelete, Type: crdt.TypeRegister}
			}
			if _, err := replica.Apply(k, op, at); err != nil {
				continue
			}
			e, _ := replica.Get(k)
			out = append(out, crdt.KV{Key: k, Entry: e})
		}
		return out
	}
	var logs []*hraft.Log
	for range n {
		clock += int64(rng.IntN(700))
		var cmds []*Command
		for range 1 + rng.IntN(4) {
			c := &Command{Now: clock, Merges: merges()}
			if rng.IntN(3) == 0 {
				c.RequestID = fmt.Sprintf("req%d", rng.IntN(200))
			}
			switch p := rng.IntN(100); {
			case p < 45:
				c.Op, c.Set = OpSet, setCmd()
			case p < 60:
				c.Op, c.Delete = OpDelete, delCmd()
			case p < 72:
				c.Op = OpTxn
				for range 1 + rng.IntN(4) {
					if rng.IntN(3) == 0 {
						c.Txn = append(c.Txn, TxnItem{Delete: delCmd()})
					} else {
						c.Txn = append(c.Txn, TxnItem{Set: setCmd()})
					}
				}
			case p < 82:
				c.Op, c.Keys = OpMerge, []string{key()}
			case p < 88:
				c.Op, c.Keys = OpRead, []string{key(), key()}
			case p < 95:
				c.Op = OpExpire
			default:
				c.Op, c.Horizon = OpCollect, crdt.MakeTimestamp(clock-2000, 0)
			}
			cmds = append(cmds, c)
		}
		l := ref.entry(cmds...)
		for _, r := range ref.f.ApplyBatch([]*hraft.Log{l})[0].([]Result) {
			if r.ETag != "" {
				etags = append(etags, r.ETag)
			}
		}
		logs = append(logs, l)
	}
	return logs
}

func snapshotBytes(t testing.TB, f *fsm) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	var buf bytes.Buffer
	if err := s.(*fsmSnapshot).writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterminism(t *testing.T) {
	logs := randomLog(t, 42, 3000)
	a, b := newHarness(t), newHarness(t)
	// Feed the same log in different batch sizes: batching must not change the outcome.
	var resA, resB []any
	for _, l := range logs {
		resA = append(resA, a.f.ApplyBatch([]*hraft.Log{l})...)
	}
	for i := 0; i < len(logs); i += 7 {
		resB = append(resB, b.f.ApplyBatch(logs[i:min(i+7, len(logs))])...)
	}
	for i := range resA {
		if canonical(resA[i]) != canonical(resB[i]) {
			t.Fatalf("entry %d: results differ:\n%v\n%v", i, resA[i], resB[i])
		}
	}
	sa, sb := snapshotBytes(t, a.f), snapshotBytes(t, b.f)
	if !bytes.Equal(sa, sb) {
		t.Fatal("same log, different snapshots")
	}
	if a.f.keyspace().Len() == 0 || len(a.f.requests.list()) == 0 || a.f.horizon.Load() == 0 {
		t.Fatal("the random log exercised too little state")
	}
	var statuses [StatusInvalid + 1]int
	for _, r := range resA {
		for _, x := range r.([]Result) {
			statuses[x.Status]++
		}
	}
	for _, st := range []Status{StatusApplied, StatusAlreadyApplied, StatusETagMismatch, StatusNotFound} {
		if statuses[st] == 0 {
			t.Fatalf("the random log never produced %v: %v", st, statuses)
		}
	}

	// snapshot -> restore -> snapshot is byte-identical, and the restored FSM keeps applying
	// identically.
	c := newHarness(t)
	if err := c.f.Restore(io.NopCloser(bytes.NewReader(sa))); err != nil {
		t.Fatal(err)
	}
	if sc := snapshotBytes(t, c.f); !bytes.Equal(sa, sc) {
		t.Fatal("restore changed the snapshot")
	}
	if c.f.applied.current() != a.f.applied.current() {
		t.Fatalf("restored applied index %d, want %d", c.f.applied.current(), a.f.applied.current())
	}
	more := randomLog(t, 7, 300)
	for i, l := range more {
		l.Index = uint64(len(logs) + 1 + i)
		a.f.ApplyBatch([]*hraft.Log{l})
		c.f.ApplyBatch([]*hraft.Log{l})
	}
	if !bytes.Equal(snapshotBytes(t, a.f), snapshotBytes(t, c.f)) {
		t.Fatal("restored FSM diverged from the original")
	}
}

func TestRestoreRejectsGarbage(t *testing.T) {
	h := newHarness(t)
	h.one(set("k", "v", now))
	good := snapshotBytes(t, h.f)
	for _, b := range [][]byte{nil, []byte("LTSN"), []byte("XXXX\x01"), good[:len(good)-1]} {
		f := newHarness(t).f
		if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err == nil {
			t.Fatalf("restored %q", b)
		}
		if f.keyspace().Len() != 0 {
			t.Fatal("a failed restore replaced the state")
		}
	}
}

func TestRestoreCallsOnRestore(t *testing.T) {
	h := newHarness(t)
	h.one(set("a", "1", now))
	h.one(set("b", "2", now))
	snap := snapshotBytes(t, h.f)
	var seen []string
	cfg := DefaultConfig()
	cfg.OnRestore = func(s *crdt.Snapshot) {
		s.Range(func(k string, _ crdt.Entry) bool { seen = append(seen, k); return true })
	}
	f := newFSM(cfg)
	f.ks.Load().Join("stale", crdt.Entry{})
	if err := f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[a b]" {
		t.Fatalf("OnRestore saw %v", seen)
	}
	if _, ok := f.keyspace().Get("stale"); ok {
		t.Fatal("restore kept prior state")
	}
}

// canonical renders an ApplyBatch response with entries encoded, for comparison.
func canonical(resp any) string {
	var b bytes.Buffer
	for _, r := range resp.([]Result) {
		fmt.Fprintf(&b, "%v/%s/%s/%d/%d[", r.Status, r.ETag, r.Key, r.Index, r.Count)
		for _, kv := range r.Entries {
			fmt.Fprintf(&b, "%s=%x ", kv.Key, crdt.AppendEntry(nil, kv.Entry))
		}
		b.WriteString("] ")
	}
	return b.String()
}
