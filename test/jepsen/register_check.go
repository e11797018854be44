package jepsen

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// reduceOpen shortens and prunes open-ended ops (indeterminate or eventual writes) before the
// search, without changing the verdict. Every written value is unique, so a value names its write.
//
//   - A write whose value a successful read (or a successful CAS expecting it) observed must have
//     taken effect before that op completed: its return becomes the earliest such completion.
//   - A write whose value no op refers to (no read saw it, no CAS expected it) can only matter by
//     making a later CAS or create conflict legal (its value differs from every expectation, and
//     it makes the key exist). Without a conflict that could follow it, placing it after
//     everything is always possible, so it is dropped.
//   - The remaining unreferenced unconditional writes (write, ewrite) become "unseen" writes:
//     they are interchangeable, so they are numbered by invocation and must be linearized in that
//     order. Given any valid linearization, giving its k-th unseen-write position to the k-th
//     earliest invoked unseen write keeps it valid (the k-th position admits every write invoked
//     before its threshold, and at least k of them are), so this symmetry breaking loses nothing
//     and turns the 2^n subsets of pending unseen writes into n+1 prefixes.
//   - Writes referred to only by CAS ops that did not observably succeed are kept as they are.
func reduceOpen(ops []porcupine.Operation) []porcupine.Operation {
	type kv struct{ key, value string }
	observed := map[kv]int64{} // value -> earliest completion of an op that saw it
	referenced := map[kv]bool{}
	lastConflict := map[string]int64{} // key -> latest return of a definite conflict
	see := func(k kv, t int64) {
		if old, ok := observed[k]; !ok || t < old {
			observed[k] = t
		}
	}
	for _, op := range ops {
		in, out := op.Input.(regInput), op.Output.(regOutput)
		switch {
		case in.F == "read" && out.Found:
			see(kv{in.Key, out.Value}, op.Return)
			referenced[kv{in.Key, out.Value}] = true
		case in.F == "cas":
			referenced[kv{in.Key, in.Expect}] = true
			if out.OK && !out.Unknown {
				see(kv{in.Key, in.Expect}, op.Return)
			}
		}
		if (in.F == "cas" || in.F == "create") && !out.OK && !out.Unknown {
			lastConflict[in.Key] = max(lastConflict[in.Key], op.Return)
		}
	}
	out := make([]porcupine.Operation, 0, len(ops))
	var unseen []int
	for _, op := range ops {
		in := op.Input.(regInput)
		k := kv{in.Key, in.Value}
		if op.Return != math.MaxInt64 || in.F == "delete" {
			out = append(out, op)
			continue
		}
		if t, ok := observed[k]; ok {
			op.Return = max(t, op.Call)
			out = append(out, op)
			continue
		}
		if referenced[k] {
			out = append(out, op)
			continue
		}
		if c, ok := lastConflict[in.Key]; !ok || c <= op.Call {
			continue
		}
		if in.F == "write" || in.F == "ewrite" {
			unseen = append(unseen, len(out))
		}
		out = append(out, op)
	}
	sort.SliceStable(unseen, func(a, b int) bool { return out[unseen[a]].Call < out[unseen[b]].Call })
	next := map[string]int{}
	for _, i := range unseen {
		in := out[i].Input.(regInput)
		in.F, in.Seq = "unseen", next[in.Key]
		next[in.Key]++
		out[i].Input = in
	}
	return out
}

// registerAnomalies finds, without search, two kinds of violation in reduced register ops (whose
// returns are valid upper bounds of their linearization points):
//
//   - phantom-read: a read saw a value that no write which may have applied had been invoked with
//     before the read completed;
//   - stale-read: read r1 saw v1 and completed before read r2 began, which saw v2, although the
//     write of v2 must have taken effect before the write of v1 was even invoked. Values are
//     unique, so r2 saw an overwritten value after r1 had seen the newer one.
//
// Both are conclusive; porcupine's search decides everything else.
func registerAnomalies(ops []porcupine.Operation) []Anomaly {
	type span struct {
		call, ret int64
		idx       int
	}
	type key = string
	writes := map[key]map[string]span{}
	reads := map[key][]porcupine.Operation{}
	for _, op := range ops {
		in, out := op.Input.(regInput), op.Output.(regOutput)
		switch {
		case in.F == "read":
			if out.Found {
				reads[in.Key] = append(reads[in.Key], op)
			}
		case in.F == "delete" || (!out.OK && !out.Unknown):
		default:
			if writes[in.Key] == nil {
				writes[in.Key] = map[string]span{}
			}
			writes[in.Key][in.Value] = span{op.Call, op.Return, op.Metadata.(int)}
		}
	}
	var out []Anomaly
	for _, k := range slices.Sorted(maps.Keys(reads)) {
		rs := reads[k]
		for _, r := range rs {
			v := r.Output.(regOutput).Value
			if w, ok := writes[k][v]; !ok || w.call > r.Return {
				out = append(out, Anomaly{Kind: "phantom-read", Key: k, Ops: []int{r.Metadata.(int)},
					Message: fmt.Sprintf("read %q, which no write that may have applied wrote before the read ended", v)})
			}
		}
		for _, r1 := range rs {
			v1 := r1.Output.(regOutput).Value
			w1, ok1 := writes[k][v1]
			for _, r2 := range rs {
				v2 := r2.Output.(regOutput).Value
				w2, ok2 := writes[k][v2]
				if !ok1 || !ok2 || v1 == v2 || r1.Return >= r2.Call || w2.ret >= w1.call {
					continue
				}
				out = append(out, Anomaly{Kind: "stale-read", Key: k,
					Ops:     []int{w2.idx, w1.idx, r1.Metadata.(int), r2.Metadata.(int)},
					Message: fmt.Sprintf("read %q after another read had seen %q, written after %q had taken effect", v2, v1, v2)})
			}
		}
	}
	return out
}

