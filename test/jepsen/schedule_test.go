package jepsen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPlanSchedule(t *testing.T) {
	kinds := []FaultKind{FaultPartitionOne, FaultPartitionHalves, FaultLoss, FaultKill, FaultClock}
	p := schedulePlan{Nodes: 5, Duration: 5 * time.Minute, Min: 5 * time.Second, Max: 10 * time.Second, ClockSkew: 4 * time.Second}
	steps := planSchedule(rand.New(rand.NewPCG(1, 2)), kinds, p)
	if len(steps) < 10 {
		t.Fatalf("only %d steps in 5 minutes", len(steps))
	}
	seen := map[FaultKind]bool{}
	var prevHeal time.Duration
	for i, s := range steps {
		seen[s.Kind] = true
		quiet, length := s.At-prevHeal, s.Heal-s.At
		if quiet < p.Min || quiet > p.Max {
			t.Errorf("step %d: quiet period %s outside [%s, %s]", i, quiet, p.Min, p.Max)
		}
		if s.Heal > p.Duration || length <= 0 || (length > p.Max) || (length < p.Min && s.Heal != p.Duration) {
			t.Errorf("step %d: fault %s..%s", i, s.At, s.Heal)
		}
		if !reflect.DeepEqual(slices.Sorted(slices.Values(s.Perm)), []int{0, 1, 2, 3, 4}) {
			t.Errorf("step %d: perm %v", i, s.Perm)
		}
		switch s.Kind {
		case FaultLoss:
			if len(s.Loss) == 0 {
				t.Errorf("step %d: no lossy link", i)
			}
		case FaultClock:
			if a := max(s.Skew, -s.Skew); a < p.ClockSkew/4 || a > p.ClockSkew {
				t.Errorf("step %d: skew %s", i, s.Skew)
			}
		}
		prevHeal = s.Heal
	}
	for _, k := range kinds {
		if !seen[k] {
			t.Errorf("kind %s never scheduled", k)
		}
	}
	again := planSchedule(rand.New(rand.NewPCG(1, 2)), kinds, p)
	if !reflect.DeepEqual(steps, again) {
		t.Error("the same seed gave a different schedule")
	}
	other := planSchedule(rand.New(rand.NewPCG(2, 2)), kinds, p)
	if reflect.DeepEqual(steps, other) {
		t.Error("another seed gave the same schedule")
	}
	if planSchedule(rand.New(rand.NewPCG(1, 2)), nil, p) != nil {
		t.Error("no kinds must give no steps")
	}
}

func TestPlanFamiliesSplitsNetworkAndProcessFaults(t *testing.T) {
	p := schedulePlan{Nodes: 3, Duration: time.Minute, Min: 5 * time.Second, Max: 10 * time.Second, ClockSkew: time.Second}
	fams := planFamilies(7, []FaultKind{FaultPartitionOne, FaultLoss, FaultKill, FaultPause}, p)
	if len(fams) != 2 {
		t.Fatalf("%d families", len(fams))
	}
	for _, s := range fams[0] {
		if !s.Kind.isNetwork() {
			t.Errorf("network family has %s", s.Kind)
		}
	}
	for _, s := range fams[1] {
		if s.Kind.isNetwork() {
			t.Errorf("process family has %s", s.Kind)
		}
	}
	if got := planFamilies(7, []FaultKind{FaultKill}, p); len(got) != 1 || got[0][0].Kind != FaultKill {
		t.Fatalf("process-only plan %v", got)
	}
	if !reflect.DeepEqual(planFamilies(7, []FaultKind{FaultKill}, p), planFamilies(7, []FaultKind{FaultKill}, p)) {
		t.Fatal("not deterministic")
	}
}

// fakeTarget records what the nemesis does.
type fakeTarget struct {
	n      int
	leader int
	mu     sync.Mutex
	calls  []string
}

func (f *fakeTarget) log(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return nil
}

func (f *fakeTarget) setNet(_ context.Context, nf netFaults) error {
	return f.log("net %s loss %v", nf.Partition, nf.Loss)
}
func (f *fakeTarget) leaderIndex(context.Context) int      { return f.leader }
func (f *fakeTarget) kill(_ context.Context, i int) error  { return f.log("kill %d", i) }
func (f *fakeTarget) stop(_ context.Context, i int) error  { return f.log("stop %d", i) }
func (f *fakeTarget) pause(_ context.Context, i int) error { return f.log("pause %d", i) }
func (f *fakeTarget) resume(_ context.Context, i int) error {
	return f.log("resume %d", i)
}
func (f *fakeTarget) start(_ context.Context, i int, extra []string) error {
	return f.log("start %d %v", i, extra)
}

