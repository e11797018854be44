package crdt

import (
	"fmt"
	"slices"

	"pgregory.net/rapid"
)

// Generators: values of each type are built the way replicas build them,
// by ops at a few replicas, exchanged deltas and joined states, so they
// include concurrent updates, partial deltas and delta groups.

var (
	genReplica = rapid.SampledFrom([]ReplicaID{"a", "b", "c"})
	genElem    = rapid.SampledFrom([]string{"x", "y", "z", "w"})
	genField   = rapid.SampledFrom([]string{"f", "g", "h"})
	allTypes   = []Type{TypeRegister, TypeGCounter, TypePNCounter, TypeORSet, TypeFlag, TypeMVRegister, TypeORMap}
)

// genOp draws an operation that applies to type t (depth bounds nested maps).
func genOp(t *rapid.T, typ Type, depth int) Op {
	switch typ {
	case TypeRegister:
		op := Op{Kind: OpSet, Type: typ, Value: []byte(rapid.SampledFrom([]string{`1`, `"v"`, `[2]`}).Draw(t, "value"))}
		if rapid.Bool().Draw(t, "expires") {
			op.ExpireAt = rapid.Int64Range(1, 20).Draw(t, "expireAt")
		}
		return op
	case TypeGCounter:
		return Op{Kind: OpIncrement, Type: typ, Amount: rapid.Uint64Range(1, 5).Draw(t, "amount")}
	case TypePNCounter:
		k := rapid.SampledFrom([]OpKind{OpIncrement, OpDecrement}).Draw(t, "kind")
		return Op{Kind: k, Type: typ, Amount: rapid.Uint64Range(1, 5).Draw(t, "amount")}
	case TypeORSet:
		k := rapid.SampledFrom([]OpKind{OpAdd, OpAdd, OpRemove}).Draw(t, "kind")
		return Op{Kind: k, Type: typ, Elements: rapid.SliceOfN(genElem, 1, 2).Draw(t, "elems")}
	case TypeFlag:
		return Op{Kind: rapid.SampledFrom([]OpKind{OpEnable, OpDisable}).Draw(t, "kind"), Type: typ}
	case TypeMVRegister:
		return Op{Kind: OpAssign, Type: typ, Value: []byte(rapid.SampledFrom([]string{`1`, `2`, `3`}).Draw(t, "value"))}
	case TypeORMap:
		f := genField.Draw(t, "field")
		if rapid.IntRange(0, 4).Draw(t, "rm") == 0 {
			return Op{Kind: OpMapRemove, Type: typ, Field: f}
		}
		nt := rapid.SampledFrom(allTypes).Draw(t, "nestedType")
		if nt == TypeORMap && depth >= 2 {
			nt = TypeORSet
		}
		nested := genOp(t, nt, depth+1)
		nested.ExpireAt = 0
		return Op{Kind: OpMapUpdate, Type: typ, Field: f, Nested: &nested}
	}
	panic(fmt.Sprintf("genOp: type %v", typ))
}

// pool is a set of values of one type reached by a small replicated history.
type pool struct {
	states []State // replica states at the end
	deltas []State // every delta produced, and some joins of deltas
}

func genPool(t *rapid.T, typ Type) pool {
	n := 3
	states := make([]State, n)
	for i := range states {
		states[i] = newState(typ)
	}
	var p pool
	ts := int64(1)
	steps := rapid.IntRange(1, 12).Draw(t, "steps")
	for range steps {
		i := rapid.IntRange(0, n-1).Draw(t, "replica")
		switch rapid.IntRange(0, 3).Draw(t, "step") {
		case 0, 1:
			op := genOp(t, typ, 0)
			ts++
			at := Stamp{TS: MakeTimestamp(ts, 0), Replica: ReplicaID(rune('a' + i))}
			d, err := states[i].delta(op, at)
			if err != nil {
				continue // wrong nested type, overflow: the op is refused
			}
			p.deltas = append(p.deltas, d)
			states[i], _ = states[i].join(d)
		case 2:
			j := rapid.IntRange(0, n-1).Draw(t, "from")
			states[i], _ = states[i].join(states[j])
		case 3:
			if len(p.deltas) > 0 {
				d := rapid.SampledFrom(p.deltas).Draw(t, "delivered")
				states[i], _ = states[i].join(d)
			}
		}
	}
	if len(p.deltas) >= 2 {
		a := rapid.SampledFrom(p.deltas).Draw(t, "groupA")
		b := rapid.SampledFrom(p.deltas).Draw(t, "groupB")
		g, _ := a.Clone().join(b)
		p.deltas = append(p.deltas, g)
	}
	p.states = states
	return p
}

// genValues draws n states or deltas of type typ from one history (values
// of independent histories could reuse a dot for different elements, which
// no real history does).
func genValues(t *rapid.T, typ Type, n int) []State {
	p := genPool(t, typ)
	all := append(slices.Clone(p.states), p.deltas...)
	out := make([]State, n)
	for i := range out {
		out[i] = rapid.SampledFrom(all).Draw(t, fmt.Sprintf("v%d", i)).Clone()
	}
	return out
}

// genEntries draws n entries of one key, from one history of ops (including
// deletes, which may re-create the key under another type) on a few replicas.
func genEntries(t *rapid.T, n int) []Entry {
	label := ""
	const r = 3
	es := make([]Entry, r)
	var deltas []Entry
	ts := int64(1)
	steps := rapid.IntRange(1, 10).Draw(t, label+"steps")
	for range steps {
		i := rapid.IntRange(0, r-1).Draw(t, label+"replica")
		if rapid.IntRange(0, 2).Draw(t, label+"step") == 0 {
			j := rapid.IntRange(0, r-1).Draw(t, label+"from")
			es[i], _ = JoinEntries(es[i], es[j])
			continue
		}
		var op Op
		typ := rapid.SampledFrom([]Type{TypeRegister, TypeGCounter, TypeORSet, TypeORMap}).Draw(t, label+"type")
		if rapid.IntRange(0, 5).Draw(t, label+"del") == 0 {
			op = Op{Kind: OpDelete, Type: typ}
		} else {
			op = genOp(t, typ, 1)
		}
		ts++
		at := Stamp{TS: MakeTimestamp(ts, 0), Replica: ReplicaID(rune('a' + i))}
		d, err := applyOp(es[i], op, at, ts)
		if err != nil {
			continue
		}
		deltas = append(deltas, d)
		es[i], _ = JoinEntries(es[i], d)
	}
	all := append(es, deltas...)
	out := make([]Entry, n)
	for i := range out {
		out[i] = rapid.SampledFrom(all).Draw(t, fmt.Sprintf("e%d", i))
	}
	return out
}
