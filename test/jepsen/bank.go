package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// bankWorkload moves money between accounts with Dapr transactions whose upserts carry the etags
// of strong reads, and reads all accounts with a linearizable snapshot. Its fields never change
// after construction, so it is safe for concurrent use.
//
// The snapshot: Dapr's bulk get has no consistency option, so the suite does not rely on one.
// It reads every account strongly, then reads them all again; if no etag changed, no write
// touched any account between the end of the first pass and the start of the second (an etag
// names the write that produced the value and changes with every write), so the values of the
// second pass all held at one instant in that gap: a linearizable snapshot ("double collect").
// Otherwise it retries, up to snapshotAttempts times.
type bankWorkload struct {
	accounts []string
	initial  int64
	timeout  time.Duration // StartTimeout, for opening the accounts
}

const snapshotAttempts = 5

func newBankWorkload(accounts int, initial int64, timeout time.Duration) *bankWorkload {
	b := &bankWorkload{initial: initial, timeout: timeout}
	for i := 0; i < accounts; i++ {
		b.accounts = append(b.accounts, fmt.Sprintf("acct-%d", i))
	}
	return b
}

func (b *bankWorkload) name() string { return WorkloadBank }

func (b *bankWorkload) keys() []keyRef {
	out := make([]keyRef, len(b.accounts))
	for i, a := range b.accounts {
		out[i] = keyRef{Key: a}
	}
	return out
}

func (b *bankWorkload) total() int64 { return b.initial * int64(len(b.accounts)) }

// setup opens every account with the initial balance in one transaction, retried (through each
// node in turn) until a snapshot shows the opening balances.
func (b *bankWorkload) setup(ctx context.Context, e *env) error {
	deadline := time.Now().Add(b.timeout)
	open := map[string]int64{}
	var ops []txnOp
	for _, a := range b.accounts {
		open[a] = b.initial
		ops = append(ops, txnOp{Operation: "upsert", Request: stateItem{Key: a, Value: b.initial,
			Options: &stateOptions{Consistency: "strong"}}})
	}
	for i := 0; ; i++ {
		c := e.clients[i%len(e.clients)]
		op := Op{Process: -1, Workload: WorkloadBank, F: "init", Node: nodeName(i % len(e.clients)),
			Amount: b.total(), Accounts: open, Invoke: e.rec.Now()}
		err := c.transact(ctx, ops)
		op.Complete = e.rec.Now()
		op.Type, op.Status = classify(err)
		if err != nil {
			op.Error = err.Error()
		}
		e.rec.Add(op)
		if snap, err := b.snapshot(ctx, c); err == nil && maps.Equal(snap, open) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jepsen: bank: could not open the accounts within %s", b.timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (b *bankWorkload) step(ctx context.Context, w *worker) {
	if w.rng.IntN(100) >= 75 {
		b.read(ctx, w.api, w.now, func(op Op) { w.record(op, false) }, "")
		return
	}
	i := w.rng.IntN(len(b.accounts))
	j := (i + 1 + w.rng.IntN(len(b.accounts)-1)) % len(b.accounts)
	from, to, amount := b.accounts[i], b.accounts[j], 1+w.rng.Int64N(5)
	rf, err1 := w.api.getState(ctx, from, true)
	rt, err2 := w.api.getState(ctx, to, true)
	if err1 != nil || err2 != nil || !rf.Found || !rt.Found {
		return
	}
	bf, err1 := balance(rf.Raw)
	bt, err2 := balance(rt.Raw)
	if err1 != nil || err2 != nil || bf < amount {
		return
	}
	op := Op{Workload: WorkloadBank, F: "transfer", From: from, To: to, Amount: amount, Invoke: w.now()}
	strong := &stateOptions{Consistency: "strong"}
	err := w.api.transact(ctx, []txnOp{
		{Operation: "upsert", Request: stateItem{Key: from, Value: bf - amount, ETag: rf.ETag, Options: strong}},
		{Operation: "upsert", Request: stateItem{Key: to, Value: bt + amount, ETag: rt.ETag, Options: strong}},
	})
	w.result(&op, err)
	w.record(op, op.Type == Info)
}

// read records one snapshot read through c; note is stored in Value ("final" for the final reads).
func (b *bankWorkload) read(ctx context.Context, c *apiClient, now func() int64, record func(Op), note string) {
	op := Op{Workload: WorkloadBank, F: "read", Value: note, Consistency: "strong", Invoke: now()}
	snap, err := b.snapshot(ctx, c)
	op.Complete = now()
	op.Type, op.Status = classify(err)
	if err != nil {
		op.Error = err.Error()
		if op.Type == OK {
			op.Type = Fail // no stable snapshot: nothing was read
		}
	} else {
		op.Accounts = snap
	}
	record(op)
}

var errUnstable = errors.New("jepsen: bank: accounts kept changing during the snapshot")

// snapshot returns a linearizable snapshot of every account (absent accounts are left out).
func (b *bankWorkload) snapshot(ctx context.Context, c *apiClient) (map[string]int64, error) {
	collect := func() (map[string]stateRead, error) {
		out := map[string]stateRead{}
		for _, a := range b.accounts {
			r, err := c.getState(ctx, a, true)
			if err != nil {
				return nil, err
			}
			out[a] = r
		}
		return out, nil
	}
	for attempt := 0; attempt < snapshotAttempts; attempt++ {
		first, err := collect()
		if err != nil {
			return nil, err
		}
		second, err := collect()
		if err != nil {
			return nil, err
		}
		stable := maps.EqualFunc(first, second, func(x, y stateRead) bool { return x.Found == y.Found && x.ETag == y.ETag })
		if !stable {
			continue
		}
		snap := map[string]int64{}
		for a, r := range second {
			if !r.Found {
				continue
			}
			v, err := balance(r.Raw)
			if err != nil {
				return nil, err
			}
			snap[a] = v
		}
		return snap, nil
	}
	return nil, errUnstable
}

// balance decodes an account's JSON number.
func balance(raw []byte) (int64, error) {
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("jepsen: bank: balance %q: %w", raw, err)
	}
	return v, nil
}

