package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/raft"
)

// Node is one Lattice cluster member: it owns memberlist membership, the
// replica keyspace, the Raft store, and the routing of every request by
// consistency. A Node is safe for concurrent use once New has returned.
type Node struct {
	cfg           Config
	base          *slog.Logger // node attribute only: each part adds its component
	log           *slog.Logger
	clock         *crdt.Clock
	replica       *crdt.Keyspace
	store         *raft.Store
	ml            *memberlist.Memberlist
	peers         *peerTable
	gossip        *disseminator
	fold          *folder
	internal      *http.Client
	metrics       *metrics
	raftAdvertise string
	gossipAddr    string
	removals      removals
	// bootstrapVoter: another member bootstraps Raft with this node among its voters (see
	// tryBootstrap), so the leader may count it before this node holds any configuration.
	bootstrapVoter atomic.Bool
	forwards       *coalescer[[]byte, forwarded] // strong writes forwarded to the leader
	barriers       *coalescer[struct{}, uint64]  // read points asked of the leader
	// replicaID names this boot of the node in dots, counters and stamps.
	// The replica is rebuilt from the committed state at start, so dots this
	// node made before a restart and never folded may live on only in peers:
	// reusing the node id would mint the same dots again for other data.
	replicaID crdt.ReplicaID

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stopOnce sync.Once
	stopping chan struct{}
}

// New opens the node's Raft store (replaying its log and snapshot into the
// committed keyspace and from there into the replica) and creates its
// memberlist instance. Start joins the cluster and starts the background work.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	base := log.With("node", cfg.NodeID)
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:       cfg,
		base:      base,
		log:       base.With("component", "node"),
		clock:     crdt.NewClock(crdt.ClockConfig{MaxDrift: cfg.MaxClockDrift, Offset: cfg.ClockOffset}),
		replica:   crdt.NewKeyspace(crdt.KeyspaceConfig{}),
		peers:     newPeerTable(cfg.NodeID),
		metrics:   newMetrics(cfg.Registerer),
		ctx:       ctx,
		cancel:    cancel,
		stopping:  make(chan struct{}),
		replicaID: crdt.ReplicaID(fmt.Sprintf("%s.%x", cfg.NodeID, time.Now().UnixNano())),
	}
	n.internal = n.newInternalClient()
	n.forwards = newCoalescer(256, n.forwardBatch)
	n.barriers = newCoalescer(1<<20, n.askBarrier)
	n.gossip = newDisseminator(n)
	n.fold = newFolder(n)

	if err := n.openRaft(); err != nil {
		cancel()
		return nil, err
	}
	if err := n.createMemberlist(); err != nil {
		cancel()
		_ = n.store.Shutdown(context.Background())
		return nil, err
	}
	n.metrics.registerGauges(n)
	return n, nil
}

// openRaft listens on the Raft address and opens the store.
func (n *Node) openRaft() error {
	ln, err := net.Listen("tcp", n.cfg.RaftAddr)
	if err != nil {
		return fmt.Errorf("node: raft address %s: %w", n.cfg.RaftAddr, err)
	}
	adv := n.cfg.RaftAdvertise
	if adv == "" {
		adv = ln.Addr().String()
	}
	advAddr, err := net.ResolveTCPAddr("tcp", adv)
	if err != nil {
		ln.Close()
		return fmt.Errorf("node: raft advertise address %s: %w", adv, err)
	}
	n.raftAdvertise = advAddr.String()
	var layer hraft.StreamLayer = &tcpStreamLayer{ln: ln, advertise: advAddr}
	if n.cfg.Network != nil {
		layer = n.cfg.Network.Raft(layer)
	}
	trans := hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: 8,
		Timeout: 10 * time.Second,
		Logger:  raft.HCLogger(n.base.With("component", "raft-transport")),
	})

	rc := raft.DefaultConfig()
	rc.NodeID = n.cfg.NodeID
	rc.BindAddr = n.cfg.RaftAddr
	rc.AdvertiseAddr = n.raftAdvertise
	rc.DataDir = n.cfg.DataDir
	rc.Transport = trans
	rc.Logger = n.cfg.Logger // the raft package adds its component and the node id
	if n.cfg.RaftHeartbeat > 0 {
		rc.HeartbeatTimeout = n.cfg.RaftHeartbeat
		rc.LeaderLeaseTimeout = n.cfg.RaftHeartbeat / 2
	}
	if n.cfg.RaftElection > 0 {
		rc.ElectionTimeout = n.cfg.RaftElection
	}
	rc.OnApply = n.applyCommitted
	rc.OnRestore = n.restoreCommitted
	store, err := raft.Open(rc)
	if err != nil {
		trans.Close()
		return fmt.Errorf("node: %w", err)
	}
	n.store = store
	return nil
}

