package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lattice-state/lattice/crdt"
)

// Anti-entropy repairs what gossip lost. Each round this node sends its
// replica's bucket digest to one random peer; the peer answers with the
// (key, hash) lists of the buckets that differ; this node then pushes the
// entries the peer lacks or holds differently and pulls the ones it lacks,
// within AntiEntropyBudget bytes. The digest has a fixed size, so a round
// between equal replicas costs the same whatever the keyspace holds, and the
// rest grows with the difference only.

// antiEntropyLoop runs rounds every AntiEntropyInterval, and applies the
// committed tombstone-collection horizon to the replica.
func (n *Node) antiEntropyLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.AntiEntropyInterval)
	defer t.Stop()
	var collected crdt.Timestamp
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if h := n.store.Horizon(); h > collected {
			n.replica.Collect(h)
			collected = h
		}
		peers := n.peers.alive()
		if len(peers) == 0 {
			continue
		}
		p := peers[rand.IntN(len(peers))]
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pushed, pulled, err := n.antiEntropyRound(rctx, p)
		cancel()
		if err != nil {
			n.metrics.aeErrors.Inc()
			n.log.Debug("anti-entropy round failed", "peer", p.ID, "err", err)
			continue
		}
		if pushed+pulled > 0 {
			n.log.Debug("anti-entropy repaired", "peer", p.ID, "pushed", pushed, "pulled", pulled)
		}
	}
}

// antiEntropyRound reconciles the replica with p's; it returns how many
// entries went each way.
func (n *Node) antiEntropyRound(ctx context.Context, p peer) (pushed, pulled int, err error) {
	n.metrics.aeRounds.Inc()
	req := appendDigest(nil, n.replica.Digest())
	var body []byte
	if err := n.postInternal(ctx, p.HTTPAddr, pathDigest, req, &body); err != nil {
		return 0, 0, err
	}
	n.metrics.aeBytes.Add(float64(len(req) + len(body)))
	buckets, theirs, err := decodeDigestReply(body)
	if err != nil {
		return 0, 0, err
	}
	if len(buckets) == 0 {
		return 0, 0, nil
	}
	theirHash := make(map[string]uint64, len(theirs))
	for _, kh := range theirs {
		theirHash[kh.Key] = kh.Hash
	}
	var push []crdt.KV
	var want []string
	budget := n.cfg.AntiEntropyBudget
	nb := len(n.replica.Digest())
	for _, b := range buckets {
		if b >= nb {
			return 0, 0, fmt.Errorf("%w: bucket %d of %d", errBadMessage, b, nb)
		}
		for _, kh := range n.replica.BucketKeys(b) {
			h, theyHave := theirHash[kh.Key]
			delete(theirHash, kh.Key)
			if theyHave && h == kh.Hash {
				continue
			}
			if theyHave {
				want = append(want, kh.Key) // differing: pull theirs, push ours
			}
			if e, ok := n.replica.Get(kh.Key); ok && budget > 0 {
				push = append(push, crdt.KV{Key: kh.Key, Entry: e})
				budget -= entrySize(kh.Key, e)
			}
		}
	}
	for k := range theirHash {
		want = append(want, k) // keys only the peer has
	}
	req = appendSection(appendSection(nil, appendKVs(nil, push)), appendStrings(nil, want))
	if err := n.postInternal(ctx, p.HTTPAddr, pathSync, req, &body); err != nil {
		return 0, 0, err
	}
	n.metrics.aeBytes.Add(float64(len(req) + len(body)))
	got, err := decodeKVs(body)
	if err != nil {
		return len(push), 0, err
	}
	for _, kv := range got {
		n.joinRemote(kv.Key, kv.Entry)
	}
	n.metrics.aeEntries.WithLabelValues("pushed").Add(float64(len(push)))
	n.metrics.aeEntries.WithLabelValues("pulled").Add(float64(len(got)))
	return len(push), len(got), nil
}

// serveDigest compares a peer's digest with ours and answers with the
// differing buckets and our (key, hash) lists for them, within the budget.
func (n *Node) serveDigest(_ context.Context, body []byte) ([]byte, error) {
	theirs, err := decodeDigest(body)
	if err != nil {
		return nil, err
	}
	mine := n.replica.Digest()
	if len(theirs) != len(mine) {
		return nil, fmt.Errorf("%w: digest of %d buckets, want %d", errBadMessage, len(theirs), len(mine))
	}
	var buckets []int
	var khs []crdt.KeyHash
	budget := n.cfg.AntiEntropyBudget
	for b := range mine {
		if mine[b] == theirs[b] {
			continue
		}
		if budget <= 0 {
			break
		}
		buckets = append(buckets, b)
		for _, kh := range n.replica.BucketKeys(b) {
			khs = append(khs, kh)
			budget -= len(kh.Key) + 10
		}
	}
	return appendDigestReply(nil, buckets, khs), nil
}

// serveSync joins the entries a peer pushed and returns the ones it wants.
func (n *Node) serveSync(_ context.Context, body []byte) ([]byte, error) {
	r := reader{buf: body}
	pushed, err := decodeKVs(r.section())
	if err != nil {
		return nil, err
	}
	wanted, err := decodeStrings(r.section())
	if err != nil {
		return nil, err
	}
	if r.err == nil && len(r.buf) != 0 {
		r.err = fmt.Errorf("%w: trailing bytes", errBadMessage)
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, kv := range pushed {
		n.joinRemote(kv.Key, kv.Entry)
	}
	out := make([]crdt.KV, 0, len(wanted))
	budget := n.cfg.AntiEntropyBudget
	for _, k := range wanted {
		if budget <= 0 {
			break
		}
		if e, ok := n.replica.Get(k); ok {
			out = append(out, crdt.KV{Key: k, Entry: e})
			budget -= entrySize(k, e)
		}
	}
	return appendKVs(nil, out), nil
}

func appendSection(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// section reads a length-prefixed section.
func (r *reader) section() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%w: section of %d bytes in %d", errBadMessage, n, len(r.buf))
		return nil
	}
	s := r.buf[:n]
	r.buf = r.buf[n:]
	return s
}

func appendDigestReply(dst []byte, buckets []int, khs []crdt.KeyHash) []byte {
	b := binary.AppendUvarint(nil, uint64(len(buckets)))
	for _, x := range buckets {
		b = binary.AppendUvarint(b, uint64(x))
	}
	return appendSection(appendSection(dst, b), appendKeyHashes(nil, khs))
}

func decodeDigestReply(p []byte) ([]int, []crdt.KeyHash, error) {
	r := reader{buf: p}
	br := reader{buf: r.section()}
	khsRaw := r.section()
	if r.err != nil {
		return nil, nil, r.err
	}
	count := br.uvarint()
	if br.err != nil {
		return nil, nil, br.err
	}
	if count > uint64(len(br.buf)) {
		return nil, nil, fmt.Errorf("%w: %d buckets in %d bytes", errBadMessage, count, len(br.buf))
	}
	buckets := make([]int, 0, count)
	for i := uint64(0); i < count; i++ {
		x := br.uvarint()
		if br.err != nil {
			return nil, nil, br.err
		}
		if x > 1<<24 {
			return nil, nil, fmt.Errorf("%w: bucket %d", errBadMessage, x)
		}
		buckets = append(buckets, int(x))
	}
	khs, err := decodeKeyHashes(khsRaw)
	return buckets, khs, err
}
