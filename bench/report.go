package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// ms formats milliseconds with three significant decimals at most.
func ms(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(v, 'f', 3, 64) + "ms"
}

// WriteTable writes the human summary: the run's shape, then one row per figure with the
// reference and the ratio when the run has them, then errors and lags.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := "closed loop"
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %.0f ops/s", r.Rate)
	}
	fmt.Fprintf(tw, "%s %s (%s): %s, %d connections, %d keys, %d-byte values, %s\n",
		r.Target, r.Workload, r.describeWorkload(), mode, r.Connections, r.Keys, r.ValueSize,
		strings.Join(r.URLs, " "))
	ref := r.Reference
	if ref != nil {
		fmt.Fprintln(tw, "figure\ttarget\treference\ttarget/reference")
	} else {
		fmt.Fprintln(tw, "figure\ttarget")
	}
	row := func(name, t, rf string, ratio float64) {
		if ref == nil {
			fmt.Fprintf(tw, "%s\t%s\n", name, t)
			return
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\n", name, t, rf, ratio)
	}
	var rt Ratio
	var rl Latency
	var rs Result
	if ref != nil {
		rt, rl, rs = *r.Ratio, ref.Latency, *ref
	}
	row("throughput", fmt.Sprintf("%.0f ops/s", r.Throughput), fmt.Sprintf("%.0f ops/s", rs.Throughput), rt.Throughput)
	row("latency mean", ms(r.Latency.Mean), ms(rl.Mean), rt.Mean)
	row("latency p50", ms(r.Latency.P50), ms(rl.P50), rt.P50)
	row("latency p90", ms(r.Latency.P90), ms(rl.P90), rt.P90)
	row("latency p99", ms(r.Latency.P99), ms(rl.P99), rt.P99)
	row("latency p99.9", ms(r.Latency.P999), ms(rl.P999), rt.P999)
	row("latency max", ms(r.Latency.Max), ms(rl.Max), rt.Max)
	counts := func(name string, t, rf int64) {
		if ref == nil {
			fmt.Fprintf(tw, "%s\t%d\n", name, t)
			return
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", name, t, rf)
	}
	counts("operations", r.Ops, rs.Ops)
	counts("errors", r.Errors, rs.Errors)
	counts("misses", r.Misses, rs.Misses)
	if r.Mode == "open" {
		counts("unsent", r.Unsent, rs.Unsent)
	}
	fmt.Fprintf(tw, "duration\t%.2fs\n", r.Seconds)
	if len(r.ErrorKinds) > 0 {
		fmt.Fprintf(tw, "errors by kind\t%s\n", kindList(r.ErrorKinds))
	}
	if r.Lags != nil {
		fmt.Fprintf(tw, "lag probes\t%d written, %d failed\n", r.Lags.Probes, r.Lags.ProbeErrors)
		if v := r.Lags.Visibility; v != nil {
			fmt.Fprintf(tw, "visibility lag\t%s\n", lagLine(v))
		}
		fmt.Fprintf(tw, "fold-in lag\t%s\n", lagLine(r.Lags.FoldIn))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: write table: %w", err)
	}
	return nil
}

// describeWorkload adds the parameters that matter for the workload.
func (r *Result) describeWorkload() string {
	if r.Target == TargetEtcd {
		if r.Workload == WorkloadMixed {
			rng := "serializable"
			if r.Consistency == "strong" {
				rng = "linearizable"
			}
			return fmt.Sprintf("%.0f%% %s ranges, puts", r.ReadRatio*100, rng)
		}
		return etcdWorkloads[r.Workload]
	}
	switch r.Workload {
	case WorkloadMixed:
		return fmt.Sprintf("%.0f%% reads, %s", r.ReadRatio*100, r.Consistency)
	case WorkloadCRDTIncr:
		return r.Consistency
	case WorkloadStrongSave, WorkloadStrongGet, WorkloadFirstWrite, WorkloadCAS:
		return "strong"
	}
	return "eventual"
}

// etcdWorkloads names the etcd requests behind each workload.
var etcdWorkloads = map[Workload]string{
	WorkloadSave:       "put",
	WorkloadStrongSave: "put",
	WorkloadGet:        "serializable range",
	WorkloadStrongGet:  "linearizable range",
	WorkloadFirstWrite: "txn create_revision=0 + put",
	WorkloadCAS:        "serializable range + txn mod_revision + put",
}

// lagLine formats a lag distribution on one line.
func lagLine(l *Lag) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d samples, %d timeouts)",
		ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), l.Count, l.Timeouts)
}

// kindList formats error counts sorted by kind.
func kindList(kinds map[string]int64) string {
	names := slices.Sorted(maps.Keys(kinds))
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, kinds[k])
	}
	return strings.Join(parts, ", ")
}