// createMemberlist sets up gossip membership without joining anyone yet.
func (n *Node) createMemberlist() error {
	host, portStr, err := net.SplitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("node: gossip address: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("node: gossip port %q: %w", portStr, err)
	}
	mlLog := slog.NewLogLogger(n.base.With("component", "memberlist").Handler(), slog.LevelDebug)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: mlLog})
	if err != nil {
		return fmt.Errorf("node: gossip address %s: %w", n.cfg.GossipAddr, err)
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.cfg.NodeID
	mc.BindAddr = host
	mc.BindPort = nt.GetAutoBindPort()
	mc.AdvertiseAddr = host
	mc.AdvertisePort = nt.GetAutoBindPort()
	if a := n.cfg.GossipAdvertise; a != "" {
		ah, ap, err := net.SplitHostPort(a)
		if err != nil {
			nt.Shutdown()
			return fmt.Errorf("node: gossip advertise address: %w", err)
		}
		mc.AdvertiseAddr = ah
		if mc.AdvertisePort, err = strconv.Atoi(ap); err != nil {
			nt.Shutdown()
			return fmt.Errorf("node: gossip advertise port: %w", err)
		}
	}
	var t memberlist.Transport = nt
	if n.cfg.Network != nil {
		t = n.cfg.Network.Memberlist(nt)
	}
	mc.Transport = t
	mc.Delegate = memberDelegate{n}
	mc.Events = eventDelegate{n}
	mc.Logger = mlLog
	mc.ProtocolVersion = memberlist.ProtocolVersionMax
	// Delta batches are sized to fit one packet before memberlist sees them, so compressing them
	// saves no packet; it cost 4-5 % of a node's CPU under eventual writes (LZW both ways).
	mc.EnableCompression = false
	ml, err := memberlist.Create(mc)
	if err != nil {
		nt.Shutdown()
		return fmt.Errorf("node: memberlist: %w", err)
	}
	n.ml = ml
	n.gossipAddr = net.JoinHostPort(mc.AdvertiseAddr, strconv.Itoa(mc.AdvertisePort))
	return nil
}

// Start joins the cluster (retrying seeds in the background) and starts
// dissemination, anti-entropy, fold-in and the leader's housekeeping.
func (n *Node) Start() {
	n.spawn(n.joinLoop)
	n.spawn(n.bootstrapLoop)
	n.spawn(n.fold.run)
	n.spawn(n.fold.repairLoop)
	n.spawn(n.antiEntropyLoop)
	n.spawn(n.leaderLoop)
	n.log.Info("node started", "http", n.cfg.HTTPAddr, "gossip", n.gossipAddr, "raft", n.raftAdvertise)
}

func (n *Node) spawn(f func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f(n.ctx)
	}()
}

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// GossipAddr returns the advertised gossip address (useful when the
// configured port was 0).
func (n *Node) GossipAddr() string { return n.gossipAddr }

// RaftAddr returns the advertised Raft address.
func (n *Node) RaftAddr() string { return n.raftAdvertise }

// joinLoop joins the seeds, retrying with backoff until one answers.
func (n *Node) joinLoop(ctx context.Context) {
	var seeds []string
	for _, s := range n.cfg.Join {
		if s != n.gossipAddr && s != n.cfg.GossipAddr {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return
	}
	backoff := 100 * time.Millisecond
	for {
		joined, err := n.ml.Join(seeds)
		if joined > 0 {
			n.log.Info("joined cluster", "contacted", joined)
			return
		}
		n.log.Debug("join failed, retrying", "seeds", seeds, "err", err, "in", backoff)
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Shutdown leaves the cluster gracefully: it stops accepting eventual writes,
// folds in what is pending, hands leadership over, asks the leader to remove
// this node from the Raft configuration, leaves memberlist and closes Raft.
func (n *Node) Shutdown(ctx context.Context) error {
	var err error
	n.stopOnce.Do(func() { err = n.shutdown(ctx) })
	return err
}

func (n *Node) shutdown(ctx context.Context) error {
	close(n.stopping)
	n.log.Info("node leaving")
	if ferr := n.fold.drain(ctx); ferr != nil {
		n.log.Warn("fold-in not drained before shutdown", "err", ferr)
	}
	n.leave(ctx)
	n.cancel()
	n.wg.Wait()
	n.gossip.close()
	errs := []error{}
	if err := n.ml.Leave(time.Second); err != nil {
		// Peers learn of the departure by failure detection instead.
		n.log.Warn("memberlist leave not acknowledged", "err", err)
	}
	if err := n.ml.Shutdown(); err != nil {
		errs = append(errs, err)
	}
	if err := n.store.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	n.internal.CloseIdleConnections()
	return errors.Join(errs...)
}

// Close stops the node at once, without leaving the cluster (as a crash
// would, but closing files cleanly).
func (n *Node) Close() error {
	var err error
	n.stopOnce.Do(func() {
		close(n.stopping)
		n.cancel()
		n.wg.Wait()
		n.gossip.close()
		err = errors.Join(n.ml.Shutdown(), n.store.Shutdown(context.Background()))
		n.internal.CloseIdleConnections()
	})
	return err
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// tcpStreamLayer is Raft's TCP stream layer with a listener we opened
// ourselves, so tests can wrap it.
type tcpStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
}

func (t *tcpStreamLayer) Accept() (net.Conn, error) { return t.ln.Accept() }
func (t *tcpStreamLayer) Close() error              { return t.ln.Close() }
func (t *tcpStreamLayer) Addr() net.Addr            { return t.advertise }
func (t *tcpStreamLayer) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}
