package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

const txnPath = "/v1.0/state/statestore/transaction"

func TestTransactionAppliesEverything(t *testing.T) {
	h := newHarness(t)
	etag := h.b.put("statestore||old", "1")
	h.b.put("statestore||gone", "1")
	body := `{"operations":[
		{"operation":"upsert","request":{"key":"new","value":{"n":1},"metadata":{"ttlInSeconds":"30"}}},
		{"operation":"upsert","request":{"key":"old","value":2,"etag":"` + etag + `"}},
		{"operation":"delete","request":{"key":"gone"}},
		{"operation":"delete","request":{"key":"never-existed"}}],
		"metadata":{"partitionKey":"planet"}}`
	wantStatus(t, h.do(http.MethodPost, txnPath+"?metadata.partitionKey=query", body), http.StatusNoContent)
	st := h.b.state()
	if !strings.HasPrefix(st["statestore||new"], `{"n":1} `) || !strings.HasPrefix(st["statestore||old"], "2 ") {
		t.Fatalf("state %v", st)
	}
	if _, ok := st["statestore||gone"]; ok {
		t.Fatal("gone was not deleted")
	}
	req := h.b.txns[0]
	if req.Metadata["partitionKey"] != "query" || req.Ops[0].Metadata["partitionKey"] != "query" {
		t.Fatalf("query metadata must win and reach every op: %+v", req)
	}
	if req.Ops[0].TTL != 30*time.Second || req.Ops[0].Kind != TxnUpsert || req.Ops[2].Kind != TxnDelete ||
		req.Ops[2].Value != nil || req.Ops[1].ETag != etag {
		t.Fatalf("ops %+v", req.Ops)
	}
}

func TestTransactionIsAllOrNothing(t *testing.T) {
	h := newHarness(t)
	h.b.put("statestore||a", "1")
	h.b.put("statestore||b", "1")
	body := `{"operations":[
		{"operation":"upsert","request":{"key":"a","value":2}},
		{"operation":"delete","request":{"key":"b","etag":"stale"}}]}`
	h.unchanged(func() {
		rr := h.do(http.MethodPost, txnPath, body)
		msg := wantError(t, rr, http.StatusInternalServerError, "ERR_STATE_TRANSACTION").Message
		if !strings.HasPrefix(msg, "error while executing state transaction: possible etag mismatch") {
			t.Fatalf("message %q", msg)
		}
	})
	// first-write inside a transaction
	h.unchanged(func() {
		rr := h.do(http.MethodPut, txnPath, `{"operations":[{"operation":"upsert","request":{"key":"a","value":3,"options":{"concurrency":"first-write"}}}]}`)
		wantError(t, rr, http.StatusInternalServerError, "ERR_STATE_TRANSACTION")
	})
}

