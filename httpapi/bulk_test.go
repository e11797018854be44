package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/lattice-state/lattice"
)

func TestBulkGet(t *testing.T) {
	h := newHarness(t)
	ea := h.b.put("statestore||a", `"A"`)
	eb := h.b.put("statestore||b", `{"x":1}`)
	tests := []struct {
		name, method, body, want string
	}{
		{"in key order with a missing key", http.MethodPost, `{"keys":["b","missing","a"]}`,
			`[{"key":"b","data":{"x":1},"etag":"` + eb + `"},{"key":"missing"},{"key":"a","data":"A","etag":"` + ea + `"}]`},
		{"duplicates", http.MethodPut, `{"keys":["a","a"],"parallelism":10}`,
			`[{"key":"a","data":"A","etag":"` + ea + `"},{"key":"a","data":"A","etag":"` + ea + `"}]`},
		{"no keys", http.MethodPost, `{}`, `[]`},
		{"empty keys", http.MethodPost, `{"keys":[],"metadata":{"partitionKey":"p"}}`, `[]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr := h.do(tc.method, "/v1.0/state/statestore/bulk", tc.body)
			wantStatus(t, rr, http.StatusOK)
			if rr.Body.String() != tc.want {
				t.Fatalf("body %s\nwant %s", rr.Body.String(), tc.want)
			}
		})
	}
	if n := h.b.callCount("BulkGet"); n != 2 {
		t.Fatalf("BulkGet called %d times; requests without keys must not reach the backend", n)
	}
}

func TestBulkGetConsistency(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(http.MethodPost, "/v1.0/state/statestore/bulk", `{"keys":["a"]}`, "consistency", "strong"), http.StatusOK)
	wantStatus(t, h.do(http.MethodPost, "/v1.0/state/statestore/bulk?consistency=eventual", `{"keys":["a"]}`, "consistency", "strong"), http.StatusOK)
	if h.b.reads[0] != lattice.Strong || h.b.reads[1] != lattice.Eventual {
		t.Fatalf("reads %v, want [strong eventual]", h.b.reads)
	}
}

func TestBulkGetRejectsBadInput(t *testing.T) {
	tests := []struct{ name, target, body, msg string }{
		{"empty body", "", ``, "body is empty"},
		{"array", "", `["a"]`, "expected an object"},
		{"keys not an array", "", `{"keys":"a"}`, "field keys: expected an array"},
		{"numeric key", "", `{"keys":[1]}`, "expected a string"},
		{"illegal key", "", `{"keys":["a","b||c"]}`, "can't contain '||'"},
		{"empty key", "", `{"keys":[""]}`, `"key" is a required field`},
		{"huge key", "", `{"keys":["` + strings.Repeat("k", 1025) + `"]}`, "over the limit"},
		{"truncated", "", `{"keys":["a"`, "unexpected end"},
		{"bad consistency", "?consistency=eventually", `{"keys":["a"]}`, "unrecognized consistency model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			body := wantError(t, h.do(http.MethodPost, "/v1.0/state/statestore/bulk"+tc.target, tc.body), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
			if !strings.Contains(body.Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", body.Message, tc.msg)
			}
			if n := h.b.callCount("BulkGet"); n != 0 {
				t.Fatalf("BulkGet called %d times", n)
			}
		})
	}
}

func TestBulkGetBackendFailures(t *testing.T) {
	h := newHarness(t)
	h.b.set(func(f *fakeBackend) { f.failWith["BulkGet"] = lattice.ErrIndeterminate })
	wantError(t, h.do(http.MethodPost, "/v1.0/state/statestore/bulk", `{"keys":["a"]}`), http.StatusGatewayTimeout, "ERR_STATE_BULK_GET")
}

// shortBackend breaks the BulkGet contract by returning fewer items than keys.
type shortBackend struct{ *fakeBackend }

func (shortBackend) BulkGet(_ context.Context, _ []string, _ lattice.Consistency) ([]Item, error) {
	return nil, nil
}

func TestBulkGetChecksTheBackendAnswer(t *testing.T) {
	cfg := DefaultConfig()
	srv, err := New(cfg, shortBackend{newFakeBackend()}, newFakeCluster())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv}
	body := wantError(t, h.do(http.MethodPost, "/v1.0/state/statestore/bulk", `{"keys":["a"]}`), http.StatusInternalServerError, "ERR_STATE_BULK_GET")
	if !strings.Contains(body.Message, "0 items for 1 keys") {
		t.Fatalf("message %q", body.Message)
	}
}
