package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// setWorkload adds unique elements to OR-sets and removes acknowledged ones, eventually and
// strongly, from every node, and reads the sets strongly. It is safe for concurrent use.
type setWorkload struct {
	keyNames []string
	bound    time.Duration
	converge time.Duration

	mu   sync.Mutex
	pool map[string][]string // key -> acknowledged elements not yet chosen for removal
}

func newSetWorkload(keys int, bound, converge time.Duration) *setWorkload {
	s := &setWorkload{bound: bound, converge: converge, pool: map[string][]string{}}
	for i := 0; i < keys; i++ {
		s.keyNames = append(s.keyNames, fmt.Sprintf("set-%d", i))
	}
	return s
}

func (s *setWorkload) name() string                      { return WorkloadSet }
func (s *setWorkload) setup(context.Context, *env) error { return nil }

func (s *setWorkload) keys() []keyRef {
	out := make([]keyRef, len(s.keyNames))
	for i, k := range s.keyNames {
		out[i] = keyRef{CRDT: true, Key: k}
	}
	return out
}

// takeElement removes and returns a random acknowledged element of key, "" if none.
func (s *setWorkload) takeElement(key string, pick func(n int) int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pool[key]
	if len(p) == 0 {
		return ""
	}
	i := pick(len(p))
	e := p[i]
	p[i] = p[len(p)-1]
	s.pool[key] = p[:len(p)-1]
	return e
}

func (s *setWorkload) step(ctx context.Context, w *worker) {
	key := s.keyNames[w.rng.IntN(len(s.keyNames))]
	x := w.rng.IntN(100)
	strong := w.rng.IntN(100) < 20
	if x >= 85 {
		op := Op{Workload: WorkloadSet, F: "read", Key: key, Consistency: "strong", Invoke: w.now()}
		v, err := w.api.crdtGet(ctx, key, true)
		if err == nil {
			op.Found = v.Found
			op.Elements, err = setValue(v)
		}
		w.result(&op, err)
		w.record(op, false)
		return
	}
	f, elem := "add", ""
	if x >= 65 {
		if elem = s.takeElement(key, w.rng.IntN); elem != "" {
			f = "remove"
		}
	}
	if f == "add" {
		elem = "e" + w.uniqueValue()
	}
	op := Op{Workload: WorkloadSet, F: f, Key: key, Value: elem, Consistency: consistencyName(strong), Invoke: w.now()}
	_, err := w.api.crdtApply(ctx, key, strong, crdtRequest{Type: "orset", Op: f, Elements: []string{elem}})
	w.result(&op, err)
	w.record(op, op.Type == Info)
	if f == "add" && op.Type == OK {
		s.mu.Lock()
		s.pool[key] = append(s.pool[key], elem)
		s.mu.Unlock()
	}
}

// setValue decodes a set view (a JSON array of strings) sorted; absent is empty.
func setValue(v crdtView) ([]string, error) {
	if !v.Found {
		return nil, nil
	}
	var els []string
	if err := json.Unmarshal(v.Value, &els); err != nil {
		return nil, fmt.Errorf("jepsen: set value %s: %w", v.Value, err)
	}
	slices.Sort(els)
	return els, nil
}

func (s *setWorkload) final(ctx context.Context, e *env) error {
	awaitAgreement(ctx, e, s.keys(), s.converge, nil)
	recordFinalReads(ctx, e, WorkloadSet, s.keys(), func(op *Op, v crdtView) error {
		els, err := setValue(v)
		op.Elements = els
		return err
	})
	return nil
}

func (s *setWorkload) check(h []Op) CheckResult { return checkSet(h, int64(s.bound)) }

// elemInfo summarises one element's adds and removes.
type elemInfo struct {
	firstTry     int64 // earliest invocation of an add that may have applied (MaxInt64: none)
	ackedAdd     *Op   // the earliest acknowledged add
	strongAck    int64 // earliest completion of an acknowledged strong add (MaxInt64: none)
	firstRemove  int64 // earliest invocation of a remove that may have applied (MaxInt64: none)
	lastRemoveAt int64 // latest completion of a remove that may have applied (MinInt64: none)
}

