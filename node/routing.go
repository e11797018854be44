package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/raft"
)

// SaveRequest is one Dapr save as the node sees it.
type SaveRequest struct {
	Key         string
	Value       []byte // JSON bytes, stored as they are
	ETag        string
	HasETag     bool
	TTLSeconds  int64 // > 0 expires the value; 0 or -1 keep it forever
	Consistency lattice.Consistency
	Concurrency lattice.Concurrency
}

// DeleteRequest is one Dapr delete.
type DeleteRequest struct {
	Key         string
	ETag        string
	HasETag     bool
	Consistency lattice.Consistency
	Concurrency lattice.Concurrency
}

// TxnOp is one operation of a transaction: a save, or a delete when Delete is set.
type TxnOp struct {
	Delete bool
	Save   SaveRequest
}

// viaRaft reports whether a write must be decided by Raft: strong writes,
// and every write that carries an etag or asks for first-write.
func viaRaft(c lattice.Consistency, cc lattice.Concurrency, hasETag bool) bool {
	return c == lattice.Strong || hasETag || cc == lattice.FirstWrite
}

// Get reads one key. Eventual reads come from the replica; strong reads are
// linearizable (see strongRead). The entry may be a tombstone: callers
// check Entry.Live.
func (n *Node) Get(ctx context.Context, key string, c lattice.Consistency) (crdt.Entry, bool, error) {
	kvs, err := n.GetMany(ctx, []string{key}, c)
	if err != nil {
		return crdt.Entry{}, false, err
	}
	if len(kvs) == 0 || kvs[0].Entry.State == nil && kvs[0].Entry.Inc.IsZero() {
		return crdt.Entry{}, false, nil
	}
	return kvs[0].Entry, true, nil
}

// GetMany reads keys at one consistency level. The result has one KV per key
// in order; a key that does not exist has a zero Entry.
func (n *Node) GetMany(ctx context.Context, keys []string, c lattice.Consistency) ([]crdt.KV, error) {
	if err := n.accepting(); err != nil {
		return nil, err
	}
	if c == lattice.Eventual || n.cfg.UnsafeLocalStrongReads {
		out := make([]crdt.KV, len(keys))
		for i, k := range keys {
			e, _ := n.replica.Get(k)
			out[i] = crdt.KV{Key: k, Entry: e}
		}
		return out, nil
	}
	return n.strongRead(ctx, keys)
}

// strongRead is linearizable. When this node holds state of a key that is
// not yet committed, the read becomes a log entry that folds that state in
// first, so a client reads its own eventual writes. Otherwise the leader
// confirms its leadership (batched with concurrent reads) and answers from
// its committed state.
func (n *Node) strongRead(ctx context.Context, keys []string) ([]crdt.KV, error) {
	var got []crdt.KV
	if merges := n.uncommitted(keys); len(merges) > 0 {
		res, err := n.propose(ctx, &raft.Command{Op: raft.OpRead, Merges: merges, Keys: keys})
		if err != nil {
			return nil, err
		}
		got = res.Entries
	} else {
		var err error
		got, err = n.linearizableRead(ctx, keys)
		if err != nil {
			return nil, err
		}
	}
	byKey := make(map[string]crdt.Entry, len(got))
	for _, kv := range got {
		byKey[kv.Key] = kv.Entry
	}
	out := make([]crdt.KV, len(keys))
	for i, k := range keys {
		out[i] = crdt.KV{Key: k, Entry: byKey[k]}
	}
	return out, nil
}

// linearizableRead reads keys from this node's committed state once it has
// caught up with a linearizable read point (see readBarrier).
func (n *Node) linearizableRead(ctx context.Context, keys []string) ([]crdt.KV, error) {
	if err := n.readBarrier(ctx); err != nil {
		return nil, err
	}
	out := make([]crdt.KV, 0, len(keys))
	for _, k := range keys {
		if e, ok := n.store.Get(k); ok {
			out = append(out, crdt.KV{Key: k, Entry: e})
		}
	}
	return out, nil
}

// uncommitted returns the replica's entries of keys that hold something the
// committed state (as this node knows it) does not.
func (n *Node) uncommitted(keys []string) []crdt.KV {
	var out []crdt.KV
	for _, k := range keys {
		r, ok := n.replica.Get(k)
		if !ok {
			continue
		}
		if c, ok := n.store.Get(k); ok && crdt.Leq(r, c) {
			continue
		}
		out = append(out, crdt.KV{Key: k, Entry: r})
	}
	return out
}

