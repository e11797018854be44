package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
)

// logCacheSize is the number of recent log entries kept in memory so replication to followers
// does not read them back from bolt. An entry holds up to Config.MaxBatchBytes of commands, so
// the cache can pin 16 MiB at most. With MaxInflightEntries entries in flight, followers in step
// read only the newest few; one further behind reads bolt. (4096 pinned every entry of a
// 1M-key load: 176 MB of the leader's 485 MB live heap.)
const logCacheSize = 16

// Store is one server of the Raft group: the hashicorp/raft node, its bolt log and stable store,
// snapshots and transport, and the FSM holding the committed keyspace. It is safe for
// concurrent use.
type Store struct {
	cfg   Config
	log   *slog.Logger
	raft  *hraft.Raft
	fsm   *fsm
	bolt  *raftboltdb.BoltStore
	trans hraft.Transport

	notifyCh chan bool
	obsCh    chan hraft.Observation
	observer *hraft.Observer

	propCh chan *proposal
	slots  chan struct{} // one token per entry in flight (MaxInflightEntries)
	readCh chan chan error
	lead   leadership
	// changed is signalled whenever the leader, this node's raft state or read readiness changes.
	changed broadcaster

	closed       atomic.Bool
	closing      chan struct{} // closed first on Shutdown: no new requests
	stop         chan struct{} // closed once raft has shut down
	proposerDone chan struct{}
	loops        sync.WaitGroup
	inflight     sync.WaitGroup // entries handed to raft and not yet answered
}

// Open creates (or reopens) the server's stores in cfg.DataDir and starts raft. A new cluster
// must then be bootstrapped once (Bootstrap); a restarted server resumes from its log.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "raft", "node", cfg.NodeID)
	cfg.Logger = logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: data dir: %w", err)
	}
	s := &Store{
		cfg:      cfg,
		log:      logger,
		fsm:      newFSM(cfg),
		notifyCh: make(chan bool, 8),
		obsCh:    make(chan hraft.Observation, 64),
		propCh:   make(chan *proposal, 4*cfg.MaxBatchCommands),
		slots:    make(chan struct{}, cfg.MaxInflightEntries),
		readCh:   make(chan chan error, 1024),
		closing:  make(chan struct{}),
		stop:     make(chan struct{}),

		proposerDone: make(chan struct{}),
	}
	if err := s.openRaft(); err != nil {
		s.closeStores()
		return nil, err
	}
	s.observer = hraft.NewObserver(s.obsCh, false, func(o *hraft.Observation) bool {
		switch o.Data.(type) {
		case hraft.LeaderObservation, hraft.RaftState, hraft.PeerObservation:
			return true
		}
		return false
	})
	s.raft.RegisterObserver(s.observer)
	s.loops.Add(3)
	go s.leadershipLoop()
	go s.observeLoop()
	go s.proposeLoop()
	go s.readLoop()
	return s, nil
}

func (s *Store) openRaft() error {
	cfg := s.cfg
	hc := cfg.hraftConfig()
	hc.Logger = newHCLogger(s.log)
	hc.NotifyCh = s.notifyCh
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.DataDir, "raft.db"),
		// The freelist is rebuilt on open instead of written on every commit: cheaper fsyncs.
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
	})
	if err != nil {
		return fmt.Errorf("raft: open log store: %w", err)
	}
	s.bolt = bolt
	logs, err := hraft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		return fmt.Errorf("raft: log cache: %w", err)
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotRetain, hc.Logger)
	if err != nil {
		return fmt.Errorf("raft: snapshot store: %w", err)
	}
	s.trans = cfg.Transport
	if s.trans == nil {
		var adv net.Addr
		if cfg.AdvertiseAddr != "" {
			if adv, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr); err != nil {
				return fmt.Errorf("raft: advertise address: %w", err)
			}
		}
		s.trans, err = hraft.NewTCPTransportWithConfig(cfg.BindAddr, adv, &hraft.NetworkTransportConfig{
			MaxPool: cfg.MaxPool,
			Timeout: 10 * time.Second,
			Logger:  hc.Logger,
		})
		if err != nil {
			return fmt.Errorf("raft: transport: %w", err)
		}
	}
	s.raft, err = hraft.NewRaft(hc, s.fsm, logs, bolt, snaps, s.trans)
	if err != nil {
		return fmt.Errorf("raft: start: %w", err)
	}
	return nil
}

