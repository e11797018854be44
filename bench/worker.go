package bench

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/lattice-state/lattice"
)

// worker is one connection's loop. Only its own goroutine touches it, except rec.
type worker struct {
	r   *runner
	id  int
	s   session
	rng *rand.Rand
	rec *recorder
}

// loop claims operations until a bound of the run is reached.
func (w *worker) loop(ctx context.Context) {
	r := w.r
	o := &r.opts
	timer := time.NewTimer(time.Hour)
	timer.Stop() // armed only while waiting for an open-loop send time
	for ctx.Err() == nil {
		i := r.next.Add(1) - 1
		var begin time.Time
		if r.open {
			if i >= r.planned {
				return
			}
			begin = r.intended(i)
			now := time.Now()
			if now.After(r.giveUp) {
				return // the target fell behind the schedule: the rest is Unsent
			}
			if wait := begin.Sub(now); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
		} else {
			if o.Ops > 0 && i >= o.Ops {
				return
			}
			begin = time.Now()
			if !r.end.IsZero() && !begin.Before(r.end) {
				return
			}
		}
		miss, err := w.do(ctx)
		if !recordable(ctx, err) {
			return
		}
		// In open loop begin is the intended send time, so queueing behind a slow target counts.
		w.rec.record(time.Since(begin), err, miss)
	}
}

// do performs one operation of the workload; miss reports a read that found no value.
func (w *worker) do(ctx context.Context) (miss bool, err error) {
	r := w.r
	o := &r.opts
	strong := o.Consistency == lattice.Strong
	switch o.Workload {
	case WorkloadSave, WorkloadStrongSave:
		return false, w.s.save(ctx, w.key(), r.value, o.Workload == WorkloadStrongSave)
	case WorkloadGet, WorkloadStrongGet:
		_, _, found, err := w.s.get(ctx, w.key(), o.Workload == WorkloadStrongGet)
		return err == nil && !found, err
	case WorkloadFirstWrite:
		key := o.KeyPrefix + "-" + r.runID + "-fw-" + strconv.FormatInt(r.fresh.Add(1), 10)
		return false, w.s.cas(ctx, key, r.value, "")
	case WorkloadCAS:
		key := w.ownKey()
		_, version, found, err := w.s.get(ctx, key, false)
		if err != nil {
			return false, err
		}
		// A missing key (not preloaded) is created: version "" means create-only.
		return !found, w.s.cas(ctx, key, r.value, version)
	case WorkloadMixed:
		if w.rng.Float64() < o.ReadRatio {
			_, _, found, err := w.s.get(ctx, w.key(), strong)
			return err == nil && !found, err
		}
		return false, w.s.save(ctx, w.key(), r.value, strong)
	case WorkloadCRDTIncr:
		return false, w.s.incr(ctx, r.ckeys[w.rng.IntN(len(r.ckeys))], strong)
	}
	panic("bench: workload not validated: " + string(o.Workload))
}

// key picks a register key uniformly.
func (w *worker) key() string { return w.r.keys[w.rng.IntN(len(w.r.keys))] }

// ownKey picks uniformly among the keys i with i % Connections == id, so no two connections
// compete for a key.
func (w *worker) ownKey() string {
	n := len(w.r.keys)
	c := w.r.opts.Connections
	owned := (n - w.id + c - 1) / c
	return w.r.keys[w.id+w.rng.IntN(owned)*c]
}
