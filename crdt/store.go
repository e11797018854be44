package crdt

import "slices"

// A dot store is the payload of a causal CRDT; its dots live in a causal
// context owned by the enclosing top-level value (the paper's Causal<T>).
// Nested map fields share their map's context. A dot in the context but not
// in the store was present and has been removed, which is what makes the
// types tombstone-free.
//
// Partial deltas: a delta built by a mutator lists every key (set element,
// map field) whose dots its context covers, with an empty store for a key it
// only removes. Joining such a delta needs to visit only the listed keys, so
// a delta joins in time proportional to its size, not to the state's. A full
// state (or any value not known to be partial) is joined by visiting every key.
type store interface {
	empty() bool
	eachDot(fn func(Dot))
	// joinStore merges o (whose context is oc) into the receiver (whose
	// context c is not yet merged). full: o's context may cover dots of keys
	// o does not list. keep: keep listed keys whose store became empty (the
	// receiver is a partial delta). It returns the result (the receiver,
	// possibly modified in place) and whether its content changed.
	joinStore(c *CausalContext, o store, oc *CausalContext, full, keep bool) (store, bool)
	cloneStore() store
	equalStore(o store) bool
	sizeStore() int
	appendStore(dst []byte, rt *replicaTable) []byte
	appendView(dst []byte) []byte
	// deltaOp returns the delta store of op; g collects the dots it observes
	// or creates in the delta's context.
	deltaOp(op Op, at Stamp, g dotGen, depth int) (store, error)
	// settleStore drops empty keys kept as hints (see keep).
	settleStore() store
	// hintStore returns an empty store listing every key of the receiver, the
	// store of a partial delta that removes all of it.
	hintStore() store
}

// dotGen builds the context of a delta: dc collects the dots the delta
// observes (adds of the current dots) and creates (next), above every dot of
// replica r in the state's context c.
type dotGen struct {
	c, dc *CausalContext
	r     ReplicaID
}

func (g dotGen) observe(d Dot) { g.dc.Add(d) }

func (g dotGen) next() Dot {
	d := Dot{Replica: g.r, Counter: max(g.c.Max(g.r), g.dc.Max(g.r)) + 1}
	g.dc.Add(d)
	return d
}

// newStore returns the empty store of a map field type.
func newStore(t Type) store {
	switch t {
	case TypeRegister:
		return dotFun[regDot](nil)
	case TypeGCounter:
		return dotFun[cntDot](nil)
	case TypePNCounter:
		return dotFun[pnDot](nil)
	case TypeORSet:
		return newSetStore()
	case TypeFlag:
		return dotFun[Dot](nil)
	case TypeMVRegister:
		return dotFun[mvDot](nil)
	case TypeORMap:
		return newMapStore()
	}
	return nil
}

// dotted is an element of a DotSet or DotFun: a dot with an immutable value.
type dotted[E any] interface {
	dotOf() Dot
	// sameValue reports whether e and o (with the same dot) carry the same value.
	sameValue(o E) bool
	elemSize() int
	appendElem(dst []byte, rt *replicaTable) []byte
	decodeElem(r *reader, d Dot) E
	// Static methods, called on the zero value.
	appendFunView(dst []byte, all []E) []byte
	deltaFun(all []E, op Op, at Stamp, g dotGen) ([]E, error)
}

// joinDotted returns the dots of (a, ca) ⊔ (b, cb): the dots in both, plus
// those of one side the other side has not seen. Both inputs are sorted by
// dot; a is returned unchanged (same backing array) when nothing changes.
// Element slices are never modified in place, so the result may also be b
// itself (the common case of a delta replacing an element's dots).
func joinDotted[E dotted[E]](a []E, ca *CausalContext, b []E, cb *CausalContext) ([]E, bool) {
	// A first pass decides, without allocating, whether the result is a, b
	// or a new slice; only the last case takes a second pass.
	changed, keptA, fromB := false, 0, 0
	mergeDotted(a, ca, b, cb, func(e E, fromA, isNew bool) {
		switch {
		case isNew:
			changed = true
			fromB++
		case fromA:
			keptA++
		default:
			fromB++
		}
	}, func() { changed = true })
	switch {
	case !changed:
		return a, false
	case keptA == 0 && fromB == len(b):
		return b, true
	}
	out := make([]E, 0, keptA+fromB)
	mergeDotted(a, ca, b, cb, func(e E, _, _ bool) { out = append(out, e) }, func() {})
	return out, true
}

// mergeDotted walks (a, ca) ⊔ (b, cb) in dot order: keep gets each kept
// element (fromA: an a-only element; isNew: a b-only one a has not seen;
// neither: a dot on both sides), drop is called for each removed a element.
func mergeDotted[E dotted[E]](a []E, ca *CausalContext, b []E, cb *CausalContext, keep func(e E, fromA, isNew bool), drop func()) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].dotOf().Compare(b[j].dotOf()) < 0):
			if cb.Contains(a[i].dotOf()) {
				drop()
			} else {
				keep(a[i], true, false)
			}
			i++
		case i == len(a) || a[i].dotOf().Compare(b[j].dotOf()) > 0:
			if !ca.Contains(b[j].dotOf()) {
				keep(b[j], false, true)
			}
			j++
		default:
			keep(a[i], false, false)
			i++
			j++
		}
	}
}

// dotFun is a DotFun (or, with E = Dot, a DotSet): a sorted list of dots
// with values. Values at one dot never differ, so the join keeps either.
type dotFun[E dotted[E]] []E

func (s dotFun[E]) empty() bool { return len(s) == 0 }

func (s dotFun[E]) eachDot(fn func(Dot)) {
	for _, e := range s {
		fn(e.dotOf())
	}
}

func (s dotFun[E]) joinStore(c *CausalContext, o store, oc *CausalContext, _, _ bool) (store, bool) {
	ob, _ := o.(dotFun[E])
	r, ch := joinDotted([]E(s), c, []E(ob), oc)
	return dotFun[E](r), ch
}

// cloneStore shares the elements: element slices are never modified in place.
func (s dotFun[E]) cloneStore() store { return s }

func (s dotFun[E]) equalStore(o store) bool {
	ob, ok := o.(dotFun[E])
	return ok && slices.EqualFunc(s, ob, func(a, b E) bool { return a.dotOf() == b.dotOf() && a.sameValue(b) })
}

func (s dotFun[E]) sizeStore() int {
	n := 24
	for _, e := range s {
		n += e.elemSize()
	}
	return n
}

func (s dotFun[E]) appendView(dst []byte) []byte {
	var z E
	return z.appendFunView(dst, s)
}

func (s dotFun[E]) deltaOp(op Op, at Stamp, g dotGen, _ int) (store, error) {
	var z E
	d, err := z.deltaFun(s, op, at, g)
	if err != nil {
		return nil, err
	}
	return dotFun[E](d), nil
}

func (s dotFun[E]) settleStore() store { return s }

func (s dotFun[E]) hintStore() store { return dotFun[E](nil) }

// observeAll adds the dots of s to the delta's context.
func observeAll[E dotted[E]](s []E, g dotGen) {
	for _, e := range s {
		g.observe(e.dotOf())
	}
}
