package bench

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMeasureEtcdAgainstReference produces the reference figures of docs/performance.md: a
// 3-member etcd (Debian's etcd-server) through its gateway next to the in-process reference
// server, one workload after another. It runs only when LATTICE_BENCH_MEASURE=1; the figures are
// printed, never asserted. LATTICE_BENCH_DURATION (default 10s) sets each run's length,
// LATTICE_BENCH_RATE (ops/s) makes the runs open-loop, LATTICE_BENCH_WORKLOADS (comma list)
// picks workloads, and LATTICE_BENCH_OUT names a file for the JSON of every run.
func TestMeasureEtcdAgainstReference(t *testing.T) {
	if os.Getenv("LATTICE_BENCH_MEASURE") != "1" {
		t.Skip("set LATTICE_BENCH_MEASURE=1 to measure etcd against the reference server")
	}
	dur := 10 * time.Second
	if s := os.Getenv("LATTICE_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	var rate float64
	if s := os.Getenv("LATTICE_BENCH_RATE"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		rate = r
	}
	workloads := []Workload{WorkloadSave, WorkloadGet, WorkloadStrongSave, WorkloadStrongGet,
		WorkloadFirstWrite, WorkloadCAS, WorkloadMixed}
	if s := os.Getenv("LATTICE_BENCH_WORKLOADS"); s != "" {
		workloads = nil
		for _, w := range strings.Split(s, ",") {
			workloads = append(workloads, Workload(w))
		}
	}
	ctx := context.Background()
	cfg := DefaultEtcdConfig()
	cfg.Dir = t.TempDir()
	etcd, err := StartEtcdCluster(ctx, cfg)
	if err != nil {
		t.Skip(err) // ErrEtcdNotInstalled says how to install it
	}
	defer etcd.Stop()
	var all []*Result
	for _, w := range workloads {
		o := DefaultOptions() // 64 connections, 100-byte values, 10k keys, closed loop
		o.Target = TargetEtcd
		o.URLs = etcd.ClientURLs()
		o.Workload = w
		o.Duration = dur
		o.Rate = rate
		o.Reference = true
		o.KeyPrefix = "m-" + string(w)
		o.Progress = os.Stderr
		res, err := Run(ctx, o)
		if err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		if err := res.WriteTable(os.Stdout); err != nil {
			t.Fatal(err)
		}
		all = append(all, res)
	}
	if out := os.Getenv("LATTICE_BENCH_OUT"); out != "" {
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
