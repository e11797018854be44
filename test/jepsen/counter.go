package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// counterWorkload increments PN-counters eventually and strongly from every node and reads them
// strongly. It is safe for concurrent use (its fields never change after construction).
type counterWorkload struct {
	keyNames []string
	bound    time.Duration // PropagationBound
	converge time.Duration
}

func newCounterWorkload(keys int, bound, converge time.Duration) *counterWorkload {
	c := &counterWorkload{bound: bound, converge: converge}
	for i := 0; i < keys; i++ {
		c.keyNames = append(c.keyNames, fmt.Sprintf("ctr-%d", i))
	}
	return c
}

func (c *counterWorkload) name() string                      { return WorkloadCounter }
func (c *counterWorkload) setup(context.Context, *env) error { return nil }

func (c *counterWorkload) keys() []keyRef {
	out := make([]keyRef, len(c.keyNames))
	for i, k := range c.keyNames {
		out[i] = keyRef{CRDT: true, Key: k}
	}
	return out
}

func (c *counterWorkload) step(ctx context.Context, w *worker) {
	key := c.keyNames[w.rng.IntN(len(c.keyNames))]
	x := w.rng.IntN(100)
	if x >= 75 {
		op := Op{Workload: WorkloadCounter, F: "read", Key: key, Consistency: "strong", Invoke: w.now()}
		v, err := w.api.crdtGet(ctx, key, true)
		if err == nil {
			op.Found = v.Found
			op.Count, err = counterValue(v)
		}
		w.result(&op, err)
		w.record(op, false)
		return
	}
	strong := x >= 55
	op := Op{Workload: WorkloadCounter, F: "incr", Key: key, Consistency: consistencyName(strong),
		Amount: 1 + w.rng.Int64N(5), Invoke: w.now()}
	_, err := w.api.crdtApply(ctx, key, strong, crdtRequest{Type: "pncounter", Op: "increment", Amount: op.Amount})
	w.result(&op, err)
	w.record(op, op.Type == Info)
}

// counterValue decodes a counter view; absent is 0.
func counterValue(v crdtView) (int64, error) {
	if !v.Found {
		return 0, nil
	}
	var n int64
	if err := json.Unmarshal(v.Value, &n); err != nil {
		return 0, fmt.Errorf("jepsen: counter value %s: %w", v.Value, err)
	}
	return n, nil
}

func (c *counterWorkload) final(ctx context.Context, e *env) error {
	awaitAgreement(ctx, e, c.keys(), c.converge, nil)
	recordFinalReads(ctx, e, WorkloadCounter, c.keys(), func(op *Op, v crdtView) error {
		n, err := counterValue(v)
		op.Count = n
		return err
	})
	return nil
}

func (c *counterWorkload) check(h []Op) CheckResult { return checkCounter(h, int64(c.bound)) }

// checkCounter checks, per key: strong reads never go backwards in real time; a strong read sees
// at least every strong increment acknowledged before it began and at most every increment
// attempted before it ended; after the final heal every node's eventual read equals its strong
// read, and that value lies between the acknowledged and the attempted sums. Acknowledged eventual
// increments whose node was killed before they could propagate (see atRisk) may be missing.
func checkCounter(h []Op, bound int64) CheckResult {
	res := CheckResult{Name: WorkloadCounter}
	ops := filterOps(h, WorkloadCounter)
	windows := faultWindows(h)
	byKey := map[string][]Op{}
	for _, op := range ops {
		byKey[op.Key] = append(byKey[op.Key], op)
	}
	verdicts := []Validity{}
	var acked, attempted, final, lostAtRisk, reads int64
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		kops := byKey[key]
		var incrs, strongReads []Op
		finals := map[string]map[string]Op{} // node -> consistency -> op
		for _, op := range kops {
			switch {
			case op.F == "incr":
				incrs = append(incrs, op)
			case op.F == "read" && op.Type == OK:
				strongReads = append(strongReads, op)
			case op.F == "final-read":
				if finals[op.Node] == nil {
					finals[op.Node] = map[string]Op{}
				}
				finals[op.Node][op.Consistency] = op
				if op.Consistency == "strong" && op.Type == OK {
					strongReads = append(strongReads, op)
				}
			}
		}
		reads += int64(len(strongReads))
		checkCounterReads(&res, key, incrs, strongReads)

		var kAcked, kAttempted, kRisk int64
		for _, op := range incrs {
			if op.Type != Fail {
				kAttempted += op.Amount
			}
			if op.Type == OK {
				kAcked += op.Amount
				if op.Consistency == "eventual" && atRisk(op, windows, bound) {
					kRisk += op.Amount
				}
			}
		}
		acked += kAcked
		attempted += kAttempted
		v, value := finalAgreement(&res, key, finals, func(op Op) string { return fmt.Sprint(op.Count) })
		verdicts = append(verdicts, v)
		if v != Valid {
			continue
		}
		n := finals[sortedNodes(finals)[0]]["strong"].Count
		final += n
		switch {
		case n > kAttempted:
			res.addAnomaly(Anomaly{Kind: "phantom-increments", Key: key,
				Message: fmt.Sprintf("final value %s exceeds the attempted sum %d", value, kAttempted)})
		case n < kAcked-kRisk:
			res.addAnomaly(Anomaly{Kind: "lost-increments", Key: key,
				Message: fmt.Sprintf("final value %d is below the acknowledged sum %d (%d of it at risk from kills)", n, kAcked, kRisk)})
		case n < kAcked:
			lostAtRisk += kAcked - n
		}
	}
	res.figure("acknowledged", float64(acked))
	res.figure("attempted", float64(attempted))
	res.figure("final", float64(final))
	res.figure("lostAtRisk", float64(lostAtRisk))
	res.figure("strongReads", float64(reads))
	res.Valid = Merge(verdicts...)
	if len(res.Anomalies) > 0 {
		res.Valid = Invalid
	}
	switch {
	case len(byKey) == 0:
		res.Valid, res.Summary = Unknown, "no counter operations"
	case res.Valid == Valid:
		res.Summary = fmt.Sprintf("final %d within [%d acknowledged - %d lost at risk, %d attempted]; %d strong reads monotonic",
			final, acked, lostAtRisk, attempted, reads)
	case res.Valid == Invalid:
		res.Summary = res.anomalySummary()
	default:
		res.Summary = "final reads incomplete"
	}
	return res
}