// Save writes one Dapr value. Eventual last-write saves apply to the replica
// and are acknowledged at once; the others are decided by Raft.
func (n *Node) Save(ctx context.Context, r SaveRequest) (string, error) {
	if err := n.accepting(); err != nil {
		return "", err
	}
	if !viaRaft(r.Consistency, r.Concurrency, r.HasETag) {
		op := crdt.Op{Kind: crdt.OpSet, Type: crdt.TypeRegister, Value: r.Value}
		if r.TTLSeconds > 0 {
			op.ExpireAt = time.Now().UnixMilli() + r.TTLSeconds*1000
		}
		e, err := n.applyLocal(r.Key, op)
		if err != nil {
			return "", err
		}
		return e.ETag(), nil
	}
	cmd := &raft.Command{Op: raft.OpSet, Set: n.setCmd(r)}
	res, err := n.proposeChecked(ctx, cmd, []string{r.Key})
	if err != nil {
		return "", err
	}
	return res.ETag, nil
}

// Delete deletes one key, eventually or through Raft as Save does.
func (n *Node) Delete(ctx context.Context, r DeleteRequest) error {
	if err := n.accepting(); err != nil {
		return err
	}
	if !viaRaft(r.Consistency, r.Concurrency, r.HasETag) {
		e, ok := n.replica.Get(r.Key)
		if !ok || !e.Live(time.Now().UnixMilli()) {
			return nil // deleting what is not there is a success (Dapr)
		}
		_, err := n.applyLocal(r.Key, crdt.Op{Kind: crdt.OpDelete, Type: e.Type()})
		return err
	}
	cmd := &raft.Command{Op: raft.OpDelete, Delete: n.deleteCmd(r)}
	_, err := n.proposeChecked(ctx, cmd, []string{r.Key})
	return err
}

// Transact applies ops atomically through Raft: every etag is checked first,
// then all apply or none does.
func (n *Node) Transact(ctx context.Context, ops []TxnOp) error {
	if err := n.accepting(); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	if n.cfg.UnsafeSkipTxnETagCheck {
		ops = unconditional(ops)
	}
	cmd := &raft.Command{Op: raft.OpTxn, Txn: make([]raft.TxnItem, len(ops))}
	keys := make([]string, len(ops))
	for i, op := range ops {
		if op.Delete {
			d := DeleteRequest{Key: op.Save.Key, ETag: op.Save.ETag, HasETag: op.Save.HasETag, Concurrency: op.Save.Concurrency}
			cmd.Txn[i].Delete = n.deleteCmd(d)
		} else {
			cmd.Txn[i].Set = n.setCmd(op.Save)
		}
		keys[i] = op.Save.Key
	}
	_, err := n.proposeChecked(ctx, cmd, keys)
	return err
}

// unconditional returns ops without their etag and first-write checks
// (Config.UnsafeSkipTxnETagCheck: a deliberately broken node for tests).
func unconditional(ops []TxnOp) []TxnOp {
	out := make([]TxnOp, len(ops))
	for i, op := range ops {
		op.Save.ETag, op.Save.HasETag, op.Save.Concurrency = "", false, lattice.LastWrite
		out[i] = op
	}
	return out
}

// CRDT applies a CRDT operation. Eventual: to the replica, then gossip and
// fold-in. Strong: the replica's delta is committed through Raft before the
// answer, which is the committed entry.
func (n *Node) CRDT(ctx context.Context, key string, op crdt.Op, c lattice.Consistency) (crdt.Entry, error) {
	if err := n.accepting(); err != nil {
		return crdt.Entry{}, err
	}
	if c == lattice.Eventual {
		return n.applyLocal(key, op)
	}
	// A strong operation observes the committed state: a remove must see
	// every add committed before it, wherever it was made.
	kvs, err := n.strongRead(ctx, []string{key})
	if err != nil {
		return crdt.Entry{}, err
	}
	for _, kv := range kvs {
		if kv.Entry.State != nil || !kv.Entry.Inc.IsZero() {
			n.replica.Join(kv.Key, kv.Entry)
		}
	}
	if _, err := n.replica.Apply(key, op, n.stamp()); err != nil {
		return crdt.Entry{}, wrapCRDTError(err)
	}
	e, _ := n.replica.Get(key)
	res, err := n.propose(ctx, &raft.Command{Op: raft.OpMerge, Merges: []crdt.KV{{Key: key, Entry: e}}, Keys: []string{key}})
	if err != nil {
		// The operation took effect in this replica: fold it in later so
		// that it is not lost, as an eventual write would be.
		n.fold.add(key, e)
		return crdt.Entry{}, err
	}
	n.gossip.add(key, e)
	for _, kv := range res.Entries {
		if kv.Key == key {
			return kv.Entry, nil
		}
	}
	return e, nil
}

