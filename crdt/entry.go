package crdt

// State is one CRDT value: a full state or a delta, which share a
// representation. The concrete types are *Register (LWW), *GCounter,
// *PNCounter, *ORSet, *Flag, *MVRegister and *ORMap. A State held in an Entry
// is immutable; a State built by the caller may be changed through its own
// methods until it is handed to an Entry.
type State interface {
	// Type returns the CRDT type.
	Type() Type
	// Size returns the approximate number of bytes the value occupies in memory.
	Size() int
	// Clone returns a deep copy that shares no mutable memory with the receiver.
	Clone() State

	// join merges o (of the same concrete type) into the receiver, which the
	// caller owns exclusively, and returns the result (the receiver itself,
	// except for the immutable *Register) and whether it differs from the
	// receiver. o is neither modified nor retained, except that byte values
	// (never modified by this package) may be shared.
	join(o State) (State, bool)
	// equal reports whether the receiver and o hold the same value.
	equal(o State) bool
	// appendBody appends the canonical encoding of the value (without type byte).
	appendBody(dst []byte) []byte
	// appendJSON appends the JSON view of the value.
	appendJSON(dst []byte) []byte
	// settle turns a delta into a full state in place (drops hints kept for joins of deltas).
	settle()
	// delta returns the minimal delta of applying op at stamp at; the receiver is unchanged.
	delta(op Op, at Stamp) (State, error)
}

// Entry is one key's value in the keyspace lattice: an incarnation, the
// newest timestamp seen, and the state (nil for the tombstone of a deleted
// non-register key). Join order: the higher Inc wins wholly; at equal Inc the
// higher Type wins wholly (TypeNone lowest); at equal Inc and Type the states
// join; Mod is the maximum of both. Entries handed out by the Keyspace are
// immutable: never modify them.
type Entry struct {
	Inc   Stamp
	Mod   Timestamp
	State State
}

// Type returns the type of e's state, TypeNone for a nil state.
func (e Entry) Type() Type {
	if e.State == nil {
		return TypeNone
	}
	return e.State.Type()
}

// Live reports whether e shows a value: a register that is neither deleted
// nor expired at nowMs, or a non-nil state of any other type.
func (e Entry) Live(nowMs int64) bool {
	switch s := e.State.(type) {
	case nil:
		return false
	case *Register:
		return s.Live(nowMs)
	}
	return true
}

// tombstone reports whether e is kept only to shadow older writes.
func (e Entry) tombstone() bool {
	switch s := e.State.(type) {
	case nil:
		return true
	case *Register:
		return s.Deleted
	}
	return false
}

// Hash returns a deterministic 64-bit hash of e's canonical encoding: equal
// entries hash equally in every process.
func (e Entry) Hash() uint64 {
	if r, ok := e.State.(*Register); ok {
		return registerEntryHash(e.Inc, e.Mod, r)
	}
	buf := getBuf()
	*buf = appendEntryBody((*buf)[:0], e)
	h := hashBytes(seedEntry, *buf)
	putBuf(buf)
	return h
}

// ETag names the value: it changes with every write and is equal on every
// replica that holds the same entry.
func (e Entry) ETag() string {
	var b [16]byte
	h := e.Hash()
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = hexDigits[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

// JSON returns the JSON view of a live entry, or nil when e is not Live:
// a register's raw Value bytes; a counter's number; a set's sorted array of
// strings; a flag's bool; a multi-value register's sorted array of raw
// values; a map's object of nested views.
func (e Entry) JSON(nowMs int64) []byte {
	if !e.Live(nowMs) {
		return nil
	}
	return e.State.appendJSON(nil)
}

// JoinEntries returns a ⊔ b and whether it differs from a. Neither input is
// modified.
func JoinEntries(a, b Entry) (Entry, bool) {
	switch entryOrder(a, b) {
	case 1:
		if b.Mod <= a.Mod {
			return a, false
		}
		a.Mod = b.Mod
		return a, true
	case -1:
		b.Mod = max(a.Mod, b.Mod)
		return b, true
	}
	changed := b.Mod > a.Mod
	out := Entry{Inc: a.Inc, Mod: max(a.Mod, b.Mod)}
	if a.State == nil {
		return out, changed
	}
	s := a.State
	if _, ok := s.(*Register); !ok {
		s = s.Clone()
	}
	s, ch := s.join(b.State)
	out.State = s
	return out, changed || ch
}

// entryOrder compares the parts of a and b that decide whether one wins
// wholly: +1 if a wins, -1 if b wins, 0 if their states join.
func entryOrder(a, b Entry) int {
	if c := a.Inc.Compare(b.Inc); c != 0 {
		return c
	}
	ta, tb := a.Type(), b.Type()
	switch {
	case ta > tb:
		return 1
	case ta < tb:
		return -1
	}
	return 0
}

// Leq reports whether a ⊑ b: b already contains everything in a.
func Leq(a, b Entry) bool {
	if a.Mod > b.Mod {
		return false
	}
	switch entryOrder(a, b) {
	case 1:
		return false
	case -1:
		return true
	}
	if a.State == nil {
		return true
	}
	_, changed := JoinEntries(b, a)
	return !changed
}

// Equal reports whether a and b are the same entry.
func Equal(a, b Entry) bool {
	if a.Inc != b.Inc || a.Mod != b.Mod || a.Type() != b.Type() {
		return false
	}
	return a.State == nil || a.State.equal(b.State)
}

// registerEntryHash hashes a register entry field by field, without encoding
// it: registers are hashed on every write (see Keyspace).
func registerEntryHash(inc Stamp, mod Timestamp, r *Register) uint64 {
	h := hashBytes(seedEntry, r.Value)
	h = mix64(h, uint64(r.TS))
	h = mix64(h, replicaHash(r.Replica))
	h = mix64(h, uint64(r.ExpireAt))
	if r.Deleted {
		h = mix64(h, 1)
	}
	h = mix64(h, uint64(inc.TS))
	h = mix64(h, replicaHash(inc.Replica))
	return mix64(h, uint64(mod))
}

// emptyReplicaHash is replicaHash(""), the incarnation of almost every register.
var emptyReplicaHash = hashString(seedKey, "")

func replicaHash(r ReplicaID) uint64 {
	if r == "" {
		return emptyReplicaHash
	}
	return hashString(seedKey, string(r))
}
