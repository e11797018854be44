package jepsen

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPartitionGrudges(t *testing.T) {
	for _, tc := range []struct {
		kind   FaultKind
		perm   []int
		leader int
		want   grudge
	}{
		// 3 nodes
		{FaultPartitionOne, []int{1, 0, 2}, -1, grudge{{1}, {0, 2}, {1}}},
		{FaultPartitionLeader, []int{1, 0, 2}, 2, grudge{{2}, {2}, {0, 1}}},
		{FaultPartitionLeader, []int{1, 0, 2}, -1, grudge{{1}, {0, 2}, {1}}}, // unknown leader: perm[0]
		{FaultPartitionHalves, []int{2, 0, 1}, -1, grudge{{2}, {2}, {0, 1}}},
		{FaultPartitionBridge, []int{0, 1, 2}, -1, grudge{{2}, nil, {0}}},
		{FaultPartitionBridge, []int{2, 0, 1}, -1, grudge{nil, {2}, {1}}},
		// 5 nodes
		{FaultPartitionOne, []int{3, 0, 1, 2, 4}, -1, grudge{{3}, {3}, {3}, {0, 1, 2, 4}, {3}}},
		{FaultPartitionHalves, []int{4, 1, 0, 2, 3}, -1,
			grudge{{1, 4}, {0, 2, 3}, {1, 4}, {1, 4}, {0, 2, 3}}},
		{FaultPartitionBridge, []int{0, 1, 2, 3, 4}, -1, grudge{{3, 4}, {3, 4}, nil, {0, 1}, {0, 1}}},
		{FaultPartitionRing, []int{0, 1, 2, 3, 4}, -1, grudge{{2, 3}, {3, 4}, {0, 4}, {0, 1}, {1, 2}}},
		{FaultPartitionRing, []int{0, 2, 4, 1, 3}, -1, grudge{{1, 4}, {0, 2}, {1, 3}, {2, 4}, {0, 3}}},
	} {
		t.Run(fmt.Sprintf("%s-%v", tc.kind, tc.perm), func(t *testing.T) {
			g, err := partitionGrudge(tc.kind, tc.perm, tc.leader)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(g), normalize(tc.want)) {
				t.Fatalf("grudge %v, want %v", g, tc.want)
			}
		})
	}
}

func normalize(g grudge) grudge {
	out := make(grudge, len(g))
	for i, d := range g {
		out[i] = append([]int{}, d...)
		slices.Sort(out[i])
	}
	return out
}

// TestPartitionProperties checks, for every shape and every permutation of 3 and 5 nodes, that
// grudges are symmetric, and the defining property of each shape.
func TestPartitionProperties(t *testing.T) {
	for _, n := range []int{3, 5} {
		for _, perm := range permutations(n) {
			for _, kind := range allFaultKinds {
				if !kind.isPartition() || !kind.fits(n) {
					continue
				}
				g, err := partitionGrudge(kind, perm, perm[n-1])
				if err != nil {
					t.Fatal(err)
				}
				sees := func(a, b int) bool { return a == b || !slices.Contains(g[a], b) }
				for a := 0; a < n; a++ {
					for b := 0; b < n; b++ {
						if sees(a, b) != sees(b, a) {
							t.Fatalf("%s %v: asymmetric between %d and %d: %v", kind, perm, a, b, g)
						}
					}
				}
				visible := func(a int) int {
					c := 0
					for b := 0; b < n; b++ {
						if sees(a, b) {
							c++
						}
					}
					return c
				}
				switch kind {
				case FaultPartitionRing:
					seen := map[string]bool{}
					for a := 0; a < n; a++ {
						if visible(a) <= n/2 {
							t.Fatalf("ring %v: node %d sees only %d", perm, a, visible(a))
						}
						key := fmt.Sprint(g[a])
						if seen[key] {
							t.Fatalf("ring %v: two nodes see the same majority", perm)
						}
						seen[key] = true
					}
				case FaultPartitionBridge:
					bridge := perm[(n-1)/2]
					if visible(bridge) != n {
						t.Fatalf("bridge %v: bridge node %d does not see everyone", perm, bridge)
					}
					for a := 0; a < n; a++ {
						if a != bridge && visible(a) > n/2+1 {
							t.Fatalf("bridge %v: node %d sees %d", perm, a, visible(a))
						}
					}
				case FaultPartitionHalves:
					small := 0
					for a := 0; a < n; a++ {
						if visible(a) <= n/2 {
							small++
						}
					}
					if small != n/2 {
						t.Fatalf("halves %v: minority of %d nodes, want %d", perm, small, n/2)
					}
				case FaultPartitionOne, FaultPartitionLeader:
					alone := 0
					for a := 0; a < n; a++ {
						if visible(a) == 1 {
							alone++
						} else if visible(a) != n-1 {
							t.Fatalf("%s %v: node %d sees %d", kind, perm, a, visible(a))
						}
					}
					if alone != 1 {
						t.Fatalf("%s %v: %d isolated nodes", kind, perm, alone)
					}
				}
			}
		}
	}
}

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestPartitionRejectsMisfits(t *testing.T) {
	if _, err := partitionGrudge(FaultPartitionRing, []int{0, 1, 2}, -1); err == nil {
		t.Error("ring on 3 nodes accepted")
	}
	if _, err := partitionGrudge(FaultKill, []int{0, 1, 2}, -1); err == nil {
		t.Error("kill accepted as a partition")
	}
}

