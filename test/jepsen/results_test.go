package jepsen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestHistoryRoundTrip(t *testing.T) {
	rec := newRecorder(time.Now())
	c := rec.NewClient()
	rec.Add(Op{Process: 1, Client: c, Node: "n1", Workload: WorkloadRegister, F: "cas", Key: "k", Value: "2", Expect: "1",
		Type: Info, Invoke: 20, Complete: 30})
	rec.Add(Op{Process: 2, Workload: WorkloadBank, F: "read", Accounts: map[string]int64{"a": 3}, Type: OK, Invoke: 10, Complete: 15})
	rec.Add(Op{Process: 3, Workload: WorkloadSet, F: "read", Elements: []string{"x"}, Type: Fail, Status: 503, Error: "boom", Invoke: 10, Complete: 12})
	if ok, fail, info := rec.Counts(); ok != 1 || fail != 1 || info != 1 {
		t.Fatalf("counts %d %d %d", ok, fail, info)
	}
	h := rec.History()
	if h[0].Workload != WorkloadBank || h[1].Workload != WorkloadSet || h[2].Index != 0 {
		t.Fatalf("not sorted by invocation, then index: %+v", h)
	}
	var buf bytes.Buffer
	if err := WriteHistory(&buf, h); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 3 {
		t.Fatalf("%d lines", n)
	}
	back, err := ReadHistory(&buf)
	if err != nil || !reflect.DeepEqual(back, h) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, back, h)
	}
	if rec.NewClient() == c {
		t.Fatal("client ids reused")
	}
}

func TestResultsJSON(t *testing.T) {
	dir := t.TempDir()
	r := Result{Dir: dir, Seed: 42, Nodes: 3, Workloads: []string{"register", "bank"}}
	r.mergeChecks([]CheckResult{
		{Name: "register", Valid: Valid},
		{Name: "bank", Valid: Unknown, Summary: "no successful snapshot read"},
		{Name: "crash", Valid: Valid},
	})
	if r.Valid != Unknown {
		t.Fatalf("merged %s", r.Valid)
	}
	if err := writeResults(r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Valid    any `json:"valid"`
		Checkers map[string]struct {
			Valid any `json:"valid"`
		} `json:"checkers"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Valid != "unknown" || raw.Checkers["register"].Valid != true || raw.Checkers["bank"].Valid != "unknown" {
		t.Fatalf("results.json: %s", b)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back.Valid != Unknown || back.Checkers["register"].Valid != Valid {
		t.Fatalf("decode: %v %+v", err, back)
	}
	r.mergeChecks([]CheckResult{{Name: "register", Valid: Invalid}, {Name: "bank", Valid: Unknown}})
	if r.Valid != Invalid {
		t.Fatalf("merged %s", r.Valid)
	}
}

func TestNemesisLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nemesis.jsonl")
	faults := []FaultRecord{{Kind: FaultKill, Nodes: []string{"n1"}, Start: 1, End: 2}, {Kind: FaultLoss, Start: 3, End: 4}}
	if err := writeNemesisLog(path, faults); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	var first FaultRecord
	if len(lines) != 2 || json.Unmarshal(lines[0], &first) != nil || first.Kind != FaultKill || first.End != 2 {
		t.Fatalf("log %s", b)
	}
}

func TestComputeStats(t *testing.T) {
	ms := int64(time.Millisecond)
	var h []Op
	for i := int64(1); i <= 100; i++ {
		h = append(h, Op{Process: 1, Workload: WorkloadCounter, Type: OK, Invoke: 0, Complete: i * ms})
	}
	h = append(h, Op{Process: 1, Workload: WorkloadCounter, Type: Info, Complete: 5000 * ms},
		Op{Process: -1, Workload: workloadNemesis, Type: OK, Complete: 9000 * ms})
	s := computeStats(h, 10)[WorkloadCounter]
	if s.OK != 100 || s.Info != 1 || s.P50Ms != 50 || s.P99Ms != 99 || s.MaxMs != 100 || s.Throughput != 10 {
		t.Fatalf("stats %+v", s)
	}
	if _, ok := computeStats(h, 10)[workloadNemesis]; ok {
		t.Fatal("nemesis ops counted as client ops")
	}
}

func TestWritePlots(t *testing.T) {
	dir := t.TempDir()
	s := int64(time.Second)
	var h []Op
	for i := int64(0); i < 200; i++ {
		typ := OK
		switch i % 10 {
		case 3:
			typ = Info
		case 7:
			typ = Fail
		}
		h = append(h, Op{Process: int(i % 4), Workload: []string{WorkloadRegister, WorkloadBank}[i%2], Type: typ,
			Invoke: i * s / 20, Complete: i*s/20 + (i%13+1)*s/1000})
	}
	faults := []faultWindow{{Kind: FaultPartitionHalves, Start: 2 * s, End: 4 * s}, {Kind: FaultKill, Start: 6 * s, End: 7 * s}}
	files, err := writePlots(dir, h, faults)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(files, []string{latencyPlot, ratePlot}) {
		t.Fatalf("files %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) < 2000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Fatalf("%s: %v, %d bytes", f, err, len(b))
		}
	}
	// An empty history still gives plots (a run that failed early).
	if _, err := writePlots(t.TempDir(), nil, nil); err != nil {
		t.Fatal(err)
	}
}
