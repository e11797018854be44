package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// near reports whether got is within HDR's 3-significant-digit precision of want.
func near(got, want float64) bool { return math.Abs(got-want) <= want*0.001+0.001 }

func TestHistogramFigures(t *testing.T) {
	rec := newRecorder()
	for i := 1; i <= 1000; i++ {
		rec.record(time.Duration(i)*time.Millisecond, nil, i%100 == 0)
	}
	rec.record(time.Hour, errors.New("x"), false) // errors never enter the latency figures
	l := summarize(rec.total)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"min", l.Min, 1}, {"p50", l.P50, 500}, {"p90", l.P90, 900}, {"p99", l.P99, 990},
		{"p99.9", l.P999, 999}, {"max", l.Max, 1000}, {"mean", l.Mean, 500.5},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v ms, want %v", c.name, c.got, c.want)
		}
	}
	if l.Count != 1000 || rec.ops != 1001 || rec.errs != 1 || rec.misses != 10 || rec.kinds[KindNetwork] != 1 {
		t.Fatalf("count %d ops %d errs %d misses %d kinds %v", l.Count, rec.ops, rec.errs, rec.misses, rec.kinds)
	}
	agg := newHist()
	if ops, errs := rec.drain(agg); ops != 1001 || errs != 1 || agg.TotalCount() != 1000 {
		t.Fatalf("drain: ops %d errs %d count %d", ops, errs, agg.TotalCount())
	}
	if ops, _ := rec.drain(newHist()); ops != 0 || rec.interval.TotalCount() != 0 {
		t.Fatal("drain did not reset the interval")
	}
	if summarize(newHist()) != (Latency{}) {
		t.Fatal("empty histogram should summarise to zeros")
	}
}

func TestRecordDurationClamps(t *testing.T) {
	h := newHist()
	recordDuration(h, 0)
	recordDuration(h, 2*time.Hour)
	if h.TotalCount() != 2 || h.Min() != histMinMicros || !h.ValuesAreEquivalent(h.Max(), histMaxMicros) {
		t.Fatalf("count %d min %d max %d", h.TotalCount(), h.Min(), h.Max())
	}
}

func TestMergeAndRatio(t *testing.T) {
	mk := func(ms int, ops, errs int64, secs float64, kinds map[string]int64) measured {
		h := newHist()
		for range ops - errs {
			recordDuration(h, time.Duration(ms)*time.Millisecond)
		}
		return measured{res: &Result{Ops: ops, Errors: errs, Seconds: secs, ErrorKinds: kinds,
			Timeline: []Interval{{Ops: ops}}}, hist: h}
	}
	m := mergeRuns(mk(1, 100, 0, 1, nil), mk(3, 300, 100, 1, map[string]int64{"http 503": 100}))
	r := m.res
	if r.Ops != 400 || r.Errors != 100 || r.Seconds != 2 || r.Throughput != 150 || r.Timeline != nil ||
		r.ErrorKinds["http 503"] != 100 || r.Latency.Count != 300 || !near(r.Latency.P50, 3) || !near(r.Latency.Min, 1) {
		t.Fatalf("merged %+v", r)
	}
	target := &Result{Throughput: 75, Latency: Latency{Mean: 5, P50: 6, P90: 9, P99: 30, P999: 0, Max: 60}}
	ratio := ratioOf(target, &Result{Throughput: 150, Latency: Latency{Mean: 2.5, P50: 3, P90: 3, P99: 3, P999: 0, Max: 3}})
	want := Ratio{Throughput: 0.5, Mean: 2, P50: 2, P90: 3, P99: 10, P999: 0, Max: 20}
	if *ratio != want {
		t.Fatalf("ratio %+v, want %+v", *ratio, want)
	}
}

func TestJSONRoundTripAndTable(t *testing.T) {
	f := newFakeDapr(t, 40)
	o := testOptions(TargetDapr, f.serve())
	o.Reference = true
	o.Ops = 100
	res := mustRun(t, o)
	if res.Reference == nil || res.Ratio == nil || res.Reference.Ops != 200 || res.Reference.URLs[0] == o.URLs[0] {
		t.Fatalf("reference %+v ratio %+v", res.Reference, res.Ratio)
	}
	if res.Ratio.Throughput != res.Throughput/res.Reference.Throughput {
		t.Fatalf("throughput ratio %v", res.Ratio.Throughput)
	}
	etcd := *res.Reference
	etcd.Target, etcd.ErrorKinds = TargetEtcd, map[string]int64{"conflict": 3}
	res.Etcd, res.EtcdRatio = &etcd, ratioOf(res, &etcd)
	res.ErrorKinds = map[string]int64{"http 503": 2}
	res.Lags = &Lags{Probes: 3, FoldIn: &Lag{Latency: Latency{Count: 3, P99: 1.5}}, Visibility: &Lag{Timeouts: 1}}
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, res) {
		t.Fatalf("round trip differs:\n%+v\n%+v", back, *res)
	}
	var again bytes.Buffer
	if err := back.WriteJSON(&again); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("re-encoding differs: %v", err)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dapr save", "target/reference", "target/etcd", "throughput", "latency p99.9",
		"http 503 2", "etcd errors by kind  conflict 3", "fold-in lag", "visibility lag", "(0 samples, 1 timeouts)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// TestRunComparesWithEtcdAroundTheTarget checks the order of a run with both comparisons
