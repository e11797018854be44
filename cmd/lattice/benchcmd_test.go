package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lattice-state/lattice/bench"
)

// startReference runs bench's reference server for the test.
func startReference(t *testing.T) string {
	t.Helper()
	srv, err := bench.StartReferenceServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return srv.URL()
}

// tinyBench is a bench command line that runs in a moment against url.
func tinyBench(url string, extra ...string) []string {
	return append([]string{"bench", "--target", "dapr", "--url", url, "--connections", "2", "--keys", "20",
		"--progress-interval", "50ms"}, extra...)
}

func TestBenchTableJSONAndPlot(t *testing.T) {
	url := startReference(t)
	r := runCLI(t, nil, tinyBench(url, "--ops", "300", "--workload", "get")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, w := range []string{"dapr get", "throughput", "latency p99", "latency p99.9"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("table lacks %q:\n%s", w, r.stdout)
		}
	}
	if !regexp.MustCompile(`\[dapr get\] .* ops/s`).MatchString(r.stderr) {
		t.Errorf("no progress line on stderr:\n%s", r.stderr)
	}

	plot := filepath.Join(t.TempDir(), "latency.png")
	r = runCLI(t, nil, tinyBench(url, "--ops", "200", "--workload", "cas", "--json", "--plot", plot)...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if res.Workload != bench.WorkloadCAS || res.Ops != 200 || res.Errors != 0 || res.Connections != 2 || res.Keys != 20 {
		t.Errorf("result does not follow the flags: %+v", res)
	}
	png, err := os.ReadFile(plot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("plot: %v, %d bytes", err, len(png))
	}
	if !strings.Contains(r.stderr, "latency plot written to "+plot) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestBenchReferenceRatios(t *testing.T) {
	url := startReference(t)
	r := runCLI(t, nil, tinyBench(url, "--ops", "100", "--reference", "--json")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Reference == nil || res.Ratio == nil || res.Ratio.Throughput <= 0 {
		t.Fatalf("no reference figures: %v\n%s", err, r.stdout)
	}
}

func TestBenchInterruptReportsFiguresSoFar(t *testing.T) {
	url := startReference(t)
	ta := newTestApp(nil)
	code := make(chan int, 1)
	go func() { code <- run(tinyBench(url, "--duration", "10m"), ta.app) }()
	waitFor(t, 30*time.Second, "a progress line", func() bool { return strings.Contains(ta.stderr.String(), "[dapr save]") })
	start := time.Now()
	ta.sigs <- syscall.SIGINT
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d, stderr:\n%s", c, ta.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bench did not stop after SIGINT")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopped %v after the signal", d)
	}
	out := ta.stdout.String()
	m := regexp.MustCompile(`throughput\s+(\d+) ops/s`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Errorf("no figures after the interruption:\n%s", out)
	}
	if !strings.Contains(ta.stderr.String(), "interrupt: stopping; the figures so far follow") {
		t.Errorf("stderr:\n%s", ta.stderr)
	}
}

func TestBenchEtcdNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := runCLI(t, nil, "bench", "--etcd", "--ops", "10")
	if r.code != 1 || !strings.Contains(r.stderr, "--etcd: bench: etcd binary not found") || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestBenchVsEtcdNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := runCLI(t, nil, tinyBench(startReference(t), "--vs-etcd", "--ops", "10")...)
	if r.code != 1 || !strings.Contains(r.stderr, "--vs-etcd: bench: etcd binary not found") || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestBenchVsEtcd measures a target and a real etcd cluster around it in one run.
func TestBenchVsEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("etcd: skipped in -short mode: starts a three-member etcd cluster")
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed")
	}
	url := startReference(t)
	r := runCLI(t, nil, tinyBench(url, "--vs-etcd", "--workload", "strong-save", "--ops", "100", "--json")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if res.Target != bench.TargetDapr || res.URLs[0] != url || res.Ops != 100 || res.Errors != 0 {
		t.Errorf("target result: %+v", res)
	}
	e := res.Etcd
	if e == nil || e.Target != bench.TargetEtcd || len(e.URLs) != 3 || e.Ops != 200 || e.Errors != 0 ||
		res.EtcdRatio == nil || res.EtcdRatio.Throughput <= 0 {
		t.Fatalf("etcd figures %+v, ratio %+v", e, res.EtcdRatio)
	}
	for _, u := range e.URLs {
		if checkHealth(context.Background(), u+"/health") == nil {
			t.Errorf("etcd member %s still answers after the run", u)
		}
	}
}

func TestBenchEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("etcd: skipped in -short mode: starts a three-member etcd cluster")
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed")
	}
	r := runCLI(t, nil, "bench", "--etcd", "--workload", "strong-save", "--ops", "100", "--connections", "2", "--keys", "20", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if res.Target != bench.TargetEtcd || len(res.URLs) != 3 || res.Ops != 100 || res.Errors != 0 {
		t.Errorf("result: %+v", res)
	}
	if !strings.Contains(r.stderr, "etcd ready at") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	for _, u := range res.URLs {
		if checkHealth(context.Background(), u+"/health") == nil {
			t.Errorf("etcd member %s still answers after the run", u)
		}
	}
}

// TestBenchCPUs runs the load generator on one CPU while it measures, and restores the setting.
func TestBenchCPUs(t *testing.T) {
	before := 2 // not 1: the test must see the flag's effect on a one-CPU machine too
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(before))
	var during atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		during.Store(int32(runtime.GOMAXPROCS(0))) // same process: the bench's setting
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	r := runCLI(t, nil, tinyBench(srv.URL, "--ops", "20", "--workload", "save", "--cpus", "1")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if during.Load() != 1 {
		t.Fatalf("GOMAXPROCS while measuring: %d, want 1", during.Load())
	}
	if after := runtime.GOMAXPROCS(0); after != before {
		t.Fatalf("GOMAXPROCS after the run: %d, want %d again", after, before)
	}

	r = runCLI(t, nil, tinyBench(srv.URL, "--ops", "20", "--cpus", "-1")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--cpus -1: want 0 (all) or more") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
