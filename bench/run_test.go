package bench

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/internal/syncbuf"
)

// testOptions is a small closed-loop run of 200 operations against urls.
func testOptions(target Target, urls ...string) Options {
	o := DefaultOptions()
	o.Target = target
	o.URLs = urls
	o.Keys = 64
	o.ValueSize = 40
	o.Connections = 4
	o.Duration = 0
	o.Ops = 200
	o.LagInterval = 0
	return o
}

func mustRun(t *testing.T, o Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// checkClean asserts a run issued want operations, all successful, each in the histogram and
// the timeline.
func checkClean(t *testing.T, res *Result, want int64) {
	t.Helper()
	if res.Ops != want || res.Errors != 0 || res.Latency.Count != want {
		t.Fatalf("ops %d errors %d latency count %d (kinds %v), want %d clean", res.Ops, res.Errors,
			res.Latency.Count, res.ErrorKinds, want)
	}
	var sum int64
	for _, iv := range res.Timeline {
		sum += iv.Ops
	}
	if sum != res.Ops {
		t.Fatalf("timeline holds %d ops, result %d", sum, res.Ops)
	}
	l := res.Latency
	if !(l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) || l.Max <= 0 {
		t.Fatalf("latency figures out of order: %+v", l)
	}
}

func TestClosedLoopIssuesRequestedOpsPerWorkload(t *testing.T) {
	for _, tc := range []struct {
		workload Workload
		strong   bool
		check    func(f *fakeDapr) (got, want int64)
	}{
		{WorkloadSave, false, func(f *fakeDapr) (int64, int64) { return f.saves.Load(), 200 }},
		{WorkloadStrongSave, false, func(f *fakeDapr) (int64, int64) { return f.strongSaves.Load(), 200 }},
		{WorkloadGet, false, func(f *fakeDapr) (int64, int64) { return f.gets.Load(), 200 }},
		{WorkloadStrongGet, false, func(f *fakeDapr) (int64, int64) { return f.strongGets.Load(), 200 }},
		{WorkloadFirstWrite, false, func(f *fakeDapr) (int64, int64) { return int64(f.keys()), 200 }},
		{WorkloadCAS, false, func(f *fakeDapr) (int64, int64) { return f.casWrites.Load() + f.gets.Load(), 400 }},
		{WorkloadMixed, true, func(f *fakeDapr) (int64, int64) { return f.strongGets.Load() + f.strongSaves.Load(), 200 }},
		{WorkloadCRDTIncr, false, func(f *fakeDapr) (int64, int64) { return f.incrs.Load(), 200 }},
		{WorkloadCRDTIncr, true, func(f *fakeDapr) (int64, int64) { return f.strongIncrs.Load(), 200 }},
	} {
		t.Run(string(tc.workload), func(t *testing.T) {
			f := newFakeDapr(t, 40)
			o := testOptions(TargetLattice, f.serve())
			o.Workload = tc.workload
			if tc.strong {
				o.Consistency = lattice.Strong
			}
			res := mustRun(t, o)
			checkClean(t, res, 200)
			if got, want := tc.check(f); got != want {
				t.Fatalf("server saw %d requests of the workload's kind, want %d", got, want)
			}
			if tc.workload.needsPreload() && f.saves.Load() < int64(o.Keys) {
				t.Fatalf("preload wrote %d keys, want %d", f.saves.Load(), o.Keys)
			}
			if res.Misses != 0 {
				t.Fatalf("%d misses after preload", res.Misses)
			}
		})
	}
}

func TestClosedLoopDurationBound(t *testing.T) {
	f := newFakeDapr(t, 40)
	o := testOptions(TargetDapr, f.serve())
	o.Ops = 0
	o.Duration = 100 * time.Millisecond
	res := mustRun(t, o)
	if res.Ops == 0 || res.Ops != f.saves.Load() || res.Errors != 0 || res.Mode != "closed" {
		t.Fatalf("ops %d, server saves %d, errors %d, mode %s", res.Ops, f.saves.Load(), res.Errors, res.Mode)
	}
}

func TestOpenLoopIssuesScheduledOps(t *testing.T) {
	t.Run("op count", func(t *testing.T) {
		f := newFakeDapr(t, 40)
		o := testOptions(TargetDapr, f.serve())
		o.Rate = 2000
		o.Ops = 300
		res := mustRun(t, o)
		checkClean(t, res, 300)
		if f.saves.Load() != 300 || res.Unsent != 0 || res.Mode != "open" {
			t.Fatalf("server saw %d saves, unsent %d, mode %s; want 300, 0, open", f.saves.Load(), res.Unsent, res.Mode)
		}
	})
	t.Run("duration", func(t *testing.T) {
		f := newFakeDapr(t, 40)
		o := testOptions(TargetDapr, f.serve())
		o.Rate = 1000
		o.Ops = 0
		o.Duration = 150 * time.Millisecond
		res := mustRun(t, o)
		if res.Ops+res.Unsent != 150 || f.saves.Load() != res.Ops {
			t.Fatalf("ops %d + unsent %d, server saw %d; want a schedule of 150", res.Ops, res.Unsent, f.saves.Load())
		}
	})
	t.Run("both bounds", func(t *testing.T) {
		f := newFakeDapr(t, 40)
		o := testOptions(TargetDapr, f.serve())
		o.Rate = 1000
		o.Ops = 40
		o.Duration = time.Hour
		res := mustRun(t, o)
		checkClean(t, res, 40)
	})
}

func TestOpenLoopReportsUnsentWhenTargetFallsBehind(t *testing.T) {
	f := newFakeDapr(t, 40)
	f.respond = func(_ int64, _ http.ResponseWriter, r *http.Request) bool {
		hang(r) // never answers: every request times out
		return true
	}
	o := testOptions(TargetDapr, f.serve())
	o.Connections = 2
	o.Rate = 1000
	o.Ops = 20
	o.Timeout = 100 * time.Millisecond
	res := mustRun(t, o)
	// Each connection's requests last a full timeout, so after the first two waves the schedule
	// (20 ms) plus the timeout has passed and the rest must be reported unsent.
	if res.Unsent == 0 || res.Ops+res.Unsent != 20 || res.Errors != res.Ops || res.ErrorKinds[KindTimeout] != res.Ops {
		t.Fatalf("ops %d unsent %d errors %d kinds %v", res.Ops, res.Unsent, res.Errors, res.ErrorKinds)
	}
}

func TestRunAgainstReferenceServerEveryWorkload(t *testing.T) {
	srv, err := StartReferenceServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	for _, w := range Workloads() {
		t.Run(string(w), func(t *testing.T) {
			o := testOptions(TargetLattice, srv.URL())
			o.Workload = w
			o.KeyPrefix = "ref-" + string(w)
			checkClean(t, mustRun(t, o), 200)
		})
	}
}

func TestProgressLinePerInterval(t *testing.T) {
	f := newFakeDapr(t, 40)
	o := testOptions(TargetDapr, f.serve())
	var out syncbuf.Buffer
	o.Progress = &out
	o.ProgressInterval = 10 * time.Millisecond
	o.Rate = 500
	o.Ops = 50
	res := mustRun(t, o)
	checkClean(t, res, 50)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(res.Timeline) {
		t.Fatalf("%d progress lines for %d intervals:\n%s", len(lines), len(res.Timeline), out.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "[dapr save]") || !strings.Contains(l, "ops/s") || !strings.Contains(l, "p99") {
			t.Fatalf("progress line %q", l)
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	f := newFakeDapr(t, 40)
	o := testOptions(TargetDapr, f.serve())
	o.Ops = 0
	o.Duration = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	f.respond = func(n int64, _ http.ResponseWriter, _ *http.Request) bool {
		if n == 100 {
			cancel()
		}
		return false
	}
	res, err := Run(ctx, o)
	// Operations in flight at the cancellation are dropped, not counted as errors.
	if err != context.Canceled || res == nil || res.Ops < 100-int64(o.Connections) || res.Ops > f.n.Load() ||
		res.ErrorKinds != nil {
		t.Fatalf("err %v, result %+v", err, res)
	}
}

func TestPreloadFailureFailsRun(t *testing.T) {
	f := newFakeDapr(t, 40)
	f.respond = func(_ int64, w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}
	o := testOptions(TargetDapr, f.serve())
	o.Workload = WorkloadGet
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "preload: 64 of 64") {
		t.Fatalf("err %v", err)
	}
}

func TestOpenLoopMeasuresFromIntendedSendTime(t *testing.T) {
	f := newFakeDapr(t, 40)
	o := testOptions(TargetDapr, f.serve())
	o.Connections = 1
	o.Rate = 1e9 // the whole schedule is due at the start: each operation queues behind the previous ones
	o.Ops = 50
	res := mustRun(t, o)
	checkClean(t, res, 50)
	// The last operation was due at the start and finished at the end, so without coordinated
	// omission the largest latency spans (nearly) the whole run and the mean about half of it.
	if run := res.Seconds * 1000; res.Latency.Max < 0.5*run || res.Latency.Mean < 0.25*run {
		t.Fatalf("max %v ms, mean %v ms for a run of %v ms: latency not taken from the intended time",
			res.Latency.Max, res.Latency.Mean, run)
	}
}
