package jepsen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// faultTarget is what the nemesis acts on: the cluster in a run, a fake in tests.
type faultTarget interface {
	setNet(ctx context.Context, f netFaults) error
	leaderIndex(ctx context.Context) int
	kill(ctx context.Context, i int) error
	stop(ctx context.Context, i int) error
	start(ctx context.Context, i int, extra []string) error
	pause(ctx context.Context, i int) error
	resume(ctx context.Context, i int) error
}

// FaultRecord is one injected fault with its start and end (heal) times, as written to the nemesis
// log. Start and End are nanoseconds since the start of the run on the monotonic clock, like the
// history.
type FaultRecord struct {
	Kind        FaultKind `json:"kind"`
	Nodes       []string  `json:"nodes,omitempty"`
	Description string    `json:"description"`
	Start       int64     `json:"start"`
	End         int64     `json:"end"`
	StartTime   time.Time `json:"startTime"`
	EndTime     time.Time `json:"endTime"`
	Error       string    `json:"error,omitempty"`
}

// nemesis runs fault schedules against a target. It is safe for concurrent use.
type nemesis struct {
	target      faultTarget
	rec         *recorder
	lossPercent int
	log         *slog.Logger

	mu      sync.Mutex
	records []FaultRecord
	active  map[int]string // family -> description of its current fault
}

func newNemesis(t faultTarget, rec *recorder, lossPercent int, log *slog.Logger) *nemesis {
	return &nemesis{target: t, rec: rec, lossPercent: lossPercent, log: log, active: map[int]string{}}
}

// run executes every family concurrently until its steps are done or ctx ends. A fault that is
// active when ctx ends is healed before run returns.
func (n *nemesis) run(ctx context.Context, families [][]faultStep) {
	var wg sync.WaitGroup
	for f, steps := range families {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.runFamily(ctx, f, steps)
		}()
	}
	wg.Wait()
}

func (n *nemesis) runFamily(ctx context.Context, fam int, steps []faultStep) {
	for _, s := range steps {
		if !n.sleepUntil(ctx, s.At) {
			return
		}
		r, heal := n.inject(ctx, s)
		n.setActive(fam, fmt.Sprintf("%s %s", s.Kind, strings.Join(r.Nodes, ",")))
		n.log.Info("fault", "kind", s.Kind, "nodes", r.Nodes, "description", r.Description)
		n.sleepUntil(ctx, s.Heal)
		// Heal even when the run is over: the final checks need a healthy cluster.
		if err := heal(context.WithoutCancel(ctx)); err != nil {
			r.Error = strings.TrimPrefix(strings.TrimSpace(r.Error+"; heal: "+err.Error()), "; ")
		}
		r.End, r.EndTime = n.rec.Now(), time.Now()
		n.setActive(fam, "")
		n.finish(r)
	}
}