// (reference, etcd, target, etcd, reference), the merged etcd figures and the table's columns.
func TestRunComparesWithEtcdAroundTheTarget(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	note := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		if len(order) == 0 || order[len(order)-1] != name {
			order = append(order, name)
		}
	}
	target := newFakeDapr(t, 40)
	target.respond = func(int64, http.ResponseWriter, *http.Request) bool { note("target"); return false }
	etcd := newFakeEtcd(t)
	etcdURL := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note("etcd")
		etcd.ServeHTTP(w, r)
	}))
	o := testOptions(TargetDapr, target.serve())
	o.Workload = WorkloadStrongSave
	o.Reference = true
	o.EtcdURLs = []string{etcdURL}
	o.Ops = 100
	// The in-process reference server's turns show in the progress lines: every run prints
	// at least its final one.
	o.Progress = writerFunc(func(p []byte) (int, error) {
		if strings.HasPrefix(string(p), "[reference ") {
			note("reference")
		}
		return len(p), nil
	})
	res := mustRun(t, o)
	if got, want := strings.Join(order, ","), "reference,etcd,target,etcd,reference"; got != want {
		t.Fatalf("runs in order %s, want %s", got, want)
	}
	if res.Etcd == nil || res.EtcdRatio == nil || res.Etcd.Ops != 200 || res.Etcd.Errors != 0 ||
		res.Etcd.Target != TargetEtcd || res.Etcd.URLs[0] != etcdURL || etcd.puts.Load() != 200 {
		t.Fatalf("etcd figures %+v ratio %+v (fake saw %d puts)", res.Etcd, res.EtcdRatio, etcd.puts.Load())
	}
	if res.EtcdRatio.Throughput != res.Throughput/res.Etcd.Throughput || res.EtcdRatio.P99 != res.Latency.P99/res.Etcd.Latency.P99 {
		t.Fatalf("etcd ratio %+v for %v / %v ops/s", res.EtcdRatio, res.Throughput, res.Etcd.Throughput)
	}
	if res.Reference == nil || res.Reference.Ops != 200 || target.strongSaves.Load() != 100 {
		t.Fatalf("reference %+v, target strong saves %d", res.Reference, target.strongSaves.Load())
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(table.String(), "\n")
	if len(lines) < 3 || strings.Join(strings.Fields(lines[1]), " ") != "figure target reference target/reference etcd target/etcd" {
		t.Fatalf("table header:\n%s", table.String())
	}
	if f := strings.Fields(lines[2]); len(f) != 9 || f[0] != "throughput" || f[8] != fmt.Sprintf("%.2f", res.EtcdRatio.Throughput) {
		t.Fatalf("throughput row %q", lines[2])
	}
}

// TestComparisonAfterTheTargetFailsOrIsStopped: a comparison whose run after the target fails
// keeps its run before it and the failure is returned with the figures; the other comparisons
// still run. A run stopped during the target skips the runs after it and keeps those before.
func TestComparisonAfterTheTargetFailsOrIsStopped(t *testing.T) {
	t.Run("etcd fails after", func(t *testing.T) {
		var targetSeen atomic.Bool
		target := newFakeDapr(t, 40)
		target.respond = func(int64, http.ResponseWriter, *http.Request) bool { targetSeen.Store(true); return false }
		etcd := newFakeEtcd(t)
		etcdURL := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if targetSeen.Load() {
				w.WriteHeader(http.StatusInternalServerError) // the second preload fails
				return
			}
			etcd.ServeHTTP(w, r)
		}))
		o := testOptions(TargetDapr, target.serve())
		o.Workload = WorkloadGet
		o.Reference = true
		o.EtcdURLs = []string{etcdURL}
		o.Ops = 100
		res, err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "etcd run: bench: preload: 64 of 64") {
			t.Fatalf("err %v", err)
		}
		if res == nil || res.Ops != 100 || res.Etcd == nil || res.Etcd.Ops != 100 || res.EtcdRatio == nil {
			t.Fatalf("result %+v", res)
		}
		if res.Reference == nil || res.Reference.Ops != 200 {
			t.Fatalf("the reference's run after the target is missing: %+v", res.Reference)
		}
	})
	t.Run("stopped during the target", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var targetSeen atomic.Bool
		target := newFakeDapr(t, 40)
		target.respond = func(n int64, w http.ResponseWriter, r *http.Request) bool {
			targetSeen.Store(true)
			if n == 50 {
				cancel()
			}
			return false
		}
		var etcdAfter atomic.Int64
		etcd := newFakeEtcd(t)
		etcdURL := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if targetSeen.Load() {
				etcdAfter.Add(1)
			}
			etcd.ServeHTTP(w, r)
		}))
		o := testOptions(TargetDapr, target.serve())
		o.Workload = WorkloadStrongSave
		o.EtcdURLs = []string{etcdURL}
		o.Ops = 1000 // the target is stopped after 50
		res, err := Run(ctx, o)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		if res == nil || res.Ops == 0 || res.Ops >= 1000 || res.Etcd == nil || res.Etcd.Ops != 1000 || res.EtcdRatio == nil {
			t.Fatalf("result %+v", res)
		}
		if n := etcdAfter.Load(); n != 0 {
			t.Fatalf("etcd got %d requests after the stopped target", n)
		}
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestWritePlot(t *testing.T) {
	res := &Result{Target: TargetDapr, Workload: WorkloadSave}
	path := filepath.Join(t.TempDir(), "latency.png")
	if err := res.WritePlot(path); err == nil {
		t.Fatal("a result without timeline should not plot")
	}
	for i := range 5 {
		res.Timeline = append(res.Timeline, Interval{At: float64(i + 1), P50: 1, P90: 2, P99: float64(3 + i), Max: 10})
	}
	if err := res.WritePlot(path); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 50 {
		t.Fatalf("image %v", b)
	}
}
