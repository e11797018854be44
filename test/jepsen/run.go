package jepsen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Run performs one test: it removes leftovers of earlier runs, builds the network, starts the
// nodes, runs the workloads' clients and the nemeses for Options.Duration, heals every fault,
// performs the final reads, checks the history and writes the results folder. It always removes
// what it created before returning.
//
// The error is for the harness: invalid options, not root, missing tools, a network or cluster
// that could not be set up, or cancellation (then Result holds what was recorded, with
// Interrupted set). Verdicts are in Result.Valid: a run that found a violation returns a nil error
// and Valid == Invalid, so a command should exit non-zero on err != nil || Valid == Invalid.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	if err := preflight(o); err != nil {
		return Result{}, err
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "jepsen")
	unlock, err := lockRun(o.Prefix)
	if err != nil {
		return Result{}, err
	}
	defer unlock()

	s := &suite{opts: o, log: log, progress: o.Progress, run: execRunner{log: log}}
	if s.progress == nil {
		s.progress = io.Discard
	}
	return s.execute(ctx)
}

// suite is the state of one Run.
type suite struct {
	opts     Options
	log      *slog.Logger
	progress io.Writer
	run      runner
	progMu   sync.Mutex
	res      Result
	rec      *recorder
	cl       *cluster
	nem      *nemesis
	wls      []workload
	env      *env
}

func (s *suite) say(format string, args ...any) {
	s.progMu.Lock()
	defer s.progMu.Unlock()
	fmt.Fprintf(s.progress, "jepsen: "+format+"\n", args...)
}

func (s *suite) execute(ctx context.Context) (Result, error) {
	o := s.opts
	start := time.Now()
	wlNames, _ := o.workloadList()
	kinds, _ := o.nemesisKinds()
	subnet, _ := o.subnet()
	dir := filepath.Join(o.ResultsDir, fmt.Sprintf("%s-seed%d", start.Format("20060102T150405"), o.Seed))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("jepsen: results dir: %w", err)
	}
	s.res = Result{Dir: dir, Seed: o.Seed, Start: start, Nodes: o.Nodes, Workloads: wlNames,
		Nemeses: kinds, ServeArgs: o.ServeArgs, Valid: Unknown}
	s.rec = newRecorder(start)
	s.say("results in %s (seed %d)", dir, o.Seed)

	// Everything below is undone by the deferred teardown, even on cancellation.
	teardown := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		defer cancel()
		if s.cl != nil {
			s.cl.stopAll(ctx)
		}
		if err := cleanupPrefix(ctx, s.run, o.Prefix); err != nil {
			s.say("cleanup: %v", err)
		}
	}
	defer teardown()

	ns, links, err := leftovers(ctx, s.run, o.Prefix)
	if err != nil {
		return s.res, err
	}
	if len(ns)+len(links) > 0 {
		s.say("removing leftovers of an earlier run: %s", strings.Join(append(ns, links...), " "))
		if err := cleanupPrefix(ctx, s.run, o.Prefix); err != nil {
			return s.res, err
		}
	}
	nw := newNetwork(o.Prefix, subnet, o.Nodes, s.run)
	if err := nw.setup(ctx); err != nil {
		return s.res, err
	}
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	s.cl, err = newCluster(o, nw, dir, hex.EncodeToString(token), s.onCrash, s.log)
	if err != nil {
		return s.res, err
	}
	s.say("starting %d nodes on %s", o.Nodes, subnet)
	if err := s.cl.startAll(); err != nil {
		return s.res, err
	}
	if err := s.cl.awaitReady(ctx, o.StartTimeout); err != nil {
		return s.finish(ctx, fmt.Errorf("%w (node logs: %s)", err, filepath.Join(dir, "nodes", "*", "node.log")))
	}
	s.env = &env{opts: o, rec: s.rec, clients: s.cl.clients, log: s.log}
	for i := range s.cl.procs {
		s.env.addrs = append(s.env.addrs, s.cl.httpAddr(i))
	}
	s.wls = s.buildWorkloads(wlNames)
	for _, wl := range s.wls {
		if err := wl.setup(ctx, s.env); err != nil {
			return s.finish(ctx, err)
		}
	}
	s.phase(ctx, kinds)
	if ctx.Err() == nil {
		s.finals(ctx)
	}
	return s.finish(ctx, ctx.Err())
}

// buildWorkloads creates the selected workloads; convergence reads the others' keys.
func (s *suite) buildWorkloads(names []string) []workload {
	o := s.opts
	var wls []workload
	for _, n := range names {
		switch n {
		case WorkloadRegister:
			wls = append(wls, newRegisterWorkload(o.RegisterKeys, o.RegisterOpsPerKey, o.CheckTimeout))
		case WorkloadCounter:
			wls = append(wls, newCounterWorkload(o.CounterKeys, o.PropagationBound, o.ConvergeTimeout))
		case WorkloadSet:
			wls = append(wls, newSetWorkload(o.SetKeys, o.PropagationBound, o.ConvergeTimeout))
		case WorkloadBank:
			wls = append(wls, newBankWorkload(o.BankAccounts, o.BankInitial, o.StartTimeout))
		case WorkloadConvergence:
			others := wls
			wls = append(wls, newConvergenceWorkload(func() []keyRef {
				var keys []keyRef
				for _, w := range others {
					keys = append(keys, w.keys()...)
				}
				return keys
			}, o.ConvergeTimeout))
		}
	}
	return wls
}

