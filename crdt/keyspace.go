package crdt

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
)

// KeyspaceConfig configures a Keyspace. Replicas that compare digests must
// use the same Buckets.
type KeyspaceConfig struct {
	// Shards is the number of lock shards, a power of two (default 64).
	Shards int
	// Buckets is the number of digest buckets (default 4096), at least Shards.
	Buckets int
}

// DefaultKeyspaceConfig returns the default configuration.
func DefaultKeyspaceConfig() KeyspaceConfig { return KeyspaceConfig{Shards: 64, Buckets: 4096} }

// Validate reports a configuration error.
func (c KeyspaceConfig) Validate() error {
	if c.Shards <= 0 || c.Shards&(c.Shards-1) != 0 {
		return fmt.Errorf("crdt: keyspace: Shards %d is not a positive power of two", c.Shards)
	}
	if c.Buckets < c.Shards {
		return fmt.Errorf("crdt: keyspace: Buckets %d is below Shards %d", c.Buckets, c.Shards)
	}
	return nil
}

// Keyspace is a concurrent map of key -> Entry with join semantics. It is
// safe for concurrent use: keys are spread over lock shards. Entries it
// returns are immutable. A key's digest bucket decides its shard, and each
// bucket keeps its own maps, the unit of copy-on-write, and its digest sum,
// kept up to date on every write (see digest.go).
type Keyspace struct {
	shards []shard
	mask   uint64
	shift  uint // log2(len(shards)): bucket b is shards[b&mask].buckets[b>>shift]
	nb     uint64
	sums   []uint64 // digest sum per bucket, guarded by the bucket's shard lock
}

// item holds an entry that is not a plain register, with its cached hash.
// Its contribution to the bucket's digest sum is added lazily (see digest.go).
type item struct {
	e      Entry
	hash   uint64 // e.Hash() when hashOK
	epoch  uint64 // shard epoch when created; see shard.copyBelow
	bytes  int64
	hashOK bool
	summed bool        // mix64(keyHash, hash) is in the bucket's sum
	queued bool        // in the shard's pending list, to be summed by the next Digest
	frozen atomic.Bool // handed out by Get: never modify e.State in place
}

// bucketMaps holds the entries of one digest bucket. Plain registers (Inc
// zero, Mod == TS), the common case, are stored bare: they are immutable
// and cache their own hash.
type bucketMaps struct {
	regs  map[string]*Register
	items map[string]*item
	epoch uint64 // shard epoch when these maps were made
}

type shard struct {
	mu      sync.RWMutex
	buckets []bucketMaps
	// Copy-on-write: a snapshot holds the buckets slice (shared until the
	// next write copies it) and sees every map and item of an epoch below its
	// own; such maps and items are copied before they change.
	shared    bool
	epoch     uint64
	active    []uint64         // epochs of unreleased snapshots
	copyBelow uint64           // max(active), 0 when none
	pending   []pendingItem    // items whose hash the next Digest adds to their bucket's sum
	queued    int              // items of pending with queued set
	ttl       map[string]int64 // live registers with an expiry
	count     int
	bytes     int64
	_         [64]byte // keep hot shards on separate cache lines
}

// NewKeyspace returns an empty keyspace. Zero fields of cfg take their
// defaults; Shards is rounded up to a power of two and capped at Buckets.
func NewKeyspace(cfg KeyspaceConfig) *Keyspace {
	d := DefaultKeyspaceConfig()
	if cfg.Shards <= 0 {
		cfg.Shards = d.Shards
	}
	if cfg.Buckets <= 0 {
		cfg.Buckets = d.Buckets
	}
	n, shift := 1, uint(0)
	for n < cfg.Shards && n*2 <= cfg.Buckets {
		n *= 2
		shift++
	}
	k := &Keyspace{
		shards: make([]shard, n),
		mask:   uint64(n - 1),
		shift:  shift,
		nb:     uint64(cfg.Buckets),
		sums:   make([]uint64, cfg.Buckets),
	}
	for i := range k.shards {
		k.shards[i].buckets = make([]bucketMaps, (cfg.Buckets-i+n-1)/n)
	}
	return k
}

func (k *Keyspace) keyHash(key string) uint64 { return hashString(seedKey, key) }

func (k *Keyspace) bucketOf(h uint64) uint64 {
	b, _ := bits.Mul64(h, k.nb)
	return b
}

// Bucket returns the digest bucket of key.
func (k *Keyspace) Bucket(key string) int { return int(k.bucketOf(k.keyHash(key))) }

func (k *Keyspace) shardOf(b uint64) *shard { return &k.shards[b&k.mask] }

// plainRegister returns e's register when e is stored without an item.
func plainRegister(e Entry) (*Register, bool) {
	r, ok := e.State.(*Register)
	return r, ok && e.Inc.IsZero() && e.Mod == r.TS
}

const (
	keyOverhead  = 64 // map slot, string header, allocation rounding
	itemOverhead = 96
)

