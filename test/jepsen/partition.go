package jepsen

import (
	"fmt"
	"slices"
	"strings"
)

// FaultKind names one kind of fault the nemesis can inject.
type FaultKind string

// The fault kinds. Partitions and loss are network faults; the rest act on processes.
const (
	FaultPartitionOne    FaultKind = "partition-one"    // isolate one node
	FaultPartitionLeader FaultKind = "partition-leader" // isolate the current Raft leader
	FaultPartitionHalves FaultKind = "partition-halves" // a minority and a majority
	FaultPartitionBridge FaultKind = "partition-bridge" // two sides plus one node that sees both
	FaultPartitionRing   FaultKind = "partition-ring"   // every node sees a different majority (>= 4 nodes)
	FaultLoss            FaultKind = "loss"             // random packet loss on chosen links
	FaultKill            FaultKind = "kill"             // SIGKILL, restart at heal
	FaultPause           FaultKind = "pause"            // SIGSTOP, SIGCONT at heal
	FaultRestart         FaultKind = "restart"          // SIGTERM and start again at once
	FaultClock           FaultKind = "clock"            // restart with --test-clock-offset, restart without at heal
)

var allFaultKinds = []FaultKind{FaultPartitionOne, FaultPartitionLeader, FaultPartitionHalves,
	FaultPartitionBridge, FaultPartitionRing, FaultLoss, FaultKill, FaultPause, FaultRestart, FaultClock}

func (k FaultKind) isPartition() bool { return strings.HasPrefix(string(k), "partition-") }

// isNetwork reports whether k is applied with nftables (and so composes with process faults).
func (k FaultKind) isNetwork() bool { return k.isPartition() || k == FaultLoss }

// fits reports whether k makes sense on a cluster of n nodes.
func (k FaultKind) fits(n int) bool {
	switch k {
	case FaultPartitionRing:
		return n >= 4
	case FaultPartitionBridge:
		return n >= 3
	case FaultPartitionOne, FaultPartitionLeader, FaultPartitionHalves, FaultLoss:
		return n >= 2
	}
	return true
}

// grudge says, for each node (by index), which nodes' packets it drops. Grudges built here are
// symmetric: if a drops b, b drops a.
type grudge [][]int

// String renders the components as seen by each node, e.g. "n1:-n2,n3 n2:-n1 n3:-n1".
func (g grudge) String() string {
	var parts []string
	for i, drops := range g {
		if len(drops) == 0 {
			continue
		}
		names := make([]string, len(drops))
		for j, d := range drops {
			names[j] = nodeName(d)
		}
		parts = append(parts, nodeName(i)+":-"+strings.Join(names, ","))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// nodeName is the id of the node with index i ("n1" for 0).
func nodeName(i int) string { return fmt.Sprintf("n%d", i+1) }

// componentsGrudge makes every node drop every node outside its component.
func componentsGrudge(n int, components ...[]int) grudge {
	comp := make([]int, n)
	for i := range comp {
		comp[i] = -1
	}
	for c, members := range components {
		for _, m := range members {
			comp[m] = c
		}
	}
	g := make(grudge, n)
	for a := 0; a < n; a++ {
		for b := 0; b < n; b++ {
			if a != b && comp[a] != comp[b] {
				g[a] = append(g[a], b)
			}
		}
	}
	return g
}

// isolateGrudge cuts node x from every other node.
func isolateGrudge(n, x int) grudge {
	rest := make([]int, 0, n-1)
	for i := 0; i < n; i++ {
		if i != x {
			rest = append(rest, i)
		}
	}
	return componentsGrudge(n, []int{x}, rest)
}

// halvesGrudge splits the permutation into a minority (the first n/2) and a majority.
func halvesGrudge(perm []int) grudge {
	n := len(perm)
	return componentsGrudge(n, perm[:n/2], perm[n/2:])
}

// bridgeGrudge splits the permutation into two sides around one node (perm[(n-1)/2]) that sees both.
func bridgeGrudge(perm []int) grudge {
	n := len(perm)
	mid := (n - 1) / 2
	left, right := perm[:mid], perm[mid+1:]
	g := make(grudge, n)
	for _, a := range left {
		g[a] = slices.Sorted(slices.Values(right))
	}
	for _, b := range right {
		g[b] = slices.Sorted(slices.Values(left))
	}
	return g
}

// ringGrudge arranges the nodes in a ring (in permutation order); each node sees only itself and
// its two neighbours, which is a majority for 4 and 5 nodes, and a different one for every node.
func ringGrudge(perm []int) grudge {
	n := len(perm)
	g := make(grudge, n)
	for i, a := range perm {
		prev, next := perm[(i+n-1)%n], perm[(i+1)%n]
		for _, b := range perm {
			if b != a && b != prev && b != next {
				g[a] = append(g[a], b)
			}
		}
		slices.Sort(g[a])
	}
	return g
}

// partitionGrudge computes the grudge of a partition kind. perm is a random permutation of the
// nodes; leader is the index of the current leader (used by FaultPartitionLeader, -1 if unknown:
// then perm[0] is isolated).
func partitionGrudge(kind FaultKind, perm []int, leader int) (grudge, error) {
	n := len(perm)
	if !kind.isPartition() || !kind.fits(n) {
		return nil, fmt.Errorf("jepsen: %s is not a partition for %d nodes", kind, n)
	}
	switch kind {
	case FaultPartitionOne:
		return isolateGrudge(n, perm[0]), nil
	case FaultPartitionLeader:
		if leader < 0 || leader >= n {
			leader = perm[0]
		}
		return isolateGrudge(n, leader), nil
	case FaultPartitionHalves:
		return halvesGrudge(perm), nil
	case FaultPartitionBridge:
		return bridgeGrudge(perm), nil
	default:
		return ringGrudge(perm), nil
	}
}

// link is an undirected pair of node indexes (A < B).
type link struct{ A, B int }

// String renders "n1-n2".
func (l link) String() string { return nodeName(l.A) + "-" + nodeName(l.B) }

// allLinks lists every link of an n-node cluster.
func allLinks(n int) []link {
	var out []link
	for a := 0; a < n; a++ {
		for b := a + 1; b < n; b++ {
			out = append(out, link{a, b})
		}
	}
	return out
}