// closeStores releases what openRaft opened when raft itself never started.
func (s *Store) closeStores() {
	if c, ok := s.trans.(hraft.WithClose); ok && s.cfg.Transport == nil {
		c.Close()
	}
	if s.bolt != nil {
		s.bolt.Close()
	}
}

// Addr is the address other servers reach this one at.
func (s *Store) Addr() string { return string(s.trans.LocalAddr()) }

// ID is this server's Raft id.
func (s *Store) ID() string { return s.cfg.NodeID }

// Get returns the committed entry of key (tombstones included) as applied on this node. It is
// not linearizable by itself: call LinearizableRead first for that.
func (s *Store) Get(key string) (crdt.Entry, bool) { return s.fsm.keyspace().Get(key) }

// Snapshot returns a point-in-time view of the committed keyspace; the caller must Release it.
func (s *Store) Snapshot() *crdt.Snapshot { return s.fsm.keyspace().Snapshot() }

// Keyspace returns the committed keyspace as applied on this node, for read-only use (Digest,
// BucketKeys, MemoryBytes). It is replaced wholesale by a snapshot restore.
func (s *Store) Keyspace() *crdt.Keyspace { return s.fsm.keyspace() }

// Horizon is the last tombstone-collection horizon committed through the log.
func (s *Store) Horizon() crdt.Timestamp { return crdt.Timestamp(s.fsm.horizon.Load()) }

// AppliedIndex is the last log index applied to this node's FSM.
func (s *Store) AppliedIndex() uint64 { return s.fsm.applied.current() }

// Leader returns the id and address of the leader this node knows, or empty strings.
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node is currently the leader.
func (s *Store) IsLeader() bool { return s.raft.State() == hraft.Leader }

// Stats is a summary of this node's Raft state.
type Stats struct {
	State        string // Follower, Candidate, Leader or Shutdown
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // applied to this node's FSM
	LastIndex    uint64
	LeaderID     string
	LeaderAddr   string
}

// Stats returns a summary of this node's Raft state.
func (s *Store) Stats() Stats {
	id, addr := s.Leader()
	return Stats{
		State:        s.raft.State().String(),
		Term:         s.raft.CurrentTerm(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.fsm.applied.current(),
		LastIndex:    s.raft.LastIndex(),
		LeaderID:     id,
		LeaderAddr:   addr,
	}
}

// Shutdown stops the server gracefully: it refuses new requests, waits (within ctx) for the
// entries already handed to raft, hands leadership to another voter if it leads, then stops raft
// and closes its stores. Requests still waiting get lattice.ErrShuttingDown or, when their entry
// was submitted, lattice.ErrIndeterminate. With ctx already done it stops at once, without
// handing over leadership, much like a crash.
func (s *Store) Shutdown(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.closing)
	<-s.proposerDone
	drained := make(chan struct{})
	go func() { s.inflight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
	}
	var errs []error
	if ctx.Err() == nil && s.IsLeader() && s.otherVoters() {
		if err := awaitCtx(ctx, s.raft.LeadershipTransfer()); err != nil {
			s.log.Warn("leadership transfer before shutdown failed", "error", err)
		}
	}
	s.raft.DeregisterObserver(s.observer)
	if err := s.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("raft: shutdown: %w", err))
	}
	close(s.stop)
	s.loops.Wait()
	if err := s.bolt.Close(); err != nil {
		errs = append(errs, fmt.Errorf("raft: close log store: %w", err))
	}
	return errors.Join(errs...)
}

// otherVoters reports whether the configuration holds a voter besides this server.
func (s *Store) otherVoters() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == hraft.Voter && string(srv.ID) != s.cfg.NodeID {
			return true
		}
	}
	return false
}

// errShuttingDown is returned to requests refused because the store is stopping.
var errShuttingDown = fmt.Errorf("raft: %w", lattice.ErrShuttingDown)

// awaitCtx waits for a raft future within ctx. The waiting goroutine outlives ctx only until
// the future resolves.
func awaitCtx(ctx context.Context, f hraft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// withDefaultDeadline gives ctx a deadline d from now when it has none.
func withDefaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}
