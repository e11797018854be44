package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/raft"
)

// folder proposes the deltas this node originated to Raft, coalesced per key,
// in batches bounded by time (FoldInterval) and bytes (FoldBatchBytes), and
// retries until they are committed. It also repairs entries that stay ahead
// of the committed state with no one folding them (their origin died).
// Safe for concurrent use.
type folder struct {
	n *Node

	mu      sync.Mutex
	pending map[string]*pendingFold
	bytes   int64
	kick    chan struct{}

	aheadMu sync.Mutex
	ahead   map[string]time.Time // repair candidates: first seen ahead of the FSM
}

type pendingFold struct {
	delta crdt.Entry
	size  int
	gen   uint64    // bumped on every add; a commit only clears the generation it carried
	since time.Time // when the oldest uncommitted part was acknowledged
}

func newFolder(n *Node) *folder {
	return &folder{n: n, pending: make(map[string]*pendingFold), kick: make(chan struct{}, 1), ahead: make(map[string]time.Time)}
}

// admit refuses a new eventual write while the backlog is over its bounds.
func (f *folder) admit() error {
	f.mu.Lock()
	over := f.bytes > f.n.cfg.MaxPendingFoldBytes || len(f.pending) >= f.n.cfg.MaxPendingFoldKeys
	keys, bytes := len(f.pending), f.bytes
	f.mu.Unlock()
	if !over {
		return nil
	}
	f.n.metrics.backpressure.Inc()
	return &lattice.RetryAfterError{
		Err:   fmt.Errorf("node: fold-in backlog of %d keys / %d bytes is over its bound: %w", keys, bytes, lattice.ErrBackpressure),
		After: time.Second,
	}
}

// add records a delta of key for fold-in.
func (f *folder) add(key string, delta crdt.Entry) {
	size := entrySize(key, delta)
	f.mu.Lock()
	p, ok := f.pending[key]
	if ok {
		joined, _ := crdt.JoinEntries(p.delta, delta)
		f.bytes -= int64(p.size)
		p.delta, p.size = joined, entrySize(key, joined)
		p.gen++
	} else {
		p = &pendingFold{delta: delta, size: size, gen: 1, since: time.Now()}
		f.pending[key] = p
	}
	f.bytes += int64(p.size)
	big := f.bytes >= int64(f.n.cfg.FoldBatchBytes)
	f.mu.Unlock()
	if big {
		f.wake()
	}
}

func (f *folder) wake() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// stats reports the backlog and the age of its oldest part.
func (f *folder) stats() (keys int, bytes int64, lag time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for _, p := range f.pending {
		lag = max(lag, now.Sub(p.since))
	}
	return len(f.pending), f.bytes, lag
}

// run proposes batches until ctx ends.
func (f *folder) run(ctx context.Context) {
	t := time.NewTicker(f.n.cfg.FoldInterval)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.kick:
		}
		if backoff > 0 && !sleepCtx(ctx, backoff) {
			return
		}
		if err := f.foldOnce(ctx); err != nil {
			backoff = min(max(2*backoff, 50*time.Millisecond), 2*time.Second)
			f.n.log.Debug("fold-in failed, will retry", "err", err, "backoff", backoff)
			continue
		}
		backoff = 0
	}
}

type foldTaken struct {
	key   string
	gen   uint64
	since time.Time
}

// foldOnce proposes one batch of pending deltas; it returns nil when
// nothing was pending.
func (f *folder) foldOnce(ctx context.Context) error {
	f.mu.Lock()
	var merges []crdt.KV
	var taken []foldTaken
	size := 0
	for k, p := range f.pending {
		if size > 0 && size+p.size > f.n.cfg.FoldBatchBytes {
			break
		}
		merges = append(merges, crdt.KV{Key: k, Entry: p.delta})
		taken = append(taken, foldTaken{key: k, gen: p.gen, since: p.since})
		size += p.size
	}
	f.mu.Unlock()
	if len(merges) == 0 {
		return nil
	}
	res, err := f.n.propose(ctx, &raft.Command{Op: raft.OpMerge, Merges: merges})
	if err != nil {
		f.n.metrics.foldErrors.Inc()
		return err
	}
	if err := res.Err(); err != nil {
		// A merge never fails its checks; a failure here is a bug.
		f.n.log.Error("fold-in merge rejected", "status", res.Status, "err", err)
		return err
	}
	now := time.Now()
	f.mu.Lock()
	for _, t := range taken {
		if p, ok := f.pending[t.key]; ok && p.gen == t.gen {
			f.bytes -= int64(p.size)
			delete(f.pending, t.key)
		}
		f.n.metrics.foldLag.Observe(now.Sub(t.since).Seconds())
	}
	f.mu.Unlock()
	f.n.metrics.foldBatches.Inc()
	f.n.metrics.foldKeys.Add(float64(len(taken)))
	return nil
}

