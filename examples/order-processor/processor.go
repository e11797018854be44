package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
)

// order is the value saved for each order, as in the quickstart.
type order struct {
	OrderID int `json:"orderId"`
}

func orderKey(id int) string { return "order_" + strconv.Itoa(id) }

// processor saves and reads orders one after the other. An order is acknowledged (printed
// "Saving Order") only once a save of it succeeded; until then the same order is tried
// again, so no order is ever skipped.
type processor struct {
	c           *client.Client
	out         io.Writer
	log         *slog.Logger
	consistency lattice.Consistency
	interval    time.Duration
}

// run processes orders first, first+1, ... (count of them, or until ctx is done) and
// returns the id of the last acknowledged one (first-1 when none). Its only error is ctx's.
func (p *processor) run(ctx context.Context, first, count int) (last int, err error) {
	last = first - 1
	for id := first; count == 0 || id < first+count; id++ {
		key := orderKey(id)
		err := p.untilDone(ctx, "save", id, func() error {
			return p.c.Set(ctx, key, order{OrderID: id}, client.WithConsistency(p.consistency))
		})
		if err != nil {
			return last, err
		}
		last = id
		fmt.Fprintf(p.out, "Saving Order: {orderId: %d}\n", id)
		var got order
		err = p.untilDone(ctx, "get", id, func() error {
			item, found, err := p.c.Get(ctx, key, client.WithConsistency(p.consistency))
			if err != nil {
				return err
			}
			if !found {
				// An eventual read that failed over may reach a node the write has not
				// reached yet: read again.
				return fmt.Errorf("%s not visible yet", key)
			}
			return item.Decode(&got)
		})
		if err != nil {
			return last, err
		}
		fmt.Fprintf(p.out, "Getting Order: {orderId: %d}\n", got.OrderID)
		if err := sleep(ctx, p.interval); err != nil {
			return last, err
		}
	}
	return last, nil
}

// untilDone calls op until it succeeds. The client's policies already retry inside one
// call; a call fails only when they give up (an open circuit breaker fails fast, Dapr's
// rule), and then the order waits an interval and goes again.
func (p *processor) untilDone(ctx context.Context, what string, id int, op func() error) error {
	for {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.log.Warn(fmt.Sprintf("Order %d: %s failed, trying the same order again in %v", id, what, p.interval),
			"orderId", id, "error", err.Error())
		if err := sleep(ctx, p.interval); err != nil {
			return err
		}
	}
}

// verify reads back every acknowledged order and fails if one is missing or wrong.
func (p *processor) verify(ctx context.Context, first, last int) error {
	var missing []int
	for id := first; id <= last; id++ {
		item, found, err := p.c.Get(ctx, orderKey(id), client.WithConsistency(p.consistency))
		if err != nil {
			return fmt.Errorf("verify order %d: %w", id, err)
		}
		var got order
		if !found || item.Decode(&got) != nil || got.OrderID != id {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("verify: %d of %d acknowledged orders missing: %v", len(missing), last-first+1, missing)
	}
	fmt.Fprintf(p.out, "Verified: all %d acknowledged orders are stored\n", last-first+1)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