// checkRegister checks the register ops for linearizability: registerAnomalies (cheap and
// conclusive) and porcupine's search. On a violation it also returns porcupine's linearization
// info for the visualisation.
func checkRegister(h []Op, timeout time.Duration) (CheckResult, *porcupine.LinearizationInfo) {
	res := CheckResult{Name: WorkloadRegister}
	all := registerOperations(h)
	keys := map[string]bool{}
	for _, op := range all {
		keys[op.Input.(regInput).Key] = true
	}
	ops := reduceOpen(all)
	res.figure("operations", float64(len(all)))
	res.figure("keys", float64(len(keys)))
	res.figure("openEnded", float64(len(all)-countClosed(all)))
	res.figure("openEndedKept", float64(len(ops)-countClosed(ops)))
	if len(ops) == 0 {
		res.Valid, res.Summary = Unknown, "no register operations to check"
		return res, nil
	}
	anomalies := registerAnomalies(ops)
	for _, a := range anomalies {
		res.addAnomaly(a)
	}
	search := timeout
	if len(anomalies) > 0 {
		search = timeout / 4 // the verdict is known; the search only feeds the visualisation
	}
	start := time.Now()
	verdict, info := porcupine.CheckOperationsVerbose(registerModel, ops, search)
	res.figure("checkSeconds", time.Since(start).Seconds())
	switch {
	case len(anomalies) == 0 && verdict == porcupine.Ok:
		res.Valid = Valid
		res.Summary = fmt.Sprintf("linearizable: %d operations on %d keys (%d open-ended)", len(all), len(keys), len(all)-countClosed(all))
		return res, nil
	case len(anomalies) == 0 && verdict == porcupine.Unknown:
		res.Valid = Unknown
		res.Summary = fmt.Sprintf("linearizability search timed out after %s", timeout)
		return res, nil
	}
	res.Valid = Invalid
	bad := map[string]bool{}
	for _, a := range anomalies {
		bad[a.Key] = true
	}
	if verdict == porcupine.Illegal {
		for _, k := range illegalKeys(ops, search) {
			if !bad[k] {
				bad[k] = true
				res.addAnomaly(Anomaly{Kind: "nonlinearizable", Key: k, Message: "no linearization of this key's operations exists"})
			}
		}
	}
	res.Summary = fmt.Sprintf("not linearizable: %d of %d keys (%d anomalies found without search; search: %s)",
		len(bad), len(keys), len(anomalies), verdict)
	return res, &info // on a timeout it holds the longest partial linearizations
}

func countClosed(ops []porcupine.Operation) int {
	n := 0
	for _, op := range ops {
		if op.Return != math.MaxInt64 {
			n++
		}
	}
	return n
}

// illegalKeys re-checks each key alone and lists those without a linearization.
func illegalKeys(ops []porcupine.Operation, timeout time.Duration) []string {
	single := registerModel
	single.Partition = nil
	var bad []string
	deadline := time.Now().Add(timeout)
	for _, part := range registerModel.Partition(ops) {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if porcupine.CheckOperationsTimeout(single, part, left) == porcupine.Illegal {
			bad = append(bad, part[0].Input.(regInput).Key)
		}
	}
	slices.Sort(bad)
	return bad
}

// visualizeRegister writes porcupine's HTML visualisation with the faults as annotations.
func visualizeRegister(path string, info *porcupine.LinearizationInfo, faults []faultWindow) error {
	var ann []porcupine.Annotation
	for _, f := range faults {
		ann = append(ann, porcupine.Annotation{Tag: "nemesis", Start: f.Start, End: f.End,
			Description: string(f.Kind), Details: fmt.Sprintf("%s %v", f.Kind, f.Nodes),
			BackgroundColor: faultCSSColor(f.Kind)})
	}
	info.AddAnnotations(ann)
	if err := porcupine.VisualizePath(registerModel, *info, path); err != nil {
		return fmt.Errorf("jepsen: visualize: %w", err)
	}
	return nil
}

// faultCSSColor gives each fault kind a light colour.
func faultCSSColor(k FaultKind) string {
	switch {
	case k.isPartition():
		return "#fde2c8"
	case k == FaultLoss:
		return "#fff3b0"
	case k == FaultKill:
		return "#f8c8c8"
	case k == FaultPause:
		return "#d6e4f7"
	}
	return "#e3d7f3"
}
