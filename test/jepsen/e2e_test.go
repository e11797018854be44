package jepsen

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// runAgainstFake runs the given workloads' clients against a fake cluster for d, performs the
// final reads, checks and writes the results folder, as Run does after the cluster is up.
func runAgainstFake(t *testing.T, bugs fakeBugs, workloads []string, d time.Duration) Result {
	t.Helper()
	f := newFakeCluster(t, 3, bugs)
	o := validOptions()
	o.Workloads, o.Rate, o.Seed = workloads, 600, 7
	o.ConvergeTimeout, o.CheckTimeout, o.RegisterOpsPerKey = time.Second, 4*time.Second, 60
	o.ResultsDir = t.TempDir()
	names, err := o.workloadList()
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(time.Now())
	s := &suite{opts: o, log: discardLogger(), progress: io.Discard, rec: rec,
		res: Result{Dir: o.ResultsDir, Seed: o.Seed, Nodes: 3, Workloads: names}}
	s.env = &env{opts: o, rec: rec, addrs: f.addrs(), log: s.log}
	for _, a := range f.addrs() {
		s.env.clients = append(s.env.clients, newAPIClient(a, o.RequestTimeout))
	}
	s.wls = s.buildWorkloads(names)
	ctx := context.Background()
	for _, wl := range s.wls {
		if err := wl.setup(ctx, s.env); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	runClients(runCtx, s.wls, s.env)
	cancel()
	s.res.DurationSeconds = d.Seconds()
	rec.Add(Op{Process: -1, Workload: workloadHarness, F: "final-heal", Type: OK, Invoke: rec.Now(), Complete: rec.Now()})
	s.finalReads(ctx)
	res, err := s.finish(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWorkloadsAgainstCorrectFake(t *testing.T) {
	res := runAgainstFake(t, fakeBugs{}, []string{"all"}, 1500*time.Millisecond)
	for name, c := range res.Checkers {
		if c.Valid != Valid {
			t.Errorf("%s: %s", name, c)
		}
	}
	if res.Valid != Valid {
		t.Fatalf("overall %s", res.Valid)
	}
	for _, w := range AllWorkloads {
		if st := res.Stats[w]; st.OK < 20 {
			t.Errorf("%s: only %d successful ops", w, st.OK)
		}
	}
	if res.Checkers[WorkloadRegister].Figures["operations"] < 100 || res.Checkers[WorkloadBank].Figures["reads"] < 5 {
		t.Errorf("too little work: register %v bank %v", res.Checkers[WorkloadRegister].Figures, res.Checkers[WorkloadBank].Figures)
	}
	// The results folder.
	for _, f := range []string{"history.jsonl", "nemesis.jsonl", "results.json", latencyPlot, ratePlot} {
		if _, err := os.Stat(filepath.Join(res.Dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "register.html")); err == nil {
		t.Error("register.html written for a valid run")
	}
	hf, err := os.Open(filepath.Join(res.Dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	h, err := ReadHistory(hf)
	if err != nil || len(h) < 300 {
		t.Fatalf("history: %d ops, %v", len(h), err)
	}
	b, _ := os.ReadFile(filepath.Join(res.Dir, "results.json"))
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil || raw["valid"] != true {
		t.Fatalf("results.json valid = %v (%v)", raw["valid"], err)
	}
	// Re-checking the written history gives the same verdicts (checkers are pure).
	if got := checkCounter(h, int64(time.Second)); got.Valid != Valid {
		t.Errorf("re-check counter: %s", got)
	}
}

func TestCheckersCatchBrokenFakes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bugs      fakeBugs
		workloads []string
		invalid   []string
	}{
		{"stale strong reads", fakeBugs{staleStrongReads: true}, []string{WorkloadRegister, WorkloadCounter, WorkloadSet},
			[]string{WorkloadRegister, WorkloadCounter, WorkloadSet}},
		{"lost eventual writes", fakeBugs{loseEventual: true}, []string{WorkloadCounter, WorkloadSet},
			[]string{WorkloadCounter, WorkloadSet}},
		{"non-atomic transactions", fakeBugs{halfTransactions: true}, []string{WorkloadBank}, []string{WorkloadBank}},
		{"divergent replica", fakeBugs{divergentReplica: true}, []string{WorkloadRegister, WorkloadConvergence},
			[]string{WorkloadConvergence}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runAgainstFake(t, tc.bugs, tc.workloads, time.Second)
			if res.Valid != Invalid {
				t.Errorf("overall %s", res.Valid)
			}
			for _, w := range tc.invalid {
				if c := res.Checkers[w]; c.Valid != Invalid {
					t.Errorf("%s not caught: %s", w, c)
				}
			}
			if r, ok := res.Checkers[WorkloadRegister]; ok && r.Valid == Invalid {
				if _, err := os.Stat(filepath.Join(res.Dir, "register.html")); err != nil {
					t.Errorf("no visualisation for a failed register check: %v", err)
				}
			}
		})
	}
}
