package crdt

import (
	"iter"
	"maps"
)

// smallMaxFew is the size up to which a smallMap is a slice: most deltas
// touch one or two keys, and a Go map costs several hundred bytes even then.
const smallMaxFew = 8

type smallEntry[K comparable, V any] struct {
	k K
	v V
}

// smallMap is a map that stays a short slice until it grows past
// smallMaxFew entries. The zero value is empty. Iterating with all while
// updating or deleting the current key is allowed, as with Go maps.
type smallMap[K comparable, V any] struct {
	m   map[K]V
	few []smallEntry[K, V]
}

func (s *smallMap[K, V]) len() int {
	if s.m != nil {
		return len(s.m)
	}
	return len(s.few)
}

func (s *smallMap[K, V]) get(k K) (V, bool) {
	if s.m != nil {
		v, ok := s.m[k]
		return v, ok
	}
	for i := range s.few {
		if s.few[i].k == k {
			return s.few[i].v, true
		}
	}
	var z V
	return z, false
}

// at returns the value of k, the zero value when absent.
func (s *smallMap[K, V]) at(k K) V {
	v, _ := s.get(k)
	return v
}

func (s *smallMap[K, V]) set(k K, v V) {
	if s.m != nil {
		s.m[k] = v
		return
	}
	for i := range s.few {
		if s.few[i].k == k {
			s.few[i].v = v
			return
		}
	}
	if len(s.few) < smallMaxFew {
		s.few = append(s.few, smallEntry[K, V]{k, v})
		return
	}
	s.m = make(map[K]V, 2*smallMaxFew)
	for _, e := range s.few {
		s.m[e.k] = e.v
	}
	s.m[k] = v
	s.few = nil
}

func (s *smallMap[K, V]) del(k K) {
	if s.m != nil {
		delete(s.m, k)
		return
	}
	for i := range s.few {
		if s.few[i].k == k {
			s.few[i] = s.few[len(s.few)-1]
			s.few = s.few[:len(s.few)-1]
			return
		}
	}
}

// all iterates over the entries in no particular order.
func (s *smallMap[K, V]) all() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if s.m != nil {
			for k, v := range s.m {
				if !yield(k, v) {
					return
				}
			}
			return
		}
		var buf [smallMaxFew]smallEntry[K, V]
		n := copy(buf[:], s.few)
		for _, e := range buf[:n] {
			if !yield(e.k, e.v) {
				return
			}
		}
	}
}

// clone returns a shallow copy.
func (s *smallMap[K, V]) clone() smallMap[K, V] {
	if s.m != nil {
		return smallMap[K, V]{m: maps.Clone(s.m)}
	}
	if len(s.few) == 0 {
		return smallMap[K, V]{}
	}
	return smallMap[K, V]{few: append([]smallEntry[K, V](nil), s.few...)}
}
