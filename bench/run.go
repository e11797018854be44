package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Run measures opts.Workload against opts.Target and returns its figures. With opts.Reference it
// also measures the reference server (see Options.ReferenceCommand), and with opts.EtcdURLs etcd,
// with the same options right before and right after the target (reference, etcd, target, etcd,
// reference), and fills Result.Reference and Result.Ratio, Result.Etcd and Result.EtcdRatio. Failed
// operations are figures, not errors: Run fails only on invalid options, a failed preload or a
// reference server that cannot start. When ctx is cancelled Run returns the figures so far with
// ctx's error; a comparison stopped or failed after the target keeps its run before it.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	var comps []comparison
	if opts.Reference {
		comps = append(comps, comparison{run: runReference, set: func(t, ref *Result) {
			t.Reference, t.Ratio = ref, ratioOf(t, ref)
		}})
	}
	if len(opts.EtcdURLs) > 0 {
		comps = append(comps, comparison{run: runEtcd, set: func(t, etcd *Result) {
			t.Etcd, t.EtcdRatio = etcd, ratioOf(t, etcd)
		}})
	}
	before := make([]measured, len(comps))
	for i, c := range comps {
		m, err := c.run(ctx, opts)
		if err != nil {
			return nil, err
		}
		before[i] = m
	}
	target, err := runOnce(ctx, opts, string(opts.Target))
	if target.res == nil {
		return nil, err
	}
	// After the target, each comparison runs again (in reverse order) unless the run was
	// stopped. A comparison whose second run is missing or failed keeps its first run's
	// figures, and the failure is returned with them.
	stopped := err != nil
	for i := len(comps) - 1; i >= 0; i-- {
		merged := before[i]
		if !stopped && ctx.Err() == nil {
			after, aerr := comps[i].run(ctx, opts)
			if aerr != nil && err != nil {
				err = errors.Join(err, aerr)
			} else if aerr != nil {
				err = aerr
			}
			if after.res != nil {
				merged = mergeRuns(before[i], after)
			}
		}
		comps[i].set(target.res, merged.res)
	}
	return target.res, err
}

// comparison is a system measured with the target's load before and after it: run measures it
// once, set stores its merged figures in the target's result.
type comparison struct {
	run func(ctx context.Context, opts Options) (measured, error)
	set func(target, merged *Result)
}

// runReference measures a fresh reference server with opts' workload and load shape.
func runReference(ctx context.Context, opts Options) (measured, error) {
	url, stop, err := startReference(opts)
	if err != nil {
		return measured{}, err
	}
	defer stop()
	opts.Target = TargetDapr
	opts.URLs = []string{url}
	opts.APIToken = ""
	m, err := runOnce(ctx, opts, "reference")
	if err != nil {
		return m, fmt.Errorf("bench: reference run: %w", err)
	}
	return m, nil
}

// runEtcd measures the etcd cluster at opts.EtcdURLs with opts' workload and load shape.
func runEtcd(ctx context.Context, opts Options) (measured, error) {
	opts.Target = TargetEtcd
	opts.URLs = opts.EtcdURLs
	opts.APIToken = ""
	m, err := runOnce(ctx, opts, "etcd")
	if err != nil {
		return m, fmt.Errorf("bench: etcd run: %w", err)
	}
	return m, nil
}

// runner is one measured run against one target.
type runner struct {
	opts    Options
	label   string
	log     *slog.Logger
	drv     driver
	runID   string   // makes first-write keys and lag probes unique across runs
	keys    []string // the register keys
	ckeys   []string // the gcounter keys of crdt-incr
	value   []byte   // the value every load write stores
	workers []*worker

	start    time.Time
	next     atomic.Int64 // index of the next operation to claim
	fresh    atomic.Int64 // counter of first-write keys
	open     bool
	planned  int64     // open loop: operations the schedule holds
	end      time.Time // closed loop with Duration: no operation starts after it
	giveUp   time.Time // open loop: no operation starts after it
	timeline []Interval
	lastAt   float64
}

