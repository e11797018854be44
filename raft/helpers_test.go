package raft

import (
	"testing"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice/crdt"
)

// fsmHarness feeds hand-built log entries to an FSM without Raft.
type fsmHarness struct {
	t     testing.TB
	f     *fsm
	index uint64
	// changes records OnApply calls.
	changes []applied
}

type applied struct {
	index uint64
	kvs   []crdt.KV
}

func newHarness(t testing.TB) *fsmHarness {
	h := &fsmHarness{t: t}
	cfg := DefaultConfig()
	cfg.OnApply = func(index uint64, kvs []crdt.KV) {
		h.changes = append(h.changes, applied{index, kvs})
	}
	h.f = newFSM(cfg)
	return h
}

// entry encodes cmds as one log entry at the next index.
func (h *fsmHarness) entry(cmds ...*Command) *hraft.Log {
	enc := make([][]byte, len(cmds))
	for i, c := range cmds {
		enc[i] = encodeCommand(nil, c)
	}
	h.index++
	return &hraft.Log{Index: h.index, Term: 1, Type: hraft.LogCommand, Data: encodeEntry(enc)}
}

// apply applies cmds as one entry and returns their results.
func (h *fsmHarness) apply(cmds ...*Command) []Result {
	h.t.Helper()
	out := h.f.ApplyBatch([]*hraft.Log{h.entry(cmds...)})
	res, ok := out[0].([]Result)
	if !ok || len(res) != len(cmds) {
		h.t.Fatalf("ApplyBatch returned %#v for %d commands", out[0], len(cmds))
	}
	return res
}

// one applies a single command.
func (h *fsmHarness) one(c *Command) Result {
	h.t.Helper()
	return h.apply(c)[0]
}

func (h *fsmHarness) get(key string) (crdt.Entry, bool) { return h.f.keyspace().Get(key) }

// value returns the live register value of key at now, or ok=false.
func (h *fsmHarness) value(key string, now int64) (string, bool) {
	e, ok := h.get(key)
	if !ok || !e.Live(now) {
		return "", false
	}
	r, isReg := e.State.(*crdt.Register)
	if !isReg {
		h.t.Fatalf("key %q holds %v, not a register", key, e.Type())
	}
	return string(r.Value), true
}

func set(key, value string, now int64) *Command {
	return &Command{Op: OpSet, Now: now, Set: &SetCmd{Key: key, Value: []byte(value), Proposed: stamp(now, "n1")}}
}

func stamp(ms int64, replica string) crdt.Stamp {
	return crdt.Stamp{TS: crdt.MakeTimestamp(ms, 0), Replica: crdt.ReplicaID(replica)}
}

// asItem turns a single set or delete command into a transaction item.
func asItem(c *Command) TxnItem { return TxnItem{Set: c.Set, Delete: c.Delete} }
