package client

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedYAML is the resiliency spec of the Dapr quickstart (Python tab), verbatim.
const seedYAML = `
   apiVersion: dapr.io/v1alpha1
   kind: Resiliency
   metadata:
     name: myresiliency
   scopes:
     - order-processor

   spec:
     policies:
       retries:
         retryForever:
           policy: constant
           duration: 5s
           maxRetries: -1

       circuitBreakers:
         simpleCB:
           maxRequests: 1
           timeout: 5s
           trip: consecutiveFailures >= 5

     targets:
       components:
         statestore:
           outbound:
             retry: retryForever
             circuitBreaker: simpleCB
`

func TestParseSeedResiliency(t *testing.T) {
	r, err := ParseResiliency([]byte(seedYAML), "order-processor")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultRetryPolicy()
	want.Duration = 5 * time.Second
	if got := r.Retries["retryForever"]; !reflect.DeepEqual(got, want) {
		t.Errorf("retryForever = %+v, want %+v", got, want)
	}
	if got, want := r.CircuitBreakers["simpleCB"], (CircuitBreakerPolicy{MaxRequests: 1, Timeout: 5 * time.Second,
		Trip: "consecutiveFailures >= 5"}); got != want {
		t.Errorf("simpleCB = %+v, want %+v", got, want)
	}
	if got, want := r.ComponentPolicies("statestore"), (PolicyNames{Retry: "retryForever", CircuitBreaker: "simpleCB"}); got != want {
		t.Errorf("statestore = %+v, want %+v", got, want)
	}
	if got := r.ComponentPolicies("other"); got != (PolicyNames{}) {
		t.Errorf("other store = %+v, want no policies", got)
	}
}

func TestParseResiliencyScopes(t *testing.T) {
	for appID, want := range map[string]bool{"order-processor": true, "": true, "checkout": false} {
		r, err := ParseResiliency([]byte(seedYAML), appID)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(r.Retries) == 1; got != want {
			t.Errorf("appID %q: policies applied = %v, want %v", appID, got, want)
		}
	}
}