// runOnce preloads if needed, then measures; label names the run in progress lines.
func runOnce(ctx context.Context, opts Options, label string) (measured, error) {
	hc := newHTTPClient(opts.Connections, opts.Timeout, opts.APIToken)
	defer hc.close()
	r := &runner{
		opts:  opts,
		label: label,
		log:   opts.logger().With("component", "bench", "run", label),
		drv:   newDriver(opts.Target, hc, opts.Store),
		runID: strconv.FormatUint(rand.Uint64(), 36),
		value: makeValue(opts.ValueSize, "v"),
	}
	r.keys = make([]string, opts.Keys)
	for i := range r.keys {
		r.keys[i] = opts.KeyPrefix + "-" + strconv.Itoa(i)
	}
	if opts.Workload == WorkloadCRDTIncr {
		r.ckeys = make([]string, opts.Keys)
		for i := range r.ckeys {
			r.ckeys[i] = opts.KeyPrefix + "-c-" + strconv.Itoa(i)
		}
	}
	if opts.Preload && opts.Workload.needsPreload() {
		if err := r.preload(ctx); err != nil {
			return measured{}, err
		}
	}
	m := r.measure(ctx)
	return m, ctx.Err()
}

// makeValue returns a JSON string of size bytes (quotes included) that starts with tag.
func makeValue(size int, tag string) []byte {
	n := max(size, len(tag)+2)
	b := make([]byte, n)
	b[0] = '"'
	copy(b[1:], tag)
	for i := 1 + len(tag); i < n-1; i++ {
		b[i] = 'a' + byte(i%26)
	}
	b[n-1] = '"'
	return b
}

// measure runs the workers, the progress ticker and the lag sampler, and gathers the figures.
func (r *runner) measure(ctx context.Context) measured {
	o := r.opts
	r.workers = make([]*worker, o.Connections)
	for i := range r.workers {
		r.workers[i] = &worker{
			r:   r,
			id:  i,
			s:   r.drv.session(o.URLs[i%len(o.URLs)]),
			rng: rand.New(rand.NewPCG(rand.Uint64(), uint64(i))),
			rec: newRecorder(),
		}
	}
	r.start = time.Now()
	r.open = o.Rate > 0
	if r.open {
		r.planned = math.MaxInt64
		if o.Ops > 0 {
			r.planned = o.Ops
		}
		if o.Duration > 0 {
			r.planned = min(r.planned, int64(math.Ceil(float64(o.Duration)*o.Rate/float64(time.Second))))
		}
		r.giveUp = r.intended(r.planned).Add(o.Timeout)
	} else if o.Duration > 0 {
		r.end = r.start.Add(o.Duration)
	}

	var lags *lagSampler
	lagDone := make(chan struct{})
	stopLag := make(chan struct{})
	if o.lagEnabled() {
		lags = newLagSampler(o, r.runID)
		go func() {
			defer close(lagDone)
			lags.run(ctx, stopLag)
		}()
	} else {
		close(lagDone)
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(o.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				r.tick(lags, false)
			}
		}
	}()

	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Go(func() { w.loop(ctx) })
	}
	wg.Wait()
	elapsed := time.Since(r.start)
	close(stopProgress)
	<-progressDone
	close(stopLag)
	<-lagDone
	r.tick(lags, true)
	return r.result(elapsed, lags)
}

// intended is the open-loop send time of operation i.
func (r *runner) intended(i int64) time.Time {
	return r.start.Add(time.Duration(float64(i) * float64(time.Second) / r.opts.Rate))
}

// tick drains the workers' interval figures into one timeline entry and prints a progress line.
// The final tick is skipped when the last period saw nothing.
func (r *runner) tick(lags *lagSampler, final bool) {
	agg := newHist()
	var ops, errs int64
	for _, w := range r.workers {
		o, e := w.rec.drain(agg)
		ops += o
		errs += e
	}
	if final && ops == 0 && errs == 0 && len(r.timeline) > 0 {
		return
	}
	at := time.Since(r.start).Seconds()
	lat := summarize(agg)
	iv := Interval{At: at, Ops: ops, Errors: errs, Throughput: perSecond(ops-errs, at-r.lastAt),
		P50: lat.P50, P90: lat.P90, P99: lat.P99, Max: lat.Max}
	r.lastAt = at
	r.timeline = append(r.timeline, iv)
	if r.opts.Progress != nil {
		fmt.Fprintln(r.opts.Progress, r.progressLine(iv, lags))
	}
}

