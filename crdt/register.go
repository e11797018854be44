package crdt

import (
	"bytes"
	"cmp"
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
}

// Type returns TypeRegister.
func (r *Register) Type() Type { return TypeRegister }

// registerOverhead approximates the struct and allocation overhead.
const registerOverhead = 64

// Size returns the approximate bytes of r.
func (r *Register) Size() int { return registerOverhead + cap(r.Value) }

// Clone returns a copy of r with its own value bytes.
func (r *Register) Clone() State {
	c := *r
	if r.Value != nil {
		c.Value = bytes.Clone(r.Value)
	}
	return &c
}

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
// the struct: one allocation per write instead of two, in the size class the
// two would have used anyway.
type (
	reg16 struct {
		r Register
		b [16]byte
	}
	reg32 struct {
		r Register
		b [32]byte
	}
	reg48 struct {
		r Register
		b [48]byte
	}
	reg64 struct {
		r Register
		b [64]byte
	}
	reg80 struct {
		r Register
		b [80]byte
	}
	reg96 struct {
		r Register
		b [96]byte
	}
	reg112 struct {
		r Register
		b [112]byte
	}
	reg128 struct {
		r Register
		b [128]byte
	}
	reg160 struct {
		r Register
		b [160]byte
	}
	reg192 struct {
		r Register
		b [192]byte
	}
	reg256 struct {
		r Register
		b [256]byte
	}
	reg320 struct {
		r Register
		b [320]byte
	}
	reg448 struct {
		r Register
		b [448]byte
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
	case n <= 16:
		x := new(reg16)
		r, buf = &x.r, x.b[:n:n]
	case n <= 32:
		x := new(reg32)
		r, buf = &x.r, x.b[:n:n]
	case n <= 48:
		x := new(reg48)
		r, buf = &x.r, x.b[:n:n]
	case n <= 64:
		x := new(reg64)
		r, buf = &x.r, x.b[:n:n]
	case n <= 80:
		x := new(reg80)
		r, buf = &x.r, x.b[:n:n]
	case n <= 96:
		x := new(reg96)
		r, buf = &x.r, x.b[:n:n]
	case n <= 112:
		x := new(reg112)
		r, buf = &x.r, x.b[:n:n]
	case n <= 128:
		x := new(reg128)
		r, buf = &x.r, x.b[:n:n]
	case n <= 160:
		x := new(reg160)
		r, buf = &x.r, x.b[:n:n]
	case n <= 192:
		x := new(reg192)
		r, buf = &x.r, x.b[:n:n]
	case n <= 256:
		x := new(reg256)
		r, buf = &x.r, x.b[:n:n]
	case n <= 320:
		x := new(reg320)
		r, buf = &x.r, x.b[:n:n]
	case n <= 448:
		x := new(reg448)
		r, buf = &x.r, x.b[:n:n]
	default:
		r, buf = &Register{}, make([]byte, n)
	}
	copy(buf, v)
	r.Value = buf
	return r
}
