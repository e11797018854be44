package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

// TestRefusalsCarryRetryAfter covers no quorum (503), backpressure (429), an unknown outcome
// (504) and an internal error (500) on every state route, with each route's error code.
func TestRefusalsCarryRetryAfter(t *testing.T) {
	routes := []struct {
		name, method, target, body, code string
		strong                           bool // the request needs Raft
	}{
		{"save strong", http.MethodPost, "/v1.0/state/statestore", `[{"key":"k","value":1,"options":{"consistency":"strong"}}]`, "ERR_STATE_SAVE", true},
		{"save eventual", http.MethodPost, "/v1.0/state/statestore", `[{"key":"k","value":1}]`, "ERR_STATE_SAVE", false},
		{"get strong", http.MethodGet, "/v1.0/state/statestore/k?consistency=strong", ``, "ERR_STATE_GET", true},
		{"delete strong", http.MethodDelete, "/v1.0/state/statestore/k", ``, "ERR_STATE_DELETE", true},
		{"delete eventual", http.MethodDelete, "/v1.0/state/statestore/k", ``, "ERR_STATE_DELETE", false},
		{"bulk strong", http.MethodPost, "/v1.0/state/statestore/bulk?consistency=strong", `{"keys":["k"]}`, "ERR_STATE_BULK_GET", true},
		{"transaction", http.MethodPost, "/v1.0/state/statestore/transaction",
			`{"operations":[{"operation":"upsert","request":{"key":"k","value":1}}]}`, "ERR_STATE_TRANSACTION", true},
		{"query strong", http.MethodPost, "/v1.0-alpha1/state/statestore/query?consistency=strong", `{}`, "ERR_STATE_QUERY", true},
		{"crdt strong", http.MethodPost, "/v1.0/crdt/statestore/c?consistency=strong", `{"type":"flag","op":"enable"}`, "ERR_CRDT_APPLY", true},
		{"crdt eventual", http.MethodPost, "/v1.0/crdt/statestore/c", `{"type":"flag","op":"enable"}`, "ERR_CRDT_APPLY", false},
	}
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			h := newHarness(t)
			h.b.put("statestore||k", "1")
			if strings.HasPrefix(r.name, "delete strong") {
				r.target += "?consistency=strong"
			}
			if r.strong {
				h.b.set(func(f *fakeBackend) {
					f.noQuorum = fmt.Errorf("raft: no leader: %w", &lattice.RetryAfterError{Err: lattice.ErrNoQuorum, After: 1500 * time.Millisecond})
				})
				h.unchanged(func() {
					rr := h.do(r.method, r.target, r.body)
					body := wantError(t, rr, http.StatusServiceUnavailable, r.code)
					if rr.Header().Get("Retry-After") != "2" || !strings.Contains(body.Message, "no quorum") {
						t.Fatalf("Retry-After %q, message %q", rr.Header().Get("Retry-After"), body.Message)
					}
				})
				return
			}
			h.b.set(func(f *fakeBackend) { f.backpressure = lattice.ErrBackpressure })
			h.unchanged(func() {
				rr := h.do(r.method, r.target, r.body)
				wantError(t, rr, http.StatusTooManyRequests, r.code)
				if rr.Header().Get("Retry-After") != "1" {
					t.Fatalf("Retry-After %q, want the 1 s default", rr.Header().Get("Retry-After"))
				}
			})
		})
	}
}

func TestBackendErrorsMapToStatuses(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		retryAfter string
	}{
		{fmt.Errorf("forward: %w", lattice.ErrIndeterminate), http.StatusGatewayTimeout, ""},
		{fmt.Errorf("node: %w", lattice.ErrShuttingDown), http.StatusServiceUnavailable, "1"},
		{fmt.Errorf("node: %w", lattice.ErrNotLeader), http.StatusServiceUnavailable, "1"},
		{fmt.Errorf("raft: %w", lattice.ErrTooLarge), http.StatusBadRequest, ""},
		{fmt.Errorf("raft: %w", lattice.ErrInvalidArgument), http.StatusBadRequest, ""},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError, ""},
		{fmt.Errorf("read: %w", context.Canceled), statusClientCancelled, ""},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			h := newHarness(t)
			h.b.set(func(f *fakeBackend) { f.failWith["Get"] = tc.err })
			rr := h.get("k")
			body := wantError(t, rr, tc.status, "ERR_STATE_GET")
			if rr.Header().Get("Retry-After") != tc.retryAfter {
				t.Fatalf("Retry-After %q, want %q", rr.Header().Get("Retry-After"), tc.retryAfter)
			}
			if want := "fail to get k from state store statestore: " + tc.err.Error(); body.Message != want {
				t.Fatalf("message %q, want %q", body.Message, want)
			}
		})
	}
}

func TestRequestTimeoutBoundsABlockedBackend(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RequestTimeout = 50 * time.Millisecond })
	h.b.set(func(f *fakeBackend) { f.block = true })
	start := time.Now()
	wantError(t, h.get("k?consistency=strong"), http.StatusGatewayTimeout, "ERR_STATE_GET")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestInvalidJSONFromTheBackendIs500(t *testing.T) {
	h := newHarness(t)
	h.b.put("statestore||bad", `{not json`)
	body := wantError(t, h.do(http.MethodPost, "/v1.0/state/statestore/bulk", `{"keys":["bad"]}`), http.StatusInternalServerError, "ERROR")
	if !strings.HasPrefix(body.Message, "failed encoding the response: ") {
		t.Fatalf("message %q", body.Message)
	}
	wantError(t, h.do(http.MethodGet, "/v1.0/crdt/statestore/bad", ""), http.StatusInternalServerError, "ERROR")
}
