package clientint

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/test/cluster"
)

// An etag mismatch (409, or the 500 a transaction answers with) is the final answer: the
// client sends the request exactly once, even under a retry-forever policy, and the circuit
// breaker does not count it as a failure. Requests are counted on the wire.
func TestETagMismatchIsNeverRetried(t *testing.T) {
	skipShort(t)
	c := cluster.Start(t, 3)
	res := &client.Resiliency{
		Retries: map[string]client.RetryPolicy{
			"forever": {Policy: client.Constant, Duration: 10 * time.Millisecond, MaxRetries: -1},
			"thrice":  {Policy: client.Constant, Duration: 10 * time.Millisecond, MaxRetries: 2},
		},
		CircuitBreakers: map[string]client.CircuitBreakerPolicy{
			"touchy": {MaxRequests: 1, Timeout: time.Minute, Trip: "consecutiveFailures >= 1"},
		},
		Components: map[string]client.PolicyNames{
			client.DefaultStore: {Retry: "forever", CircuitBreaker: "touchy"},
			"control":           {Retry: "thrice"},
		},
	}
	cl, cnt, logs := newClient(t, c, func(cfg *client.Config) { cfg.Resiliency = res })
	ctx := ctxFor(t, 20*time.Second)

	if err := cl.Set(ctx, "k", "v1", strong); err != nil {
		t.Fatal(err)
	}
	stale := mustGet(t, cl, "k", `"v1"`, strong).ETag
	if err := cl.Set(ctx, "k", "v2", client.WithETag(stale)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CRDTApply(ctx, "n", client.PNCounterIncrement(1), strong); err != nil {
		t.Fatal(err)
	}

	const save, txn = "/v1.0/state/statestore", "/v1.0/state/statestore/transaction"
	cases := []struct {
		name   string
		method string
		path   string
		status int
		call   func() error
	}{
		{"save with a stale etag", http.MethodPost, save, http.StatusConflict, func() error {
			return cl.Set(ctx, "k", "v3", client.WithETag(stale))
		}},
		{"strong save with a stale etag", http.MethodPost, save, http.StatusConflict, func() error {
			return cl.Set(ctx, "k", "v3", client.WithETag(stale), strong)
		}},
		{"first-write of an existing key", http.MethodPost, save, http.StatusConflict, func() error {
			return cl.Set(ctx, "k", "v3", client.WithConcurrency(lattice.FirstWrite))
		}},
		{"bulk save whose items all mismatch", http.MethodPost, save, http.StatusConflict, func() error {
			return cl.Save(ctx, []client.SetItem{{Key: "k", Value: 1, ETag: stale}, {Key: "k", Value: 2, Concurrency: lattice.FirstWrite}})
		}},
		{"delete with a stale etag", http.MethodDelete, "/v1.0/state/statestore/k", http.StatusConflict, func() error {
			return cl.Delete(ctx, "k", client.WithETag(stale))
		}},
		{"transaction with a stale etag", http.MethodPost, txn, http.StatusInternalServerError, func() error {
			return cl.Transaction(ctx, []client.TxOperation{{Type: client.TxUpsert, Item: client.SetItem{Key: "k", Value: 4, ETag: stale}}})
		}},
	}
	for range 3 {
		for _, tc := range cases {
			before := cnt.route(tc.method, tc.path)
			err := tc.call()
			var api *client.APIError
			if !errors.Is(err, lattice.ErrETagMismatch) || !errors.As(err, &api) || api.StatusCode != tc.status {
				t.Fatalf("%s: %v, want an etag mismatch with status %d", tc.name, err, tc.status)
			}
			if n := cnt.route(tc.method, tc.path) - before; n != 1 {
				t.Fatalf("%s: sent %d times, want once", tc.name, n)
			}
		}
	}
	// A wrong type is final too.
	before := cnt.route(http.MethodPost, "/v1.0/crdt/statestore/n")
	if _, err := cl.CRDTApply(ctx, "n", client.ORSetAdd("x")); !errors.Is(err, lattice.ErrWrongType) {
		t.Fatalf("orset add on a counter: %v", err)
	}
	if n := cnt.route(http.MethodPost, "/v1.0/crdt/statestore/n") - before; n != 1 {
		t.Fatalf("wrong type: sent %d times, want once", n)
	}
	if st := cl.BreakerState(client.DefaultStore); st != "closed" {
		t.Fatalf("breaker %s after etag mismatches; they are answers, not failures", st)
	}
	if logs.contains("Retrying") {
		t.Fatal("the client logged a retry")
	}
	mustGet(t, cl, "k", `"v2"`, strong) // and nothing was applied

	// Control: the counter does see retries. A node that is down fails the pinned call at
	// the connection, which "thrice" retries twice.
	crash(c, 2)
	dead := c.Members[2].URL()
	err := cl.Set(ctx, "k", "x", client.WithStore("control"), client.WithEndpoint(dead))
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("save to a stopped node: %v", err)
	}
	if n := cnt.route(http.MethodPost, "/v1.0/state/control"); n != 3 {
		t.Fatalf("a failed save under maxRetries 2 was sent %d times, want 3", n)
	}
}
