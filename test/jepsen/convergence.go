package jepsen

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// convergenceWorkload writes eventually to a few keys of its own from every node and, after the
// final heal, compares every node's eventual read of every key of every workload with its strong
// read until they all agree or ConvergeTimeout passes. Its fields never change after
// construction (others is called once, after the other workloads' clients stopped).
type convergenceWorkload struct {
	keyNames []string
	others   func() []keyRef
	timeout  time.Duration
}

const convergenceKeys = 4

func newConvergenceWorkload(others func() []keyRef, timeout time.Duration) *convergenceWorkload {
	c := &convergenceWorkload{others: others, timeout: timeout}
	for i := 0; i < convergenceKeys; i++ {
		c.keyNames = append(c.keyNames, fmt.Sprintf("conv-%d", i))
	}
	return c
}

func (c *convergenceWorkload) name() string                      { return WorkloadConvergence }
func (c *convergenceWorkload) setup(context.Context, *env) error { return nil }

func (c *convergenceWorkload) keys() []keyRef {
	out := make([]keyRef, len(c.keyNames))
	for i, k := range c.keyNames {
		out[i] = keyRef{Key: k}
	}
	return out
}

func (c *convergenceWorkload) step(ctx context.Context, w *worker) {
	key := c.keyNames[w.rng.IntN(len(c.keyNames))]
	val := w.uniqueValue()
	op := Op{Workload: WorkloadConvergence, F: "ewrite", Key: key, Value: val, Consistency: "eventual", Invoke: w.now()}
	err := w.api.saveState(ctx, stateItem{Key: key, Value: val, Options: &stateOptions{Consistency: "eventual"}})
	w.result(&op, err)
	w.record(op, op.Type != Fail)
}

// final records one "round" op per comparison of all keys on all nodes: ok when everything
// agreed, fail when some pair differed, info when some read failed. Count is the number of pairs
// compared, Elements the first differences.
func (c *convergenceWorkload) final(ctx context.Context, e *env) error {
	keys := append(c.keys(), c.others()...)
	awaitAgreement(ctx, e, keys, c.timeout, func(r roundResult, start, end int64) {
		op := Op{Process: -1, Workload: WorkloadConvergence, F: "round", Count: int64(r.Pairs),
			Invoke: start, Complete: end, Type: OK}
		switch {
		case len(r.Mismatches) > 0:
			op.Type = Fail
			op.Elements = firstN(r.Mismatches, 10)
			op.Value = fmt.Sprintf("%d of %d pairs differ", len(r.Mismatches), r.Pairs)
		case len(r.Errors) > 0:
			op.Type = Info
			op.Elements = firstN(r.Errors, 10)
			op.Value = fmt.Sprintf("%d reads failed", len(r.Errors))
		}
		e.rec.Add(op)
	})
	return nil
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (c *convergenceWorkload) check(h []Op) CheckResult { return checkConvergence(h, c.timeout) }

// checkConvergence finds the first round in which every node's eventual read of every key equalled
// its strong read, and reports the time from the final heal to the end of that round. Rounds stop
// at the bound (the workload enforces it); without a clean round the verdict is false if the last
// round saw differences, unknown if reads failed.
func checkConvergence(h []Op, bound time.Duration) CheckResult {
	res := CheckResult{Name: WorkloadConvergence}
	var heal int64 = -1
	var last *Op
	rounds := 0
	for _, op := range h {
		if op.Workload == workloadHarness && op.F == "final-heal" {
			heal = op.Complete
		}
	}
	for _, op := range filterOps(h, WorkloadConvergence) {
		if op.F != "round" {
			continue
		}
		rounds++
		if op.Type == OK && op.Count > 0 {
			at := time.Duration(op.Complete - max(heal, 0))
			res.figure("convergeSeconds", at.Seconds())
			res.figure("pairs", float64(op.Count))
			res.figure("rounds", float64(rounds))
			res.Valid = Valid
			res.Summary = fmt.Sprintf("%d key/node pairs converged %.2fs after the final heal (%d rounds)", op.Count, at.Seconds(), rounds)
			return res
		}
		last = &op
	}
	res.figure("rounds", float64(rounds))
	switch {
	case last == nil:
		res.Valid, res.Summary = Unknown, "no convergence rounds recorded"
	case last.Type == Fail:
		res.Valid = Invalid
		res.Summary = fmt.Sprintf("not converged within %s: %s", bound, last.Value)
		for _, m := range last.Elements {
			res.addAnomaly(Anomaly{Kind: "divergent", Message: m, Ops: []int{last.Index}})
		}
	default:
		res.Valid = Unknown
		res.Summary = fmt.Sprintf("could not compare within %s: %s (%s)", bound, last.Value, strings.Join(last.Elements, "; "))
	}
	return res
}
