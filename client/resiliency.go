package client

import (
	"fmt"
	"sort"
	"time"
)

// Resiliency is the part of Dapr's Resiliency resource that applies to a state store
// client: named policies, and the policies of the outbound calls to each component. Build it
// in code or load it with LoadResiliency/ParseResiliency. It is plain data; the Client that
// uses it holds the circuit breakers' state.
type Resiliency struct {
	// Timeouts are named per-attempt timeouts (spec.policies.timeouts).
	Timeouts map[string]time.Duration
	// Retries are named retry policies (spec.policies.retries).
	Retries map[string]RetryPolicy
	// CircuitBreakers are named circuit breaker policies (spec.policies.circuitBreakers).
	CircuitBreakers map[string]CircuitBreakerPolicy
	// Components maps a component (state store) name to the policies of its outbound calls
	// (spec.targets.components.<name>.outbound).
	Components map[string]PolicyNames
}

// PolicyNames names the policies of a target; an empty name means none.
type PolicyNames struct {
	Timeout        string
	Retry          string
	CircuitBreaker string
}

// defaultLevels are the levels of Dapr's default policy names for a state store's outbound
// calls, most specific first: DefaultStatestoreComponentOutboundRetryPolicy,
// DefaultComponentOutboundRetryPolicy, DefaultComponentRetryPolicy, DefaultRetryPolicy.
var defaultLevels = []string{"StatestoreComponentOutbound", "ComponentOutbound", "Component", ""}

// ComponentPolicies resolves the policies of the outbound calls to component, as Dapr does:
// a component listed in Components uses exactly the names given there; any other uses, per
// kind, the most specific Default*Policy that exists.
func (r *Resiliency) ComponentPolicies(component string) PolicyNames {
	if r == nil {
		return PolicyNames{}
	}
	if n, ok := r.Components[component]; ok {
		return n
	}
	var n PolicyNames
	for _, lvl := range defaultLevels {
		if name := "Default" + lvl + "TimeoutPolicy"; n.Timeout == "" && hasKey(r.Timeouts, name) {
			n.Timeout = name
		}
		if name := "Default" + lvl + "RetryPolicy"; n.Retry == "" && hasKey(r.Retries, name) {
			n.Retry = name
		}
		if name := "Default" + lvl + "CircuitBreakerPolicy"; n.CircuitBreaker == "" && hasKey(r.CircuitBreakers, name) {
			n.CircuitBreaker = name
		}
	}
	return n
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// Validate checks every policy and that every component target names policies that exist.
func (r *Resiliency) Validate() error {
	for _, name := range sortedKeys(r.Timeouts) {
		if r.Timeouts[name] < 0 {
			return fmt.Errorf("client: timeout policy %q is negative", name)
		}
	}
	for _, name := range sortedKeys(r.Retries) {
		if err := r.Retries[name].Validate(); err != nil {
			return fmt.Errorf("client: retry policy %q: %w", name, err)
		}
	}
	for _, name := range sortedKeys(r.CircuitBreakers) {
		if err := r.CircuitBreakers[name].Validate(); err != nil {
			return fmt.Errorf("client: circuit breaker policy %q: %w", name, err)
		}
	}
	for _, comp := range sortedKeys(r.Components) {
		n := r.Components[comp]
		if n.Timeout != "" && !hasKey(r.Timeouts, n.Timeout) {
			return fmt.Errorf("client: component %q: unknown timeout policy %q", comp, n.Timeout)
		}
		if n.Retry != "" && !hasKey(r.Retries, n.Retry) {
			return fmt.Errorf("client: component %q: unknown retry policy %q", comp, n.Retry)
		}
		if n.CircuitBreaker != "" && !hasKey(r.CircuitBreakers, n.CircuitBreaker) {
			return fmt.Errorf("client: component %q: unknown circuit breaker policy %q", comp, n.CircuitBreaker)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
