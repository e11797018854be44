package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice/crdt"
)

// Config configures a Store. Build it with DefaultConfig, set at least NodeID, BindAddr and
// DataDir, and check it with Validate (Open does). A Config is not modified after Open.
type Config struct {
	// NodeID is this server's Raft id; it must be unique and stable across restarts.
	NodeID string
	// BindAddr is the host:port the Raft TCP transport listens on. Port 0 picks a free port.
	BindAddr string
	// AdvertiseAddr is the host:port other servers dial; empty means the bound address.
	AdvertiseAddr string
	// DataDir holds raft.db (log and stable store) and the snapshots directory.
	DataDir string

	// HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout and CommitTimeout are passed to
	// hashicorp/raft; LeaderLeaseTimeout bounds how long a leader cut off from its quorum keeps
	// the role, so strong requests on a minority fail in about that time.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotInterval is how often raft checks whether SnapshotThreshold entries accumulated.
	SnapshotInterval time.Duration
	// SnapshotThreshold is the number of log entries after which a snapshot is taken.
	SnapshotThreshold uint64
	// TrailingLogs is the number of entries kept after a snapshot so lagging followers catch up
	// from the log rather than from a snapshot.
	TrailingLogs uint64
	// SnapshotRetain is the number of snapshots kept on disk.
	SnapshotRetain int
	// MaxAppendEntries bounds the entries per AppendEntries RPC and per log-store write (fsync).
	MaxAppendEntries int
	// BatchApplyCh buffers raft's apply channel so the leader groups many entries per fsync.
	BatchApplyCh bool
	// MaxPool is the number of pooled TCP connections per peer.
	MaxPool int

	// MaxBatchCommands and MaxBatchBytes bound how many concurrently proposed commands share one
	// log entry.
	MaxBatchCommands int
	MaxBatchBytes    int
	// MaxInflightEntries bounds the entries proposed but not yet applied. While the pipeline is
	// full new commands queue up, so under load each entry carries many commands and the
	// per-entry costs (log encoding, bolt write, RPC, future) are paid once per batch.
	MaxInflightEntries int
	// ApplyTimeout bounds a proposal whose context has no deadline, including the wait for a leader.
	ApplyTimeout time.Duration
	// ReadTimeout bounds one linearizable read round (leadership confirmation and apply wait).
	ReadTimeout time.Duration

	// Keyspace configures the FSM's keyspace.
	Keyspace crdt.KeyspaceConfig

	// Logger receives the store's and hashicorp/raft's logs; nil discards them.
	Logger *slog.Logger
	// Transport replaces the TCP transport (tests inject one they can partition). BindAddr and
	// AdvertiseAddr are then ignored; the Store closes it on Shutdown.
	Transport hraft.Transport

	// OnApply is called on the FSM goroutine after each log entry with the post-apply entries of
	// the keys the entry changed, in the order they first changed. It must not block for long and
	// must not modify the entries.
	OnApply func(index uint64, changed []crdt.KV)
	// OnRestore is called on the FSM goroutine after the FSM was replaced by a snapshot. The
	// snapshot is released when the call returns.
	OnRestore func(s *crdt.Snapshot)
	// OnLeaderChange is called from a store goroutine, in order, whenever the known leader
	// changes; empty id and addr mean none is known.
	OnLeaderChange func(id, addr string)
}

// DefaultConfig returns settings for a three-node cluster on a LAN. NodeID, BindAddr and DataDir
// must still be set.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		SnapshotInterval:   120 * time.Second,
		SnapshotThreshold:  8192,
		TrailingLogs:       10240,
		SnapshotRetain:     2,
		MaxAppendEntries:   128,
		BatchApplyCh:       true,
		MaxPool:            3,
		MaxBatchCommands:   512,
		MaxBatchBytes:      1 << 20,
		MaxInflightEntries: 1,
		ApplyTimeout:       5 * time.Second,
		ReadTimeout:        5 * time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.NodeID != "", "NodeID is empty")
	check(c.DataDir != "", "DataDir is empty")
	if c.Transport == nil {
		_, _, err := net.SplitHostPort(c.BindAddr)
		check(err == nil, "BindAddr %q is not host:port", c.BindAddr)
		if c.AdvertiseAddr != "" {
			_, err := net.ResolveTCPAddr("tcp", c.AdvertiseAddr)
			check(err == nil, "AdvertiseAddr %q is not a resolvable host:port", c.AdvertiseAddr)
		}
	}
	check(c.SnapshotRetain >= 1, "SnapshotRetain must be at least 1")
	check(c.MaxPool >= 1, "MaxPool must be at least 1")
	check(c.MaxBatchCommands >= 1, "MaxBatchCommands must be at least 1")
	check(c.MaxBatchBytes >= 1024, "MaxBatchBytes must be at least 1024")
	check(c.MaxInflightEntries >= 1, "MaxInflightEntries must be at least 1")
	check(c.ApplyTimeout > 0, "ApplyTimeout must be positive")
	check(c.ReadTimeout > 0, "ReadTimeout must be positive")
	check(c.SnapshotThreshold >= 1, "SnapshotThreshold must be at least 1")
	if len(errs) == 0 {
		hc := c.hraftConfig()
		if err := hraft.ValidateConfig(hc); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("raft: invalid config: %w", err)
	}
	return nil
}

// hraftConfig translates c into hashicorp/raft's configuration (without NotifyCh).
func (c Config) hraftConfig() *hraft.Config {
	hc := hraft.DefaultConfig()
	hc.LocalID = hraft.ServerID(c.NodeID)
	hc.HeartbeatTimeout = c.HeartbeatTimeout
	hc.ElectionTimeout = c.ElectionTimeout
	hc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	hc.CommitTimeout = c.CommitTimeout
	hc.SnapshotInterval = c.SnapshotInterval
	hc.SnapshotThreshold = c.SnapshotThreshold
	hc.TrailingLogs = c.TrailingLogs
	hc.MaxAppendEntries = c.MaxAppendEntries
	hc.BatchApplyCh = c.BatchApplyCh
	hc.Logger = newHCLogger(c.Logger)
	hc.NoLegacyTelemetry = true
	return hc
}
