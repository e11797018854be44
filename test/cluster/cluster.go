package cluster

import (
	"context"
	"fmt"
	"github.com/gin-gonic/gin"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/httpapi"
	"github.com/lattice-state/lattice/node"
	"github.com/lattice-state/lattice/server"
)

// Cluster is a set of in-process nodes sharing one Network.
type Cluster struct {
	t       testing.TB
	Net     *Network
	Members []*Member
	tune    func(*node.Config)
}

// Member is one node of a Cluster. Its addresses stay the same across
// restarts.
type Member struct {
	ID     string
	Server *server.Server // nil while stopped
	dir    string
	cfg    server.Config
}

// URL returns the base URL of the member's HTTP API.
func (m *Member) URL() string { return "http://" + m.cfg.Node.HTTPAddr }

// Node returns the running node (nil while stopped).
func (m *Member) Node() *node.Node {
	if m.Server == nil {
		return nil
	}
	return m.Server.Node()
}

// Option adjusts every node's configuration before start.
type Option func(*node.Config)

// Start runs n nodes that form one cluster (bootstrap-expect n) and waits
// for a leader. Everything stops when the test ends.
func Start(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	gin.SetMode(gin.ReleaseMode) // gin's mode is process-wide; its debug banner is noise here
	c := &Cluster{t: t, Net: NewNetwork(), tune: func(cfg *node.Config) {
		for _, o := range opts {
			o(cfg)
		}
	}}
	base := t.TempDir()
	var seed string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("n%d", i+1)
		m := &Member{ID: id, dir: filepath.Join(base, id)}
		nc := node.DefaultConfig()
		nc.NodeID = id
		nc.HTTPAddr, nc.GossipAddr, nc.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		nc.DataDir = m.dir
		nc.BootstrapExpect = n
		nc.ClusterToken = "test-token"
		nc.RaftHeartbeat = 300 * time.Millisecond
		nc.RaftElection = 300 * time.Millisecond
		nc.StrongTimeout = 3 * time.Second
		nc.Network = c.Net.For(id)
		if seed != "" {
			nc.Join = []string{seed}
		}
		c.tune(&nc)
		hc := httpapi.DefaultConfig()
		m.cfg = server.Config{Node: nc, HTTP: hc, Logger: testLogger(t, id)}
		c.Members = append(c.Members, m)
		c.startMember(m)
		if seed == "" {
			seed = m.Node().GossipAddr()
		}
	}
	// Restarted members may find any other member: give each all seeds.
	for _, m := range c.Members {
		m.cfg.Node.Join = nil
		for _, o := range c.Members {
			if o != m {
				m.cfg.Node.Join = append(m.cfg.Node.Join, o.cfg.Node.GossipAddr)
			}
		}
	}
	t.Cleanup(c.Stop)
	c.WaitLeader(20 * time.Second)
	return c
}

// SetOption adjusts the member's node configuration for its next start.
func (m *Member) SetOption(o Option) { o(&m.cfg.Node) }

// startMember starts m and pins its addresses for later restarts.
func (c *Cluster) startMember(m *Member) {
	c.t.Helper()
	s, err := server.New(m.cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", m.ID, err)
	}
	n := s.Node()
	m.cfg.Node.HTTPAddr = s.Addr()
	m.cfg.Node.GossipAddr = n.GossipAddr()
	m.cfg.Node.RaftAddr = n.RaftAddr()
	c.Net.register(m.ID, s.Addr(), n.GossipAddr(), n.RaftAddr())
	m.Server = s
	s.Start()
}

// Stop stops every running member (as a crash would; files are closed).
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		if m.Server != nil {
			_ = m.Server.Close()
			m.Server = nil
		}
	}
}

// Kill stops member i abruptly: it does not leave the cluster.
func (c *Cluster) Kill(i int) {
	m := c.Members[i]
	if m.Server != nil {
		_ = m.Server.Close()
		m.Server = nil
	}
}

// Leave stops member i gracefully: it folds in what is pending, hands
// leadership over and leaves the Raft configuration and memberlist.
func (c *Cluster) Leave(i int) {
	c.t.Helper()
	m := c.Members[i]
	if m.Server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Server.Shutdown(ctx); err != nil {
		c.t.Logf("graceful stop of %s: %v", m.ID, err)
	}
	m.Server = nil
}

// Restart starts member i again with its data and addresses.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.Members[i]
	if m.Server != nil {
		c.t.Fatalf("restart %s: still running", m.ID)
	}
	c.startMember(m)
}

// IDs returns the ids of the members with the given indexes.
func (c *Cluster) IDs(idx ...int) []string {
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = c.Members[x].ID
	}
	return out
}

// Leader waits for a leader among the running members and returns its index.
func (c *Cluster) WaitLeader(timeout time.Duration) int {
	c.t.Helper()
	var leader int
	c.Eventually(timeout, "a leader", func() bool {
		for i, m := range c.Members {
			if n := m.Node(); n != nil && n.Status(context.Background()).LeaderID == m.ID {
				leader = i
				return true
			}
		}
		return false
	})
	return leader
}

// Eventually polls cond every 20 ms until it holds or timeout passes.
func (c *Cluster) Eventually(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// WaitConverged waits until every running member's replica equals every
// other's and its committed state, and no fold-in is pending.
func (c *Cluster) WaitConverged(timeout time.Duration) {
	c.t.Helper()
	c.Eventually(timeout, "convergence", func() bool {
		var ref []uint64
		for _, m := range c.Members {
			n := m.Node()
			if n == nil {
				continue
			}
			d := n.ReplicaDigest()
			if !equalDigests(d, n.CommittedDigest()) || n.Status(context.Background()).FoldPending > 0 {
				return false
			}
			if ref == nil {
				ref = d
			} else if !equalDigests(ref, d) {
				return false
			}
		}
		return true
	})
}

func equalDigests(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Replica returns member i's replica entry of key.
func (c *Cluster) Replica(i int, key string) (crdt.Entry, bool) {
	return c.Members[i].Node().ReplicaEntry(key)
}

// Client is an HTTP client for tests, with a short timeout.
var Client = &http.Client{Timeout: 10 * time.Second}

// testLogger writes a node's logs to the test log when LATTICE_TEST_LOGS is
// set, and discards them otherwise.
func testLogger(t testing.TB, id string) *slog.Logger {
	if os.Getenv("LATTICE_TEST_LOGS") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test-node", id)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
