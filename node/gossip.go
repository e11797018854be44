package node

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/lattice-state/lattice/crdt"
)

// disseminator coalesces local deltas per key for DeltaWindow and ships them
// to peers in batches: as one best-effort UDP packet when the batch fits
// PacketLimit, otherwise over a persistent HTTP connection to each peer.
// Safe for concurrent use.
type disseminator struct {
	n *Node

	mu        sync.Mutex
	pending   map[string]crdt.Entry
	scheduled bool

	sendersMu sync.Mutex
	senders   map[string]*peerSender
	closed    bool
}

func newDisseminator(n *Node) *disseminator {
	return &disseminator{n: n, pending: make(map[string]crdt.Entry), senders: make(map[string]*peerSender)}
}

// add queues a delta of key for the next flush.
func (d *disseminator) add(key string, delta crdt.Entry) {
	d.mu.Lock()
	if old, ok := d.pending[key]; ok {
		delta, _ = crdt.JoinEntries(old, delta)
	}
	d.pending[key] = delta
	schedule := !d.scheduled
	d.scheduled = true
	d.mu.Unlock()
	if schedule {
		time.AfterFunc(d.n.cfg.DeltaWindow, d.flush)
	}
}

// flush ships everything pending.
func (d *disseminator) flush() {
	d.mu.Lock()
	pending := d.pending
	d.pending = make(map[string]crdt.Entry, len(pending))
	d.scheduled = false
	d.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	items := make([]crdt.KV, 0, len(pending))
	for k, e := range pending {
		items = append(items, crdt.KV{Key: k, Entry: e})
	}
	d.ship(items, "")
}

// ship sends items to the peers chosen for this round; except is the peer
// the items came from (never back-propagated).
func (d *disseminator) ship(items []crdt.KV, except string) {
	targets := d.n.peers.alive()
	if except != "" {
		for i, p := range targets {
			if p.ID == except {
				targets = append(targets[:i], targets[i+1:]...)
				break
			}
		}
	}
	if len(targets) == 0 {
		return
	}
	if len(targets)+1 > d.n.cfg.DirectFanout {
		rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
		targets = targets[:min(d.n.cfg.Fanout, len(targets))]
	}
	msg := d.encode(items)
	for _, p := range targets {
		if len(msg) > d.n.cfg.PacketLimit {
			d.sender(p).enqueue(streamBatch{items: items, msg: msg})
			continue
		}
		if err := d.n.ml.SendBestEffort(p.node, msg); err != nil {
			d.n.metrics.gossipErrors.WithLabelValues("udp").Inc()
			continue
		}
		d.n.metrics.gossipBytes.WithLabelValues("udp").Add(float64(len(msg)))
		d.n.metrics.gossipBatches.WithLabelValues("udp").Inc()
	}
}

// encode makes one delta message of items.
func (d *disseminator) encode(items []crdt.KV) []byte {
	return appendDeltaBatch(nil, deltaBatch{From: d.n.cfg.NodeID, SentAt: d.n.clock.Now(), Items: items})
}

// streamLimit bounds one stream message; larger lots are split.
const streamLimit = 1 << 20

// streamMessages encodes items into stream messages of at most streamLimit
// bytes (a single item may exceed it).
func (d *disseminator) streamMessages(items []crdt.KV) [][]byte {
	msg := d.encode(items)
	if len(msg) <= streamLimit || len(items) == 1 {
		return [][]byte{msg}
	}
	half := len(items) / 2
	return append(d.streamMessages(items[:half]), d.streamMessages(items[half:])...)
}

// sender returns the stream sender of p, creating it on first use.
func (d *disseminator) sender(p peer) *peerSender {
	d.sendersMu.Lock()
	defer d.sendersMu.Unlock()
	s, ok := d.senders[p.ID]
	if !ok || s.addr != p.HTTPAddr {
		if ok {
			close(s.queue)
		}
		s = &peerSender{d: d, id: p.ID, addr: p.HTTPAddr, queue: make(chan streamBatch, 64)}
		d.senders[p.ID] = s
		if !d.closed {
			go s.run()
		}
	}
	return s
}

// close stops every stream sender.
func (d *disseminator) close() {
	d.sendersMu.Lock()
	defer d.sendersMu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	for _, s := range d.senders {
		close(s.queue)
	}
}

// peerSender posts stream batches to one peer, in order, over a kept-alive
// connection, one request at a time. Batches queued while a request is in
// flight go together in the next one, so a slow peer gets fewer, larger
// requests instead of a growing backlog of small ones. A full queue drops the
// batch: anti-entropy repairs the loss.
type peerSender struct {
	d     *disseminator
	id    string
	addr  string
	queue chan streamBatch
}

// streamBatch is a lot of deltas for the stream, with its encoding.
type streamBatch struct {
	items []crdt.KV
	msg   []byte
}

