package crdt

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

func joinPure(a, b State) State {
	s, _ := a.Clone().join(b)
	return s
}

func mustEqual(t *rapid.T, what string, a, b State) {
	t.Helper()
	if !a.equal(b) {
		t.Fatalf("%s: %s != %s", what, dump(a), dump(b))
	}
}

func dump(s State) string {
	if s == nil {
		return "<nil>"
	}
	switch x := s.(type) {
	case *ORSet:
		return fmt.Sprintf("orset%s ctx=%v partial=%v m=%v", x.appendJSON(nil), &x.ctx, x.partial, x.st.m)
	case *ORMap:
		return fmt.Sprintf("ormap%s ctx=%v partial=%v m=%v", x.appendJSON(nil), &x.ctx, x.partial, x.st.m)
	case *Flag:
		return fmt.Sprintf("flag%v ctx=%v", x.st, &x.ctx)
	case *MVRegister:
		return fmt.Sprintf("mv%v ctx=%v", x.st, &x.ctx)
	}
	return fmt.Sprintf("%v%s", s.Type(), s.appendJSON(nil))
}

func forEachType(t *testing.T, fn func(t *rapid.T, typ Type)) {
	for _, typ := range allTypes {
		t.Run(typ.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) { fn(t, typ) })
		})
	}
}

func TestJoinCommutative(t *testing.T) {
	forEachType(t, func(t *rapid.T, typ Type) {
		v := genValues(t, typ, 2)
		a, b := v[0], v[1]
		mustEqual(t, "a⊔b vs b⊔a", joinPure(a, b), joinPure(b, a))
	})
}

func TestJoinAssociative(t *testing.T) {
	forEachType(t, func(t *rapid.T, typ Type) {
		v := genValues(t, typ, 3)
		a, b, c := v[0], v[1], v[2]
		mustEqual(t, "(a⊔b)⊔c vs a⊔(b⊔c)", joinPure(joinPure(a, b), c), joinPure(a, joinPure(b, c)))
	})
}

func TestJoinIdempotent(t *testing.T) {
	forEachType(t, func(t *rapid.T, typ Type) {
		a := genValues(t, typ, 1)[0]
		s, changed := a.Clone().join(a)
		if changed {
			t.Fatalf("a⊔a reported a change")
		}
		mustEqual(t, "a⊔a vs a", s, a)
	})
}

// TestJoinChangedExact: join reports a change exactly when the result differs.
func TestJoinChangedExact(t *testing.T) {
	forEachType(t, func(t *rapid.T, typ Type) {
		v := genValues(t, typ, 2)
		a, b := v[0], v[1]
		s, changed := a.Clone().join(b)
		checkInvariants(t, s)
		if changed == s.equal(a) {
			t.Fatalf("changed=%v but result equal to receiver=%v", changed, s.equal(a))
		}
	})
}

// TestDeltaMutation: X ⊔ mδ(X) == m(X), and mδ(X) ⊑ m(X).
func TestDeltaMutation(t *testing.T) {
	forEachType(t, func(t *rapid.T, typ Type) {
		p := genPool(t, typ)
		x := rapid.SampledFrom(p.states).Draw(t, "x")
		op := genOp(t, typ, 0)
		at := Stamp{TS: MakeTimestamp(100, 0), Replica: genReplica.Draw(t, "at")}
		before := x.Clone()
		d, err := x.delta(op, at)
		if err != nil {
			t.Skip("op refused:", err)
		}
		mustEqual(t, "delta-mutator changed its receiver", x, before)
		checkInvariants(t, d)
		got := joinPure(x, d)
		checkInvariants(t, got)
		want := refApply(x, &op, at)
		mustEqual(t, "X⊔mδ(X) vs m(X)", got, want)
		mustEqual(t, "mδ(X) ⊑ m(X)", joinPure(want, d), want)
	})
}

// TestPartialJoinExact: joining a partial delta (visiting only the keys it
// lists) gives the same result as the full join that visits every key.
func TestPartialJoinExact(t *testing.T) {
	for _, typ := range []Type{TypeORSet, TypeORMap} {
		t.Run(typ.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				p := genPool(t, typ)
				if len(p.deltas) == 0 {
					t.Skip("no delta")
				}
				x := rapid.SampledFrom(p.states).Draw(t, "x")
				d := rapid.SampledFrom(p.deltas).Draw(t, "d")
				full := d.Clone()
				full.settle()
				mustEqual(t, "partial vs full join", joinPure(x, d), joinPure(x, full))
			})
		})
	}
}

func TestEntryLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := genEntries(t, 3)
		a, b, c := v[0], v[1], v[2]
		eq := func(what string, x, y Entry) {
			if !Equal(x, y) {
				t.Fatalf("%s: %+v != %+v", what, x, y)
			}
		}
		ab, _ := JoinEntries(a, b)
		ba, _ := JoinEntries(b, a)
		eq("commutative", ab, ba)
		abc, _ := JoinEntries(ab, c)
		bc, _ := JoinEntries(b, c)
		abc2, _ := JoinEntries(a, bc)
		eq("associative", abc, abc2)
		aa, changed := JoinEntries(a, a)
		eq("idempotent", aa, a)
		if changed {
			t.Fatalf("a⊔a reported a change")
		}
		_, changed = JoinEntries(a, b)
		if changed == Equal(ab, a) {
			t.Fatalf("changed=%v but a⊔b equal to a=%v", changed, Equal(ab, a))
		}
		if !Leq(a, ab) || !Leq(b, ab) {
			t.Fatalf("an operand is not below the join")
		}
		if Leq(a, b) != Equal(ab, b) {
			t.Fatalf("Leq(a,b)=%v but a⊔b==b is %v", Leq(a, b), Equal(ab, b))
		}
	})
}

// TestEntryDeltaBelowState: the delta Apply returns is below the new entry.
func TestEntryDeltaBelowState(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cur := genEntries(t, 1)[0]
		typ := rapid.SampledFrom(allTypes).Draw(t, "type")
		op := genOp(t, typ, 0)
		at := Stamp{TS: MakeTimestamp(1000, 0), Replica: genReplica.Draw(t, "at")}
		d, err := applyOp(cur, op, at, 1000)
		if err != nil {
			t.Skip(err)
		}
		next, _ := JoinEntries(cur, d)
		if !Leq(d, next) {
			t.Fatalf("delta not below the new entry")
		}
	})
}
