package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Dapr's identifiers of a resiliency resource.
const (
	ResiliencyAPIVersion = "dapr.io/v1alpha1"
	ResiliencyKind       = "Resiliency"
)

// The YAML shape of Dapr's Resiliency resource. Fields the client does not apply (targets
// apps and actors, inbound policies, gRPC codes) are accepted and ignored, so that a file
// written for daprd loads unchanged; any other unknown field is an error.
type yamlResource struct {
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   yaml.Node `yaml:"metadata"`
	Scopes     []string  `yaml:"scopes"`
	Spec       struct {
		Policies struct {
			Timeouts        map[string]string      `yaml:"timeouts"`
			Retries         map[string]yamlRetry   `yaml:"retries"`
			CircuitBreakers map[string]yamlBreaker `yaml:"circuitBreakers"`
		} `yaml:"policies"`
		Targets struct {
			Apps       yaml.Node                `yaml:"apps"`
			Actors     yaml.Node                `yaml:"actors"`
			Components map[string]yamlComponent `yaml:"components"`
		} `yaml:"targets"`
	} `yaml:"spec"`
}

type yamlRetry struct {
	Policy      string `yaml:"policy"`
	Duration    string `yaml:"duration"`
	MaxInterval string `yaml:"maxInterval"`
	MaxRetries  *int   `yaml:"maxRetries"`
	Matching    struct {
		HTTPStatusCodes string `yaml:"httpStatusCodes"`
		GRPCStatusCodes string `yaml:"gRPCStatusCodes"`
	} `yaml:"matching"`
}

type yamlBreaker struct {
	MaxRequests *int   `yaml:"maxRequests"`
	Interval    string `yaml:"interval"`
	Timeout     string `yaml:"timeout"`
	Trip        string `yaml:"trip"`
}

type yamlComponent struct {
	Outbound yamlNames `yaml:"outbound"`
	Inbound  yamlNames `yaml:"inbound"`
}

type yamlNames struct {
	Timeout        string `yaml:"timeout"`
	Retry          string `yaml:"retry"`
	CircuitBreaker string `yaml:"circuitBreaker"`
}

