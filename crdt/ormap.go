package crdt

import (
	"cmp"
	"fmt"
	"slices"
)

// fieldKey names a map field: a name and a type. Fields of one name and
// different types, created concurrently, coexist (as in riak_dt's map); the
// view shows the highest type, and removing the name removes them all.
type fieldKey struct {
	Name string
	Type Type
}

func (k fieldKey) compare(o fieldKey) int {
	if c := cmp.Compare(k.Name, o.Name); c != 0 {
		return c
	}
	return cmp.Compare(k.Type, o.Type)
}

// mapStore is DotMap<fieldKey, dot store>: the fields of an ORMap, whose
// nested stores share the map's causal context.
type mapStore struct {
	m     smallMap[fieldKey, store]
	bytes int
}

func newMapStore() *mapStore { return &mapStore{} }

func fieldBytes(k fieldKey, s store) int { return len(k.Name) + 64 + s.sizeStore() }

func (s *mapStore) empty() bool {
	for _, f := range s.m.all() {
		if !f.empty() {
			return false
		}
	}
	return true
}

func (s *mapStore) eachDot(fn func(Dot)) {
	for _, f := range s.m.all() {
		f.eachDot(fn)
	}
}

func (s *mapStore) put(k fieldKey, r store, keep bool) {
	if r.empty() && !keep {
		s.m.del(k)
		return
	}
	s.m.set(k, r)
	s.bytes += fieldBytes(k, r)
}

func (s *mapStore) joinStore(c *CausalContext, o store, oc *CausalContext, full, keep bool) (store, bool) {
	os, _ := o.(*mapStore)
	if os == nil {
		os = &mapStore{}
	}
	changed := false
	for k, b := range os.m.all() {
		a, had := s.m.get(k)
		if had {
			s.bytes -= fieldBytes(k, a)
		} else {
			a = newStore(k.Type)
		}
		r, ch := a.joinStore(c, b, oc, full, keep)
		changed = changed || ch
		if had || ch || keep {
			s.put(k, r, keep)
		}
	}
	if full {
		for k, a := range s.m.all() {
			if _, listed := os.m.get(k); listed {
				continue
			}
			s.bytes -= fieldBytes(k, a)
			r, ch := a.joinStore(c, newStore(k.Type), oc, true, false)
			changed = changed || ch
			s.put(k, r, false)
		}
	}
	return s, changed
}

func (s *mapStore) cloneStore() store {
	c := &mapStore{m: s.m.clone(), bytes: s.bytes}
	for k, f := range c.m.all() {
		c.m.set(k, f.cloneStore())
	}
	return c
}

func (s *mapStore) equalStore(o store) bool {
	os, ok := o.(*mapStore)
	if !ok {
		return false
	}
	n := 0
	for k, a := range s.m.all() {
		if a.empty() {
			continue
		}
		n++
		b, ok := os.m.get(k)
		if !ok || !a.equalStore(b) {
			return false
		}
	}
	for _, b := range os.m.all() {
		if !b.empty() {
			n--
		}
	}
	return n == 0
}

func (s *mapStore) sizeStore() int { return 48 + s.bytes }