// final records a snapshot read through every node.
func (b *bankWorkload) final(ctx context.Context, e *env) error {
	for i, c := range e.clients {
		b.read(ctx, c, e.rec.Now, func(op Op) {
			op.Process, op.Node = -1, nodeName(i)
			e.rec.Add(op)
		}, "final")
	}
	return nil
}

func (b *bankWorkload) check(h []Op) CheckResult { return checkBank(h) }

// checkBank checks that every successful snapshot read shows every account, none negative, and
// the total the accounts were opened with.
func checkBank(h []Op) CheckResult {
	res := CheckResult{Name: WorkloadBank}
	var total int64 = -1
	var accounts []string
	var reads, transfers, acked int
	for _, op := range filterOps(h, WorkloadBank) {
		switch {
		case op.F == "init":
			total, accounts = op.Amount, slices.Sorted(maps.Keys(op.Accounts))
		case op.F == "transfer":
			transfers++
			if op.Type == OK {
				acked++
			}
		case op.F == "read" && op.Type == OK:
			reads++
			if total < 0 {
				continue
			}
			var sum int64
			for _, a := range accounts {
				v, ok := op.Accounts[a]
				switch {
				case !ok:
					res.addAnomaly(Anomaly{Kind: "missing-account", Key: a, Ops: []int{op.Index}, Message: "account absent from a snapshot"})
				case v < 0:
					res.addAnomaly(Anomaly{Kind: "negative-balance", Key: a, Ops: []int{op.Index},
						Message: fmt.Sprintf("balance %d", v)})
				}
				sum += v
			}
			if sum != total {
				res.addAnomaly(Anomaly{Kind: "wrong-total", Ops: []int{op.Index},
					Message: fmt.Sprintf("total %d, expected %d: %v", sum, total, op.Accounts)})
			}
		}
	}
	res.figure("reads", float64(reads))
	res.figure("transfers", float64(transfers))
	res.figure("acknowledgedTransfers", float64(acked))
	switch {
	case len(res.Anomalies) > 0:
		res.Valid, res.Summary = Invalid, fmt.Sprintf("%s in %d snapshot reads", res.anomalySummary(), reads)
	case total < 0:
		res.Valid, res.Summary = Unknown, "the accounts were never opened"
	case reads == 0:
		res.Valid, res.Summary = Unknown, "no successful snapshot read"
	default:
		res.Valid = Valid
		res.Summary = fmt.Sprintf("%d snapshot reads, all totalling %d with no negative balance (%d of %d transfers acknowledged)",
			reads, total, acked, transfers)
	}
	return res
}
