package crdt

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
)

type repCount struct {
	Replica ReplicaID
	N       uint64
}

// GCounter is a grow-only counter: one monotonic count per replica, joined
// by maximum. Its value is the sum; an increment that would take a replica's
// count or the sum past 2^64-1 fails with ErrOverflow.
type GCounter struct {
	p []repCount // sorted by Replica, N > 0
}

// NewGCounter returns a zero counter.
func NewGCounter() *GCounter { return &GCounter{} }

// Type returns TypeGCounter.
func (g *GCounter) Type() Type { return TypeGCounter }

// Size returns the approximate bytes of g.
func (g *GCounter) Size() int { return sizeCounts(g.p) + 24 }

func sizeCounts(p []repCount) int {
	n := 24
	for _, e := range p {
		n += 24 + len(e.Replica)
	}
	return n
}

// Clone returns a deep copy.
func (g *GCounter) Clone() State { return &GCounter{p: slices.Clone(g.p)} }

// Value returns the sum and false if it does not fit in 64 bits (possible
// only when concurrent increments on several replicas passed the bound).
func (g *GCounter) Value() (uint64, bool) { return sumCounts(g.p) }

func sumCounts(p []repCount) (uint64, bool) {
	var s, carry uint64
	for _, e := range p {
		s, carry = bits.Add64(s, e.N, 0)
		if carry != 0 {
			return math.MaxUint64, false
		}
	}
	return s, true
}

func bigSum(p []repCount) *big.Int {
	s := new(big.Int)
	var t big.Int
	for _, e := range p {
		s.Add(s, t.SetUint64(e.N))
	}
	return s
}

func countOf(p []repCount, r ReplicaID) (int, uint64) {
	i, ok := slices.BinarySearchFunc(p, r, func(e repCount, r ReplicaID) int { return cmp.Compare(e.Replica, r) })
	if ok {
		return i, p[i].N
	}
	return i, 0
}

// incDelta returns the delta of adding amt to r's count.
func incDelta(p []repCount, r ReplicaID, amt uint64) ([]repCount, error) {
	_, cur := countOf(p, r)
	n, c1 := bits.Add64(cur, amt, 0)
	sum, ok := sumCounts(p)
	_, c2 := bits.Add64(sum, amt, 0)
	if c1 != 0 || c2 != 0 || !ok {
		return nil, fmt.Errorf("%w: adding %d", ErrOverflow, amt)
	}
	return []repCount{{Replica: r, N: n}}, nil
}

// IncrementDelta returns the delta of adding amt at replica r; g is unchanged.
func (g *GCounter) IncrementDelta(r ReplicaID, amt uint64) (*GCounter, error) {
	p, err := incDelta(g.p, r, amt)
	if err != nil {
		return nil, err
	}
	return &GCounter{p: p}, nil
}

// joinCounts merges o into p by pointwise maximum.
func joinCounts(p, o []repCount) ([]repCount, bool) {
	changed := false
	for _, e := range o {
		i, cur := countOf(p, e.Replica)
		switch {
		case e.N <= cur:
		case cur == 0:
			p = slices.Insert(p, i, e)
			changed = true
		default:
			p[i].N = e.N
			changed = true
		}
	}
	return p, changed
}

func (g *GCounter) join(o State) (State, bool) {
	og, ok := o.(*GCounter)
	if !ok {
		return g, false
	}
	var changed bool
	g.p, changed = joinCounts(g.p, og.p)
	return g, changed
}

func (g *GCounter) equal(o State) bool {
	og, ok := o.(*GCounter)
	return ok && slices.Equal(g.p, og.p)
}

func (g *GCounter) settle() {}

func (g *GCounter) appendJSON(dst []byte) []byte {
	if v, ok := g.Value(); ok {
		return fmt.Appendf(dst, "%d", v)
	}
	return bigSum(g.p).Append(dst, 10)
}

// PNCounter is a counter of increments and decrements: two grow-only
// counters, P and N. Its value is P - N and must fit in an int64 at the
// replica that increments or decrements it, else ErrOverflow.
type PNCounter struct {
	p, n []repCount
}

// NewPNCounter returns a zero counter.
func NewPNCounter() *PNCounter { return &PNCounter{} }

// Type returns TypePNCounter.
func (c *PNCounter) Type() Type { return TypePNCounter }

// Size returns the approximate bytes of c.
func (c *PNCounter) Size() int { return sizeCounts(c.p) + sizeCounts(c.n) }

// Clone returns a deep copy.
func (c *PNCounter) Clone() State { return &PNCounter{p: slices.Clone(c.p), n: slices.Clone(c.n)} }

// Value returns P - N and false if it does not fit in an int64.
func (c *PNCounter) Value() (int64, bool) {
	v := c.bigValue()
	if !v.IsInt64() {
		return 0, false
	}
	return v.Int64(), true
}

func (c *PNCounter) bigValue() *big.Int { return new(big.Int).Sub(bigSum(c.p), bigSum(c.n)) }

// IncrementDelta returns the delta of adding amt at replica r; c is unchanged.
func (c *PNCounter) IncrementDelta(r ReplicaID, amt uint64) (*PNCounter, error) {
	return c.pnDelta(r, amt, true)
}

// DecrementDelta returns the delta of subtracting amt at replica r; c is unchanged.
func (c *PNCounter) DecrementDelta(r ReplicaID, amt uint64) (*PNCounter, error) {
	return c.pnDelta(r, amt, false)
}

func (c *PNCounter) pnDelta(r ReplicaID, amt uint64, inc bool) (*PNCounter, error) {
	v := c.bigValue()
	a := new(big.Int).SetUint64(amt)
	if inc {
		v.Add(v, a)
	} else {
		v.Sub(v, a)
	}
	if !v.IsInt64() {
		return nil, fmt.Errorf("%w: value would leave the int64 range", ErrOverflow)
	}
	if inc {
		p, err := incDelta(c.p, r, amt)
		if err != nil {
			return nil, err
		}
		return &PNCounter{p: p}, nil
	}
	n, err := incDelta(c.n, r, amt)
	if err != nil {
		return nil, err
	}
	return &PNCounter{n: n}, nil
}

func (c *PNCounter) join(o State) (State, bool) {
	oc, ok := o.(*PNCounter)
	if !ok {
		return c, false
	}
	var c1, c2 bool
	c.p, c1 = joinCounts(c.p, oc.p)
	c.n, c2 = joinCounts(c.n, oc.n)
	return c, c1 || c2
}

func (c *PNCounter) equal(o State) bool {
	oc, ok := o.(*PNCounter)
	return ok && slices.Equal(c.p, oc.p) && slices.Equal(c.n, oc.n)
}

func (c *PNCounter) settle() {}

func (c *PNCounter) appendJSON(dst []byte) []byte {
	return c.bigValue().Append(dst, 10)
}
