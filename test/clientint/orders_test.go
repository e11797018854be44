package clientint

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/test/cluster"
)

// orderProcessor is the loop of examples/order-processor (processor.run), which lives in
// package main and cannot be imported: save order N until a save succeeds, acknowledge it,
// read it back until a read succeeds, pause, go on with N+1. An order is never skipped.
type orderProcessor struct {
	c        *client.Client
	log      *slog.Logger
	interval time.Duration

	mu    sync.Mutex
	acked []int
	at    []time.Time // when each order was acknowledged
}

type order struct {
	OrderID int `json:"orderId"`
}

func orderKey(id int) string { return fmt.Sprintf("order_%d", id) }

// run processes orders 1, 2, ... until ctx ends.
func (p *orderProcessor) run(ctx context.Context) {
	for id := 1; ctx.Err() == nil; id++ {
		key := orderKey(id)
		if p.untilDone(ctx, "save", id, func() error {
			return p.c.Set(ctx, key, order{OrderID: id}, strong)
		}) != nil {
			return
		}
		p.mu.Lock()
		p.acked = append(p.acked, id)
		p.at = append(p.at, time.Now())
		p.mu.Unlock()
		var got order
		if p.untilDone(ctx, "get", id, func() error {
			item, found, err := p.c.Get(ctx, key, strong)
			switch {
			case err != nil:
				return err
			case !found:
				return fmt.Errorf("%s acknowledged but not found", key)
			}
			return item.Decode(&got)
		}) != nil {
			return
		}
		if got.OrderID != id {
			p.log.Error("read back a wrong order", "orderId", id, "got", got.OrderID)
		}
		if sleepCtx(ctx, p.interval) != nil {
			return
		}
	}
}

// untilDone calls op until it succeeds, pausing an interval after each failure (the
// client's policies already retried inside the call, or its breaker refused it).
func (p *orderProcessor) untilDone(ctx context.Context, what string, id int, op func() error) error {
	for {
		err := op()
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		p.log.Warn(fmt.Sprintf("Order %d: %s failed, trying the same order again", id, what), "error", err.Error())
		if err := sleepCtx(ctx, p.interval); err != nil {
			return err
		}
	}
}

