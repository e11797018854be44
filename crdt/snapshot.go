package crdt

import (
	"slices"
	"sync"
)

// Snapshot is a point-in-time view of a Keyspace. Taking one is O(shards):
// it keeps each shard's bucket list and bumps the shard's epoch; the
// keyspace then copies a bucket's maps before their first change (once) and
// an item before its first change (at most once), so what the snapshot sees
// never changes. It is safe for concurrent use; call Release when done so
// later writes need not copy.
type Snapshot struct {
	k      *Keyspace
	shards []snapShard
	once   sync.Once
}

type snapShard struct {
	buckets []bucketMaps
	epoch   uint64
}

// Snapshot returns a point-in-time view of the keyspace.
func (k *Keyspace) Snapshot() *Snapshot {
	sn := &Snapshot{k: k, shards: make([]snapShard, len(k.shards))}
	// Holding every shard lock at once makes the view one cut across shards
	// (only Snapshot takes several, always in index order).
	for i := range k.shards {
		k.shards[i].mu.Lock()
	}
	for i := range k.shards {
		s := &k.shards[i]
		s.epoch++
		s.active = append(s.active, s.epoch)
		s.copyBelow = s.epoch
		s.shared = true
		sn.shards[i] = snapShard{buckets: s.buckets, epoch: s.epoch}
	}
	for i := range k.shards {
		k.shards[i].mu.Unlock()
	}
	return sn
}

// Release lets the keyspace write in place what only this snapshot saw. The
// snapshot must not be used afterwards. Release is idempotent.
func (sn *Snapshot) Release() {
	sn.once.Do(func() {
		for i := range sn.k.shards {
			s := &sn.k.shards[i]
			s.mu.Lock()
			if j := slices.Index(s.active, sn.shards[i].epoch); j >= 0 {
				s.active = slices.Delete(s.active, j, j+1)
			}
			s.copyBelow = 0
			if len(s.active) > 0 {
				s.copyBelow = slices.Max(s.active)
			}
			s.mu.Unlock()
		}
	})
}

// Len returns the number of keys in the snapshot, tombstones included.
func (sn *Snapshot) Len() int {
	n := 0
	for _, ss := range sn.shards {
		for _, bm := range ss.buckets {
			n += len(bm.regs) + len(bm.items)
		}
	}
	return n
}

// Get returns the entry of key in the snapshot.
func (sn *Snapshot) Get(key string) (Entry, bool) {
	b := sn.k.bucketOf(sn.k.keyHash(key))
	return sn.shards[b&sn.k.mask].buckets[b>>sn.k.shift].get(key)
}

func (bm *bucketMaps) get(key string) (Entry, bool) {
	if r, ok := bm.regs[key]; ok {
		return Entry{Mod: r.TS, State: r}, true
	}
	if it, ok := bm.items[key]; ok {
		return it.e, true
	}
	return Entry{}, false
}

// Range calls fn for every key, tombstones included, in key order, until fn
// returns false.
func (sn *Snapshot) Range(fn func(key string, e Entry) bool) {
	type ref struct {
		key string
		bm  *bucketMaps
	}
	refs := make([]ref, 0, sn.Len())
	for _, ss := range sn.shards {
		for j := range ss.buckets {
			bm := &ss.buckets[j]
			for key := range bm.regs {
				refs = append(refs, ref{key, bm})
			}
			for key := range bm.items {
				refs = append(refs, ref{key, bm})
			}
		}
	}
	slices.SortFunc(refs, func(a, b ref) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	for _, r := range refs {
		e, _ := r.bm.get(r.key)
		if !fn(r.key, e) {
			return
		}
	}
}
