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
// reference's and etcd's figures and the ratios when the run has them, then errors and lags.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := "closed loop"
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %.0f ops/s", r.Rate)
	}
	fmt.Fprintf(tw, "%s %s (%s): %s, %d connections, %d keys, %d-byte values, %s\n",
		r.Target, r.Workload, r.describeWorkload(), mode, r.Connections, r.Keys, r.ValueSize,
		strings.Join(r.URLs, " "))
	type column struct {
		name  string
		res   *Result
		ratio *Ratio
	}
	var cols []column
	if r.Reference != nil && r.Ratio != nil {
		cols = append(cols, column{"reference", r.Reference, r.Ratio})
	}
	if r.Etcd != nil && r.EtcdRatio != nil {
		cols = append(cols, column{"etcd", r.Etcd, r.EtcdRatio})
	}
	header := "figure\ttarget"
	for _, c := range cols {
		header += "\t" + c.name + "\ttarget/" + c.name
	}
	fmt.Fprintln(tw, header)
	row := func(name string, fig func(*Result) string, ratio func(*Ratio) float64) {
		line := name + "\t" + fig(r)
		for _, c := range cols {
			line += fmt.Sprintf("\t%s\t%.2f", fig(c.res), ratio(c.ratio))
		}
		fmt.Fprintln(tw, line)
	}
	row("throughput", func(x *Result) string { return fmt.Sprintf("%.0f ops/s", x.Throughput) },
		func(x *Ratio) float64 { return x.Throughput })
	latency := func(name string, fig func(Latency) float64, ratio func(*Ratio) float64) {
		row(name, func(x *Result) string { return ms(fig(x.Latency)) }, ratio)
	}
	latency("latency mean", func(l Latency) float64 { return l.Mean }, func(x *Ratio) float64 { return x.Mean })
	latency("latency p50", func(l Latency) float64 { return l.P50 }, func(x *Ratio) float64 { return x.P50 })
	latency("latency p90", func(l Latency) float64 { return l.P90 }, func(x *Ratio) float64 { return x.P90 })
	latency("latency p99", func(l Latency) float64 { return l.P99 }, func(x *Ratio) float64 { return x.P99 })
	latency("latency p99.9", func(l Latency) float64 { return l.P999 }, func(x *Ratio) float64 { return x.P999 })
	latency("latency max", func(l Latency) float64 { return l.Max }, func(x *Ratio) float64 { return x.Max })
	counts := func(name string, fig func(*Result) int64) {
		line := fmt.Sprintf("%s\t%d", name, fig(r))
		for _, c := range cols {
			line += fmt.Sprintf("\t%d\t", fig(c.res))
		}
		fmt.Fprintln(tw, line)
	}
	counts("operations", func(x *Result) int64 { return x.Ops })
	counts("errors", func(x *Result) int64 { return x.Errors })
	counts("misses", func(x *Result) int64 { return x.Misses })
	if r.Mode == "open" {
		counts("unsent", func(x *Result) int64 { return x.Unsent })
	}
	fmt.Fprintf(tw, "duration\t%.2fs\n", r.Seconds)
	if len(r.ErrorKinds) > 0 {
		fmt.Fprintf(tw, "errors by kind\t%s\n", kindList(r.ErrorKinds))
	}
	for _, c := range cols {
		if len(c.res.ErrorKinds) > 0 {
			fmt.Fprintf(tw, "%s errors by kind\t%s\n", c.name, kindList(c.res.ErrorKinds))
		}
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
