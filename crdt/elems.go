package crdt

import (
	"bytes"
	"cmp"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
)

// The elements of the DotSet and DotFun stores.

// Dot as a DotSet element: an enable-wins flag is the set of its enabling dots.

func (d Dot) dotOf() Dot         { return d }
func (d Dot) sameValue(Dot) bool { return true }
func (d Dot) elemSize() int      { return 24 }
func (Dot) appendFunView(dst []byte, all []Dot) []byte {
	if len(all) > 0 {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

func (Dot) deltaFun(all []Dot, op Op, _ Stamp, g dotGen) ([]Dot, error) {
	observeAll(all, g)
	switch op.Kind {
	case OpEnable:
		return []Dot{g.next()}, nil
	case OpDisable:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: %v on a flag", ErrInvalidOp, op.Kind)
}

// regDot is one write of a register nested in a map: its dot, its LWW stamp
// and value. Concurrent writes keep several; the view shows the highest stamp.
type regDot struct {
	Dot
	TS    Timestamp // with Dot.Replica, the LWW stamp of the write
	Value []byte
}

func (e regDot) dotOf() Dot { return e.Dot }
func (e regDot) sameValue(o regDot) bool {
	return e.TS == o.TS && bytes.Equal(e.Value, o.Value)
}
func (e regDot) elemSize() int { return 80 + len(e.Value) }

func (e regDot) compareLWW(o regDot) int {
	if c := cmp.Compare(e.TS, o.TS); c != 0 {
		return c
	}
	if c := cmp.Compare(e.Replica, o.Replica); c != 0 {
		return c
	}
	return bytes.Compare(e.Value, o.Value)
}

func (regDot) appendFunView(dst []byte, all []regDot) []byte {
	if len(all) == 0 {
		return append(dst, "null"...)
	}
	best := all[0]
	for _, e := range all[1:] {
		if e.compareLWW(best) > 0 {
			best = e
		}
	}
	return appendRaw(dst, best.Value)
}

func (regDot) deltaFun(all []regDot, op Op, at Stamp, g dotGen) ([]regDot, error) {
	if op.Kind != OpSet {
		return nil, fmt.Errorf("%w: %v on a register", ErrInvalidOp, op.Kind)
	}
	observeAll(all, g)
	d := g.next()
	return []regDot{{Dot: d, TS: at.TS, Value: bytes.Clone(op.Value)}}, nil
}

// cntDot is a replica's cumulative count in a grow-only counter nested in a
// map (riak_dt's emcntr): each increment replaces the replica's previous dot,
// so removing the field removes every replica's contribution.
type cntDot struct {
	Dot
	N uint64
}

func (e cntDot) dotOf() Dot              { return e.Dot }
func (e cntDot) sameValue(o cntDot) bool { return e.N == o.N }
func (e cntDot) elemSize() int           { return 32 }

// latestPerReplica calls fn with the value at each replica's highest dot;
// lower dots of a replica linger only until the delta that replaced them arrives.
func latestPerReplica[E dotted[E]](all []E, fn func(E)) {
	for i, e := range all {
		if i+1 < len(all) && all[i+1].dotOf().Replica == e.dotOf().Replica {
			continue
		}
		fn(e)
	}
}

func (cntDot) sum(all []cntDot) (uint64, bool) {
	var s, c uint64
	ok := true
	latestPerReplica(all, func(e cntDot) {
		s, c = bits.Add64(s, e.N, 0)
		ok = ok && c == 0
	})
	return s, ok
}

func (cntDot) appendFunView(dst []byte, all []cntDot) []byte {
	if s, ok := (cntDot{}).sum(all); ok {
		return fmt.Appendf(dst, "%d", s)
	}
	t := new(big.Int)
	latestPerReplica(all, func(e cntDot) { t.Add(t, new(big.Int).SetUint64(e.N)) })
	return t.Append(dst, 10)
}

// replicaLatest returns the value at r's highest dot (the zero value if none).
func replicaLatest[E dotted[E]](all []E, r ReplicaID) E {
	var cur E
	for _, e := range all {
		if e.dotOf().Replica == r {
			cur = e
		}
	}
	return cur
}

// observeReplica adds r's dots to the delta's context: an increment replaces them.
func observeReplica[E dotted[E]](all []E, r ReplicaID, g dotGen) {
	for _, e := range all {
		if e.dotOf().Replica == r {
			g.observe(e.dotOf())
		}
	}
}

func (cntDot) deltaFun(all []cntDot, op Op, at Stamp, g dotGen) ([]cntDot, error) {
	if op.Kind != OpIncrement {
		return nil, fmt.Errorf("%w: %v on a gcounter", ErrInvalidOp, op.Kind)
	}
	sum, ok := (cntDot{}).sum(all)
	_, c1 := bits.Add64(sum, op.Amount, 0)
	cur := replicaLatest(all, at.Replica)
	n, c2 := bits.Add64(cur.N, op.Amount, 0)
	if !ok || c1 != 0 || c2 != 0 {
		return nil, fmt.Errorf("%w: adding %d", ErrOverflow, op.Amount)
	}
	observeReplica(all, at.Replica, g)
	d := g.next()
	return []cntDot{{Dot: d, N: n}}, nil
}

// pnDot is a replica's cumulative increments and decrements in a PN-counter
// nested in a map.
type pnDot struct {
	Dot
	P, N uint64
}

func (e pnDot) dotOf() Dot             { return e.Dot }
func (e pnDot) sameValue(o pnDot) bool { return e.P == o.P && e.N == o.N }
func (e pnDot) elemSize() int          { return 40 }

func (pnDot) value(all []pnDot) *big.Int {
	t := new(big.Int)
	var x big.Int
	latestPerReplica(all, func(e pnDot) {
		t.Add(t, x.SetUint64(e.P))
		t.Sub(t, x.SetUint64(e.N))
	})
	return t
}

func (pnDot) appendFunView(dst []byte, all []pnDot) []byte {
	return (pnDot{}).value(all).Append(dst, 10)
}

func (pnDot) deltaFun(all []pnDot, op Op, at Stamp, g dotGen) ([]pnDot, error) {
	v := (pnDot{}).value(all)
	a := new(big.Int).SetUint64(op.Amount)
	cur := replicaLatest(all, at.Replica)
	var c uint64
	switch op.Kind {
	case OpIncrement:
		v.Add(v, a)
		cur.P, c = bits.Add64(cur.P, op.Amount, 0)
	case OpDecrement:
		v.Sub(v, a)
		cur.N, c = bits.Add64(cur.N, op.Amount, 0)
	default:
		return nil, fmt.Errorf("%w: %v on a pncounter", ErrInvalidOp, op.Kind)
	}
	if c != 0 || !v.IsInt64() {
		return nil, fmt.Errorf("%w: value would leave the int64 range", ErrOverflow)
	}
	observeReplica(all, at.Replica, g)
	d := g.next()
	return []pnDot{{Dot: d, P: cur.P, N: cur.N}}, nil
}

// mvDot is one value of a multi-value register.
type mvDot struct {
	Dot
	Value []byte
}

func (e mvDot) dotOf() Dot             { return e.Dot }
func (e mvDot) sameValue(o mvDot) bool { return bytes.Equal(e.Value, o.Value) }
func (e mvDot) elemSize() int          { return 48 + len(e.Value) }

// mvValues returns the distinct values, sorted.
func mvValues(all []mvDot) [][]byte {
	vs := make([][]byte, 0, len(all))
	for _, e := range all {
		vs = append(vs, e.Value)
	}
	slices.SortFunc(vs, bytes.Compare)
	return slices.CompactFunc(vs, bytes.Equal)
}

func (mvDot) appendFunView(dst []byte, all []mvDot) []byte {
	dst = append(dst, '[')
	for i, v := range mvValues(all) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRaw(dst, v)
	}
	return append(dst, ']')
}

func (mvDot) deltaFun(all []mvDot, op Op, _ Stamp, g dotGen) ([]mvDot, error) {
	if op.Kind != OpAssign {
		return nil, fmt.Errorf("%w: %v on a mvregister", ErrInvalidOp, op.Kind)
	}
	observeAll(all, g)
	d := g.next()
	return []mvDot{{Dot: d, Value: bytes.Clone(op.Value)}}, nil
}

// appendRaw appends a raw JSON value, null when empty.
func appendRaw(dst, v []byte) []byte {
	if len(v) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, v...)
}
