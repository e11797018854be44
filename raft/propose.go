package raft

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"
)

// proposal is one command waiting to be batched into a log entry.
type proposal struct {
	data  []byte // encoded command
	state atomic.Int32
	done  chan proposalResult // buffered: the answer never blocks the sender
}

const (
	proposalPending   = iota
	proposalTaken     // put into an entry: its outcome is decided by raft
	proposalAbandoned // the caller gave up before it was taken
)

type proposalResult struct {
	res Result
	err error
}

// Propose commits cmd through the log and returns the FSM's result. It must run on the leader:
// elsewhere it returns a *NotLeaderError naming the leader, and while no leader is known it waits
// for one until ctx's deadline (Config.ApplyTimeout when ctx has none), then fails with
// lattice.ErrNoQuorum. Once the command was handed to raft, losing leadership or the deadline
// gives lattice.ErrIndeterminate: the command may still commit. Concurrent proposals are
// batched into one log entry.
func (s *Store) Propose(ctx context.Context, cmd *Command) (Result, error) {
	out := s.ProposeAll(ctx, []*Command{cmd})
	return out[0].Result, out[0].Err
}

// Proposed is the outcome of one command of ProposeAll.
type Proposed struct {
	Result Result
	Err    error
}

// ProposeAll proposes every command of cmds, as concurrent calls to Propose would, without a
// goroutine per command: all are queued first, so they share as few log entries as they can, and
// then awaited. Each command's outcome is reported on its own, in the order of cmds.
func (s *Store) ProposeAll(ctx context.Context, cmds []*Command) []Proposed {
	out := make([]Proposed, len(cmds))
	ctx, cancel := withDefaultDeadline(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	props := make([]*proposal, len(cmds))
	for i, cmd := range cmds {
		if ctx.Err() != nil {
			// Queue nothing after the deadline: the caller has given up on it.
			out[i].Err = errNoQuorum(s.retryAfter(), "not submitted before the deadline")
			continue
		}
		if err := cmd.validate(); err != nil {
			out[i] = Proposed{Result{Status: StatusInvalid}, err}
			continue
		}
		if s.closed.Load() {
			out[i].Err = errShuttingDown
			continue
		}
		if err := s.awaitLeadership(ctx); err != nil {
			out[i].Err = err
			continue
		}
		p := &proposal{data: encodeCommand(nil, cmd), done: make(chan proposalResult, 1)}
		select {
		case s.propCh <- p:
			props[i] = p
		case <-ctx.Done():
			out[i].Err = errNoQuorum(s.retryAfter(), "proposal queue full until the deadline")
		case <-s.closing:
			out[i].Err = errShuttingDown
		}
	}
	for i, p := range props {
		if p != nil {
			out[i].Result, out[i].Err = s.await(ctx, p)
		}
	}
	return out
}

// await waits for a queued proposal's outcome. An outcome already delivered is returned even when
// ctx has ended meanwhile: ProposeAll awaits its proposals one after another.
func (s *Store) await(ctx context.Context, p *proposal) (Result, error) {
	select {
	case r := <-p.done:
		return r.res, r.err
	default:
	}
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(proposalPending, proposalAbandoned) {
			return Result{}, errNoQuorum(s.retryAfter(), "not submitted before the deadline")
		}
		return taken(p, errIndeterminate(ctx.Err()))
	case <-s.stop:
		if p.state.CompareAndSwap(proposalPending, proposalAbandoned) {
			return Result{}, errShuttingDown
		}
		return taken(p, errIndeterminate(errShuttingDown))
	}
}

// taken returns the outcome of a proposal raft has taken if it has just been delivered, else err.
func taken(p *proposal, err error) (Result, error) {
	select {
	case r := <-p.done:
		return r.res, r.err
	default:
		return Result{}, err
	}
}

// awaitLeadership returns nil when this node leads, a *NotLeaderError when another node does,
// and waits while no leader is known.
func (s *Store) awaitLeadership(ctx context.Context) error {
	for {
		changed := s.changed.wait()
		if s.raft.State() == hraft.Leader {
			return nil
		}
		if id, addr := s.Leader(); id != "" && id != s.cfg.NodeID {
			return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return errNoQuorum(s.retryAfter(), "no leader elected before the deadline")
		case <-s.closing:
			return errShuttingDown
		}
	}
}

// proposeLoop batches queued proposals into log entries. It never waits to fill a batch: it
// takes what is queued, so an idle store adds no latency and a busy one puts many commands in
// each entry; raft then writes many entries per fsync.
func (s *Store) proposeLoop() {
	defer close(s.proposerDone)
	var carry *proposal
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-s.propCh:
			case <-s.closing:
				s.refuseQueued()
				return
			}
		}
		// Wait for room in the pipeline; commands queue up meanwhile and join this entry.
		select {
		case s.slots <- struct{}{}:
		case <-s.closing:
			if first.state.CompareAndSwap(proposalPending, proposalTaken) {
				first.done <- proposalResult{err: errShuttingDown}
			}
			s.refuseQueued()
			return
		}
		var (
			batch []*proposal
			cmds  [][]byte
			size  int
		)
		take := func(p *proposal) {
			if p.state.CompareAndSwap(proposalPending, proposalTaken) {
				batch = append(batch, p)
				cmds = append(cmds, p.data)
				size += len(p.data)
			}
		}
		take(first)
	fill:
		for len(batch) < s.cfg.MaxBatchCommands {
			select {
			case p := <-s.propCh:
				if len(batch) > 0 && size+len(p.data) > s.cfg.MaxBatchBytes {
					carry = p
					break fill
				}
				take(p)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			<-s.slots
			continue
		}
		f := s.raft.Apply(encodeEntry(cmds), s.cfg.ApplyTimeout)
		s.inflight.Add(1)
		go s.awaitEntry(f, batch)
	}
}

// maxYields bounds how long awaitEntry lets answered callers re-propose before freeing a slot.
const maxYields = 8

// awaitEntry answers the proposals of one entry once raft resolves it.
func (s *Store) awaitEntry(f hraft.ApplyFuture, batch []*proposal) {
	defer s.inflight.Done()
	defer func() {
		// The callers just answered usually propose again at once. Yielding while they keep
		// arriving lets their commands share the next entry instead of the first of them
		// taking the free slot alone. When nobody is runnable this returns immediately: no
		// latency is added to an idle store.
		for range maxYields {
			n := len(s.propCh)
			runtime.Gosched()
			if len(s.propCh) == n {
				break
			}
		}
		<-s.slots
	}()
	if err := f.Error(); err != nil {
		err = s.mapFutureError(err)
		for _, p := range batch {
			p.done <- proposalResult{err: err}
		}
		return
	}
	results, ok := f.Response().([]Result)
	if !ok || len(results) != len(batch) {
		err := fmt.Errorf("raft: entry %d: unexpected FSM response %T", f.Index(), f.Response())
		for _, p := range batch {
			p.done <- proposalResult{err: err}
		}
		return
	}
	for i, p := range batch {
		p.done <- proposalResult{res: results[i]}
	}
}

// refuseQueued answers the proposals still queued at shutdown.
func (s *Store) refuseQueued() {
	for {
		select {
		case p := <-s.propCh:
			if p.state.CompareAndSwap(proposalPending, proposalTaken) {
				p.done <- proposalResult{err: errShuttingDown}
			}
		default:
			return
		}
	}
}