func addrs(n int) []netip.Addr {
	nw := newNetwork("ltj-", netip.MustParsePrefix("10.77.0.0/24"), n, nil)
	return nw.addrs
}

func TestNodeRules(t *testing.T) {
	a3, a5 := addrs(3), addrs(5)
	for _, tc := range []struct {
		name  string
		f     netFaults
		addrs []netip.Addr
		node  int
		want  []string
	}{
		{"isolated node drops both peers", netFaults{Partition: isolateGrudge(3, 0)}, a3, 0,
			[]string{"ip saddr { 10.77.0.12, 10.77.0.13 } drop"}},
		{"peer drops the isolated node", netFaults{Partition: isolateGrudge(3, 0)}, a3, 2,
			[]string{"ip saddr { 10.77.0.11 } drop"}},
		{"bridge node drops nothing", netFaults{Partition: bridgeGrudge([]int{0, 1, 2, 3, 4})}, a5, 2, nil},
		{"ring", netFaults{Partition: ringGrudge([]int{0, 1, 2, 3, 4})}, a5, 0,
			[]string{"ip saddr { 10.77.0.13, 10.77.0.14 } drop"}},
		{"loss on two links of node 2", netFaults{Loss: []link{{0, 1}, {1, 2}, {0, 2}}, LossPercent: 30}, a3, 1,
			[]string{"ip saddr 10.77.0.11 numgen random mod 100 < 30 drop", "ip saddr 10.77.0.13 numgen random mod 100 < 30 drop"}},
		{"partition and loss compose", netFaults{Partition: isolateGrudge(5, 4), Loss: []link{{0, 1}}, LossPercent: 10}, a5, 0,
			[]string{"ip saddr { 10.77.0.15 } drop", "ip saddr 10.77.0.12 numgen random mod 100 < 10 drop"}},
		{"total loss", netFaults{Loss: []link{{0, 2}}, LossPercent: 100}, a3, 2, []string{"ip saddr 10.77.0.11 drop"}},
		{"healed", netFaults{}, a3, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.nodeRules(tc.node, tc.addrs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("rules %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNftScript(t *testing.T) {
	heal := nftScript(nil)
	if heal != "table inet ltj\ndelete table inet ltj\n" {
		t.Fatalf("heal script %q", heal)
	}
	s := nftScript([]string{"ip saddr { 10.77.0.12 } drop"})
	want := "table inet ltj\ndelete table inet ltj\ntable inet ltj {\n\tchain input {\n" +
		"\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr { 10.77.0.12 } drop\n\t}\n}\n"
	if s != want {
		t.Fatalf("script:\n%s\nwant:\n%s", s, want)
	}
	if !strings.HasPrefix(s, heal) {
		t.Fatal("a rule set must start by removing the previous one")
	}
}

func TestGrudgeString(t *testing.T) {
	if s := isolateGrudge(3, 1).String(); s != "n1:-n2 n2:-n1,n3 n3:-n2" {
		t.Fatalf("%q", s)
	}
	if s := (grudge{nil, nil}).String(); s != "none" {
		t.Fatalf("%q", s)
	}
}
