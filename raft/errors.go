package raft

import (
	"errors"
	"fmt"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice"
)

// NotLeaderError reports that this node is not the leader and names the leader it knows.
// errors.Is(err, lattice.ErrNotLeader) is true for it.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("raft: not leader (leader is %q at %q)", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, lattice.ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == lattice.ErrNotLeader }

// errNoQuorum reports a strong request that found no usable leader or quorum in time. It
// matches lattice.ErrNoQuorum and carries a retry hint (*lattice.RetryAfterError).
func errNoQuorum(after time.Duration, why string) error {
	return fmt.Errorf("raft: %s: %w", why, &lattice.RetryAfterError{Err: lattice.ErrNoQuorum, After: after})
}

// errIndeterminate reports a command handed to raft whose outcome is unknown: it may still
// commit. cause (leadership lost, the caller's deadline) is wrapped as well.
func errIndeterminate(cause error) error {
	return fmt.Errorf("raft: %w: %w", lattice.ErrIndeterminate, cause)
}

// mapFutureError translates the error of an apply future. Only ErrLeadershipLost can follow an
// append to the log; the others mean the entry was never appended.
func (s *Store) mapFutureError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hraft.ErrLeadershipLost):
		return errIndeterminate(err)
	case errors.Is(err, hraft.ErrNotLeader):
		return s.notLeader()
	case errors.Is(err, hraft.ErrRaftShutdown):
		return fmt.Errorf("raft: %w", lattice.ErrShuttingDown)
	case errors.Is(err, hraft.ErrEnqueueTimeout),
		errors.Is(err, hraft.ErrLeadershipTransferInProgress),
		errors.Is(err, hraft.ErrAbortedByRestore):
		return errNoQuorum(s.retryAfter(), err.Error())
	}
	return fmt.Errorf("raft: %w", err)
}

// notLeader returns a *NotLeaderError naming the known leader, or a no-quorum error when none
// is known (or raft still names this node, which just lost the role).
func (s *Store) notLeader() error {
	id, addr := s.Leader()
	if id == "" || id == s.cfg.NodeID {
		return errNoQuorum(s.retryAfter(), "no leader")
	}
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// retryAfter is the hint given with no-quorum errors: about one election.
func (s *Store) retryAfter() time.Duration { return s.cfg.ElectionTimeout }