// LoadResiliency reads a Dapr resiliency file; see ParseResiliency.
func LoadResiliency(path, appID string) (*Resiliency, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	r, err := ParseResiliency(data, appID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseResiliency reads Dapr resiliency YAML: one or more documents; those of another kind
// are skipped, those of kind Resiliency must have apiVersion dapr.io/v1alpha1. A resource
// whose scopes are non-empty applies only when appID is listed (an empty appID ignores
// scopes). The policies and component targets of the applicable resources are merged (a
// name defined twice is an error) and validated: bad durations, unknown policy types,
// malformed matching codes, trip expressions that do not compile and targets naming
// policies that do not exist are all errors.
func ParseResiliency(data []byte, appID string) (*Resiliency, error) {
	r := &Resiliency{
		Timeouts:        map[string]time.Duration{},
		Retries:         map[string]RetryPolicy{},
		CircuitBreakers: map[string]CircuitBreakerPolicy{},
		Components:      map[string]PolicyNames{},
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	found := false
	for doc := 1; ; doc++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("client: resiliency document %d: %w", doc, err)
		}
		var head struct {
			Kind string `yaml:"kind"`
		}
		if err := node.Decode(&head); err != nil {
			return nil, fmt.Errorf("client: resiliency document %d: %w", doc, err)
		}
		if head.Kind != ResiliencyKind {
			continue
		}
		found = true
		var res yamlResource
		if err := decodeStrict(&node, &res); err != nil {
			return nil, fmt.Errorf("client: resiliency document %d: %w", doc, err)
		}
		if res.APIVersion != ResiliencyAPIVersion {
			return nil, fmt.Errorf("client: resiliency document %d: apiVersion %q, want %s", doc, res.APIVersion, ResiliencyAPIVersion)
		}
		if appID != "" && len(res.Scopes) > 0 && !slices.Contains(res.Scopes, appID) {
			continue
		}
		if err := r.merge(&res); err != nil {
			return nil, fmt.Errorf("client: resiliency document %d: %w", doc, err)
		}
	}
	if !found {
		return nil, fmt.Errorf("client: no document of kind %s", ResiliencyKind)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeStrict decodes node into v, rejecting fields v does not have.
func decodeStrict(node *yaml.Node, v any) error {
	raw, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// merge adds the policies and component targets of one resource to r.
func (r *Resiliency) merge(res *yamlResource) error {
	p := res.Spec.Policies
	for _, name := range sortedKeys(p.Timeouts) {
		if hasKey(r.Timeouts, name) {
			return fmt.Errorf("timeout policy %q defined twice", name)
		}
		d, err := parseDaprDuration(p.Timeouts[name])
		if err != nil {
			return fmt.Errorf("timeout policy %q: %w", name, err)
		}
		r.Timeouts[name] = d
	}
	for _, name := range sortedKeys(p.Retries) {
		if hasKey(r.Retries, name) {
			return fmt.Errorf("retry policy %q defined twice", name)
		}
		rp, err := p.Retries[name].policy()
		if err != nil {
			return fmt.Errorf("retry policy %q: %w", name, err)
		}
		r.Retries[name] = rp
	}
	for _, name := range sortedKeys(p.CircuitBreakers) {
		if hasKey(r.CircuitBreakers, name) {
			return fmt.Errorf("circuit breaker policy %q defined twice", name)
		}
		cb, err := p.CircuitBreakers[name].policy()
		if err != nil {
			return fmt.Errorf("circuit breaker policy %q: %w", name, err)
		}
		r.CircuitBreakers[name] = cb
	}
	for _, name := range sortedKeys(res.Spec.Targets.Components) {
		if hasKey(r.Components, name) {
			return fmt.Errorf("component target %q defined twice", name)
		}
		o := res.Spec.Targets.Components[name].Outbound
		r.Components[name] = PolicyNames{Timeout: o.Timeout, Retry: o.Retry, CircuitBreaker: o.CircuitBreaker}
	}
	return nil
}

// policy applies the YAML fields over Dapr's defaults.
func (y yamlRetry) policy() (RetryPolicy, error) {
	p := DefaultRetryPolicy()
	switch strings.ToLower(y.Policy) {
	case "", "constant":
		p.Policy = Constant
	case "exponential":
		p.Policy = Exponential
	default:
		return p, fmt.Errorf("policy %q: want constant or exponential", y.Policy)
	}
	var err error
	if y.Duration != "" {
		if p.Duration, err = parseDaprDuration(y.Duration); err != nil {
			return p, fmt.Errorf("duration: %w", err)
		}
	}
	if y.MaxInterval != "" {
		if p.MaxInterval, err = parseDaprDuration(y.MaxInterval); err != nil {
			return p, fmt.Errorf("maxInterval: %w", err)
		}
	}
	if y.MaxRetries != nil {
		p.MaxRetries = *y.MaxRetries
	}
	if p.Matching.HTTPStatusCodes, err = ParseStatusCodes(y.Matching.HTTPStatusCodes, 100, 599); err != nil {
		return p, fmt.Errorf("matching.httpStatusCodes: %w", err)
	}
	if _, err = ParseStatusCodes(y.Matching.GRPCStatusCodes, 0, 16); err != nil {
		return p, fmt.Errorf("matching.gRPCStatusCodes: %w", err)
	}
	return p, p.Validate()
}

// policy converts the YAML fields; absent ones keep Dapr's defaults.
func (y yamlBreaker) policy() (CircuitBreakerPolicy, error) {
	p := DefaultCircuitBreakerPolicy()
	if y.MaxRequests != nil {
		if *y.MaxRequests < 0 {
			return p, fmt.Errorf("maxRequests %d is negative", *y.MaxRequests)
		}
		p.MaxRequests = uint32(*y.MaxRequests)
	}
	var err error
	if y.Interval != "" {
		if p.Interval, err = parseDaprDuration(y.Interval); err != nil {
			return p, fmt.Errorf("interval: %w", err)
		}
	}
	if y.Timeout != "" {
		if p.Timeout, err = parseDaprDuration(y.Timeout); err != nil {
			return p, fmt.Errorf("timeout: %w", err)
		}
	}
	if y.Trip != "" {
		p.Trip = y.Trip
	}
	return p, p.Validate()
}

// parseDaprDuration reads a Go duration, or a bare integer of milliseconds as Dapr does.
func parseDaprDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		d = time.Duration(n) * time.Millisecond
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %s is negative", s)
	}
	return d, nil
}
