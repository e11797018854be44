package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice/node"
)

// errPartitioned is returned by dials and I/O across a partition.
var errPartitioned = errors.New("cluster: partitioned")

// Network knows which node owns which address and which pairs of nodes are
// cut off from each other. Safe for concurrent use.
type Network struct {
	mu      sync.Mutex
	owner   map[string]string          // host:port -> node id
	blocked map[[2]string]bool         // (from, to) node ids
	conns   map[*trackedConn][2]string // live dialed connections
}

// NewNetwork returns a network with no partitions.
func NewNetwork() *Network {
	return &Network{owner: map[string]string{}, blocked: map[[2]string]bool{}, conns: map[*trackedConn][2]string{}}
}

// register records that id listens on addrs.
func (w *Network) register(id string, addrs ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range addrs {
		w.owner[a] = id
	}
}

// Partition cuts every node in a group off from every node outside it.
// Nodes in no group keep talking to everyone.
func (w *Network) Partition(groups ...[]string) {
	w.mu.Lock()
	group := map[string]int{}
	for i, g := range groups {
		for _, id := range g {
			group[id] = i
		}
	}
	w.blocked = map[[2]string]bool{}
	for a, ga := range group {
		for b, gb := range group {
			if ga != gb {
				w.blocked[[2]string{a, b}] = true
			}
		}
	}
	var cut []*trackedConn
	for c, pair := range w.conns {
		if w.blocked[pair] {
			cut = append(cut, c)
		}
	}
	w.mu.Unlock()
	for _, c := range cut {
		c.Conn.Close()
	}
}

// Heal removes every partition.
func (w *Network) Heal() { w.Partition() }

// isBlocked reports whether from may not reach addr.
func (w *Network) isBlocked(from, addr string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	to := w.owner[addr]
	return to, to != "" && w.blocked[[2]string{from, to}]
}

func (w *Network) track(c *trackedConn, from, to string) {
	w.mu.Lock()
	w.conns[c] = [2]string{from, to}
	w.mu.Unlock()
}

func (w *Network) untrack(c *trackedConn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

// For returns the node.Network of node id.
func (w *Network) For(id string) node.Network { return &nodeNet{w: w, id: id} }

// nodeNet is one node's view of the Network.
type nodeNet struct {
	w  *Network
	id string
}

func (n *nodeNet) dial(ctx context.Context, network, addr string, timeout time.Duration) (net.Conn, error) {
	to, blocked := n.w.isBlocked(n.id, addr)
	if blocked {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: %s -> %s", errPartitioned, n.id, to)}
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, w: n.w, from: n.id, addr: addr}
	n.w.track(tc, n.id, to)
	return tc, nil
}

// Dial implements node.Network for the internal HTTP endpoints.
func (n *nodeNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return n.dial(ctx, network, addr, 2*time.Second)
}

// Raft implements node.Network.
func (n *nodeNet) Raft(s hraft.StreamLayer) hraft.StreamLayer {
	return &raftLayer{StreamLayer: s, n: n}
}

// Memberlist implements node.Network.
func (n *nodeNet) Memberlist(t memberlist.Transport) memberlist.Transport {
	mt := &mlTransport{Transport: t, n: n, packets: make(chan *memberlist.Packet, 1024), done: make(chan struct{})}
	go mt.filter()
	return mt
}

// trackedConn fails once its two ends are partitioned.
type trackedConn struct {
	net.Conn
	w          *Network
	from, addr string
	closeOnce  sync.Once
}

func (c *trackedConn) check() error {
	if to, blocked := c.w.isBlocked(c.from, c.addr); blocked {
		c.Close()
		return fmt.Errorf("%w: %s -> %s", errPartitioned, c.from, to)
	}
	return nil
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() { c.w.untrack(c) })
	return c.Conn.Close()
}

type raftLayer struct {
	hraft.StreamLayer
	n *nodeNet
}

func (l *raftLayer) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return l.n.dial(context.Background(), "tcp", string(addr), timeout)
}

// mlTransport drops gossip packets and streams across partitions.
type mlTransport struct {
	memberlist.Transport
	n       *nodeNet
	packets chan *memberlist.Packet
	done    chan struct{}
}

func (t *mlTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if _, blocked := t.n.w.isBlocked(t.n.id, addr); blocked {
		return time.Now(), nil // lost on the way, as UDP would be
	}
	return t.Transport.WriteTo(b, addr)
}

func (t *mlTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.n.dial(context.Background(), "tcp", addr, timeout)
}

func (t *mlTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// filter forwards inbound packets except those from across a partition.
func (t *mlTransport) filter() {
	in := t.Transport.PacketCh()
	for {
		select {
		case p := <-in:
			if from, ok := p.From.(*net.UDPAddr); ok {
				// Partitions are symmetric: what we may not send to, we do
				// not hear from.
				if _, blocked := t.n.w.isBlocked(t.n.id, from.String()); blocked {
					continue
				}
			}
			select {
			case t.packets <- p:
			default: // memberlist is not reading (shutting down): lost, as UDP would be
			}
		case <-t.done:
			return
		}
	}
}

// Shutdown stops the inner transport first: its listener may be blocked
// handing a packet to filter, which must keep draining until then.
func (t *mlTransport) Shutdown() error {
	err := t.Transport.Shutdown()
	close(t.done)
	return err
}