func TestParseResiliencyDaprFeatures(t *testing.T) {
	const doc = `
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore}
spec: {type: state.redis, version: v1, metadata: [{name: redisHost, value: "localhost:6379"}]}
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: defaults, namespace: prod, labels: {team: a}}
spec:
  policies:
    timeouts:
      DefaultTimeoutPolicy: 1500      # bare integers are milliseconds
      general: 5s
    retries:
      DefaultRetryPolicy: {policy: exponential, maxInterval: 10s, maxRetries: 3,
                           matching: {httpStatusCodes: "429,500-599", gRPCStatusCodes: "1-4,8-11,13,14"}}
      DefaultStatestoreComponentOutboundRetryPolicy: {policy: constant, duration: 200ms}
    circuitBreakers:
      DefaultComponentCircuitBreakerPolicy: {interval: 30s, trip: "totalFailures > 3"}
  targets:
    apps:
      checkout: {timeout: general, retry: DaprBuiltInServiceRetries, circuitBreakerCacheSize: 10}
    actors:
      myActor: {timeout: general, circuitBreakerScope: both}
    components:
      pinned:
        outbound: {timeout: general}
        inbound: {timeout: general}
`
	r, err := ParseResiliency([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Timeouts["DefaultTimeoutPolicy"] != 1500*time.Millisecond {
		t.Errorf("integer timeout = %v, want 1.5s", r.Timeouts["DefaultTimeoutPolicy"])
	}
	exp := r.Retries["DefaultRetryPolicy"]
	if exp.Policy != Exponential || exp.MaxInterval != 10*time.Second || exp.MaxRetries != 3 ||
		exp.InitialInterval != 500*time.Millisecond || exp.Multiplier != 1.5 || exp.RandomizationFactor != 0.5 ||
		!reflect.DeepEqual(exp.Matching.HTTPStatusCodes, []StatusRange{{429, 429}, {500, 599}}) {
		t.Errorf("DefaultRetryPolicy = %+v", exp)
	}
	if cb := r.CircuitBreakers["DefaultComponentCircuitBreakerPolicy"]; cb.MaxRequests != 1 || cb.Timeout != 60*time.Second || cb.Interval != 30*time.Second {
		t.Errorf("breaker defaults not applied: %+v", cb)
	}
	// The most specific default of each kind applies to a store without a target...
	if got, want := r.ComponentPolicies("statestore"), (PolicyNames{Timeout: "DefaultTimeoutPolicy",
		Retry: "DefaultStatestoreComponentOutboundRetryPolicy", CircuitBreaker: "DefaultComponentCircuitBreakerPolicy"}); got != want {
		t.Errorf("statestore = %+v, want %+v", got, want)
	}
	// ... and a named target uses exactly its own names, as in Dapr.
	if got, want := r.ComponentPolicies("pinned"), (PolicyNames{Timeout: "general"}); got != want {
		t.Errorf("pinned = %+v, want %+v", got, want)
	}
}

func TestParseResiliencyErrors(t *testing.T) {
	head := "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: x}\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"not yaml", "kind: [Resiliency", "document 1"},
		{"no resiliency", "apiVersion: v1\nkind: Component\n", "no document of kind Resiliency"},
		{"api version", "apiVersion: dapr.io/v2\nkind: Resiliency\n", "apiVersion"},
		{"unknown field", head + "spec: {policies: {retries: {r: {maxRetires: 3}}}}", "maxRetires"},
		{"unknown section", head + "spec: {polices: {}}", "polices"},
		{"bad timeout", head + "spec: {policies: {timeouts: {t: soon}}}", `timeout policy "t"`},
		{"negative timeout", head + "spec: {policies: {timeouts: {t: -1s}}}", "negative"},
		{"bad policy", head + "spec: {policies: {retries: {r: {policy: linear}}}}", "linear"},
		{"bad duration", head + "spec: {policies: {retries: {r: {duration: 5 seconds}}}}", "duration"},
		{"maxRetries -2", head + "spec: {policies: {retries: {r: {maxRetries: -2}}}}", "maxRetries"},
		{"bad matching", head + "spec: {policies: {retries: {r: {matching: {httpStatusCodes: '600'}}}}}", "httpStatusCodes"},
		{"bad grpc matching", head + "spec: {policies: {retries: {r: {matching: {gRPCStatusCodes: '17'}}}}}", "gRPCStatusCodes"},
		{"bad trip", head + "spec: {policies: {circuitBreakers: {cb: {trip: 'failures > 5'}}}}", "trip expression"},
		{"negative maxRequests", head + "spec: {policies: {circuitBreakers: {cb: {maxRequests: -1}}}}", "maxRequests"},
		{"unknown retry", head + "spec: {targets: {components: {statestore: {outbound: {retry: retryForever}}}}}", `unknown retry policy "retryForever"`},
		{"unknown breaker", head + "spec: {targets: {components: {statestore: {outbound: {circuitBreaker: cb}}}}}", "unknown circuit breaker policy"},
		{"unknown timeout", head + "spec: {targets: {components: {statestore: {outbound: {timeout: t}}}}}", "unknown timeout policy"},
		{"defined twice", head + "spec: {policies: {timeouts: {t: 1s}}}\n---\n" + head + "spec: {policies: {timeouts: {t: 2s}}}", "defined twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseResiliency([]byte(tc.doc), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadResiliency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resiliency.yaml")
	if err := os.WriteFile(path, []byte(seedYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := LoadResiliency(path, "order-processor")
	if err != nil {
		t.Fatal(err)
	}
	if r.ComponentPolicies("statestore").CircuitBreaker != "simpleCB" {
		t.Errorf("policies not loaded: %+v", r)
	}
	if _, err := LoadResiliency(filepath.Join(t.TempDir(), "missing.yaml"), ""); err == nil {
		t.Error("missing file: no error")
	}
	// A client built from it has the breaker Dapr would name simpleCB-statestore.
	cfg := DefaultConfig()
	cfg.Endpoints = []string{"127.0.0.1:3500"}
	cfg.Resiliency = r
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.policyFor("statestore"); p == nil || p.breaker == nil || p.breaker.name != "simpleCB-statestore" || p.retry == nil {
		t.Errorf("policy = %+v", p)
	}
}

func TestResiliencyValidateInCode(t *testing.T) {
	r := policies(constant(time.Second, -1), &CircuitBreakerPolicy{Trip: "nonsense >"}, 0)
	cfg := DefaultConfig()
	cfg.Endpoints = []string{"127.0.0.1:3500"}
	cfg.Resiliency = r
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "trip expression") {
		t.Errorf("err = %v, want a trip expression error", err)
	}
	r = policies(constant(time.Second, -1), nil, 0)
	r.Components["statestore"] = PolicyNames{Retry: "nope"}
	if err := r.Validate(); err == nil {
		t.Error("unknown policy name accepted")
	}
}