// progressLine formats one interval: throughput, errors and latency of the period, lags so far.
func (r *runner) progressLine(iv Interval, lags *lagSampler) string {
	line := fmt.Sprintf("[%s %s] %6.1fs %9.0f ops/s  err %-5d p50 %s  p99 %s  max %s",
		r.label, r.opts.Workload, iv.At, iv.Throughput, iv.Errors, ms(iv.P50), ms(iv.P99), ms(iv.Max))
	if lags != nil {
		l := lags.figures(len(r.opts.URLs) > 1)
		if l.Visibility != nil {
			line += "  visibility p99 " + ms(l.Visibility.P99)
		}
		line += "  fold-in p99 " + ms(l.FoldIn.P99)
	}
	return line
}

// result gathers the run's totals.
func (r *runner) result(elapsed time.Duration, lags *lagSampler) measured {
	o := r.opts
	h := newHist()
	res := &Result{
		Target: o.Target, URLs: append([]string(nil), o.URLs...), Workload: o.Workload,
		Consistency: o.Consistency.String(), ReadRatio: o.ReadRatio, Mode: "closed", Rate: o.Rate,
		Connections: o.Connections, Keys: o.Keys, ValueSize: o.ValueSize,
		Start: r.start.UTC(), Seconds: elapsed.Seconds(), Timeline: r.timeline,
	}
	kinds := map[string]int64{}
	for _, w := range r.workers {
		w.rec.mu.Lock()
		h.Merge(w.rec.total)
		res.Ops += w.rec.ops
		res.Errors += w.rec.errs
		res.Misses += w.rec.misses
		for k, n := range w.rec.kinds {
			kinds[k] += n
		}
		w.rec.mu.Unlock()
	}
	if r.open {
		res.Mode = "open"
		res.Unsent = max(r.planned-res.Ops, 0)
	}
	res.ErrorKinds = nonEmpty(kinds)
	res.Throughput = perSecond(res.Ops-res.Errors, res.Seconds)
	res.Latency = summarize(h)
	if lags != nil {
		res.Lags = lags.figures(len(o.URLs) > 1)
	}
	return measured{res: res, hist: h}
}

// preload writes every key once, then waits until a sample of them is visible on every URL.
func (r *runner) preload(ctx context.Context) error {
	o := r.opts
	var next, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for c := range o.Connections {
		wg.Go(func() {
			s := r.drv.session(o.URLs[c%len(o.URLs)])
			for {
				i := next.Add(1) - 1
				if i >= int64(len(r.keys)) || ctx.Err() != nil {
					return
				}
				if err := s.save(ctx, r.keys[i], r.value, false); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("bench: preload: %d of %d writes failed: %w", n, len(r.keys), firstErr)
	}
	r.settle(ctx)
	return nil
}

// settleTimeout bounds the wait for preloaded keys to become visible on every URL.
const settleTimeout = 10 * time.Second

// settle polls a sample of the preloaded keys on each of several URLs; keys still missing at the deadline are
// logged and will show up as misses.
func (r *runner) settle(ctx context.Context) {
	const samples = 16
	if len(r.opts.URLs) < 2 {
		return // a write is visible on the node that acknowledged it
	}
	deadline := time.Now().Add(settleTimeout)
	for _, u := range r.opts.URLs {
		s := r.drv.session(u)
		for j := range samples {
			key := r.keys[j*len(r.keys)/samples]
			for {
				_, _, found, err := s.get(ctx, key, false)
				if err == nil && found {
					break
				}
				if time.Now().After(deadline) || !pause(ctx, 10*time.Millisecond) {
					r.log.Warn("preloaded keys not visible yet", "url", u, "key", key, "err", err)
					return
				}
			}
		}
	}
}

// pause waits d or until ctx ends; it reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// recordable reports whether an operation's outcome belongs in the figures.
func recordable(ctx context.Context, err error) bool {
	return err == nil || ctx.Err() == nil
}
