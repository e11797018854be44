package crdt

import (
	"bytes"
	"cmp"
	"sync/atomic"
)

// Register is a last-writer-wins register, ordered by (TS, Replica); at an
// equal stamp a deleted register wins (so expiry, which keeps the stamp,
// wins over the live value). ExpireAt is in unix ms, 0 for none. A Register
// is immutable once it is in an Entry: the join replaces it, never changes it.
type Register struct {
	Value    []byte
	TS       Timestamp
	Replica  ReplicaID
	ExpireAt int64
	Deleted  bool

	// plain caches the hash of the register stored bare in a keyspace,
	// Entry{Mod: TS, State: r}.Hash(). A keyspace computes it whenever it
	// stores the register (never trusting a value copied along with a
	// struct copy) and reads it back when the register leaves its bucket's
	// digest sum. Accessed atomically once r may be shared by keyspaces.
	plain uint64
}

// Type returns TypeRegister.
func (r *Register) Type() Type { return TypeRegister }

// registerOverhead approximates the struct and allocation overhead.
const registerOverhead = 72

// Size returns the approximate bytes of r.
func (r *Register) Size() int { return registerOverhead + cap(r.Value) }

// Clone returns a copy of r with its own value bytes.
func (r *Register) Clone() State {
	c := &Register{TS: r.TS, Replica: r.Replica, ExpireAt: r.ExpireAt, Deleted: r.Deleted}
	if r.Value != nil {
		c.Value = bytes.Clone(r.Value)
	}
	return c
}

// bareHash returns the hash of r stored bare: Entry{Mod: r.TS, State: r}.Hash().
func (r *Register) bareHash() uint64 { return registerEntryHash(Stamp{}, r.TS, r) }

// setStoredHash caches h, the bareHash of r. fresh: r is not yet visible to
// any other goroutine, so a plain write suffices (an atomic store is a full
// fence, which would wait for the hash).
func (r *Register) setStoredHash(h uint64, fresh bool) {
	switch {
	case fresh:
		r.plain = h
	case atomic.LoadUint64(&r.plain) != h:
		atomic.StoreUint64(&r.plain, h)
	}
}

// storedHash returns the hash cached by setStoredHash.
func (r *Register) storedHash() uint64 { return atomic.LoadUint64(&r.plain) }

// Stamp returns the write's stamp.
func (r *Register) Stamp() Stamp { return Stamp{TS: r.TS, Replica: r.Replica} }

// Live reports whether r holds a value at nowMs: not deleted, not expired.
func (r *Register) Live(nowMs int64) bool {
	return !r.Deleted && (r.ExpireAt == 0 || nowMs < r.ExpireAt)
}

// compareRegisters orders registers totally: stamp, then deleted, then
// expiry, then value bytes (only distinct writes with one stamp reach the last two).
func compareRegisters(a, b *Register) int {
	if a.TS != b.TS {
		return cmp.Compare(a.TS, b.TS)
	}
	if a.Replica != b.Replica {
		return cmp.Compare(a.Replica, b.Replica)
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.ExpireAt, b.ExpireAt); c != 0 {
		return c
	}
	return bytes.Compare(a.Value, b.Value)
}

func (r *Register) join(o State) (State, bool) {
	or, ok := o.(*Register)
	if !ok || compareRegisters(or, r) <= 0 {
		return r, false
	}
	return or, true
}

func (r *Register) equal(o State) bool {
	or, ok := o.(*Register)
	return ok && compareRegisters(r, or) == 0
}

func (r *Register) settle() {}

// expired returns the tombstone r becomes at expiry: same stamp, no value.
func (r *Register) expired() *Register {
	return &Register{TS: r.TS, Replica: r.Replica, ExpireAt: r.ExpireAt, Deleted: true}
}

func (r *Register) appendJSON(dst []byte) []byte {
	if r.Deleted {
		return append(dst, "null"...)
	}
	return append(dst, r.Value...)
}

// Register values up to a few hundred bytes are allocated together with
// the struct: one allocation per write instead of two. Each regN is sized to
// fill a malloc size class exactly (the 72-byte Register plus N bytes).
type (
	reg8 struct {
		r Register
		b [8]byte
	}
	reg24 struct {
		r Register
		b [24]byte
	}
	reg40 struct {
		r Register
		b [40]byte
	}
	reg56 struct {
		r Register
		b [56]byte
	}
	reg72 struct {
		r Register
		b [72]byte
	}
	reg88 struct {
		r Register
		b [88]byte
	}
	reg104 struct {
		r Register
		b [104]byte
	}
	reg120 struct {
		r Register
		b [120]byte
	}
	reg152 struct {
		r Register
		b [152]byte
	}
	reg184 struct {
		r Register
		b [184]byte
	}
	reg248 struct {
		r Register
		b [248]byte
	}
	reg312 struct {
		r Register
		b [312]byte
	}
	reg440 struct {
		r Register
		b [440]byte
	}
)

// newRegisterValue returns a Register whose Value is a copy of v (nil when empty).
func newRegisterValue(v []byte) *Register {
	n := len(v)
	var r *Register
	var buf []byte
	switch {
	case n == 0:
		return &Register{}
	case n <= 8:
		x := new(reg8)
		r, buf = &x.r, x.b[:n:n]
	case n <= 24:
		x := new(reg24)
		r, buf = &x.r, x.b[:n:n]
	case n <= 40:
		x := new(reg40)
		r, buf = &x.r, x.b[:n:n]
	case n <= 56:
		x := new(reg56)
		r, buf = &x.r, x.b[:n:n]
	case n <= 72:
		x := new(reg72)
		r, buf = &x.r, x.b[:n:n]
	case n <= 88:
		x := new(reg88)
		r, buf = &x.r, x.b[:n:n]
	case n <= 104:
		x := new(reg104)
		r, buf = &x.r, x.b[:n:n]
	case n <= 120:
		x := new(reg120)
		r, buf = &x.r, x.b[:n:n]
	case n <= 152:
		x := new(reg152)
		r, buf = &x.r, x.b[:n:n]
	case n <= 184:
		x := new(reg184)
		r, buf = &x.r, x.b[:n:n]
	case n <= 248:
		x := new(reg248)
		r, buf = &x.r, x.b[:n:n]
	case n <= 312:
		x := new(reg312)
		r, buf = &x.r, x.b[:n:n]
	case n <= 440:
		x := new(reg440)
		r, buf = &x.r, x.b[:n:n]
	default:
		r, buf = &Register{}, make([]byte, n)
	}
	copy(buf, v)
	r.Value = buf
	return r
}
