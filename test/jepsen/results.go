package jepsen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Result is the outcome of a run, also written to results.json in Dir.
type Result struct {
	// Dir is the run's results folder.
	Dir string `json:"dir"`
	// Valid merges every checker (false > unknown > true).
	Valid Validity `json:"valid"`
	// Checkers maps each checker's name to its result.
	Checkers map[string]CheckResult `json:"checkers"`
	// Seed reproduces the run's random choices.
	Seed int64 `json:"seed"`
	// Start is when the run began (wall clock).
	Start time.Time `json:"start"`
	// DurationSeconds is how long clients and nemeses ran.
	DurationSeconds float64 `json:"durationSeconds"`
	// Nodes, Workloads and Nemeses describe the configuration.
	Nodes     int         `json:"nodes"`
	Workloads []string    `json:"workloads"`
	Nemeses   []FaultKind `json:"nemeses"`
	ServeArgs []string    `json:"serveArgs,omitempty"`
	// Faults lists every injected fault with its times.
	Faults []FaultRecord `json:"faults"`
	// Stats has per-workload outcome counts and latencies.
	Stats map[string]WorkloadStats `json:"stats"`
	// Interrupted is set when the run was cancelled before its checks.
	Interrupted bool `json:"interrupted,omitempty"`
}

// WorkloadStats summarises one workload's client operations.
type WorkloadStats struct {
	OK         int     `json:"ok"`
	Fail       int     `json:"fail"`
	Info       int     `json:"info"`
	P50Ms      float64 `json:"p50Ms"`
	P95Ms      float64 `json:"p95Ms"`
	P99Ms      float64 `json:"p99Ms"`
	MaxMs      float64 `json:"maxMs"`
	Throughput float64 `json:"okPerSecond"`
}

// mergeChecks sets r.Checkers and r.Valid from the checker results.
func (r *Result) mergeChecks(checks []CheckResult) {
	r.Checkers = map[string]CheckResult{}
	var vs []Validity
	for _, c := range checks {
		r.Checkers[c.Name] = c
		vs = append(vs, c.Valid)
	}
	r.Valid = Merge(vs...)
}

// computeStats summarises the client ops of h (process >= 0) per workload; seconds is the
// length of the client phase, for throughput.
func computeStats(h []Op, seconds float64) map[string]WorkloadStats {
	lat := map[string][]float64{}
	out := map[string]WorkloadStats{}
	for _, op := range h {
		if op.Process < 0 {
			continue
		}
		s := out[op.Workload]
		switch op.Type {
		case OK:
			s.OK++
			lat[op.Workload] = append(lat[op.Workload], float64(op.Latency())/float64(time.Millisecond))
		case Fail:
			s.Fail++
		case Info:
			s.Info++
		}
		out[op.Workload] = s
	}
	for w, s := range out {
		l := lat[w]
		slices.Sort(l)
		s.P50Ms, s.P95Ms, s.P99Ms = quantile(l, 0.50), quantile(l, 0.95), quantile(l, 0.99)
		if len(l) > 0 {
			s.MaxMs = l[len(l)-1]
		}
		if seconds > 0 {
			s.Throughput = float64(s.OK) / seconds
		}
		out[w] = s
	}
	return out
}

// quantile of sorted values (nearest rank); 0 for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// writeJSON writes v indented to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("jepsen: encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("jepsen: %w", err)
	}
	return nil
}

// writeResults writes results.json into r.Dir.
func writeResults(r Result) error { return writeJSON(filepath.Join(r.Dir, "results.json"), r) }

// writeNemesisLog writes one fault per line to nemesis.jsonl.
func writeNemesisLog(path string, faults []FaultRecord) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("jepsen: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, r := range faults {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return fmt.Errorf("jepsen: nemesis log: %w", err)
		}
	}
	return f.Close()
}

// checkCrashes is false when a node process exited without the suite asking it to.
func checkCrashes(h []Op) CheckResult {
	res := CheckResult{Name: "crash", Valid: Valid, Summary: "no node exited unexpectedly"}
	for _, op := range h {
		if op.Workload == workloadHarness && op.F == "crash" {
			res.addAnomaly(Anomaly{Kind: "crash", Ops: []int{op.Index},
				Message: fmt.Sprintf("%s exited at %.1fs: %s", op.Node, time.Duration(op.Invoke).Seconds(), op.Error)})
		}
	}
	if len(res.Anomalies) > 0 {
		res.Valid, res.Summary = Invalid, fmt.Sprintf("%d unexpected node exits", int(res.Figures["anomalies"]))
	}
	return res
}
