package crdt

import (
	"iter"
	"slices"
)

// Anti-entropy digests: a bucket's hash is the sum (mod 2^64) over its keys
// of mix64(keyHash, entryHash), so replicas holding the same entries have
// the same digests. The sums are kept up to date on every write, so Digest
// costs O(buckets), not O(keys written):
//
//   - A plain register is hashed when it is stored (field by field, no
//     encoding) and caches its hash, which is subtracted when it is replaced
//     or removed.
//   - An item (any other entry, possibly a large set or map) is summed
//     lazily: a change subtracts its old contribution, if summed, and queues
//     the item once on its shard's pending list; Digest hashes each queued
//     item once (its whole entry, cached in the item) and adds it. A set
//     written many times between two digests is hashed once.

// KeyHash is a key and the hash of its entry (Entry.Hash).
type KeyHash struct {
	Key  string
	Hash uint64
}

// pendingItem is an item queued for Digest, with its key's hash.
type pendingItem struct {
	it *item
	kh uint64
}

func (it *item) entryHash() uint64 {
	if !it.hashOK {
		it.hash = it.e.Hash()
		it.hashOK = true
	}
	return it.hash
}

// unsum subtracts the contribution of sl's existing entry from its bucket's
// sum, if it was added. Lock held.
func (k *Keyspace) unsum(sl *slot) {
	switch {
	case sl.it == nil:
		k.sums[sl.b] -= mix64(sl.h, sl.reg.storedHash())
	case sl.it.summed:
		k.sums[sl.b] -= mix64(sl.h, sl.it.hash)
		sl.it.summed = false
	}
}

// enqueue queues the changed item it (of key hash kh) for the next Digest,
// unless it is already queued. Lock held.
func (s *shard) enqueue(it *item, kh uint64) {
	if it.queued {
		return
	}
	if len(s.pending) >= 2*s.queued+16 {
		// Items replaced or removed since they were queued (frozen by Get or
		// copied for a snapshot) are dropped here, so a keyspace that is
		// rarely digested neither grows the list nor keeps many dead items.
		s.pending = slices.DeleteFunc(s.pending, func(p pendingItem) bool { return !p.it.queued })
	}
	it.queued = true
	s.queued++
	s.pending = append(s.pending, pendingItem{it: it, kh: kh})
}

// drop forgets the item it, which left the live maps, unsummed. Lock held.
func (s *shard) drop(it *item) {
	if it.queued {
		it.queued = false
		s.queued--
	}
}

// sumPending adds the queued items of shard s to their buckets' sums. Lock held.
func (k *Keyspace) sumPending(s *shard) {
	for _, p := range s.pending {
		if !p.it.queued {
			continue
		}
		p.it.queued = false
		p.it.summed = true
		k.sums[k.bucketOf(p.kh)] += mix64(p.kh, p.it.entryHash())
	}
	clear(s.pending)
	s.pending = s.pending[:0]
	s.queued = 0
}

// hashes iterates over the bucket's keys and entry hashes, caching the
// hashes of items. Shard lock held for writing.
func (bm *bucketMaps) hashes() iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		for key, r := range bm.regs {
			if !yield(key, r.storedHash()) {
				return
			}
		}
		for key, it := range bm.items {
			if !yield(key, it.entryHash()) {
				return
			}
		}
	}
}

// Digest returns one hash per bucket; replicas with equal entries have
// equal digests. It costs O(buckets) plus hashing the items changed since
// the last call.
func (k *Keyspace) Digest() []uint64 {
	out := make([]uint64, len(k.sums))
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		if len(s.pending) > 0 {
			k.sumPending(s)
		}
		for j := range s.buckets {
			b := uint64(j)<<k.shift | uint64(i)
			out[b] = k.sums[b]
		}
		s.mu.Unlock()
	}
	return out
}

// BucketKeys returns the keys of bucket b with their entry hashes, sorted by key.
func (k *Keyspace) BucketKeys(b int) []KeyHash {
	if b < 0 || uint64(b) >= k.nb {
		return nil
	}
	s := k.shardOf(uint64(b))
	s.mu.Lock()
	defer s.mu.Unlock()
	bm := &s.buckets[b>>k.shift]
	out := make([]KeyHash, 0, len(bm.regs)+len(bm.items))
	for key, h := range bm.hashes() {
		out = append(out, KeyHash{Key: key, Hash: h})
	}
	slices.SortFunc(out, func(x, y KeyHash) int {
		switch {
		case x.Key < y.Key:
			return -1
		case x.Key > y.Key:
			return 1
		}
		return 0
	})
	return out
}