// count returns the number of acknowledged orders.
func (p *orderProcessor) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// ackedAfter returns when the first order acknowledged after t was, and whether there is one.
func (p *orderProcessor) ackedAfter(t time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, at := range p.at {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// seedResiliency loads the example's resiliency.yaml (the quickstart's retryForever and
// simpleCB) with its 5 s durations shortened for a test.
func seedResiliency(t *testing.T) *client.Resiliency {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "order-processor", "resiliency.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(data)
	for _, r := range []struct{ old, new string }{{"duration: 5s", "duration: 200ms"}, {"timeout: 5s", "timeout: 1s"}} {
		if !strings.Contains(yaml, r.old) {
			t.Fatalf("resiliency.yaml has no %q: update this test", r.old)
		}
		yaml = strings.Replace(yaml, r.old, r.new, 1)
	}
	res, err := client.ParseResiliency([]byte(yaml), "order-processor")
	if err != nil {
		t.Fatal(err)
	}
	if n := res.ComponentPolicies(client.DefaultStore); n.Retry != "retryForever" || n.CircuitBreaker != "simpleCB" {
		t.Fatalf("statestore policies = %+v, want retryForever and simpleCB", n)
	}
	return res
}

// The order-processor flow of the seed document: orders are saved and read strongly while
// the nodes stop one, then two, then all; the loop stalls while no node can serve, its
// circuit breaker opens, and it resumes by itself once the nodes are back. Every
// acknowledged order is there at the end, none skipped.
func TestOrderProcessorSurvivesStops(t *testing.T) {
	skipShort(t)
	c := cluster.Start(t, 3)
	log, logs := captureLog(t)
	cfg := client.DefaultConfig() // as the example does
	cfg.Endpoints = endpoints(c)
	cfg.Resiliency = seedResiliency(t)
	cfg.Logger = log
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p := &orderProcessor{c: cl, log: log, interval: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	defer func() { cancel(); <-done }()

	orders := func(n int, timeout time.Duration, what string) {
		t.Helper()
		target := p.count() + n
		eventually(t, timeout, fmt.Sprintf("%d orders %s", n, what), func() bool { return p.count() >= target })
	}
	orders(5, 10*time.Second, "with every node up")
	crash(c, 0)
	orders(5, 10*time.Second, "with one node down")

	// Two down: no quorum, strong saves fail (503 after the nodes' strong timeout) and
	// are retried.
	mark := logs.len()
	crash(c, 1)
	eventually(t, 15*time.Second, "a retry", func() bool {
		return logs.containsSince(mark, "Error processing operation component[statestore] output. Retrying in")
	})
	// All down: every attempt fails at once, the breaker opens and refuses calls, letting
	// one trial through after each timeout.
	crash(c, 2)
	eventually(t, 15*time.Second, "the breaker to open", func() bool { return logs.containsSince(mark, "changed state from closed to open") })
	stalled := p.count()
	eventually(t, 10*time.Second, "the breaker to let a trial through and open again", func() bool {
		return logs.containsSince(mark, "changed state from half-open to open")
	})
	if n := p.count(); n != stalled {
		t.Fatalf("%d orders acknowledged with every node down", n-stalled)
	}

	// Everything back: the loop resumes by itself.
	restarted := time.Now()
	for i := range c.Members {
		c.Restart(i)
	}
	c.WaitLeader(20 * time.Second)
	elected := time.Since(restarted)
	orders(5, 20*time.Second, "after the restart")
	first, _ := p.ackedAfter(restarted)
	// The breaker opened on the outage, kept refusing while its trials failed, and closed
	// on the first trial after the restart: Dapr's messages, in that order.
	const cb = `Circuit breaker \"simpleCB-statestore\" changed state from `
	if !inOrder(logs.String()[mark:], cb+"closed to open", cb+"open to half-open", cb+"half-open to open",
		cb+"open to half-open", cb+"half-open to closed") {
		t.Fatal("the breaker's transitions closed -> open -> half-open -> open ... -> half-open -> closed are not in the log")
	}
	cancel()
	<-done
	t.Logf("%d orders acknowledged, %d before the outage; after the restart of all nodes: a leader in %v, the first order in %v",
		p.count(), stalled, elected, first.Sub(restarted))

	// Every acknowledged order is committed: a strong read finds it, and every node's
	// replica holds it once converged.
	p.mu.Lock()
	acked := append([]int(nil), p.acked...)
	p.mu.Unlock()
	for i, id := range acked {
		if id != i+1 {
			t.Fatalf("acknowledged orders %v: order %d skipped", acked, i+1)
		}
	}
	vctx := ctxFor(t, 20*time.Second)
	for _, id := range acked {
		item, found, err := cl.Get(vctx, orderKey(id), client.WithConsistency(lattice.Strong))
		var got order
		if err != nil || !found || item.Decode(&got) != nil || got.OrderID != id {
			t.Fatalf("order %d: found=%v value=%s err=%v", id, found, item.Value, err)
		}
	}
	c.WaitConverged(10 * time.Second)
	for _, m := range c.Members {
		items, err := cl.BulkGet(vctx, keys(acked), client.WithEndpoint(m.URL()))
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			if !it.Found() {
				t.Fatalf("order %d missing from %s's replica", acked[i], m.ID)
			}
		}
	}
}

// inOrder reports whether log holds every message of msgs, each after the previous one.
func inOrder(log string, msgs ...string) bool {
	for _, m := range msgs {
		i := strings.Index(log, m)
		if i < 0 {
			return false
		}
		log = log[i+len(m):]
	}
	return true
}

func keys(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = orderKey(id)
	}
	return out
}
