package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
	hraft "github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Node. Build it with DefaultConfig and override fields;
// New calls Validate. Nothing in it is changed after New.
type Config struct {
	// NodeID names the node in memberlist and Raft; unique in the cluster.
	NodeID string
	// HTTPAddr is the host:port at which clients and peers reach this node's
	// HTTP API (the internal endpoints are served there too). It is
	// advertised in the gossip metadata; the HTTP server itself is run by the
	// caller.
	HTTPAddr string
	// GossipAddr is the memberlist bind address (TCP and UDP); port 0 picks one.
	GossipAddr string
	// GossipAdvertise, when set, is the host:port advertised for gossip.
	GossipAdvertise string
	// RaftAddr is the Raft TCP bind address; port 0 picks one.
	RaftAddr string
	// RaftAdvertise, when set, is the host:port advertised for Raft.
	RaftAdvertise string
	// DataDir holds the Raft log, stable store and snapshots.
	DataDir string
	// Join lists gossip seeds (host:port). Joining is retried until it works.
	Join []string
	// BootstrapExpect is the number of members that form the first Raft
	// configuration; the node with the smallest id among them bootstraps.
	BootstrapExpect int
	// ClusterToken authenticates the internal endpoints between nodes.
	ClusterToken string

	// DeltaWindow is how long local writes are coalesced per key before
	// their deltas are shipped to peers.
	DeltaWindow time.Duration
	// PacketLimit is the largest delta batch sent as one best-effort UDP
	// packet; larger batches go over a persistent HTTP stream.
	PacketLimit int
	// DirectFanout is the cluster size up to which deltas go to every peer
	// directly; above it they go to Fanout random peers and are re-gossiped.
	DirectFanout int
	// Fanout is the number of random peers a batch goes to in large clusters.
	Fanout int

	// FoldInterval bounds how long an originated delta waits before it is
	// proposed to Raft.
	FoldInterval time.Duration
	// FoldBatchBytes bounds the size of one fold-in proposal.
	FoldBatchBytes int
	// MaxPendingFoldBytes and MaxPendingFoldKeys bound the fold-in backlog;
	// beyond them eventual writes are refused with ErrBackpressure.
	MaxPendingFoldBytes int64
	MaxPendingFoldKeys  int
	// RepairInterval is how often the replica is compared with the committed
	// state to find entries that no node is folding in.
	RepairInterval time.Duration
	// RepairGrace is how long an entry may stay ahead of the committed state
	// before this node folds it in itself.
	RepairGrace time.Duration

	// AntiEntropyInterval is the period of digest exchange with a random peer.
	AntiEntropyInterval time.Duration
	// AntiEntropyBudget bounds the bytes of entries shipped in one round.
	AntiEntropyBudget int

	// StrongTimeout bounds every strong request: past it a request without a
	// leader or quorum fails with ErrNoQuorum.
	StrongTimeout time.Duration
	// ExpireInterval is how often the leader proposes expiry of TTL'd keys.
	ExpireInterval time.Duration
	// TombstoneTTL is how long tombstones are kept before the leader proposes
	// their collection.
	TombstoneTTL time.Duration
	// PromoteLag is how many entries behind the leader's commit index a
	// non-voter may be when it is promoted to voter.
	PromoteLag uint64

	// MaxClockDrift bounds how far in the future a peer's clock may be.
	MaxClockDrift time.Duration
	// ClockOffset skews this node's hybrid clock (fault-injection tests only).
	ClockOffset time.Duration
	// UnsafeLocalStrongReads serves strong reads from the local replica. It
	// breaks linearizability on purpose, to prove the checkers catch it.
	UnsafeLocalStrongReads bool
	// UnsafeSkipTxnETagCheck drops the etag and first-write checks of every
	// transaction before it is proposed, so transactions become unconditional
	// writes. It breaks the bank invariant on purpose (tests only).
	UnsafeSkipTxnETagCheck bool
	// UnsafeNoApply keeps committed entries out of the replica, so eventual
	// reads never see strong writes. It breaks convergence on purpose (tests only).
	UnsafeNoApply bool

	// Raft tunes the Raft timers; zero values take the raft package defaults.
	RaftHeartbeat time.Duration
	RaftElection  time.Duration

	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the node's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Network wraps the node's connections (tests inject faults with it).
	Network Network
}

// Network lets tests interpose on every connection a node makes, for
// in-process partitions. Production nodes leave Config.Network nil.
type Network interface {
	// Memberlist wraps the gossip transport.
	Memberlist(t memberlist.Transport) memberlist.Transport
	// Raft wraps the Raft stream layer.
	Raft(s hraft.StreamLayer) hraft.StreamLayer
	// Dial dials the internal HTTP endpoints of peers.
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultConfig returns a configuration for a single local node.
func DefaultConfig() Config {
	return Config{
		NodeID:              "node1",
		HTTPAddr:            "127.0.0.1:3500",
		GossipAddr:          "127.0.0.1:7946",
		RaftAddr:            "127.0.0.1:7000",
		DataDir:             "lattice-data",
		BootstrapExpect:     1,
		DeltaWindow:         2 * time.Millisecond,
		PacketLimit:         1300,
		DirectFanout:        8,
		Fanout:              3,
		FoldInterval:        20 * time.Millisecond,
		FoldBatchBytes:      1 << 20,
		MaxPendingFoldBytes: 256 << 20,
		MaxPendingFoldKeys:  1 << 20,
		RepairInterval:      2 * time.Second,
		RepairGrace:         5 * time.Second,
		AntiEntropyInterval: time.Second,
		AntiEntropyBudget:   4 << 20,
		StrongTimeout:       5 * time.Second,
		ExpireInterval:      time.Second,
		TombstoneTTL:        time.Hour,
		PromoteLag:          256,
		MaxClockDrift:       5 * time.Second,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node id is empty"))
	}
	for name, addr := range map[string]string{"http": c.HTTPAddr, "gossip": c.GossipAddr, "raft": c.RaftAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s address %q: %v", name, addr, err))
		}
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			errs = append(errs, fmt.Errorf("join address %q: %v", j, err))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if c.BootstrapExpect < 1 {
		errs = append(errs, fmt.Errorf("bootstrap-expect %d: must be at least 1", c.BootstrapExpect))
	}
	positive := map[string]time.Duration{
		"delta window": c.DeltaWindow, "fold interval": c.FoldInterval, "repair interval": c.RepairInterval,
		"anti-entropy interval": c.AntiEntropyInterval, "strong timeout": c.StrongTimeout,
		"expire interval": c.ExpireInterval, "tombstone ttl": c.TombstoneTTL,
	}
	for name, d := range positive {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", name, d))
		}
	}
	if c.PacketLimit < 64 || c.PacketLimit > 65000 {
		errs = append(errs, fmt.Errorf("packet limit %d: must be within 64..65000", c.PacketLimit))
	}
	if c.FoldBatchBytes <= 0 || c.MaxPendingFoldBytes <= 0 || c.MaxPendingFoldKeys <= 0 || c.AntiEntropyBudget <= 0 {
		errs = append(errs, errors.New("fold-in and anti-entropy bounds must be positive"))
	}
	if c.DirectFanout < 1 || c.Fanout < 1 {
		errs = append(errs, errors.New("fanout must be at least 1"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node: invalid config: %w", err)
	}
	return nil
}