// phase runs clients and nemeses for Duration, then heals everything.
func (s *suite) phase(ctx context.Context, kinds []FaultKind) {
	o := s.opts
	t0 := time.Duration(s.rec.Now())
	families := planFamilies(o.Seed, kinds, schedulePlan{Nodes: o.Nodes, Duration: o.Duration,
		Min: o.NemesisMin, Max: o.NemesisMax, ClockSkew: o.ClockSkew})
	for _, fam := range families {
		for i := range fam {
			fam[i].At += t0
			fam[i].Heal += t0
			s.log.Debug("planned", "step", fam[i].String())
		}
	}
	s.nem = newNemesis(s.cl, s.rec, o.LossPercent, s.log)
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	s.say("running for %s: workloads %s; nemeses %v", o.Duration, strings.Join(s.res.Workloads, ","), kinds)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.nem.run(runCtx, families) }()
	go func() { defer wg.Done(); s.reportProgress(runCtx, t0) }()
	runClients(runCtx, s.wls, s.env)
	wg.Wait()
	s.res.DurationSeconds = (time.Duration(s.rec.Now()) - t0).Seconds()

	healCtx := context.WithoutCancel(ctx)
	op := Op{Process: -1, Workload: workloadHarness, F: "final-heal", Invoke: s.rec.Now(), Type: OK}
	if err := s.cl.healAll(healCtx); err != nil {
		op.Type, op.Error = Info, err.Error()
		s.say("final heal: %v", err)
	}
	op.Complete = s.rec.Now()
	s.rec.Add(op)
}

// reportProgress prints a line every ProgressInterval until ctx ends.
func (s *suite) reportProgress(ctx context.Context, t0 time.Duration) {
	t := time.NewTicker(s.opts.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ok, fail, info := s.rec.Counts()
			el := (time.Duration(s.rec.Now()) - t0).Round(time.Second)
			s.say("[%4s/%s] ops %d (ok %d, fail %d, info %d) faults: %s", el, s.opts.Duration, ok+fail+info, ok, fail, info, s.nem.activeFaults())
		}
	}
}

// finals waits for the cluster and records the workloads' final reads, convergence first.
func (s *suite) finals(ctx context.Context) {
	s.say("healed; waiting for the cluster")
	if err := s.cl.awaitReady(ctx, s.opts.StartTimeout); err != nil {
		s.say("%v (final reads will show it)", err)
	}
	s.finalReads(ctx)
}

// finalReads runs every workload's final phase, convergence first (it waits for agreement on
// every key, so the others read a settled cluster).
func (s *suite) finalReads(ctx context.Context) {
	order := append([]workload(nil), s.wls...)
	for i, wl := range order {
		if wl.name() == WorkloadConvergence {
			order = append([]workload{wl}, append(order[:i:i], order[i+1:]...)...)
			break
		}
	}
	for _, wl := range order {
		s.say("final reads: %s", wl.name())
		if err := wl.final(ctx, s.env); err != nil {
			s.say("final %s: %v", wl.name(), err)
		}
	}
}

// finish checks the history (unless interrupted), writes the results folder and returns.
func (s *suite) finish(ctx context.Context, runErr error) (Result, error) {
	h := s.rec.History()
	if s.nem != nil {
		s.res.Faults = s.nem.faults()
	}
	s.res.Stats = computeStats(h, s.res.DurationSeconds)
	var errs []error
	if ctx.Err() != nil {
		s.res.Interrupted = true
	}
	if runErr == nil {
		checks := []CheckResult{checkCrashes(h)}
		for _, wl := range s.wls {
			s.say("checking %s", wl.name())
			res := wl.check(h)
			if aw, ok := wl.(artifactWriter); ok && res.Valid == Invalid {
				errs = append(errs, aw.writeArtifacts(s.res.Dir, h, &res))
			}
			checks = append(checks, res)
		}
		s.res.mergeChecks(checks)
		for _, c := range checks {
			s.say("%s", c)
		}
	}
	f, err := os.Create(filepath.Join(s.res.Dir, "history.jsonl"))
	if err == nil {
		err = errors.Join(WriteHistory(f, h), f.Close())
	}
	errs = append(errs, err, writeNemesisLog(filepath.Join(s.res.Dir, "nemesis.jsonl"), s.res.Faults))
	if _, err := writePlots(s.res.Dir, h, faultWindows(h)); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, writeResults(s.res))
	if s.res.Valid == Valid && !s.opts.KeepData && s.cl != nil {
		s.cl.stopAll(context.WithoutCancel(ctx))
		for _, p := range s.cl.procs {
			errs = append(errs, os.RemoveAll(filepath.Join(p.dir, "data")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.say("writing results: %v", err)
	}
	s.say("valid: %s (%s)", s.res.Valid, s.res.Dir)
	if runErr != nil {
		return s.res, runErr
	}
	return s.res, nil
}

// artifactWriter is a workload that writes extra files (the register's visualisation) into the
// results folder when its check failed.
type artifactWriter interface {
	writeArtifacts(dir string, h []Op, res *CheckResult) error
}

// onCrash records an unexpected node exit.
func (s *suite) onCrash(idx int, err error) {
	now := s.rec.Now()
	msg := "exited"
	if err != nil {
		msg = err.Error()
	}
	s.rec.Add(Op{Process: -1, Workload: workloadHarness, F: "crash", Node: nodeName(idx), Type: Info,
		Error: msg, Invoke: now, Complete: now})
	s.say("node %s exited unexpectedly: %s (see nodes/%s/node.log)", nodeName(idx), msg, nodeName(idx))
}
