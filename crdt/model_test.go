package crdt

import (
	"slices"
)

// Reference state mutators m(X), written directly from the definitions
// (mutate in place, generate a dot by bumping the context), independently of
// the delta-mutators + join path the package uses. The laws compare
// X ⊔ mδ(X) with m(X).

func refApply(s State, op *Op, at Stamp) State {
	s = s.Clone()
	switch x := s.(type) {
	case *Register:
		n := &Register{Value: op.Value, TS: at.TS, Replica: at.Replica, ExpireAt: op.ExpireAt, Deleted: op.Kind == OpDelete}
		if compareRegisters(n, x) > 0 {
			return n
		}
		return x
	case *GCounter:
		x.p = refInc(x.p, at.Replica, op.Amount)
	case *PNCounter:
		if op.Kind == OpIncrement {
			x.p = refInc(x.p, at.Replica, op.Amount)
		} else {
			x.n = refInc(x.n, at.Replica, op.Amount)
		}
	case *ORSet:
		x.st = refStore(x.st, &x.ctx, op, at).(*setStore)
	case *Flag:
		x.st = refStore(x.st, &x.ctx, op, at).(dotFun[Dot])
	case *MVRegister:
		x.st = refStore(x.st, &x.ctx, op, at).(dotFun[mvDot])
	case *ORMap:
		x.st = refStore(x.st, &x.ctx, op, at).(*mapStore)
	}
	return s
}

func refInc(p []repCount, r ReplicaID, amt uint64) []repCount {
	for i := range p {
		if p[i].Replica == r {
			p[i].N += amt
			return p
		}
	}
	p = append(p, repCount{Replica: r, N: amt})
	slices.SortFunc(p, func(a, b repCount) int { return compareStrings(string(a.Replica), string(b.Replica)) })
	return p
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func refDot(ctx *CausalContext, r ReplicaID) Dot {
	d := Dot{Replica: r, Counter: ctx.Max(r) + 1}
	ctx.Add(d)
	return d
}

// refStore mutates st in place under ctx.
func refStore(st store, ctx *CausalContext, op *Op, at Stamp) store {
	switch x := st.(type) {
	case dotFun[Dot]:
		if op.Kind == OpEnable {
			return dotFun[Dot]{refDot(ctx, at.Replica)}
		}
		return dotFun[Dot](nil)
	case dotFun[mvDot]:
		return dotFun[mvDot]{{Dot: refDot(ctx, at.Replica), Value: op.Value}}
	case dotFun[regDot]:
		return dotFun[regDot]{{Dot: refDot(ctx, at.Replica), TS: at.TS, Value: op.Value}}
	case dotFun[cntDot]:
		var cur uint64
		out := dotFun[cntDot]{}
		for _, e := range x {
			if e.Replica == at.Replica {
				cur = e.N
			} else {
				out = append(out, e)
			}
		}
		out = append(out, cntDot{Dot: refDot(ctx, at.Replica), N: cur + op.Amount})
		slices.SortFunc(out, func(a, b cntDot) int { return a.Dot.Compare(b.Dot) })
		return out
	case dotFun[pnDot]:
		var cur pnDot
		out := dotFun[pnDot]{}
		for _, e := range x {
			if e.Replica == at.Replica {
				cur = e
			} else {
				out = append(out, e)
			}
		}
		if op.Kind == OpIncrement {
			cur.P += op.Amount
		} else {
			cur.N += op.Amount
		}
		cur.Dot = refDot(ctx, at.Replica)
		out = append(out, cur)
		slices.SortFunc(out, func(a, b pnDot) int { return a.Dot.Compare(b.Dot) })
		return out
	case *setStore:
		seen := map[string]bool{}
		for _, e := range op.Elements {
			if seen[e] {
				continue
			}
			seen[e] = true
			old, had := x.m.get(e)
			if op.Kind == OpAdd {
				x.put(e, old, had, []Dot{refDot(ctx, at.Replica)}, false)
			} else if had {
				x.put(e, old, true, nil, false)
			}
		}
		return x
	case *mapStore:
		if op.Kind == OpMapRemove {
			for t := TypeRegister; t <= TypeORMap; t++ {
				k := fieldKey{Name: op.Field, Type: t}
				if f, ok := x.m.get(k); ok {
					x.bytes -= fieldBytes(k, f)
					x.m.del(k)
				}
			}
			return x
		}
		nt, _ := op.Nested.normalize(1)
		k := fieldKey{Name: op.Field, Type: nt}
		f, ok := x.m.get(k)
		if ok {
			x.bytes -= fieldBytes(k, f)
		} else {
			f = newStore(nt)
		}
		x.put(k, refStore(f, ctx, op.Nested, at), false)
		return x
	}
	panic("refStore: unknown store")
}

// checkInvariants verifies the representation invariants of a value: a
// canonical context, store dots inside it, incrementally kept sizes equal to
// recomputed ones, and no empty keys in full states.
func checkInvariants(t interface {
	Helper()
	Fatalf(string, ...any)
}, s State) {
	t.Helper()
	checkCtx := func(c *CausalContext) {
		for i, e := range c.vv {
			if e.Max == 0 || (i > 0 && c.vv[i-1].Replica >= e.Replica) {
				t.Fatalf("version vector not canonical: %v", c)
			}
		}
		for i, d := range c.cloud {
			if d.Counter <= c.vvMax(d.Replica)+1 || (i > 0 && c.cloud[i-1].Compare(d) >= 0) {
				t.Fatalf("dot cloud not canonical: %v", c)
			}
		}
	}
	var walk func(st store, ctx *CausalContext, partial bool)
	walk = func(st store, ctx *CausalContext, partial bool) {
		st.eachDot(func(d Dot) {
			if !ctx.Contains(d) {
				t.Fatalf("store dot %v outside context %v", d, ctx)
			}
		})
		switch x := st.(type) {
		case *setStore:
			n := 0
			for k, ds := range x.m.all() {
				n += elemBytes(k, ds)
				if len(ds) == 0 && !partial {
					t.Fatalf("empty element %q in a full set", k)
				}
				if !slices.IsSortedFunc(ds, Dot.Compare) {
					t.Fatalf("dots of %q not sorted", k)
				}
			}
			if n != x.bytes {
				t.Fatalf("set bytes %d, recomputed %d", x.bytes, n)
			}
		case *mapStore:
			n := 0
			for k, f := range x.m.all() {
				walk(f, ctx, partial)
				n += fieldBytes(k, f)
				if f.empty() && !partial {
					t.Fatalf("empty field %v in a full map", k)
				}
			}
			if n != x.bytes {
				t.Fatalf("map bytes %d, recomputed %d", x.bytes, n)
			}
		}
	}
	switch x := s.(type) {
	case *ORSet:
		checkCtx(&x.ctx)
		walk(x.st, &x.ctx, x.partial)
	case *ORMap:
		checkCtx(&x.ctx)
		walk(x.st, &x.ctx, x.partial)
	case *Flag:
		checkCtx(&x.ctx)
		walk(x.st, &x.ctx, false)
	case *MVRegister:
		checkCtx(&x.ctx)
		walk(x.st, &x.ctx, false)
	}
}