// checkCounterReads checks the strong reads of one key against each other and the increments.
func checkCounterReads(res *CheckResult, key string, incrs, reads []Op) {
	byInvoke := slices.Clone(reads)
	sort.Slice(byInvoke, func(i, j int) bool { return byInvoke[i].Invoke < byInvoke[j].Invoke })
	byComplete := slices.Clone(reads)
	sort.Slice(byComplete, func(i, j int) bool { return byComplete[i].Complete < byComplete[j].Complete })
	var strongAcked []Op // acknowledged strong increments by completion
	var tried []Op       // possibly applied increments by invocation
	for _, op := range incrs {
		if op.Type == OK && op.Consistency == "strong" {
			strongAcked = append(strongAcked, op)
		}
		if op.Type != Fail {
			tried = append(tried, op)
		}
	}
	sort.Slice(strongAcked, func(i, j int) bool { return strongAcked[i].Complete < strongAcked[j].Complete })
	sort.Slice(tried, func(i, j int) bool { return tried[i].Invoke < tried[j].Invoke })

	// Monotonic and lower bound: sweep reads by invocation.
	var maxBefore, lower int64
	var maxOp = -1
	j, k := 0, 0
	for _, r := range byInvoke {
		for ; j < len(byComplete) && byComplete[j].Complete < r.Invoke; j++ {
			if byComplete[j].Count > maxBefore || maxOp < 0 {
				maxBefore, maxOp = byComplete[j].Count, byComplete[j].Index
			}
		}
		for ; k < len(strongAcked) && strongAcked[k].Complete < r.Invoke; k++ {
			lower += strongAcked[k].Amount
		}
		if maxOp >= 0 && r.Count < maxBefore {
			res.addAnomaly(Anomaly{Kind: "nonmonotonic-read", Key: key, Ops: []int{maxOp, r.Index},
				Message: fmt.Sprintf("strong read %d after an earlier strong read of %d", r.Count, maxBefore)})
		}
		if r.Count < lower {
			res.addAnomaly(Anomaly{Kind: "stale-read", Key: key, Ops: []int{r.Index},
				Message: fmt.Sprintf("strong read %d misses strong increments summing to %d acknowledged before it began", r.Count, lower)})
		}
	}
	// Upper bound: sweep reads by completion.
	var upper int64
	k = 0
	for _, r := range byComplete {
		for ; k < len(tried) && tried[k].Invoke < r.Complete; k++ {
			upper += tried[k].Amount
		}
		if r.Count > upper {
			res.addAnomaly(Anomaly{Kind: "phantom-read", Key: key, Ops: []int{r.Index},
				Message: fmt.Sprintf("strong read %d exceeds the %d attempted before it ended", r.Count, upper)})
		}
	}
}

// finalAgreement checks that every node has an eventual and a strong final read of key and that
// they all render the same; it returns Unknown when a read is missing, Invalid (with an anomaly)
// when they differ, and the common rendering. Every anomaly a checker adds is a violation.
func finalAgreement(res *CheckResult, key string, finals map[string]map[string]Op, render func(Op) string) (Validity, string) {
	if len(finals) == 0 {
		return Unknown, ""
	}
	values := map[string][]string{}
	for _, node := range sortedNodes(finals) {
		for _, c := range []string{"eventual", "strong"} {
			op, ok := finals[node][c]
			if !ok || op.Type != OK {
				return Unknown, ""
			}
			v := render(op)
			values[v] = append(values[v], node+"/"+c)
		}
	}
	if len(values) == 1 {
		for v := range values {
			return Valid, v
		}
	}
	msg := ""
	for _, v := range slices.Sorted(maps.Keys(values)) {
		msg += fmt.Sprintf("%v=%s ", values[v], v)
	}
	res.addAnomaly(Anomaly{Kind: "divergent", Key: key, Message: "final reads differ: " + msg})
	return Invalid, ""
}

func sortedNodes(m map[string]map[string]Op) []string { return slices.Sorted(maps.Keys(m)) }

// atRisk reports whether an acknowledged eventual write may be lost by design: its node was
// killed before the write can be assumed propagated, that is within bound after its completion,
// or after the end of a fault that was in force when it completed (gossip and fold-in cannot
// leave an isolated or lossy node).
func atRisk(op Op, ws []faultWindow, bound int64) bool {
	horizon := op.Complete + bound
	for _, w := range ws {
		if w.Start <= op.Complete && op.Complete <= w.End && w.End+bound > horizon {
			horizon = w.End + bound
		}
	}
	for _, w := range ws {
		if w.Kind == FaultKill && slices.Contains(w.Nodes, op.Node) && w.Start >= op.Invoke && w.Start <= horizon {
			return true
		}
	}
	return false
}
