package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// policy is the resolved runtime policy of one target: what Dapr calls a PolicyDefinition.
type policy struct {
	name    string // Dapr's operation name, e.g. component[statestore] output
	timeout time.Duration
	retry   *RetryPolicy
	breaker *breaker
}

// policyFor returns the policy of the outbound calls to component, creating its circuit
// breaker on first use; nil when there is none. Every call to a component shares one
// breaker, named "<policy>-<component>" as in Dapr.
func (c *Client) policyFor(component string) *policy {
	r := c.cfg.Resiliency
	if component == "" || r == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.policies[component]; ok {
		return p
	}
	names := r.ComponentPolicies(component)
	var p *policy
	if names != (PolicyNames{}) {
		p = &policy{name: "component[" + component + "] output", timeout: r.Timeouts[names.Timeout]}
		if rp, ok := r.Retries[names.Retry]; ok {
			p.retry = &rp
		}
		if cb, ok := r.CircuitBreakers[names.CircuitBreaker]; ok {
			p.breaker = newBreaker(names.CircuitBreaker+"-"+component, cb, c.trips[names.CircuitBreaker], c.log)
		}
	}
	c.policies[component] = p
	return p
}

// BreakerState returns the state of the circuit breaker of component's outbound calls
// ("closed", "half-open" or "open"), or "" when it has none.
func (c *Client) BreakerState(component string) string {
	p := c.policyFor(component)
	if p == nil || p.breaker == nil {
		return ""
	}
	return p.breaker.cb.State().String()
}

// run executes op under pol in Dapr's order, retry(circuitBreaker(timeout(op))): each attempt
// gets its own timeout, passes through the breaker, and failed attempts are retried as the
// retry policy says. A breaker refusal, an etag mismatch, a 4xx, a status outside the
// policy's matching list, or an outcome-unknown failure of a non-idempotent request ends
// the call at once. The first retry of a call and its recovery are logged with Dapr's words.
func (c *Client) run(ctx context.Context, pol *policy, req *request, op func(context.Context) error) error {
	if pol == nil {
		return op(ctx)
	}
	attempt := func() error {
		if pol.timeout <= 0 {
			return op(ctx)
		}
		actx, cancel := context.WithTimeout(ctx, pol.timeout)
		defer cancel()
		err := op(actx)
		if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			return &timeoutError{after: pol.timeout, err: err}
		}
		return err
	}
	if pol.breaker != nil {
		unguarded := attempt
		attempt = func() error { return pol.breaker.execute(unguarded) }
	}
	start := c.clock.Now()
	var bo *backoff
	retried := false
	for n := 1; ; n++ {
		err := attempt()
		if err == nil {
			if retried {
				c.log.Info(fmt.Sprintf("Recovered processing operation %s.", pol.name), "operation", pol.name, "attempts", n)
			}
			return nil
		}
		if pol.retry == nil || ctx.Err() != nil || !retryable(err, req, pol.retry) {
			return err
		}
		if bo == nil {
			bo = newBackoff(*pol.retry, start, c.rand)
		}
		wait, ok := bo.next(c.clock.Now())
		if !ok {
			return err
		}
		if !retried {
			c.log.Info(fmt.Sprintf("Error processing operation %s. Retrying in %v…", pol.name, wait),
				"operation", pol.name, "attempt", n, "error", err.Error())
			retried = true
		} else {
			c.log.Debug(fmt.Sprintf("Retrying operation %s in %v", pol.name, wait),
				"operation", pol.name, "attempt", n, "error", err.Error())
		}
		if serr := c.clock.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("client: gave up retrying: %w; last error: %w", serr, err)
		}
	}
}

// retryable reports whether a failed attempt is worth another under rp.
func retryable(err error, req *request, rp *RetryPolicy) bool {
	if errors.Is(err, ErrCircuitOpen) || (!req.idempotent && mayHaveApplied(err)) {
		return false
	}
	var to *timeoutError
	if errors.As(err, &to) {
		return true
	}
	for _, l := range leaves(err) {
		var api *APIError
		var tr *TransportError
		switch {
		case errors.As(l, &api):
			if api.retryableStatus() && rp.Matching.matches(api.StatusCode) {
				return true
			}
		case errors.As(l, &tr):
			return true
		}
	}
	return false
}
