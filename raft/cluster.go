package raft

import (
	"context"
	"errors"
	"fmt"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice"
)

// Server is a member of the Raft configuration.
type Server struct {
	ID      string
	Address string
	// Voter is false for a non-voter (a server catching up before promotion).
	Voter bool
}

// Bootstrap creates the cluster's first configuration with servers as voters. Call it once, on
// one server, or on every initial server with the identical list; a server that already has
// state ignores it.
func (s *Store) Bootstrap(servers []Server) error {
	var c hraft.Configuration
	for _, srv := range servers {
		c.Servers = append(c.Servers, hraft.Server{
			Suffrage: hraft.Voter,
			ID:       hraft.ServerID(srv.ID),
			Address:  hraft.ServerAddress(srv.Address),
		})
	}
	err := s.raft.BootstrapCluster(c).Error()
	if err != nil && !errors.Is(err, hraft.ErrCantBootstrap) {
		return fmt.Errorf("raft: bootstrap: %w", err)
	}
	return nil
}

// Servers returns the latest configuration (possibly not yet committed).
func (s *Store) Servers() ([]Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft: configuration: %w", err)
	}
	var out []Server
	for _, srv := range f.Configuration().Servers {
		out = append(out, Server{ID: string(srv.ID), Address: string(srv.Address), Voter: srv.Suffrage == hraft.Voter})
	}
	return out, nil
}

// AddNonvoter adds a server that receives the log but does not vote; promote it with Promote
// once it has caught up, so a lagging newcomer never counts toward the quorum. Leader only.
func (s *Store) AddNonvoter(ctx context.Context, id, addr string) error {
	return s.changeConfig(ctx, "add non-voter", func(timeout time.Duration) hraft.Future {
		return s.raft.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, timeout)
	})
}

// Promote makes the non-voter id a voter once progress (the server's own applied index, as it
// reports it) reaches this leader's commit index at the time of the call. Leader only.
func (s *Store) Promote(ctx context.Context, id string, progress func(context.Context) (uint64, error)) error {
	srv, err := s.server(id)
	if err != nil {
		return err
	}
	if srv.Voter {
		return nil
	}
	target := s.raft.CommitIndex()
	poll := time.NewTicker(s.cfg.HeartbeatTimeout / 10)
	defer poll.Stop()
	for {
		applied, err := progress(ctx)
		if err == nil && applied >= target {
			break
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			return fmt.Errorf("raft: promote %s: not caught up (applied %d, target %d, last error %v): %w",
				id, applied, target, err, ctx.Err())
		}
	}
	return s.changeConfig(ctx, "promote", func(timeout time.Duration) hraft.Future {
		return s.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(srv.Address), 0, timeout)
	})
}

// RemoveServer removes id from the configuration. Removing the leader itself starts an
// election among the others. Leader only.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	return s.changeConfig(ctx, "remove server", func(timeout time.Duration) hraft.Future {
		return s.raft.RemoveServer(hraft.ServerID(id), 0, timeout)
	})
}

// TransferLeadership hands leadership to id, or to the most up-to-date voter when id is empty.
// Leader only.
func (s *Store) TransferLeadership(ctx context.Context, id string) error {
	if !s.IsLeader() {
		return s.notLeader()
	}
	var f hraft.Future
	if id == "" {
		f = s.raft.LeadershipTransfer()
	} else {
		srv, err := s.server(id)
		if err != nil {
			return err
		}
		f = s.raft.LeadershipTransferToServer(hraft.ServerID(id), hraft.ServerAddress(srv.Address))
	}
	if err := awaitCtx(ctx, f); err != nil {
		return fmt.Errorf("raft: transfer leadership: %w", err)
	}
	return nil
}

// server finds id in the configuration.
func (s *Store) server(id string) (Server, error) {
	servers, err := s.Servers()
	if err != nil {
		return Server{}, err
	}
	for _, srv := range servers {
		if srv.ID == id {
			return srv, nil
		}
	}
	return Server{}, fmt.Errorf("raft: server %q is not in the configuration: %w", id, lattice.ErrInvalidArgument)
}

// changeConfig runs a configuration change on the leader within ctx.
func (s *Store) changeConfig(ctx context.Context, what string, start func(time.Duration) hraft.Future) error {
	if !s.IsLeader() {
		return s.notLeader()
	}
	ctx, cancel := withDefaultDeadline(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	if err := awaitCtx(ctx, start(time.Until(deadline))); err != nil {
		return fmt.Errorf("raft: %s: %w", what, s.mapFutureError(err))
	}
	return nil
}