// checkSet checks, per key: no read shows an element no add could have put there; a strong read
// shows every element whose strong add was acknowledged before it began and that no remove could
// have touched before it ended; after the final heal every node reads the same set, eventually and
// strongly, holding every acknowledged add that no remove could have observed (eventual adds whose
// node was killed before they could propagate excepted, see atRisk).
func checkSet(h []Op, bound int64) CheckResult {
	res := CheckResult{Name: WorkloadSet}
	windows := faultWindows(h)
	byKey := map[string][]Op{}
	for _, op := range filterOps(h, WorkloadSet) {
		byKey[op.Key] = append(byKey[op.Key], op)
	}
	var verdicts []Validity
	var acked, finalSize, lostAtRisk int
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		els := map[string]*elemInfo{}
		get := func(e string) *elemInfo {
			if els[e] == nil {
				els[e] = &elemInfo{firstTry: math.MaxInt64, strongAck: math.MaxInt64, firstRemove: math.MaxInt64, lastRemoveAt: math.MinInt64}
			}
			return els[e]
		}
		var reads []Op
		finals := map[string]map[string]Op{}
		for _, op := range byKey[key] {
			switch op.F {
			case "add":
				ei := get(op.Value)
				if op.Type != Fail {
					ei.firstTry = min(ei.firstTry, op.Invoke)
				}
				if op.Type == OK {
					if ei.ackedAdd == nil || op.Invoke < ei.ackedAdd.Invoke {
						ei.ackedAdd = &op
					}
					if op.Consistency == "strong" {
						ei.strongAck = min(ei.strongAck, op.Complete)
					}
				}
			case "remove":
				if op.Type != Fail {
					ei := get(op.Value)
					ei.firstRemove = min(ei.firstRemove, op.Invoke)
					ei.lastRemoveAt = max(ei.lastRemoveAt, op.Complete)
				}
			case "read":
				if op.Type == OK {
					reads = append(reads, op)
				}
			case "final-read":
				if finals[op.Node] == nil {
					finals[op.Node] = map[string]Op{}
				}
				finals[op.Node][op.Consistency] = op
				if op.Type == OK {
					reads = append(reads, op)
				}
			}
		}
		for _, r := range reads {
			present := map[string]bool{}
			for _, e := range r.Elements {
				present[e] = true
				if ei := els[e]; ei == nil || ei.firstTry >= r.Complete {
					res.addAnomaly(Anomaly{Kind: "phantom-element", Key: key, Ops: []int{r.Index},
						Message: fmt.Sprintf("%s read %q, which no add could have written before the read ended", r.Consistency, e)})
				}
			}
			if r.Consistency != "strong" {
				continue
			}
			for _, e := range slices.Sorted(maps.Keys(els)) {
				ei := els[e]
				if !present[e] && ei.strongAck < r.Invoke && ei.firstRemove >= r.Complete {
					res.addAnomaly(Anomaly{Kind: "stale-read", Key: key, Ops: []int{r.Index},
						Message: fmt.Sprintf("strong read misses %q, strongly added before it began and never removed before it ended", e)})
				}
			}
		}
		v, _ := finalAgreement(&res, key, finals, func(op Op) string { return strings.Join(op.Elements, ",") })
		verdicts = append(verdicts, v)
		if v != Valid {
			continue
		}
		final := map[string]bool{}
		for _, e := range finals[sortedNodes(finals)[0]]["strong"].Elements {
			final[e] = true
		}
		finalSize += len(final)
		for _, e := range slices.Sorted(maps.Keys(els)) {
			ei := els[e]
			if ei.ackedAdd == nil {
				continue
			}
			acked++
			// A remove that completed before the add began cannot have observed it.
			if final[e] || ei.lastRemoveAt >= ei.ackedAdd.Invoke {
				continue
			}
			if ei.ackedAdd.Consistency == "eventual" && atRisk(*ei.ackedAdd, windows, bound) {
				lostAtRisk++
				continue
			}
			res.addAnomaly(Anomaly{Kind: "lost-add", Key: key, Ops: []int{ei.ackedAdd.Index},
				Message: fmt.Sprintf("acknowledged add of %q, never removed, is missing after the final heal", e)})
		}
	}
	res.figure("acknowledgedAdds", float64(acked))
	res.figure("finalElements", float64(finalSize))
	res.figure("lostAtRisk", float64(lostAtRisk))
	res.Valid = Merge(verdicts...)
	if len(res.Anomalies) > 0 {
		res.Valid = Invalid
	}
	switch {
	case len(byKey) == 0:
		res.Valid, res.Summary = Unknown, "no set operations"
	case res.Valid == Valid:
		res.Summary = fmt.Sprintf("%d elements on every node; all %d acknowledged, unremoved adds present (%d lost at risk)", finalSize, acked, lostAtRisk)
	case res.Valid == Invalid:
		res.Summary = res.anomalySummary()
	default:
		res.Summary = "final reads incomplete"
	}
	return res
}
