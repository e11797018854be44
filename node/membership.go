package node

import (
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"

	"github.com/hashicorp/memberlist"
)

// peer is what a node knows of another member from gossip.
type peer struct {
	ID         string
	HTTPAddr   string
	RaftAddr   string
	GossipAddr string
	State      string // alive, suspect, dead, left
	// Boot names the peer's current process (its per-boot replica id).
	Boot string
	node *memberlist.Node
}

// nodeMeta is the memberlist metadata: the addresses a peer needs.
type nodeMeta struct {
	HTTPAddr string
	RaftAddr string
	Boot     string
}

func (m nodeMeta) encode() []byte {
	b := []byte{wireVersion}
	b = appendString(b, m.HTTPAddr)
	b = appendString(b, m.RaftAddr)
	return appendString(b, m.Boot)
}

func decodeMeta(p []byte) (nodeMeta, error) {
	var m nodeMeta
	if len(p) < 1 || p[0] != wireVersion {
		return m, fmt.Errorf("%w: metadata version", errBadMessage)
	}
	r := reader{buf: p[1:]}
	m.HTTPAddr = r.string()
	m.RaftAddr = r.string()
	m.Boot = r.string()
	if r.err == nil && len(r.buf) != 0 {
		r.err = fmt.Errorf("%w: metadata trailing bytes", errBadMessage)
	}
	return m, r.err
}

// peerTable tracks members as memberlist reports them. Safe for concurrent use.
type peerTable struct {
	self    string
	mu      sync.RWMutex
	peers   map[string]*peer
	changed chan struct{} // signalled (non-blocking) on every change
}

func newPeerTable(self string) *peerTable {
	return &peerTable{self: self, peers: make(map[string]*peer), changed: make(chan struct{}, 1)}
}

func (t *peerTable) upsert(n *memberlist.Node, state string, log *slog.Logger) {
	m, err := decodeMeta(n.Meta)
	if err != nil {
		log.Warn("ignoring member with bad metadata", "member", n.Name, "err", err)
		return
	}
	// memberlist calls us with its lock held and later rewrites *n under
	// that lock: keep a copy, never its struct.
	cp := *n
	cp.Meta = append([]byte(nil), n.Meta...)
	cp.Addr = append(net.IP(nil), n.Addr...)
	t.mu.Lock()
	t.peers[n.Name] = &peer{
		ID: n.Name, HTTPAddr: m.HTTPAddr, RaftAddr: m.RaftAddr, Boot: m.Boot,
		GossipAddr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), State: state, node: &cp,
	}
	t.mu.Unlock()
	t.signal()
}

func (t *peerTable) setState(name, state string) {
	t.mu.Lock()
	if p, ok := t.peers[name]; ok {
		p.State = state
	}
	t.mu.Unlock()
	t.signal()
}

func (t *peerTable) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// get returns a copy of the peer with the given id.
func (t *peerTable) get(id string) (peer, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.peers[id]
	if !ok {
		return peer{}, false
	}
	return *p, true
}

// all returns copies of every known member (self included), sorted by id.
func (t *peerTable) all() []peer {
	t.mu.RLock()
	out := make([]peer, 0, len(t.peers))
	for _, p := range t.peers {
		out = append(out, *p)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// alive returns the live members other than self, sorted by id.
func (t *peerTable) alive() []peer {
	var out []peer
	for _, p := range t.all() {
		if p.ID != t.self && p.State == "alive" {
			out = append(out, p)
		}
	}
	return out
}

// byRaftAddr finds a member by its Raft address.
func (t *peerTable) byRaftAddr(addr string) (peer, bool) {
	for _, p := range t.all() {
		if p.RaftAddr == addr {
			return p, true
		}
	}
	return peer{}, false
}

// memberDelegate adapts memberlist's Delegate callbacks to the Node.
type memberDelegate struct{ n *Node }

var _ memberlist.Delegate = memberDelegate{}

func (d memberDelegate) NodeMeta(limit int) []byte {
	b := nodeMeta{HTTPAddr: d.n.cfg.HTTPAddr, RaftAddr: d.n.raftAdvertise, Boot: string(d.n.replicaID)}.encode()
	if len(b) > limit {
		// Addresses are short; a limit this small is a misconfiguration.
		d.n.log.Error("node metadata exceeds memberlist limit", "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg receives gossip packets; memberlist reuses the buffer, so
// handleMessage must not keep it.
func (d memberDelegate) NotifyMsg(b []byte) { d.n.handleMessage(b) }

func (d memberDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState and MergeRemoteState would ship the whole keyspace on every
// push/pull; anti-entropy exchanges digests over the internal endpoints instead.
func (d memberDelegate) LocalState(join bool) []byte            { return nil }
func (d memberDelegate) MergeRemoteState(buf []byte, join bool) {}

// eventDelegate adapts memberlist's EventDelegate to the peer table.
type eventDelegate struct{ n *Node }

var _ memberlist.EventDelegate = eventDelegate{}

func (e eventDelegate) NotifyJoin(m *memberlist.Node) {
	e.n.peers.upsert(m, "alive", e.n.log)
	e.n.log.Info("member joined", "member", m.Name, "addr", m.Address())
}

func (e eventDelegate) NotifyLeave(m *memberlist.Node) {
	state := "dead"
	if m.State == memberlist.StateLeft {
		state = "left"
	}
	e.n.peers.setState(m.Name, state)
	e.n.log.Info("member gone", "member", m.Name, "state", state)
}

func (e eventDelegate) NotifyUpdate(m *memberlist.Node) { e.n.peers.upsert(m, "alive", e.n.log) }
