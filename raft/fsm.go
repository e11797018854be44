package raft

import (
	"fmt"
	"io"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice/crdt"
)

// fsm is the committed keyspace. It changes only through log entries, applied in log order on
// raft's FSM goroutine, and is deterministic: no clocks (time travels in commands), no map
// iteration, no goroutines. The keyspace pointer is swapped atomically by Restore so that reads
// from other goroutines (Store.Get, Store.Snapshot) never race with it.
type fsm struct {
	ks      atomic.Pointer[crdt.Keyspace]
	ksCfg   crdt.KeyspaceConfig
	horizon atomic.Uint64 // crdt.Timestamp of the last collection horizon
	applied *indexWaiter  // the last log index this FSM applied

	// FSM-goroutine only.
	requests  *requestMemory
	changed   changeTracker
	onApply   func(uint64, []crdt.KV)
	onRestore func(*crdt.Snapshot)
}

var _ hraft.BatchingFSM = (*fsm)(nil)

func newFSM(cfg Config) *fsm {
	f := &fsm{
		ksCfg:     cfg.Keyspace,
		applied:   newIndexWaiter(),
		requests:  newRequestMemory(),
		onApply:   cfg.OnApply,
		onRestore: cfg.OnRestore,
	}
	f.ks.Store(crdt.NewKeyspace(cfg.Keyspace))
	return f
}

// Apply implements hraft.FSM.
func (f *fsm) Apply(l *hraft.Log) any {
	return f.ApplyBatch([]*hraft.Log{l})[0]
}

// ApplyBatch implements hraft.BatchingFSM. The response for a command entry is a []Result, one
// per command in the entry; other entries get nil. An entry that does not decode is corruption:
// the node stops rather than diverge from its peers.
func (f *fsm) ApplyBatch(logs []*hraft.Log) []any {
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type == hraft.LogCommand {
			cmds, err := decodeEntry(l.Data)
			if err != nil {
				panic(fmt.Sprintf("raft: log entry %d cannot be applied: %v", l.Index, err))
			}
			out[i] = f.applyEntry(l.Index, cmds)
		}
		f.applied.publish(l.Index)
	}
	return out
}

// applyEntry applies the commands of one log entry and reports the changed keys to OnApply.
func (f *fsm) applyEntry(index uint64, cmds []Command) []Result {
	ks := f.ks.Load()
	f.changed.reset(f.onApply != nil)
	results := make([]Result, len(cmds))
	for i := range cmds {
		results[i] = f.applyCommand(ks, index, &cmds[i])
		if results[i].Index == 0 { // AlreadyApplied keeps the index of the first application
			results[i].Index = index
		}
	}
	if f.onApply != nil && len(f.changed.keys) > 0 {
		kvs := make([]crdt.KV, 0, len(f.changed.keys))
		for _, k := range f.changed.keys {
			if e, ok := ks.Get(k); ok {
				kvs = append(kvs, crdt.KV{Key: k, Entry: e})
			}
		}
		f.onApply(index, kvs)
	}
	return results
}

// changeTracker lists the keys changed by one entry, in the order they first changed.
type changeTracker struct {
	on   bool
	keys []string
	seen map[string]struct{}
}

func (t *changeTracker) reset(on bool) {
	t.on = on
	t.keys = t.keys[:0]
	clear(t.seen)
}

func (t *changeTracker) add(key string) {
	if !t.on {
		return
	}
	if t.seen == nil {
		t.seen = make(map[string]struct{})
	}
	if _, ok := t.seen[key]; !ok {
		t.seen[key] = struct{}{}
		t.keys = append(t.keys, key)
	}
}

// Snapshot implements hraft.FSM: a copy-on-write view of the keyspace plus the small FSM state.
// Encoding happens in Persist, concurrently with Apply.
func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	return &fsmSnapshot{
		ks:       f.ks.Load().Snapshot(),
		applied:  f.applied.current(),
		horizon:  crdt.Timestamp(f.horizon.Load()),
		requests: f.requests.list(),
	}, nil
}

// Restore implements hraft.FSM: it builds a fresh keyspace from the snapshot and swaps it in.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc, f.ksCfg)
	if err != nil {
		return err
	}
	f.ks.Store(st.ks)
	f.horizon.Store(uint64(st.horizon))
	f.requests = newRequestMemory()
	for _, r := range st.requests {
		f.requests.add(r)
	}
	f.applied.reset(st.applied)
	if f.onRestore != nil {
		snap := st.ks.Snapshot()
		f.onRestore(snap)
		snap.Release()
	}
	return nil
}

// keyspace returns the current committed keyspace.
func (f *fsm) keyspace() *crdt.Keyspace { return f.ks.Load() }
