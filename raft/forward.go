package raft

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lattice-state/lattice"
)

// AppendCommand encodes cmd in the log's versioned envelope, for a follower
// that forwards it to the leader.
func AppendCommand(dst []byte, cmd *Command) []byte {
	return append(dst, encodeEntry([][]byte{encodeCommand(nil, cmd)})...)
}

// DecodeCommand decodes what AppendCommand wrote. Bytes from the network may
// be anything: it returns an error, never panics.
func DecodeCommand(b []byte) (Command, error) {
	cmds, err := decodeEntry(b)
	if err != nil {
		return Command{}, err
	}
	if len(cmds) != 1 {
		return Command{}, fmt.Errorf("%w: %d commands, want 1", errCorrupt, len(cmds))
	}
	if err := cmds[0].validate(); err != nil {
		return Command{}, err
	}
	return cmds[0], nil
}

// HCLogger bridges l to hclog, for hashicorp libraries the caller sets up
// itself (such as a Raft transport).
func HCLogger(l *slog.Logger) hclog.Logger { return newHCLogger(l) }

// HasState reports whether this server already belongs to a cluster (its
// log or snapshots hold a configuration), so it must not be bootstrapped.
func (s *Store) HasState() bool {
	servers, err := s.Servers()
	return err == nil && len(servers) > 0
}

// WaitApplied returns once this node's FSM has applied index idx, or fails
// when ctx ends first (a follower's half of a ReadIndex read).
func (s *Store) WaitApplied(ctx context.Context, idx uint64) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.cfg.ReadTimeout)
	}
	if s.fsm.applied.wait(idx, deadline, s.closing) {
		return nil
	}
	return fmt.Errorf("raft: applied index did not reach %d in time: %w", idx, lattice.ErrNoQuorum)
}
