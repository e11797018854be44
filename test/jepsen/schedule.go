package jepsen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// faultStep is one planned fault: injected At, healed at Heal (offsets from the start of the
// run). The random choices are made when planning so that a seed reproduces the schedule; only
// the leader (for FaultPartitionLeader) is looked up when the step runs.
type faultStep struct {
	Kind FaultKind
	At   time.Duration
	Heal time.Duration
	Perm []int         // a random permutation of the nodes: partition shapes, process targets (Perm[0])
	Loss []link        // FaultLoss: the lossy links
	Skew time.Duration // FaultClock: the clock offset
}

// String renders the step for logs.
func (s faultStep) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s heal %s", s.Kind, s.At, s.Heal)
	switch {
	case s.Kind == FaultLoss:
		fmt.Fprintf(&b, " links %v", s.Loss)
	case s.Kind == FaultClock:
		fmt.Fprintf(&b, " %s skew %s", nodeName(s.Perm[0]), s.Skew)
	case !s.Kind.isNetwork():
		fmt.Fprintf(&b, " %s", nodeName(s.Perm[0]))
	}
	return b.String()
}

// schedulePlan holds the parameters of a schedule.
type schedulePlan struct {
	Nodes     int
	Duration  time.Duration
	Min, Max  time.Duration
	ClockSkew time.Duration
}

// planFamilies splits kinds into a network family and a process family and plans each on its own
// random stream, so that network and process faults overlap and compose (as Jepsen's combined
// nemesis does); within a family one fault is active at a time.
func planFamilies(seed int64, kinds []FaultKind, p schedulePlan) [][]faultStep {
	var network, process []FaultKind
	for _, k := range kinds {
		if k.isNetwork() {
			network = append(network, k)
		} else {
			process = append(process, k)
		}
	}
	var out [][]faultStep
	for i, fam := range [][]FaultKind{network, process} {
		if len(fam) == 0 {
			continue
		}
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(i+1)*0x9e3779b97f4a7c15))
		out = append(out, planSchedule(rng, fam, p))
	}
	return out
}

// planSchedule lays out faults one after another: a quiet period, a fault, a quiet period, ...
// each lasting a random time in [Min, Max]; the last fault is healed by Duration at the latest.
func planSchedule(rng *rand.Rand, kinds []FaultKind, p schedulePlan) []faultStep {
	if len(kinds) == 0 {
		return nil
	}
	between := func() time.Duration {
		return p.Min + time.Duration(rng.Int64N(int64(p.Max-p.Min)+1))
	}
	var steps []faultStep
	t := between()
	for t+p.Min/2 < p.Duration {
		s := faultStep{Kind: kinds[rng.IntN(len(kinds))], At: t, Perm: rng.Perm(p.Nodes)}
		s.Heal = min(t+between(), p.Duration)
		switch s.Kind {
		case FaultLoss:
			s.Loss = chooseLinks(rng, p.Nodes)
		case FaultClock:
			lo := p.ClockSkew / 4
			s.Skew = (lo + time.Duration(rng.Int64N(int64(p.ClockSkew-lo)+1))).Round(time.Millisecond)
			if rng.IntN(2) == 0 {
				s.Skew = -s.Skew
			}
		}
		steps = append(steps, s)
		t = s.Heal + between()
	}
	return steps
}

// chooseLinks picks each link with probability 1/2, and at least one.
func chooseLinks(rng *rand.Rand, n int) []link {
	links := allLinks(n)
	var out []link
	for _, l := range links {
		if rng.IntN(2) == 0 {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		out = append(out, links[rng.IntN(len(links))])
	}
	return out
}
