package raft

import (
	"context"
	"errors"
	"time"

	hraft "github.com/hashicorp/raft"
)

// LinearizableRead returns once this node's FSM reflects every write committed before the call:
// reads of Get and Snapshot that follow are linearizable. It must run on the leader (elsewhere
// it returns a *NotLeaderError, or lattice.ErrNoQuorum when no leader is known by the deadline).
// Concurrent calls share one leadership confirmation (ReadIndex): no log write, no disk I/O,
// no clock-based lease.
func (s *Store) LinearizableRead(ctx context.Context) error {
	if s.closed.Load() {
		return errShuttingDown
	}
	ch := make(chan error, 1)
	select {
	case s.readCh <- ch:
	case <-ctx.Done():
		return errNoQuorum(s.retryAfter(), "read queue full until the deadline")
	case <-s.closing:
		return errShuttingDown
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return errNoQuorum(s.retryAfter(), "read not confirmed before the deadline: "+ctx.Err().Error())
	case <-s.closing:
		return errShuttingDown
	}
}

// readLoop serves reads in rounds (etcd's LinearizableReadLoop): every read queued when a round
// starts shares that round's confirmation; reads arriving meanwhile wait for the next one.
func (s *Store) readLoop() {
	defer s.loops.Done()
	var batch []chan error
	for {
		select {
		case ch := <-s.readCh:
			batch = append(batch[:0], ch)
		case <-s.closing:
			return
		}
	drain:
		for {
			select {
			case ch := <-s.readCh:
				batch = append(batch, ch)
			default:
				break drain
			}
		}
		err := s.readIndex()
		for _, ch := range batch {
			ch <- err
		}
		clear(batch)
	}
}

// readIndex runs one round: with leadership established in the current term (its barrier
// applied), capture the commit index, confirm leadership with a quorum heartbeat round, and
// wait until the FSM has applied up to the captured index.
func (s *Store) readIndex() error {
	deadline := time.Now().Add(s.cfg.ReadTimeout)
	for {
		changed := s.changed.wait()
		if s.raft.State() != hraft.Leader {
			if id, addr := s.Leader(); id != "" && id != s.cfg.NodeID {
				return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
			}
		} else if r := s.lead.get(); r.term != 0 && r.term == s.raft.CurrentTerm() {
			idx := s.raft.CommitIndex()
			if err := s.raft.VerifyLeader().Error(); err != nil {
				if errors.Is(err, hraft.ErrRaftShutdown) {
					return errShuttingDown
				}
				return s.notLeader()
			}
			if s.raft.CurrentTerm() != r.term {
				continue
			}
			if idx <= r.floor || s.fsm.applied.wait(idx, deadline, s.closing) {
				return nil
			}
			return errNoQuorum(s.retryAfter(), "read index not applied before the deadline")
		}
		// No leader known, or leading but the term's barrier is not applied yet: wait for a change.
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-changed:
			t.Stop()
		case <-t.C:
			return errNoQuorum(s.retryAfter(), "no leader ready before the deadline")
		case <-s.closing:
			t.Stop()
			return errShuttingDown
		}
	}
}