func TestNemesisRunsStepsInOrder(t *testing.T) {
	ms := time.Millisecond
	ft := &fakeTarget{n: 3, leader: 2}
	rec := newRecorder(time.Now())
	nem := newNemesis(ft, rec, 20, discardLogger())
	network := []faultStep{
		{Kind: FaultPartitionLeader, At: 1 * ms, Heal: 3 * ms, Perm: []int{0, 1, 2}},
		{Kind: FaultLoss, At: 5 * ms, Heal: 7 * ms, Perm: []int{0, 1, 2}, Loss: []link{{0, 1}}},
	}
	process := []faultStep{
		{Kind: FaultKill, At: 1 * ms, Heal: 2 * ms, Perm: []int{1, 0, 2}},
		{Kind: FaultPause, At: 3 * ms, Heal: 4 * ms, Perm: []int{0, 1, 2}},
		{Kind: FaultRestart, At: 5 * ms, Heal: 6 * ms, Perm: []int{2, 1, 0}},
		{Kind: FaultClock, At: 7 * ms, Heal: 8 * ms, Perm: []int{0, 2, 1}, Skew: -1500 * ms},
	}
	nem.run(context.Background(), [][]faultStep{network, process})

	var net, proc []string
	for _, c := range ft.calls {
		if strings.HasPrefix(c, "net") {
			net = append(net, c)
		} else {
			proc = append(proc, c)
		}
	}
	wantNet := []string{"net n1:-n3 n2:-n3 n3:-n1,n2 loss []", "net none loss []", "net none loss [n1-n2]", "net none loss []"}
	wantProc := []string{"kill 1", "start 1 []", "pause 0", "resume 0", "stop 2", "start 2 []",
		"stop 0", "start 0 [--test-clock-offset=-1.5s]", "stop 0", "start 0 []"}
	if !reflect.DeepEqual(net, wantNet) {
		t.Errorf("network calls %q, want %q", net, wantNet)
	}
	if !reflect.DeepEqual(proc, wantProc) {
		t.Errorf("process calls %q, want %q", proc, wantProc)
	}
	faults := nem.faults()
	if len(faults) != 6 {
		t.Fatalf("%d fault records", len(faults))
	}
	for _, f := range faults {
		if f.End < f.Start || f.Error != "" || f.Description == "" {
			t.Errorf("bad record %+v", f)
		}
	}
	if faults[0].Kind != FaultPartitionLeader && faults[1].Kind != FaultPartitionLeader {
		t.Errorf("records not sorted by start: %v %v", faults[0].Kind, faults[1].Kind)
	}
	for _, f := range faults {
		if f.Kind == FaultPartitionLeader && !reflect.DeepEqual(f.Nodes, []string{"n3"}) {
			t.Errorf("leader partition targets %v, want the leader n3", f.Nodes)
		}
	}
	ws := faultWindows(rec.History())
	if len(ws) != 6 {
		t.Fatalf("%d nemesis ops in the history", len(ws))
	}
}

func TestNemesisHealsWhenCancelled(t *testing.T) {
	ft := &fakeTarget{n: 3}
	rec := newRecorder(time.Now())
	nem := newNemesis(ft, rec, 20, discardLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		nem.run(ctx, [][]faultStep{{{Kind: FaultPause, At: 0, Heal: time.Hour, Perm: []int{1, 0, 2}},
			{Kind: FaultKill, At: 2 * time.Hour, Heal: 3 * time.Hour, Perm: []int{1, 0, 2}}}})
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for nem.activeFaults() == "none" {
		if time.Now().After(deadline) {
			t.Fatal("fault never started")
		}
		time.Sleep(time.Millisecond)
	}
	if !strings.Contains(nem.activeFaults(), "pause n2") {
		t.Fatalf("active %q", nem.activeFaults())
	}
	cancel()
	<-done
	if !reflect.DeepEqual(ft.calls, []string{"pause 1", "resume 1"}) {
		t.Fatalf("calls %q", ft.calls)
	}
	if nem.activeFaults() != "none" {
		t.Fatalf("still active: %s", nem.activeFaults())
	}
}
