package jepsen

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// workload generates operations for its clients, prepares and finishes its keys, and checks its
// part of the history. Checks are pure functions of the history.
type workload interface {
	name() string
	// setup prepares the keys before clients start (e.g. opens the bank accounts).
	setup(ctx context.Context, e *env) error
	// step performs one generated operation (possibly a read before a write) through w.
	step(ctx context.Context, w *worker)
	// final records the reads the checker needs after the final heal.
	final(ctx context.Context, e *env) error
	// keys lists every key the workload touched, for the convergence check.
	keys() []keyRef
	// check judges the history.
	check(h []Op) CheckResult
}

// env is what setup and final phases use.
type env struct {
	opts    Options
	rec     *recorder
	addrs   []string     // node HTTP addresses, by index
	clients []*apiClient // one per node, for setup and final reads
	log     *slog.Logger
}

// keyRef names a key and the API that reads it.
type keyRef struct {
	CRDT bool
	Key  string
}

// worker is one client goroutine bound to one node.
type worker struct {
	id     int // the process number in the history
	node   int
	client int // porcupine client id
	seq    int
	rng    *rand.Rand
	api    *apiClient
	rec    *recorder
}

// now is the current history time.
func (w *worker) now() int64 { return w.rec.Now() }

// record completes op with the worker's identity and appends it. An open-ended op (an
// indeterminate write, an eventual write) may take effect after the worker's next op, so the
// worker continues under a fresh client id, as porcupine needs each client's ops sequential.
func (w *worker) record(op Op, open bool) {
	op.Process, op.Client, op.Node = w.id, w.client, nodeName(w.node)
	w.rec.Add(op)
	if open {
		w.client = w.rec.NewClient()
	}
}

// result fills the outcome of op from err and the completion time.
func (w *worker) result(op *Op, err error) {
	op.Complete = w.now()
	op.Type, op.Status = classify(err)
	if err != nil {
		op.Error = err.Error()
	}
}

// uniqueValue returns a value no other write of the run uses.
func (w *worker) uniqueValue() string {
	w.seq++
	return fmt.Sprintf("%d.%d", w.id, w.seq)
}

// runClients runs ClientsPerNode workers per workload and node until ctx ends, pacing them so
// that together they issue about Rate operations per second.
func runClients(ctx context.Context, wls []workload, e *env) {
	n := len(e.clients)
	total := len(wls) * n * e.opts.ClientsPerNode
	interval := time.Duration(float64(total) / e.opts.Rate * float64(time.Second))
	var wg sync.WaitGroup
	id := 0
	for _, wl := range wls {
		for node := 0; node < n; node++ {
			for c := 0; c < e.opts.ClientsPerNode; c++ {
				w := &worker{id: id, node: node, client: e.rec.NewClient(), rec: e.rec,
					api: newAPIClient(e.addrs[node], e.opts.RequestTimeout),
					rng: rand.New(rand.NewPCG(uint64(e.opts.Seed), uint64(id)+1))}
				id++
				wg.Add(1)
				go func() {
					defer wg.Done()
					w.loop(ctx, wl, interval)
				}()
			}
		}
	}
	wg.Wait()
}

// loop performs wl's operations every interval (jittered uniformly in [0.5, 1.5] x interval)
// until ctx ends. Requests are not cancelled by ctx: each ends on its own timeout, so the end of
// the run does not turn operations into indeterminate ones.
func (w *worker) loop(ctx context.Context, wl workload, interval time.Duration) {
	defer w.api.close()
	opCtx := context.WithoutCancel(ctx)
	for {
		t := time.NewTimer(interval/2 + time.Duration(w.rng.Int64N(int64(interval)+1)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wl.step(opCtx, w)
	}
}

// readKey reads k through c with the given consistency.
func readKey(ctx context.Context, c *apiClient, k keyRef, strong bool) (found bool, raw []byte, etag string, err error) {
	if k.CRDT {
		v, err := c.crdtGet(ctx, k.Key, strong)
		return v.Found, v.Raw, v.ETag, err
	}
	r, err := c.getState(ctx, k.Key, strong)
	return r.Found, r.Raw, r.ETag, err
}

// roundResult is one comparison of every node's eventual read with its strong read of every key.
type roundResult struct {
	Pairs      int
	Mismatches []string
	Errors     []string
}

func (r roundResult) clean() bool { return len(r.Mismatches) == 0 && len(r.Errors) == 0 }

// compareRound reads every key on every node, eventual then strong, and lists the differences
// (presence, value bytes, etag). Nodes are read in parallel.
func compareRound(ctx context.Context, clients []*apiClient, keys []keyRef) roundResult {
	per := make([]roundResult, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &per[i]
			for _, k := range keys {
				ef, ev, ee, err := readKey(ctx, c, k, false)
				if err != nil {
					r.Errors = append(r.Errors, fmt.Sprintf("%s %s eventual: %v", nodeName(i), k.Key, err))
					continue
				}
				sf, sv, se, err := readKey(ctx, c, k, true)
				if err != nil {
					r.Errors = append(r.Errors, fmt.Sprintf("%s %s strong: %v", nodeName(i), k.Key, err))
					continue
				}
				r.Pairs++
				if ef != sf || !bytes.Equal(ev, sv) || ee != se {
					r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s %s: eventual=%s (etag %q) strong=%s (etag %q)",
						nodeName(i), k.Key, showRead(ef, ev), ee, showRead(sf, sv), se))
				}
			}
		}()
	}
	wg.Wait()
	var out roundResult
	for _, r := range per {
		out.Pairs += r.Pairs
		out.Mismatches = append(out.Mismatches, r.Mismatches...)
		out.Errors = append(out.Errors, r.Errors...)
	}
	return out
}

func showRead(found bool, raw []byte) string {
	if !found {
		return "absent"
	}
	if len(raw) > 80 {
		return string(raw[:80]) + "..."
	}
	return string(raw)
}

// awaitAgreement repeats compareRound until a clean round or the timeout; each round is passed
// to onRound (nil to ignore) with its start and end times.
func awaitAgreement(ctx context.Context, e *env, keys []keyRef, timeout time.Duration,
	onRound func(r roundResult, start, end int64)) roundResult {
	deadline := time.Now().Add(timeout)
	for {
		start := e.rec.Now()
		r := compareRound(ctx, e.clients, keys)
		if onRound != nil {
			onRound(r, start, e.rec.Now())
		}
		if r.clean() || time.Now().After(deadline) || ctx.Err() != nil {
			return r
		}
		select {
		case <-ctx.Done():
			return r
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// recordFinalReads records, for each key and node, an eventual and a strong read with f
// "final-read", decoded by decode into the op (it sets Count, Elements or Value).
func recordFinalReads(ctx context.Context, e *env, workload string, keys []keyRef, decode func(op *Op, v crdtView) error) {
	for _, k := range keys {
		for i, c := range e.clients {
			for _, strong := range []bool{false, true} {
				op := Op{Process: -1, Workload: workload, F: "final-read", Key: k.Key, Node: nodeName(i),
					Consistency: consistencyName(strong), Invoke: e.rec.Now()}
				v, err := c.crdtGet(ctx, k.Key, strong)
				if err == nil {
					op.Found = v.Found
					err = decode(&op, v)
				}
				op.Complete = e.rec.Now()
				op.Type, op.Status = classify(err)
				if err != nil {
					op.Error = err.Error()
					if op.Type == OK { // a decoding error: the read happened but says nothing usable
						op.Type = Info
					}
				}
				e.rec.Add(op)
			}
		}
	}
}

func consistencyName(strong bool) string {
	if strong {
		return "strong"
	}
	return "eventual"
}
