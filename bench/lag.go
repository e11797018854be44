package bench

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// lagKeys is the ring of keys the probes write; far more than can be in flight at once.
	lagKeys = 1024
	// maxProbesInFlight bounds concurrent probes; a tick that finds them all busy is skipped.
	maxProbesInFlight = 16
)

// lagSampler measures Lattice's replication lags while the load runs. Every LagInterval it writes
// a unique value eventually on URLs[0] (a probe) and, from the acknowledgement on, polls:
//   - every other URL with eventual gets until the value is there (visibility lag), and
//   - the last URL with strong gets until a strong read returns it (fold-in lag).
//
// A sample is the time from the acknowledgement to the response that showed the value. Polls
// start LagPoll apart and spread out to LagPrecision of the time elapsed, so a sample overstates
// the lag by at most max(LagPoll, LagPrecision × lag) plus one get. The strong poll goes to a node other than the writer when
// there is one: a strong read folds what the receiving node's replica holds (DESIGN.md §2), so
// polling the writer would measure that forced fold instead of the background one.
type lagSampler struct {
	opts   Options
	drv    driver
	hc     *httpClient
	runID  string
	fold   string // base URL of the strong polls
	vis    *lagRecorder
	folded *lagRecorder
	probes atomic.Int64
	failed atomic.Int64
	slots  chan struct{}
}

func newLagSampler(o Options, runID string) *lagSampler {
	// Each probe in flight polls every URL at once; a URL listed twice takes twice the connections.
	hc := newHTTPClient(2*maxProbesInFlight*len(o.URLs), o.Timeout, o.APIToken)
	return &lagSampler{
		opts:   o,
		drv:    newDriver(o.Target, hc, o.Store),
		hc:     hc,
		runID:  runID,
		fold:   o.URLs[len(o.URLs)-1],
		vis:    newLagRecorder(),
		folded: newLagRecorder(),
		slots:  make(chan struct{}, maxProbesInFlight),
	}
}

// run sends a probe at once and then every LagInterval until stop is closed, then waits for the
// probes in flight (each bounded by LagTimeout).
func (l *lagSampler) run(ctx context.Context, stop <-chan struct{}) {
	var wg sync.WaitGroup
	defer l.hc.close()
	defer wg.Wait()
	t := time.NewTicker(l.opts.LagInterval)
	defer t.Stop()
	for n := int64(0); ; n++ {
		select {
		case l.slots <- struct{}{}:
			wg.Go(func() {
				defer func() { <-l.slots }()
				l.probe(ctx, n)
			})
		default:
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe writes probe n and watches it appear.
func (l *lagSampler) probe(ctx context.Context, n int64) {
	urls := l.opts.URLs
	key := l.opts.KeyPrefix + "-lag-" + strconv.FormatInt(n%lagKeys, 10)
	val := makeValue(l.opts.ValueSize, "lag-"+l.runID+"-"+strconv.FormatInt(n, 10))
	if err := l.drv.session(urls[0]).save(ctx, key, val, false); err != nil {
		if ctx.Err() == nil {
			l.failed.Add(1)
		}
		return
	}
	ack := time.Now()
	l.probes.Add(1)
	var wg sync.WaitGroup
	for _, u := range urls[1:] {
		wg.Go(func() { l.watch(ctx, u, key, val, ack, false, l.vis) })
	}
	l.watch(ctx, l.fold, key, val, ack, true, l.folded)
	wg.Wait()
}

// watch polls base until key holds val, then records the lag since ack into rec.
func (l *lagSampler) watch(ctx context.Context, base, key string, val []byte, ack time.Time, strong bool, rec *lagRecorder) {
	s := l.drv.session(base)
	deadline := ack.Add(l.opts.LagTimeout)
	for {
		v, _, found, err := s.get(ctx, key, strong)
		if err == nil && found && bytes.Equal(v, val) {
			rec.record(time.Since(ack))
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !time.Now().Before(deadline) {
			rec.timeout()
			return
		}
		if !pause(ctx, l.pollPause(time.Since(ack))) {
			return
		}
	}
}

// pollPause is the pause before the next poll of a probe acknowledged elapsed ago.
func (l *lagSampler) pollPause(elapsed time.Duration) time.Duration {
	return max(l.opts.LagPoll, time.Duration(float64(elapsed)*l.opts.LagPrecision))
}

// figures returns the lags so far; visibility only when there are other nodes to watch.
func (l *lagSampler) figures(visibility bool) *Lags {
	lags := &Lags{Probes: l.probes.Load(), ProbeErrors: l.failed.Load(), FoldIn: l.folded.figures()}
	if visibility {
		lags.Visibility = l.vis.figures()
	}
	return lags
}