// sortedKeys returns the non-empty field keys in canonical order.
func (s *mapStore) sortedKeys(withEmpty bool) []fieldKey {
	ks := make([]fieldKey, 0, s.m.len())
	for k, f := range s.m.all() {
		if withEmpty || !f.empty() {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, fieldKey.compare)
	return ks
}

func (s *mapStore) appendView(dst []byte) []byte {
	dst = append(dst, '{')
	ks := s.sortedKeys(false)
	first := true
	for i, k := range ks {
		if i+1 < len(ks) && ks[i+1].Name == k.Name {
			continue // the highest type of a name is last
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k.Name)
		dst = append(dst, ':')
		dst = s.m.at(k).appendView(dst)
	}
	return append(dst, '}')
}

func (s *mapStore) deltaOp(op Op, at Stamp, g dotGen, depth int) (store, error) {
	d := &mapStore{}
	switch op.Kind {
	case OpMapUpdate:
		nt, err := op.Nested.normalize(depth + 1)
		if err != nil {
			return nil, err
		}
		k := fieldKey{Name: op.Field, Type: nt}
		for t := TypeRegister; t <= TypeORMap; t++ {
			if f, ok := s.m.get(fieldKey{Name: op.Field, Type: t}); ok && t != nt && !f.empty() {
				return nil, fmt.Errorf("%w: field %q is a %v, not a %v", ErrWrongType, op.Field, t, nt)
			}
		}
		f, ok := s.m.get(k)
		if !ok {
			f = newStore(nt)
		}
		nd, err := f.deltaOp(*op.Nested, at, g, depth+1)
		if err != nil {
			return nil, err
		}
		d.put(k, nd, true)
	case OpMapRemove:
		for t := TypeRegister; t <= TypeORMap; t++ {
			k := fieldKey{Name: op.Field, Type: t}
			if f, ok := s.m.get(k); ok {
				f.eachDot(g.observe)
				d.put(k, f.hintStore(), true)
			}
		}
	default:
		return nil, fmt.Errorf("%w: %v on an ormap", ErrInvalidOp, op.Kind)
	}
	return d, nil
}

func (s *mapStore) hintStore() store {
	h := &mapStore{}
	for k, f := range s.m.all() {
		h.put(k, f.hintStore(), true)
	}
	return h
}

func (s *mapStore) settleStore() store {
	for k, f := range s.m.all() {
		s.bytes -= fieldBytes(k, f)
		s.put(k, f.settleStore(), false)
	}
	return s
}

// ORMap is an observed-remove map of named CRDT fields with one causal
// context shared by every nested value: Causal<DotMap<field, dot store>>.
// Nested counters, registers, sets, flags, multi-value registers and maps are
// dot stores, so removing a field removes the dots it observed and a field
// re-created later starts from nothing (see DESIGN.md).
type ORMap struct{ causal[*mapStore] }

// NewORMap returns an empty map.
func NewORMap() *ORMap { return &ORMap{causal[*mapStore]{st: newMapStore()}} }

// Type returns TypeORMap.
func (m *ORMap) Type() Type { return TypeORMap }

// Clone returns a deep copy.
func (m *ORMap) Clone() State { return &ORMap{m.cloneCausal()} }

// Fields returns the names of the present fields, sorted.
func (m *ORMap) Fields() []string {
	var out []string
	for _, k := range m.st.sortedKeys(false) {
		if len(out) == 0 || out[len(out)-1] != k.Name {
			out = append(out, k.Name)
		}
	}
	return out
}

// Field returns the JSON view of the named field (its highest type) and whether it is present.
func (m *ORMap) Field(name string) ([]byte, Type, bool) {
	for t := TypeORMap; t >= TypeRegister; t-- {
		if f, ok := m.st.m.get(fieldKey{Name: name, Type: t}); ok && !f.empty() {
			return f.appendView(nil), t, true
		}
	}
	return nil, TypeNone, false
}

// UpdateDelta returns the delta of applying nested (an op of the field's
// type) to the field at stamp at; m is unchanged.
func (m *ORMap) UpdateDelta(field string, nested Op, at Stamp) (*ORMap, error) {
	d, err := m.delta(Op{Kind: OpMapUpdate, Field: field, Nested: &nested}, at)
	if err != nil {
		return nil, err
	}
	return d.(*ORMap), nil
}

// RemoveDelta returns the delta of removing the field; m is unchanged.
func (m *ORMap) RemoveDelta(field string) *ORMap {
	d, _ := m.delta(Op{Kind: OpMapRemove, Field: field}, Stamp{})
	return d.(*ORMap)
}

func (m *ORMap) join(o State) (State, bool) { return m, m.joinCausal(o) }

func (m *ORMap) delta(op Op, at Stamp) (State, error) {
	d := &ORMap{}
	if err := m.deltaInto(&d.causal, op, at, true); err != nil {
		return nil, err
	}
	return d, nil
}