// sleepUntil waits until offset d since the start of the run; false if ctx ended first.
func (n *nemesis) sleepUntil(ctx context.Context, d time.Duration) bool {
	wait := d - time.Duration(n.rec.Now())
	if wait <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// inject applies step s and returns its record (start filled in) and the function that heals it.
func (n *nemesis) inject(ctx context.Context, s faultStep) (FaultRecord, func(context.Context) error) {
	r := FaultRecord{Kind: s.Kind, Start: n.rec.Now(), StartTime: time.Now()}
	noop := func(context.Context) error { return nil }
	target := s.Perm[0]
	var err error
	heal := noop
	switch {
	case s.Kind.isPartition():
		leader := -1
		if s.Kind == FaultPartitionLeader {
			leader = n.target.leaderIndex(ctx)
		}
		var g grudge
		g, err = partitionGrudge(s.Kind, s.Perm, leader)
		if err == nil {
			r.Nodes = grudgeTargets(s.Kind, g, s.Perm, leader)
			r.Description = g.String()
			err = n.target.setNet(ctx, netFaults{Partition: g})
			heal = func(ctx context.Context) error { return n.target.setNet(ctx, netFaults{}) }
		}
	case s.Kind == FaultLoss:
		for _, l := range s.Loss {
			r.Nodes = append(r.Nodes, l.String())
		}
		r.Description = fmt.Sprintf("%d%% loss on %s", n.lossPercent, strings.Join(r.Nodes, " "))
		err = n.target.setNet(ctx, netFaults{Loss: s.Loss, LossPercent: n.lossPercent})
		heal = func(ctx context.Context) error { return n.target.setNet(ctx, netFaults{}) }
	case s.Kind == FaultKill:
		r.Nodes, r.Description = []string{nodeName(target)}, "SIGKILL "+nodeName(target)
		err = n.target.kill(ctx, target)
		heal = func(ctx context.Context) error { return n.target.start(ctx, target, nil) }
	case s.Kind == FaultPause:
		r.Nodes, r.Description = []string{nodeName(target)}, "SIGSTOP "+nodeName(target)
		err = n.target.pause(ctx, target)
		heal = func(ctx context.Context) error { return n.target.resume(ctx, target) }
	case s.Kind == FaultRestart:
		r.Nodes, r.Description = []string{nodeName(target)}, "SIGTERM and restart "+nodeName(target)
		err = errors.Join(n.target.stop(ctx, target), n.target.start(ctx, target, nil))
	case s.Kind == FaultClock:
		flag := "--test-clock-offset=" + s.Skew.String()
		r.Nodes, r.Description = []string{nodeName(target)}, "restart "+nodeName(target)+" with "+flag
		err = n.target.stop(ctx, target)
		if err == nil {
			err = n.target.start(ctx, target, []string{flag})
		}
		heal = func(ctx context.Context) error {
			return errors.Join(n.target.stop(ctx, target), n.target.start(ctx, target, nil))
		}
	default:
		err = fmt.Errorf("jepsen: unknown fault %s", s.Kind)
	}
	if err != nil {
		r.Error = err.Error()
		n.log.Warn("fault failed", "kind", s.Kind, "err", err)
	}
	return r, heal
}

// grudgeTargets names the nodes a partition is "about": the isolated node, the minority, the
// bridge node; the ring lists every node.
func grudgeTargets(kind FaultKind, g grudge, perm []int, leader int) []string {
	var idx []int
	switch kind {
	case FaultPartitionOne:
		idx = []int{perm[0]}
	case FaultPartitionLeader:
		if leader < 0 {
			leader = perm[0]
		}
		idx = []int{leader}
	case FaultPartitionHalves:
		idx = slices.Sorted(slices.Values(perm[:len(perm)/2]))
	case FaultPartitionBridge:
		idx = []int{perm[(len(perm)-1)/2]}
	default:
		for i := range g {
			idx = append(idx, i)
		}
	}
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = nodeName(x)
	}
	return out
}

func (n *nemesis) setActive(fam int, desc string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if desc == "" {
		delete(n.active, fam)
	} else {
		n.active[fam] = desc
	}
}

// activeFaults describes the faults in force, for progress lines.
func (n *nemesis) activeFaults() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, d := range n.active {
		out = append(out, d)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

// finish stores a completed fault and appends it to the history.
func (n *nemesis) finish(r FaultRecord) {
	n.mu.Lock()
	n.records = append(n.records, r)
	n.mu.Unlock()
	t := OK
	if r.Error != "" {
		t = Info
	}
	n.rec.Add(Op{Process: -1, Workload: workloadNemesis, F: string(r.Kind), Nodes: r.Nodes,
		Value: r.Description, Type: t, Error: r.Error, Invoke: r.Start, Complete: r.End})
}

// faults returns the completed faults sorted by start.
func (n *nemesis) faults() []FaultRecord {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := append([]FaultRecord(nil), n.records...)
	slices.SortFunc(out, func(a, b FaultRecord) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// faultWindow is a fault as the checkers see it in the history.
type faultWindow struct {
	Kind       FaultKind
	Nodes      []string
	Start, End int64
}

// faultWindows extracts the nemesis ops of a history.
func faultWindows(h []Op) []faultWindow {
	var out []faultWindow
	for _, op := range h {
		if op.Workload == workloadNemesis {
			out = append(out, faultWindow{Kind: FaultKind(op.F), Nodes: op.Nodes, Start: op.Invoke, End: op.Complete})
		}
	}
	return out
}
