package raft

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

// TestClusterMembership adds a server as a non-voter, promotes it once caught up, transfers
// leadership to it, removes a server, and checks a graceful leader shutdown hands over.
func TestClusterMembership(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 50 {
		c.mustPropose(ctx, setCmd(fmt.Sprintf("k%d", i), "v"))
	}
	n4 := &testNode{id: "n4", dir: t.TempDir(), addr: "127.0.0.1:0"}
	c.nodes = append(c.nodes, n4)
	c.start(n4)
	l := c.leader().store()

	// Followers cannot change the configuration.
	for _, n := range c.nodes[:3] {
		if s := n.store(); s != l {
			if err := s.AddNonvoter(ctx, "n4", n4.addr); !errors.Is(err, lattice.ErrNotLeader) {
				t.Fatalf("AddNonvoter on a follower: %v", err)
			}
		}
	}
	if err := l.AddNonvoter(ctx, "n4", n4.addr); err != nil {
		t.Fatal(err)
	}
	servers, _ := l.Servers()
	if len(servers) != 4 || servers[3].ID != "n4" || servers[3].Voter {
		t.Fatalf("after AddNonvoter: %+v", servers)
	}
	var polls int
	err := l.Promote(ctx, "n4", func(context.Context) (uint64, error) {
		polls++
		return n4.store().AppliedIndex(), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n4.store().AppliedIndex() < 50 || polls == 0 {
		t.Fatalf("promoted before catching up (applied %d)", n4.store().AppliedIndex())
	}
	servers, _ = l.Servers()
	if !servers[3].Voter {
		t.Fatalf("after Promote: %+v", servers)
	}
	if v, _ := registerValue(n4.store(), "k49"); v != "v" {
		t.Fatal("new server lacks the data")
	}

	// Hand leadership to the newcomer.
	if err := l.TransferLeadership(ctx, "n4"); err != nil {
		t.Fatal(err)
	}
	if got := c.leader(); got != n4 {
		t.Fatalf("leader is %s after transfer to n4", got.id)
	}

	// Remove one of the original servers; the rest keep working.
	victim := c.nodes[1]
	if err := n4.store().RemoveServer(ctx, victim.id); err != nil {
		t.Fatal(err)
	}
	servers, _ = n4.store().Servers()
	if len(servers) != 3 {
		t.Fatalf("after RemoveServer: %+v", servers)
	}
	c.stop(victim, false)
	if r := c.mustPropose(ctx, setCmd("after", "remove")); r.Status != StatusApplied {
		t.Fatalf("write after removal: %+v", r)
	}

	// A graceful shutdown of the leader hands leadership over instead of leaving the cluster to
	// time out and elect.
	c.stop(n4, true)
	next := c.leader()
	if next == n4 {
		t.Fatal("stopped node leads")
	}
	if r := c.mustPropose(ctx, setCmd("after", "shutdown")); r.Status != StatusApplied {
		t.Fatalf("write after leader shutdown: %+v", r)
	}
}

func TestSingleNode(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig("solo", dir, "127.0.0.1:0")
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	ctx := context.Background()
	// Before bootstrap there is no leader: a bounded wait, then ErrNoQuorum.
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = s.Propose(wctx, setCmd("k", "v"))
	cancel()
	if !errors.Is(err, lattice.ErrNoQuorum) {
		t.Fatalf("propose before bootstrap: %v", err)
	}
	if err := s.Bootstrap([]Server{{ID: "solo", Address: s.Addr()}}); err != nil {
		t.Fatal(err)
	}
	// Bootstrapping again is harmless.
	if err := s.Bootstrap([]Server{{ID: "solo", Address: s.Addr()}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Propose(ctx, setCmd("k", "v"))
	if err != nil || r.Status != StatusApplied {
		t.Fatalf("%+v %v", r, err)
	}
	if err := s.LinearizableRead(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := registerValue(s, "k"); v != "v" {
		t.Fatalf("k = %q", v)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Propose(ctx, setCmd("k", "v")); !errors.Is(err, lattice.ErrShuttingDown) {
		t.Fatalf("propose after shutdown: %v", err)
	}
	if err := s.LinearizableRead(ctx); !errors.Is(err, lattice.ErrShuttingDown) {
		t.Fatalf("read after shutdown: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := fastConfig("a", t.TempDir(), "127.0.0.1:0")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no id":          func(c *Config) { c.NodeID = "" },
		"no dir":         func(c *Config) { c.DataDir = "" },
		"bad bind":       func(c *Config) { c.BindAddr = "nope" },
		"bad advertise":  func(c *Config) { c.AdvertiseAddr = "host-without-port" },
		"lease > hb":     func(c *Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout },
		"no batch":       func(c *Config) { c.MaxBatchCommands = 0 },
		"no inflight":    func(c *Config) { c.MaxInflightEntries = 0 },
		"append too big": func(c *Config) { c.MaxAppendEntries = 5000 },
		"no timeout":     func(c *Config) { c.ApplyTimeout = 0 },
		"no retain":      func(c *Config) { c.SnapshotRetain = 0 },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: validated", name)
		}
		if _, err := Open(c); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
