package crdt

import (
	"testing"

	"pgregory.net/rapid"
)

var genDot = rapid.Custom(func(t *rapid.T) Dot {
	return Dot{Replica: genReplica.Draw(t, "r"), Counter: rapid.Uint64Range(1, 12).Draw(t, "n")}
})

func ctxFrom(dots []Dot) (*CausalContext, map[Dot]bool) {
	c := &CausalContext{}
	m := map[Dot]bool{}
	for _, d := range dots {
		if c.Add(d) == m[d] {
			panic("Add reported the wrong novelty")
		}
		m[d] = true
	}
	return c, m
}

// TestCausalContextModel checks the context against a plain set of dots.
func TestCausalContextModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, ma := ctxFrom(rapid.SliceOf(genDot).Draw(t, "a"))
		b, mb := ctxFrom(rapid.SliceOf(genDot).Draw(t, "b"))
		checkInvariants(t, &Flag{causal[dotFun[Dot]]{ctx: *a}})
		for r := range 3 {
			rep := ReplicaID(rune('a' + r))
			var want uint64
			for n := uint64(1); n <= 13; n++ {
				d := Dot{Replica: rep, Counter: n}
				if a.Contains(d) != ma[d] {
					t.Fatalf("Contains(%v) = %v", d, a.Contains(d))
				}
				if ma[d] {
					want = n
				}
			}
			if a.Max(rep) != want || a.Next(rep).Counter != want+1 {
				t.Fatalf("Max(%s) = %d, want %d", rep, a.Max(rep), want)
			}
		}
		subset := true
		for d := range ma {
			subset = subset && mb[d]
		}
		if a.Leq(b) != subset {
			t.Fatalf("Leq = %v, subset = %v (%v vs %v)", a.Leq(b), subset, a, b)
		}
		u := a.Clone()
		changed := u.Merge(b)
		all := map[Dot]bool{}
		for d := range ma {
			all[d] = true
		}
		grew := false
		for d := range mb {
			grew = grew || !all[d]
			all[d] = true
		}
		if changed != grew {
			t.Fatalf("Merge changed = %v, want %v", changed, grew)
		}
		want, _ := ctxFrom(mapKeys(all))
		if !u.Equal(want) {
			t.Fatalf("merge %v != %v", &u, want)
		}
		if !a.Leq(&u) || !b.Leq(&u) || a.IsEmpty() != (len(ma) == 0) {
			t.Fatalf("operands not below the merge")
		}
	})
}

func mapKeys(m map[Dot]bool) []Dot {
	out := make([]Dot, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	return out
}

func TestCausalContextCompacts(t *testing.T) {
	var c CausalContext
	for _, n := range []uint64{3, 5, 2, 4} {
		c.Add(Dot{Replica: "r", Counter: n})
	}
	if c.CloudLen() != 4 {
		t.Fatalf("cloud %v", &c)
	}
	c.Add(Dot{Replica: "r", Counter: 1})
	if c.CloudLen() != 0 || c.Max("r") != 5 {
		t.Fatalf("not compacted when the gap filled: %v", &c)
	}
}