// applyLocal applies an eventual operation to the replica and hands its
// delta to gossip and fold-in. It refuses work when fold-in is too far behind.
func (n *Node) applyLocal(key string, op crdt.Op) (crdt.Entry, error) {
	if err := n.fold.admit(); err != nil {
		return crdt.Entry{}, err
	}
	delta, err := n.replica.Apply(key, op, n.stamp())
	if err != nil {
		return crdt.Entry{}, wrapCRDTError(err)
	}
	n.gossip.add(key, delta)
	n.fold.add(key, delta)
	e, _ := n.replica.Get(key)
	return e, nil
}

// stamp stamps a local write. The replica id is per boot (see replicaID).
func (n *Node) stamp() crdt.Stamp {
	return crdt.Stamp{TS: n.clock.Now(), Replica: n.replicaID}
}

func (n *Node) setCmd(r SaveRequest) *raft.SetCmd {
	ttl := r.TTLSeconds
	if ttl < 0 {
		ttl = 0
	}
	return &raft.SetCmd{
		Key: r.Key, Value: r.Value, TTLSeconds: ttl, ETag: r.ETag, HasETag: r.HasETag,
		FirstWrite: r.Concurrency == lattice.FirstWrite, Proposed: n.stamp(),
	}
}

func (n *Node) deleteCmd(r DeleteRequest) *raft.DeleteCmd {
	return &raft.DeleteCmd{
		Key: r.Key, ETag: r.ETag, HasETag: r.HasETag,
		FirstWrite: r.Concurrency == lattice.FirstWrite, Proposed: n.stamp(),
	}
}

// proposeChecked folds the replica's uncommitted state of keys into cmd,
// gives it a request id (so retries are idempotent), proposes it and turns
// a failed check into its error.
func (n *Node) proposeChecked(ctx context.Context, cmd *raft.Command, keys []string) (raft.Result, error) {
	cmd.Merges = n.uncommitted(keys)
	cmd.RequestID = newRequestID()
	cmd.Now = time.Now().UnixMilli()
	res, err := n.propose(ctx, cmd)
	if err != nil {
		return res, err
	}
	return res, res.Err()
}

// propose runs cmd on the leader, forwarding when this node is a follower,
// and retries while there is no leader until StrongTimeout. A command that
// may have been submitted when the deadline passes is indeterminate.
func (n *Node) propose(ctx context.Context, cmd *raft.Command) (raft.Result, error) {
	var res raft.Result
	err := n.withLeader(ctx, func(ctx context.Context, local bool, leaderHTTP string) error {
		if local {
			r, err := n.store.Propose(ctx, cmd)
			res = r
			return err
		}
		f, err := n.forwards.do(ctx, leaderHTTP, raft.AppendCommand(nil, cmd))
		if err != nil {
			return err
		}
		res = f.res
		return f.err
	})
	return res, err
}

