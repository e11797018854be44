package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// registerWorkload issues strong reads, strong writes, CAS (first-write with the etag of a strong
// read), create-only writes, strong deletes and eventual writes on a rotating set of keys. Every
// written value is unique in the run, so a value names the write that produced it and a CAS can
// be modelled by the value its etag was read with. It is safe for concurrent use.
type registerWorkload struct {
	opsPerKey int
	checkTime time.Duration

	mu     sync.Mutex
	active []string
	used   map[string]int
	all    []string
	info   *porcupine.LinearizationInfo // of the last failed check, for the visualisation
}

func newRegisterWorkload(keys, opsPerKey int, checkTime time.Duration) *registerWorkload {
	r := &registerWorkload{opsPerKey: opsPerKey, checkTime: checkTime, used: map[string]int{}}
	for i := 0; i < keys; i++ {
		r.active = append(r.active, r.newKeyLocked())
	}
	return r
}

func (r *registerWorkload) name() string { return WorkloadRegister }

func (r *registerWorkload) newKeyLocked() string {
	k := fmt.Sprintf("reg-%d", len(r.all))
	r.all = append(r.all, k)
	return k
}

// pick chooses an active key and retires it after opsPerKey operations.
func (r *registerWorkload) pick(rng *rand.Rand) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := rng.IntN(len(r.active))
	k := r.active[i]
	r.used[k]++
	if r.used[k] >= r.opsPerKey {
		r.active[i] = r.newKeyLocked()
	}
	return k
}

func (r *registerWorkload) setup(context.Context, *env) error { return nil }

func (r *registerWorkload) step(ctx context.Context, w *worker) {
	key := r.pick(w.rng)
	switch x := w.rng.IntN(100); {
	case x < 35:
		r.read(ctx, w, key)
	case x < 55:
		r.save(ctx, w, "write", key, "", "", stateOptions{Consistency: "strong"})
	case x < 75:
		// Read, then compare-and-set with the etag read (or create when absent).
		found, val, etag, ok := r.read(ctx, w, key)
		switch {
		case !ok:
		case found:
			r.save(ctx, w, "cas", key, val, etag, stateOptions{Concurrency: "first-write", Consistency: "strong"})
		default:
			r.save(ctx, w, "create", key, "", "", stateOptions{Concurrency: "first-write", Consistency: "strong"})
		}
	case x < 80:
		r.save(ctx, w, "create", key, "", "", stateOptions{Concurrency: "first-write", Consistency: "strong"})
	case x < 85:
		op := Op{Workload: WorkloadRegister, F: "delete", Key: key, Consistency: "strong", Invoke: w.now()}
		err := w.api.deleteState(ctx, key, "", true)
		w.result(&op, err)
		w.record(op, op.Type == Info)
	default:
		r.save(ctx, w, "ewrite", key, "", "", stateOptions{Consistency: "eventual"})
	}
}

// read performs a strong read; ok is false when it did not succeed.
func (r *registerWorkload) read(ctx context.Context, w *worker, key string) (found bool, val, etag string, ok bool) {
	op := Op{Workload: WorkloadRegister, F: "read", Key: key, Consistency: "strong", Invoke: w.now()}
	res, err := w.api.getState(ctx, key, true)
	w.result(&op, err)
	if op.Type == OK && res.Found {
		op.Found, op.Value = true, registerValue(res.Raw)
	}
	w.record(op, false)
	return op.Found, op.Value, res.ETag, op.Type == OK
}

// save writes a fresh unique value; expect is the value the etag was read with (CAS only).
func (r *registerWorkload) save(ctx context.Context, w *worker, f, key, expect, etag string, opts stateOptions) {
	val := w.uniqueValue()
	op := Op{Workload: WorkloadRegister, F: f, Key: key, Value: val, Expect: expect,
		Consistency: opts.Consistency, Invoke: w.now()}
	err := w.api.saveState(ctx, stateItem{Key: key, Value: val, ETag: etag, Options: &opts})
	w.result(&op, err)
	// Eventual writes may take effect at any later time, like indeterminate strong ones.
	w.record(op, op.Type == Info || (f == "ewrite" && op.Type == OK))
}

// registerValue decodes a stored JSON string; anything else is kept verbatim (and will not
// match any written value, which the checker then reports).
func registerValue(raw []byte) string {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw)
	}
	return s
}

func (r *registerWorkload) final(context.Context, *env) error { return nil }

func (r *registerWorkload) keys() []keyRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]keyRef, len(r.all))
	for i, k := range r.all {
		out[i] = keyRef{Key: k}
	}
	return out
}

func (r *registerWorkload) check(h []Op) CheckResult {
	res, info := checkRegister(h, r.checkTime)
	r.mu.Lock()
	r.info = info
	r.mu.Unlock()
	return res
}

// writeArtifacts writes register.html when the last check found a violation.
func (r *registerWorkload) writeArtifacts(dir string, h []Op, res *CheckResult) error {
	r.mu.Lock()
	info := r.info
	r.mu.Unlock()
	if info == nil {
		return nil
	}
	if err := visualizeRegister(filepath.Join(dir, "register.html"), info, faultWindows(h)); err != nil {
		return err
	}
	res.Artifacts = append(res.Artifacts, "register.html")
	return nil
}