func (s *peerSender) enqueue(b streamBatch) {
	defer func() {
		// The queue may be closed by a concurrent shutdown or address change.
		if recover() != nil {
			s.d.n.metrics.gossipErrors.WithLabelValues("closed").Inc()
		}
	}()
	select {
	case s.queue <- b:
	default:
		s.d.n.metrics.gossipErrors.WithLabelValues("queue-full").Inc()
	}
}

func (s *peerSender) run() {
	for b := range s.queue {
		items := s.drain(b.items)
		if len(items) == len(b.items) && len(b.msg) <= streamLimit {
			s.post(b.msg) // nothing queued behind it: its encoding serves as is
			continue
		}
		for _, msg := range s.d.streamMessages(items) {
			s.post(msg)
		}
	}
}

// drain appends every batch queued behind first, in queue order (a later
// delta of a key joins after an earlier one, as they would one by one).
func (s *peerSender) drain(first []crdt.KV) []crdt.KV {
	items := first
	for {
		select {
		case more, ok := <-s.queue:
			if !ok {
				return items
			}
			if len(items) == len(first) {
				items = append(items[:len(items):len(items)], more.items...) // never write into first's array
			} else {
				items = append(items, more.items...)
			}
		default:
			return items
		}
	}
}

func (s *peerSender) post(msg []byte) {
	ctx, cancel := context.WithTimeout(s.d.n.ctx, 5*time.Second)
	err := s.d.n.postInternal(ctx, s.addr, pathDeltas, msg, nil)
	cancel()
	if err != nil {
		s.d.n.metrics.gossipErrors.WithLabelValues("stream").Inc()
		s.d.n.log.Debug("delta stream to peer failed", "peer", s.id, "err", err)
		return
	}
	s.d.n.metrics.gossipBytes.WithLabelValues("stream").Add(float64(len(msg)))
	s.d.n.metrics.gossipBatches.WithLabelValues("stream").Inc()
}

// handleMessage receives a gossip packet or stream body from a peer. It is
// called on memberlist's receive path and must not keep p.
func (n *Node) handleMessage(p []byte) {
	if len(p) == 0 {
		n.dropMessage(fmt.Errorf("%w: empty", errBadMessage))
		return
	}
	switch msgType(p[0]) {
	case msgDeltas:
		b, err := decodeDeltaBatch(p)
		if err != nil {
			n.dropMessage(err)
			return
		}
		n.receiveDeltas(b)
	default:
		n.dropMessage(fmt.Errorf("%w: unknown type %d", errBadMessage, p[0]))
	}
}

func (n *Node) dropMessage(err error) {
	n.metrics.badMessages.Inc()
	n.log.Warn("dropping malformed message", "err", err)
}

// receiveDeltas joins a peer's batch into the replica. In large clusters the
// effective part is gossiped on to a few more peers.
func (n *Node) receiveDeltas(b deltaBatch) {
	if _, err := n.clock.Update(b.SentAt); err != nil {
		// The data still joins: LWW order is decided by the stamps it
		// carries, and the FSM does the same; only our clock refuses to jump.
		n.metrics.clockRejects.Inc()
		n.log.Debug("peer clock ahead beyond drift bound", "peer", b.From, "err", err)
	}
	var forward []crdt.KV
	relay := len(n.peers.alive())+1 > n.cfg.DirectFanout
	for _, kv := range b.Items {
		changed, eff := n.joinRemote(kv.Key, kv.Entry)
		if changed && relay {
			forward = append(forward, crdt.KV{Key: kv.Key, Entry: eff})
		}
	}
	if len(forward) > 0 {
		n.gossip.ship(forward, b.From)
	}
}

// joinRemote joins an entry that came from a peer (gossip or anti-entropy).
// Stale state of a key this node no longer has, older than the tombstone
// collection horizon, is dropped: it cannot resurrect a collected delete.
func (n *Node) joinRemote(key string, e crdt.Entry) (bool, crdt.Entry) {
	if _, ok := n.replica.Get(key); !ok {
		if h := n.store.Horizon(); h != 0 && e.Mod < h {
			n.metrics.staleDrops.Inc()
			return false, crdt.Entry{}
		}
	}
	return n.replica.Join(key, e)
}

// postInternal posts body to a peer's internal endpoint and decodes nothing:
// the response body, when out is non-nil, is read into it.
func (n *Node) postInternal(ctx context.Context, httpAddr, path string, body []byte, out *[]byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(headerClusterToken, n.cfg.ClusterToken)
	req.Header.Set(headerFrom, n.cfg.NodeID)
	resp, err := n.internal.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := readLimited(resp.Body, maxInternalBody)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return decodeRemoteError(resp.StatusCode, data)
	}
	if out != nil {
		*out = data
	}
	return nil
}