func TestTransactionRejectsBadInput(t *testing.T) {
	many := make([]string, 4)
	for i := range many {
		many[i] = fmt.Sprintf(`{"operation":"delete","request":{"key":"k%d"}}`, i)
	}
	tests := []struct {
		name, body, code, msg string
	}{
		{"empty body", ``, "ERR_MALFORMED_REQUEST", "body is empty"},
		{"array", `[]`, "ERR_MALFORMED_REQUEST", "expected an object"},
		{"operations not an array", `{"operations":{}}`, "ERR_MALFORMED_REQUEST", "field operations"},
		{"truncated", `{"operations":[{"operation":"upsert"`, "ERR_MALFORMED_REQUEST", "unexpected end"},
		{"unsupported operation", `{"operations":[{"operation":"get","request":{"key":"k"}}]}`, "ERR_NOT_SUPPORTED_STATE_OPERATION", "operation type get not supported"},
		{"operation case matters", `{"operations":[{"operation":"Upsert","request":{"key":"k"}}]}`, "ERR_NOT_SUPPORTED_STATE_OPERATION", "Upsert"},
		{"missing key", `{"operations":[{"operation":"upsert","request":{"value":1}}]}`, "ERR_MALFORMED_REQUEST", `"key" is a required field`},
		{"missing request", `{"operations":[{"operation":"delete"}]}`, "ERR_MALFORMED_REQUEST", `"key" is a required field`},
		{"illegal key", `{"operations":[{"operation":"delete","request":{"key":"a||b"}}]}`, "ERR_MALFORMED_REQUEST", "can't contain"},
		{"numeric etag", `{"operations":[{"operation":"delete","request":{"key":"k","etag":5}}]}`, "ERR_MALFORMED_REQUEST", "etag"},
		{"bad ttl", `{"operations":[{"operation":"upsert","request":{"key":"k","metadata":{"ttlInSeconds":"1.5"}}}]}`, "ERR_MALFORMED_REQUEST", "ttlInSeconds"},
		{"bad consistency", `{"operations":[{"operation":"upsert","request":{"key":"k","options":{"consistency":"x"}}}]}`, "ERR_MALFORMED_REQUEST", "consistency"},
		{"bad concurrency", `{"operations":[{"operation":"delete","request":{"key":"k","options":{"concurrency":"x"}}}]}`, "ERR_MALFORMED_REQUEST", "concurrency"},
		{"value over the limit", `{"operations":[{"operation":"upsert","request":{"key":"k","value":"` + strings.Repeat("v", 100) + `"}}]}`, "ERR_MALFORMED_REQUEST", "over the limit"},
		{"too many operations", `{"operations":[` + strings.Join(many, ",") + `]}`, "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS", "the transaction contains 4 operations, which is more than what the state store supports: 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxTransactionOps = 3; c.MaxValueBytes = 50 })
			h.b.put("statestore||k", "1")
			h.neverReached(func() {
				body := wantError(t, h.do(http.MethodPost, txnPath, tc.body), http.StatusBadRequest, tc.code)
				if !strings.Contains(body.Message, tc.msg) {
					t.Fatalf("message %q does not contain %q", body.Message, tc.msg)
				}
			})
		})
	}
}

func TestTooManyOperationsIsDaprsRichError(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxTransactionOps = 1 })
	rr := h.do(http.MethodPost, txnPath, `{"operations":[{"operation":"delete","request":{"key":"a"}},{"operation":"delete","request":{"key":"b"}}]}`)
	want := `{"errorCode":"ERR_STATE_STORE_TOO_MANY_TRANSACTIONS","message":"the transaction contains 2 operations, which is more than what the state store supports: 1",` +
		`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"dapr.io","metadata":{"currentOpsTransaction":"2","maxOpsPerTransaction":"1"},"reason":"DAPR_STATE_TOO_MANY_TRANSACTIONS"},` +
		`{"@type":"type.googleapis.com/google.rpc.ResourceInfo","resource_type":"state","resource_name":"statestore","owner":"","description":"the transaction contains 2 operations, which is more than what the state store supports: 1"}]}`
	wantStatus(t, rr, http.StatusBadRequest)
	if rr.Body.String() != want {
		t.Fatalf("body %s\nwant %s", rr.Body.String(), want)
	}
}

func TestEmptyTransactionDoesNotReachTheBackend(t *testing.T) {
	h := newHarness(t)
	h.neverReached(func() {
		wantStatus(t, h.do(http.MethodPost, txnPath, `{"operations":[]}`), http.StatusNoContent)
		wantStatus(t, h.do(http.MethodPost, txnPath, `{}`), http.StatusNoContent)
	})
}

func TestTransactionWrongTypeAndNoQuorum(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(http.MethodPost, "/v1.0/crdt/statestore/f", `{"type":"flag","op":"enable"}`), http.StatusOK)
	h.unchanged(func() {
		rr := h.do(http.MethodPost, txnPath, `{"operations":[{"operation":"upsert","request":{"key":"f","value":1}}]}`)
		wantError(t, rr, http.StatusConflict, "ERR_CRDT_WRONG_TYPE")
	})
	h.b.set(func(f *fakeBackend) { f.noQuorum = lattice.ErrNoQuorum })
	rr := h.do(http.MethodPost, txnPath, `{"operations":[{"operation":"delete","request":{"key":"f"}}]}`)
	wantError(t, rr, http.StatusServiceUnavailable, "ERR_STATE_TRANSACTION")
	if rr.Header().Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", rr.Header().Get("Retry-After"))
	}
}