// withLeader calls f against the current leader (locally when this node
// leads) until it succeeds, fails for good, or StrongTimeout passes.
// Failures that leave the outcome open make a timeout indeterminate.
func (n *Node) withLeader(parent context.Context, f func(ctx context.Context, local bool, leaderHTTP string) error) error {
	ctx, cancel := context.WithTimeout(parent, n.cfg.StrongTimeout)
	defer cancel()
	backoff := 5 * time.Millisecond
	submitted := false
	var last error
	for {
		local, addr, ok := n.leaderHTTP()
		var err error
		if !ok {
			err = fmt.Errorf("node: no leader known: %w", lattice.ErrNoQuorum)
		} else {
			err = f(ctx, local, addr)
			if err == nil {
				return nil
			}
			if !retryable(err) {
				return err
			}
			if mayHaveApplied(err) {
				submitted = true
			}
		}
		last = err
		if !sleepCtx(ctx, backoff) {
			if parent.Err() != nil && !errors.Is(parent.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("node: strong request abandoned by the caller: %w", parent.Err())
			}
			if submitted {
				return fmt.Errorf("node: strong request timed out after it may have been applied (%v): %w", last, lattice.ErrIndeterminate)
			}
			return &lattice.RetryAfterError{
				Err:   fmt.Errorf("node: no quorum within %v (%v): %w", n.cfg.StrongTimeout, last, lattice.ErrNoQuorum),
				After: time.Second,
			}
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// retryable reports whether another attempt may succeed.
func retryable(err error) bool {
	switch {
	case errors.Is(err, lattice.ErrETagMismatch), errors.Is(err, lattice.ErrWrongType),
		errors.Is(err, lattice.ErrInvalidArgument), errors.Is(err, lattice.ErrTooLarge),
		errors.Is(err, context.Canceled):
		return false
	}
	return true
}

// mayHaveApplied reports whether a failed attempt could still have taken
// effect: anything but a clear refusal before submission.
func mayHaveApplied(err error) bool {
	return !errors.Is(err, lattice.ErrNotLeader) && !errors.Is(err, lattice.ErrNoQuorum) &&
		!errors.Is(err, lattice.ErrShuttingDown) && !isDialError(err)
}

// leaderHTTP returns where to send strong requests: local when this node
// leads, else the leader's HTTP address from gossip metadata.
func (n *Node) leaderHTTP() (local bool, addr string, ok bool) {
	if n.store.IsLeader() {
		return true, "", true
	}
	id, raftAddr := n.store.Leader()
	if id == "" && raftAddr == "" {
		return false, "", false
	}
	if p, found := n.peers.get(id); found && p.HTTPAddr != "" {
		return false, p.HTTPAddr, true
	}
	if p, found := n.peers.byRaftAddr(raftAddr); found && p.HTTPAddr != "" {
		return false, p.HTTPAddr, true
	}
	return false, "", false
}

// accepting refuses requests once shutdown has begun.
func (n *Node) accepting() error {
	select {
	case <-n.stopping:
		return fmt.Errorf("node: %w", lattice.ErrShuttingDown)
	default:
		return nil
	}
}

func wrapCRDTError(err error) error {
	switch {
	case errors.Is(err, crdt.ErrWrongType):
		return fmt.Errorf("%w: %v", lattice.ErrWrongType, err)
	case errors.Is(err, crdt.ErrOverflow):
		return fmt.Errorf("%w: %v", lattice.ErrOverflow, err)
	case errors.Is(err, crdt.ErrInvalidOp):
		return fmt.Errorf("%w: %v", lattice.ErrInvalidArgument, err)
	}
	return err
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Scan calls fn with every entry whose key starts with prefix, in key order,
// until fn returns false. Eventual scans read the replica; strong scans read
// the committed state once it has caught up with a linearizable read point.
func (n *Node) Scan(ctx context.Context, prefix string, c lattice.Consistency, fn func(key string, e crdt.Entry) bool) error {
	if err := n.accepting(); err != nil {
		return err
	}
	var snap *crdt.Snapshot
	if c == lattice.Strong && !n.cfg.UnsafeLocalStrongReads {
		// Like a strong read, a strong scan first folds in what this node
		// holds under prefix that is not committed yet.
		if merges := n.uncommittedPrefix(prefix); len(merges) > 0 {
			if _, err := n.propose(ctx, &raft.Command{Op: raft.OpMerge, Merges: merges}); err != nil {
				return err
			}
		}
		if err := n.readBarrier(ctx); err != nil {
			return err
		}
		snap = n.store.Snapshot()
	} else {
		snap = n.replica.Snapshot()
	}
	defer snap.Release()
	var err error
	snap.Range(func(key string, e crdt.Entry) bool {
		if err = ctx.Err(); err != nil {
			return false
		}
		if !strings.HasPrefix(key, prefix) {
			return true
		}
		return fn(key, e)
	})
	return err
}

// readBarrier returns once this node's committed state reflects every write
// committed before the call. On the leader that is a ReadIndex round
// (leadership confirmed by a quorum, shared by concurrent reads). A follower
// asks the leader for its read point — concurrent reads share one request —
// and waits until it has applied up to it.
func (n *Node) readBarrier(ctx context.Context) error {
	return n.withLeader(ctx, func(ctx context.Context, local bool, leaderHTTP string) error {
		if local {
			return n.store.LinearizableRead(ctx)
		}
		idx, err := n.barriers.do(ctx, leaderHTTP, struct{}{})
		if err != nil {
			return err
		}
		return n.store.WaitApplied(ctx, idx)
	})
}

// askBarrier is one shared read-barrier request to the leader: every read
// queued before it was sent gets its answer.
func (n *Node) askBarrier(httpAddr string, batch []struct{}) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.StrongTimeout)
	defer cancel()
	var body []byte
	if err := n.postInternal(ctx, httpAddr, pathBarrier, nil, &body); err != nil {
		return nil, err
	}
	idx, k := binary.Uvarint(body)
	if k <= 0 {
		return nil, fmt.Errorf("%w: barrier index", errBadMessage)
	}
	out := make([]uint64, len(batch))
	for i := range out {
		out[i] = idx
	}
	return out, nil
}

// uncommittedPrefix returns the replica's entries under prefix that hold
// something the committed state does not. Only buckets whose digests differ
// are examined, so a converged node pays two digests.
func (n *Node) uncommittedPrefix(prefix string) []crdt.KV {
	mine, committed := n.replica.Digest(), n.store.Keyspace().Digest()
	var out []crdt.KV
	for b := range mine {
		if b < len(committed) && mine[b] == committed[b] {
			continue
		}
		for _, kh := range n.replica.BucketKeys(b) {
			if !strings.HasPrefix(kh.Key, prefix) {
				continue
			}
			out = append(out, n.uncommitted([]string{kh.Key})...)
		}
	}
	return out
}