func entryBytes(key string, e Entry, isItem bool) int64 {
	n := int64(keyOverhead + len(key))
	if isItem {
		n += itemOverhead
	}
	if e.State != nil {
		n += int64(e.State.Size())
	}
	return n
}

// lookup fills sl with its key's current entry.
func (s *shard) lookup(sl *slot) {
	bm := &s.buckets[sl.j]
	if r, ok := bm.regs[sl.key]; ok {
		sl.cur, sl.reg, sl.existed = Entry{Mod: r.TS, State: r}, r, true
		return
	}
	if it, ok := bm.items[sl.key]; ok {
		sl.cur, sl.it, sl.existed = it.e, it, true
	}
}

// Get returns key's entry, tombstones included.
func (k *Keyspace) Get(key string) (Entry, bool) {
	s, sl := k.slotOf(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.lookup(&sl)
	if sl.it != nil {
		sl.it.frozen.Store(true)
	}
	return sl.cur, sl.existed
}

// View returns the JSON view, type and ETag of key's entry as of nowMs, or
// ok false when the key is absent or not live. Unlike Get it does not hand
// the entry out, so the next write may keep updating a large value in place.
func (k *Keyspace) View(key string, nowMs int64) (view []byte, t Type, etag string, ok bool) {
	s, sl := k.slotOf(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.lookup(&sl)
	if !sl.cur.Live(nowMs) {
		return nil, TypeNone, "", false
	}
	return sl.cur.JSON(nowMs), sl.cur.Type(), sl.cur.ETag(), true
}

// Apply applies a local operation at stamp at (whose time is also the "now"
// that decides whether the key is live) and returns its minimal delta, to be
// shipped to other replicas. Errors wrap ErrWrongType, ErrOverflow or ErrInvalidOp.
func (k *Keyspace) Apply(key string, op Op, at Stamp) (Entry, error) {
	s, sl := k.slotOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookup(&sl)
	d, err := applyOp(sl.cur, op, at, at.TS.UnixMilli())
	if err != nil {
		return Entry{}, fmt.Errorf("crdt: apply to %q: %w", key, err)
	}
	sl.fresh, _ = d.State.(*Register) // applyOp makes registers anew
	k.joinLocked(s, &sl, d)
	return d, nil
}

// Join joins a delta or a full state into key's entry. It reports whether
// the entry changed and the effective part: an entry e with old ⊔ e equal
// to the new entry (the delta itself when it changed anything). Join keeps
// a register delta's *Register (entries are immutable), and adopts one equal
// to its own that another keyspace already stores, so two keyspaces fed the
// same entries hold one copy; it never retains the mutable parts of other
// states.
func (k *Keyspace) Join(key string, delta Entry) (bool, Entry) {
	s, sl := k.slotOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookup(&sl)
	if !k.joinLocked(s, &sl, delta) {
		return false, Entry{}
	}
	return true, delta
}

// owned returns a copy of st that the keyspace may modify, settled to a full state.
func owned(st State) State {
	if st == nil {
		return nil
	}
	if _, ok := st.(*Register); ok {
		return st
	}
	c := st.Clone()
	c.settle()
	return c
}

// slot is a key's current place in its shard.
type slot struct {
	key     string
	h, b    uint64
	j       int // index of the bucket in its shard
	cur     Entry
	reg     *Register // the plain register stored bare, or nil
	it      *item     // nil for a plain register or an absent key
	fresh   *Register // a register made by this call, not yet visible to any other goroutine
	existed bool
}

func (k *Keyspace) slotOf(key string) (*shard, slot) {
	h := k.keyHash(key)
	b := k.bucketOf(h)
	return k.shardOf(b), slot{key: key, h: h, b: b, j: int(b >> k.shift)}
}

// mutable reports whether sl's item is seen by nobody but the live maps, so
// its entry and state may be updated in place.
func (s *shard) mutable(sl *slot) bool {
	return sl.it != nil && sl.it.epoch >= s.copyBelow && !sl.it.frozen.Load()
}

// writable returns bucket j ready for writing: copied first if a snapshot
// may see it. Lock held.
func (s *shard) writable(j int) *bucketMaps {
	if s.shared {
		s.buckets = slices.Clone(s.buckets)
		s.shared = false
	}
	bm := &s.buckets[j]
	if bm.epoch < s.copyBelow {
		bm.regs, bm.items = maps.Clone(bm.regs), maps.Clone(bm.items)
		bm.epoch = s.epoch
	}
	if bm.regs == nil {
		bm.regs = make(map[string]*Register)
	}
	if bm.items == nil {
		bm.items = make(map[string]*item)
	}
	return bm
}

// joinLocked joins d into the entry of sl and stores the result.
func (k *Keyspace) joinLocked(s *shard, sl *slot, d Entry) bool {
	cur := sl.cur
	var next Entry
	switch entryOrder(cur, d) {
	case 1:
		if d.Mod <= cur.Mod {
			return false
		}
		next = cur
		next.Mod = d.Mod
	case -1:
		next = Entry{Inc: d.Inc, Mod: max(cur.Mod, d.Mod), State: owned(d.State)}
	default:
		next = Entry{Inc: cur.Inc, Mod: max(cur.Mod, d.Mod), State: cur.State}
		changed := d.Mod > cur.Mod
		if cur.State != nil {
			st := cur.State
			if _, isReg := st.(*Register); !isReg && !s.mutable(sl) {
				st = st.Clone() // the entry may be visible to a snapshot or a reader
			}
			var ch bool
			next.State, ch = st.join(d.State)
			changed = changed || ch
		}
		if !changed {
			k.share(s, sl, d)
			return false
		}
	}
	k.store(s, sl, next)
	return true
}

// share replaces the plain register of sl by d's when they are equal and
// d's is stored in another keyspace already (it has cached its hash), so
// that the two keyspaces hold one copy: a node's replica joining the
// committed state's entries adopts its registers. Registers are immutable,
// so sharing them is safe; a freshly decoded register is not adopted, which
// keeps a replica from trading a shared copy for a new one on a duplicate.
func (k *Keyspace) share(s *shard, sl *slot, d Entry) {
	r, ok := d.State.(*Register)
	if !ok || sl.reg == nil || r == sl.reg || d.Mod != sl.cur.Mod || r.storedHash() == 0 || compareRegisters(r, sl.reg) != 0 {
		return
	}
	r.setStoredHash(sl.reg.storedHash(), false) // equal registers hash equally
	s.writable(sl.j).regs[sl.key] = r
}

// store replaces the entry of sl with next, keeping the accounting, the
// digest sum and the expiry index up to date.
func (k *Keyspace) store(s *shard, sl *slot, next Entry) {
	k.unaccount(s, sl)
	s.count++
	bm := s.writable(sl.j)
	if r, ok := plainRegister(next); ok {
		if sl.it != nil {
			delete(bm.items, sl.key)
			s.drop(sl.it)
		}
		h := r.bareHash()
		r.setStoredHash(h, r == sl.fresh)
		k.sums[sl.b] += mix64(sl.h, h)
		bm.regs[sl.key] = r
		s.bytes += entryBytes(sl.key, next, false)
	} else {
		if sl.existed && sl.it == nil {
			delete(bm.regs, sl.key)
		}
		it := sl.it
		if !s.mutable(sl) {
			if sl.it != nil {
				s.drop(sl.it)
			}
			it = &item{epoch: s.epoch}
			bm.items[sl.key] = it
			if _, isReg := next.State.(*Register); !isReg && next.State != nil && next.State == sl.cur.State {
				// Only Mod changed: the state is still the one a snapshot or
				// a reader may hold, so the next write must copy it.
				it.frozen.Store(true)
			}
		}
		it.e = next
		it.hashOK = false
		s.enqueue(it, sl.h)
		it.bytes = entryBytes(sl.key, next, true)
		s.bytes += it.bytes
	}
	s.trackExpiry(sl.key, sl.cur, next)
}

// unaccount removes the entry of sl from the counts and the digest sum.
func (k *Keyspace) unaccount(s *shard, sl *slot) {
	if !sl.existed {
		return
	}
	k.unsum(sl)
	s.count--
	if sl.it == nil {
		s.bytes -= entryBytes(sl.key, sl.cur, false)
	} else {
		s.bytes -= sl.it.bytes
	}
}

// trackExpiry keeps key in the expiry index while its entry is a live
// register with an expiry.
func (s *shard) trackExpiry(key string, old, e Entry) {
	if r, ok := e.State.(*Register); ok && !r.Deleted && r.ExpireAt != 0 {
		if s.ttl == nil {
			s.ttl = make(map[string]int64)
		}
		s.ttl[key] = r.ExpireAt
		return
	}
	if r, ok := old.State.(*Register); ok && r.ExpireAt != 0 {
		delete(s.ttl, key)
	}
}

// remove drops the entry of sl from the shard (tombstone collection).
func (k *Keyspace) remove(s *shard, sl *slot) {
	if !sl.existed {
		return
	}
	k.unaccount(s, sl)
	bm := s.writable(sl.j)
	if sl.it == nil {
		delete(bm.regs, sl.key)
	} else {
		delete(bm.items, sl.key)
		s.drop(sl.it)
	}
	if s.ttl != nil {
		delete(s.ttl, sl.key)
	}
}

// Len returns the number of keys, tombstones included.
func (k *Keyspace) Len() int {
	n := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.RLock()
		n += s.count
		s.mu.RUnlock()
	}
	return n
}

// MemoryBytes returns the approximate bytes held by the entries, maintained
// incrementally on every write.
func (k *Keyspace) MemoryBytes() int64 {
	var n int64
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.RLock()
		n += s.bytes
		s.mu.RUnlock()
	}
	return n
}
