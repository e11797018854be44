package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
)

// testCluster runs real Stores on 127.0.0.1 TCP ports with bolt files in t.TempDir().
type testCluster struct {
	t     testing.TB
	nodes []*testNode
	tune  func(*Config)
}

type testNode struct {
	id, dir, addr string
	st            atomic.Pointer[Store] // nil while stopped
	restores      atomic.Int32          // snapshot restores (at start from disk, or installed by the leader)
}

// store returns the running store, or nil.
func (n *testNode) store() *Store { return n.st.Load() }

// testLogger discards logs unless LATTICE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("LATTICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fastConfig uses short timeouts so elections and failovers take a fraction of a second.
func fastConfig(id, dir, bind string) Config {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.BindAddr = id, dir, bind
	cfg.HeartbeatTimeout = 300 * time.Millisecond
	cfg.ElectionTimeout = 300 * time.Millisecond
	cfg.LeaderLeaseTimeout = 300 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	cfg.ReadTimeout = 5 * time.Second
	cfg.Logger = testLogger()
	return cfg
}

func newTestCluster(t testing.TB, n int, tune func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, tune: tune}
	var servers []Server
	for i := range n {
		node := &testNode{id: fmt.Sprintf("n%d", i+1), dir: t.TempDir(), addr: "127.0.0.1:0"}
		c.nodes = append(c.nodes, node)
		c.start(node)
		servers = append(servers, Server{ID: node.id, Address: node.addr})
	}
	if err := c.nodes[0].store().Bootstrap(servers); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, node := range c.nodes {
			c.stop(node, false)
		}
	})
	c.leader()
	return c
}

// start opens node's store on its data dir and (after the first start) its fixed address.
func (c *testCluster) start(n *testNode) {
	c.t.Helper()
	cfg := fastConfig(n.id, n.dir, n.addr)
	cfg.OnRestore = func(*crdt.Snapshot) { n.restores.Add(1) }
	if c.tune != nil {
		c.tune(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		c.t.Fatalf("open %s: %v", n.id, err)
	}
	n.st.Store(s)
	n.addr = s.Addr()
}

// stop shuts node down, gracefully or crash-like.
func (c *testCluster) stop(n *testNode, graceful bool) {
	s := n.st.Swap(nil)
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if !graceful {
		cancel()
	}
	if err := s.Shutdown(ctx); err != nil {
		c.t.Errorf("shutdown %s: %v", n.id, err)
	}
	cancel()
}

// leader waits for a node that leads and has its term barrier applied.
func (c *testCluster) leader() *testNode {
	c.t.Helper()
	var found *testNode
	waitFor(c.t, 10*time.Second, "a ready leader", func() bool {
		for _, n := range c.nodes {
			if s := n.store(); s != nil && s.IsLeader() && s.lead.get().term == s.raft.CurrentTerm() {
				found = n
				return true
			}
		}
		return false
	})
	return found
}

func (c *testCluster) node(id string) *testNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	c.t.Fatalf("no node %s", id)
	return nil
}

// propose sends cmd to whichever node leads, retrying while there is none. Indeterminate
// outcomes are returned to the caller.
func (c *testCluster) propose(ctx context.Context, cmd *Command) (Result, error) {
	for {
		if s := c.anyLeader(); s != nil {
			r, err := s.Propose(ctx, cmd)
			if err == nil || errors.Is(err, lattice.ErrIndeterminate) || ctx.Err() != nil {
				return r, err
			}
		}
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(10 * time.Millisecond): // back off while an election runs
		}
	}
}

// mustPropose is propose retrying indeterminate outcomes: only for commands whose repetition is
// harmless (a plain set of a fixed value, or a command with a RequestID).
func (c *testCluster) mustPropose(ctx context.Context, cmd *Command) Result {
	c.t.Helper()
	for {
		r, err := c.propose(ctx, cmd)
		if errors.Is(err, lattice.ErrIndeterminate) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			c.t.Fatalf("propose %v: %v", cmd.Op, err)
		}
		return r
	}
}

// readLeader returns a leader after a successful linearizable read on it, retrying across
// leader changes.
func (c *testCluster) readLeader(ctx context.Context) *Store {
	c.t.Helper()
	var s *Store
	waitFor(c.t, 15*time.Second, "a linearizable read", func() bool {
		s = c.leader().store()
		return s != nil && s.LinearizableRead(ctx) == nil
	})
	return s
}

// anyLeader returns a running store that believes it leads, or nil.
func (c *testCluster) anyLeader() *Store {
	for _, n := range c.nodes {
		if s := n.store(); s != nil && s.IsLeader() {
			return s
		}
	}
	return nil
}

// waitApplied waits until every running node applied at least index.
func (c *testCluster) waitApplied(index uint64) {
	c.t.Helper()
	waitFor(c.t, 15*time.Second, fmt.Sprintf("all nodes at index %d", index), func() bool {
		for _, n := range c.nodes {
			if s := n.store(); s != nil && s.AppliedIndex() < index {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// registerValue returns the live register value of key in s.
func registerValue(s *Store, key string) (string, bool) {
	e, ok := s.Get(key)
	if !ok || !e.Live(time.Now().UnixMilli()) {
		return "", false
	}
	r, ok := e.State.(*crdt.Register)
	if !ok {
		return "", false
	}
	return string(r.Value), true
}

func setCmd(key, value string) *Command {
	ms := time.Now().UnixMilli()
	return &Command{Op: OpSet, Now: ms, Set: &SetCmd{Key: key, Value: []byte(value), Proposed: crdt.Stamp{TS: crdt.MakeTimestamp(ms, 0), Replica: "test"}}}
}