// drain folds in everything pending, for a graceful shutdown.
func (f *folder) drain(ctx context.Context) error {
	for {
		f.mu.Lock()
		left := len(f.pending)
		f.mu.Unlock()
		if left == 0 {
			return nil
		}
		if err := f.foldOnce(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// repairLoop periodically compares the replica with the committed state.
// Buckets whose digests differ are examined key by key; an entry ahead of
// the committed one, not pending here, that stays so beyond RepairGrace is
// folded in by this node: its origin may have died before folding it.
func (f *folder) repairLoop(ctx context.Context) {
	t := time.NewTicker(f.n.cfg.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.repairOnce(time.Now())
		}
	}
}

func (f *folder) repairOnce(now time.Time) {
	mine, theirs := f.n.replica.Digest(), f.n.store.Keyspace().Digest()
	stillAhead := make(map[string]bool)
	for b := range mine {
		if b < len(theirs) && mine[b] == theirs[b] {
			continue
		}
		for _, kh := range f.n.replica.BucketKeys(b) {
			r, ok := f.n.replica.Get(kh.Key)
			if !ok {
				continue
			}
			if c, ok := f.n.store.Get(kh.Key); ok && crdt.Leq(r, c) {
				continue
			}
			if f.originAlive(r) {
				continue // its origin folds it; repairing too would triple the work under load
			}
			stillAhead[kh.Key] = true
		}
	}
	f.mu.Lock()
	for k := range stillAhead {
		if _, mine := f.pending[k]; mine {
			delete(stillAhead, k)
		}
	}
	f.mu.Unlock()

	var due []string
	f.aheadMu.Lock()
	for k := range f.ahead {
		if !stillAhead[k] {
			delete(f.ahead, k)
		}
	}
	for k := range stillAhead {
		first, seen := f.ahead[k]
		if !seen {
			f.ahead[k] = now
			continue
		}
		if now.Sub(first) >= f.n.cfg.RepairGrace {
			due = append(due, k)
			delete(f.ahead, k)
		}
	}
	f.aheadMu.Unlock()
	for _, k := range due {
		if e, ok := f.n.replica.Get(k); ok {
			f.add(k, e)
			f.n.metrics.repairs.Inc()
		}
	}
	if len(due) > 0 {
		f.n.log.Info("repairing entries ahead of the committed state", "keys", len(due))
		f.wake()
	}
}

// entrySize estimates the bytes a pending entry holds, for the backlog bound.
func entrySize(key string, e crdt.Entry) int {
	size := len(key) + 48
	if e.State != nil {
		size += e.State.Size()
	}
	return size
}

// originAlive reports whether the node that wrote a register is alive (this
// node or a live peer): that node is responsible for folding it in. Entries
// of other types mix the work of many nodes; they are repaired after the
// grace period whoever made them.
func (f *folder) originAlive(e crdt.Entry) bool {
	r, ok := e.State.(*crdt.Register)
	if !ok {
		return false
	}
	origin := originNode(r.Replica)
	if origin == f.n.cfg.NodeID {
		// Our own write from an earlier boot is nobody's to fold but ours.
		return r.Replica == f.n.replicaID
	}
	p, ok := f.n.peers.get(origin)
	return ok && p.State == "alive"
}

// originNode returns the node id of a per-boot replica id ("<node>.<boot>").
func originNode(r crdt.ReplicaID) string {
	s := string(r)
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		return s[:i]
	}
	return s
}
