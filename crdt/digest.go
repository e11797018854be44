package crdt

import (
	"iter"
	"slices"
)

// Anti-entropy digests: a bucket's hash is the sum (mod 2^64) over its keys
// of mix64(keyHash, entryHash), so replicas holding the same entries have
// the same digests. Writes only mark their bucket stale (O(1), no hashing on
// the write path); Digest recomputes the stale buckets from their own maps,
// reusing the cached hashes of unchanged items.

// KeyHash is a key and the hash of its entry (Entry.Hash).
type KeyHash struct {
	Key  string
	Hash uint64
}

func (it *item) entryHash() uint64 {
	if !it.hashOK {
		it.hash = it.e.Hash()
		it.hashOK = true
	}
	return it.hash
}

// refresh recomputes the stale buckets of shard i. Lock held.
func (k *Keyspace) refresh(i int, s *shard) {
	for j := range s.buckets {
		b := uint64(j)<<k.shift | uint64(i)
		if !k.stale[b] {
			continue
		}
		var sum uint64
		for key, h := range s.buckets[j].hashes() {
			sum += mix64(k.keyHash(key), h)
		}
		k.sums[b] = sum
		k.stale[b] = false
	}
	s.nstale = 0
}

// hashes iterates over the bucket's keys and entry hashes, caching the
// hashes of items. Shard lock held for writing.
func (bm *bucketMaps) hashes() iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		for key, r := range bm.regs {
			if !yield(key, registerEntryHash(Entry{Mod: r.TS, State: r}, r)) {
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
// equal digests.
func (k *Keyspace) Digest() []uint64 {
	out := make([]uint64, len(k.sums))
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		if s.nstale > 0 {
			k.refresh(i, s)
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
