package crdt

import (
	"fmt"
	"slices"
)

// setStore is DotMap<element, DotSet>. Dot slices are never modified in
// place (joins build new ones), so clones share them.
type setStore struct {
	m     smallMap[string, []Dot]
	bytes int
}

func newSetStore() *setStore { return &setStore{} }

func elemBytes(k string, dots []Dot) int { return len(k) + 56 + 24*len(dots) }

func (s *setStore) empty() bool {
	for _, d := range s.m.all() {
		if len(d) > 0 {
			return false
		}
	}
	return true
}

func (s *setStore) eachDot(fn func(Dot)) {
	for _, ds := range s.m.all() {
		for _, d := range ds {
			fn(d)
		}
	}
}

// put replaces element k (present before iff had) with dots r.
func (s *setStore) put(k string, old []Dot, had bool, r []Dot, keep bool) {
	if had {
		s.bytes -= elemBytes(k, old)
	}
	if len(r) == 0 && !keep {
		if had {
			s.m.del(k)
		}
		return
	}
	s.m.set(k, r)
	s.bytes += elemBytes(k, r)
}

func (s *setStore) joinStore(c *CausalContext, o store, oc *CausalContext, full, keep bool) (store, bool) {
	os, _ := o.(*setStore)
	if os == nil {
		os = &setStore{}
	}
	changed := false
	for k, b := range os.m.all() {
		a, had := s.m.get(k)
		r, ch := joinDotted(a, c, b, oc)
		switch {
		case ch:
			changed = true
			s.put(k, a, had, r, keep)
		case had && len(a) == 0 && !keep:
			s.put(k, a, true, nil, false) // a hint the result no longer keeps
		case !had && keep:
			s.put(k, nil, false, nil, true)
		}
	}
	if full {
		for k, a := range s.m.all() {
			if _, listed := os.m.get(k); listed {
				continue
			}
			r, ch := joinDotted(a, c, nil, oc)
			if ch {
				changed = true
			}
			if ch || (len(a) == 0 && !keep) {
				s.put(k, a, true, r, keep)
			}
		}
	}
	return s, changed
}

func (s *setStore) cloneStore() store { return &setStore{m: s.m.clone(), bytes: s.bytes} }

func (s *setStore) equalStore(o store) bool {
	os, ok := o.(*setStore)
	if !ok {
		return false
	}
	n := 0
	for k, a := range s.m.all() {
		if len(a) == 0 {
			continue
		}
		n++
		if !slices.Equal(a, os.m.at(k)) {
			return false
		}
	}
	for _, b := range os.m.all() {
		if len(b) > 0 {
			n--
		}
	}
	return n == 0
}

func (s *setStore) sizeStore() int { return 48 + s.bytes }

// elements returns the present elements, sorted.
func (s *setStore) elements() []string {
	out := make([]string, 0, s.m.len())
	for k, d := range s.m.all() {
		if len(d) > 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (s *setStore) appendView(dst []byte) []byte {
	dst = append(dst, '[')
	for i, k := range s.elements() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
	}
	return append(dst, ']')
}

func (s *setStore) deltaOp(op Op, _ Stamp, g dotGen, _ int) (store, error) {
	d := &setStore{}
	for _, e := range op.Elements {
		if _, dup := d.m.get(e); dup {
			continue
		}
		observeAll(s.m.at(e), g)
		var dots []Dot
		switch op.Kind {
		case OpAdd:
			dots = []Dot{g.next()}
		case OpRemove:
		default:
			return nil, fmt.Errorf("%w: %v on an orset", ErrInvalidOp, op.Kind)
		}
		d.put(e, nil, false, dots, true)
	}
	return d, nil
}

func (s *setStore) hintStore() store {
	h := &setStore{}
	for k := range s.m.all() {
		h.put(k, nil, false, nil, true)
	}
	return h
}

func (s *setStore) settleStore() store {
	for k, d := range s.m.all() {
		if len(d) == 0 {
			s.put(k, d, true, nil, false)
		}
	}
	return s
}

// ORSet is an add-wins observed-remove set of strings without tombstones:
// Causal<DotMap<element, DotSet>>. An add creates a fresh dot for the
// element; a remove observes the element's dots, so an add concurrent with a
// remove wins.
type ORSet struct{ causal[*setStore] }

// NewORSet returns an empty set.
func NewORSet() *ORSet { return &ORSet{causal[*setStore]{st: newSetStore()}} }

// Type returns TypeORSet.
func (s *ORSet) Type() Type { return TypeORSet }

// Clone returns a deep copy.
func (s *ORSet) Clone() State { return &ORSet{s.cloneCausal()} }

// Elements returns the elements, sorted.
func (s *ORSet) Elements() []string { return s.st.elements() }

// Contains reports whether e is in the set.
func (s *ORSet) Contains(e string) bool { return len(s.st.m.at(e)) > 0 }

// Len returns the number of elements.
func (s *ORSet) Len() int {
	if s.partial {
		return len(s.st.elements())
	}
	return s.st.m.len()
}

// AddDelta returns the delta of adding elems at replica r; s is unchanged.
func (s *ORSet) AddDelta(r ReplicaID, elems ...string) *ORSet {
	d, _ := s.delta(Op{Kind: OpAdd, Elements: elems}, Stamp{Replica: r})
	return d.(*ORSet)
}

// RemoveDelta returns the delta of removing elems; s is unchanged.
func (s *ORSet) RemoveDelta(elems ...string) *ORSet {
	d, _ := s.delta(Op{Kind: OpRemove, Elements: elems}, Stamp{})
	return d.(*ORSet)
}

func (s *ORSet) join(o State) (State, bool) { return s, s.joinCausal(o) }

func (s *ORSet) delta(op Op, at Stamp) (State, error) {
	d := &ORSet{}
	if err := s.deltaInto(&d.causal, op, at, true); err != nil {
		return nil, err
	}
	return d, nil
}
