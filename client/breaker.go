package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/sony/gobreaker/v2"
)

// DefaultTrip is Dapr's default trip expression.
const DefaultTrip = "consecutiveFailures > 5"

// CircuitBreakerPolicy is a Dapr circuit breaker policy (spec.policies.circuitBreakers.<name>).
// Zero fields take Dapr's defaults: MaxRequests 1, Interval 0 (counts never cleared while
// closed), Timeout 60 s, Trip DefaultTrip.
type CircuitBreakerPolicy struct {
	// MaxRequests is the number of trial requests let through while half-open; that many
	// consecutive successes close the breaker.
	MaxRequests uint32
	// Interval is the cyclic period after which the counts are cleared while closed.
	Interval time.Duration
	// Timeout is how long the breaker stays open before it lets a trial request through.
	Timeout time.Duration
	// Trip is a CEL expression over requests, totalSuccesses, totalFailures,
	// consecutiveSuccesses and consecutiveFailures (all int), evaluated after each failure
	// while closed; true opens the breaker. An evaluation error does not trip.
	Trip string
}

// DefaultCircuitBreakerPolicy returns Dapr's defaults.
func DefaultCircuitBreakerPolicy() CircuitBreakerPolicy {
	return CircuitBreakerPolicy{MaxRequests: 1, Timeout: 60 * time.Second, Trip: DefaultTrip}
}

// Validate checks the durations and compiles the trip expression.
func (p CircuitBreakerPolicy) Validate() error {
	if p.Interval < 0 || p.Timeout < 0 {
		return fmt.Errorf("client: circuit breaker interval/timeout must not be negative")
	}
	_, err := compileTrip(p.Trip)
	return err
}

// tripVariables are the names Dapr binds when it evaluates a trip expression.
var tripVariables = []string{"requests", "totalSuccesses", "totalFailures", "consecutiveSuccesses", "consecutiveFailures"}

// compileTrip compiles a trip expression into gobreaker's ReadyToTrip. The variables are
// typed int and numeric comparisons across int and double are allowed, so
// "consecutiveFailures > 5" and "totalFailures * 1.0 / requests > 0.5" both check; an
// unknown variable or a non-boolean expression is an error here rather than a silent
// never-trip at run time.
func compileTrip(expr string) (func(gobreaker.Counts) bool, error) {
	if expr == "" {
		expr = DefaultTrip
	}
	opts := []cel.EnvOption{cel.CrossTypeNumericComparisons(true)}
	for _, v := range tripVariables {
		opts = append(opts, cel.Variable(v, cel.IntType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("client: trip expression environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("client: trip expression %q: %w", expr, iss.Err())
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("client: trip expression %q: yields %v, want bool", expr, ast.OutputType())
	}
	prg, err := env.Program(ast)
	if err != nil {
		return nil, fmt.Errorf("client: trip expression %q: %w", expr, err)
	}
	return func(c gobreaker.Counts) bool {
		out, _, err := prg.Eval(map[string]any{
			"requests":             int64(c.Requests),
			"totalSuccesses":       int64(c.TotalSuccesses),
			"totalFailures":        int64(c.TotalFailures),
			"consecutiveSuccesses": int64(c.ConsecutiveSuccesses),
			"consecutiveFailures":  int64(c.ConsecutiveFailures),
		})
		if err != nil {
			return false
		}
		b, ok := out.Value().(bool)
		return ok && b
	}, nil
}

// breaker is one circuit breaker instance, shared by every call to its target.
type breaker struct {
	name string
	cb   *gobreaker.CircuitBreaker[struct{}]
}

// newBreaker builds the breaker "<policy>-<target>" (Dapr's naming) with a compiled trip.
// Only failures of the target count against it: a 4xx or a business outcome (etag mismatch,
// wrong type) is an answer of a healthy node, and the caller's own cancellation is ignored.
func newBreaker(name string, p CircuitBreakerPolicy, trip func(gobreaker.Counts) bool, log *slog.Logger) *breaker {
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name,
		MaxRequests:  p.MaxRequests,
		Interval:     p.Interval,
		Timeout:      p.Timeout,
		ReadyToTrip:  trip,
		IsSuccessful: answeredByTarget,
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			log.Info(fmt.Sprintf("Circuit breaker %q changed state from %s to %s", name, from, to),
				"breaker", name, "from", from.String(), "to", to.String())
		},
	})
	return &breaker{name: name, cb: cb}
}

// answeredByTarget reports whether err (nil included) is an answer of a serving node.
func answeredByTarget(err error) bool {
	var api *APIError
	return err == nil || (errors.As(err, &api) && !api.retryableStatus())
}

// execute runs fn through the breaker; a refusal is a *breakerError.
func (b *breaker) execute(fn func() error) error {
	_, err := b.cb.Execute(func() (struct{}, error) { return struct{}{}, fn() })
	if err == gobreaker.ErrOpenState || err == gobreaker.ErrTooManyRequests {
		return &breakerError{name: b.name, err: err}
	}
	return err
}
