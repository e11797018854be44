package jepsen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	readErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name string
		err  error
		want OpType
	}{
		{"success", nil, OK},
		{"conflict", &apiError{Status: 409, Code: "ERR_STATE_SAVE"}, Fail},
		{"bad request", &apiError{Status: 400, Code: "ERR_MALFORMED_REQUEST"}, Fail},
		{"backpressure", &apiError{Status: 429}, Fail},
		{"no quorum after forwarding", &apiError{Status: 503, Code: "ERR_STATE_SAVE"}, Info},
		{"server error", &apiError{Status: 500, Code: "ERR_STATE_SAVE"}, Info},
		{"transaction etag mismatch", &apiError{Status: 500, Code: "ERR_STATE_TRANSACTION",
			Message: "error while executing state transaction: possible etag mismatch"}, Fail},
		{"transaction failure", &apiError{Status: 500, Code: "ERR_STATE_TRANSACTION", Message: "timeout"}, Info},
		{"connection refused", fmt.Errorf("post: %w", dialErr), Fail},
		{"connection reset", fmt.Errorf("post: %w", readErr), Info},
		{"timeout", context.DeadlineExceeded, Info},
		{"eof", io.ErrUnexpectedEOF, Info},
	} {
		if got, _ := classify(tc.err); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// recorded is one request the test server saw.
type recorded struct {
	Method, Path, Query, IfMatch string
	Body                         string
}

func TestAPIClientWire(t *testing.T) {
	var got []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("If-Match"), string(b)})
		switch {
		case r.URL.Path == "/v1.0/state/statestore/missing":
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/v1.0/state/statestore/k" && r.Method == http.MethodGet:
			w.Header().Set("ETag", "e-1")
			io.WriteString(w, `"v1"`)
		case r.URL.Path == "/v1.0/state/statestore" && strings.Contains(string(b), "conflict"):
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"errorCode":"ERR_STATE_SAVE","message":"possible etag mismatch"}`)
		case strings.HasPrefix(r.URL.Path, "/v1.0/crdt/"):
			w.Header().Set("ETag", "c-7")
			io.WriteString(w, `{"key":"ctr","type":"pncounter","value":12}`)
		case r.URL.Path == "/v1.0/cluster/status":
			io.WriteString(w, `{"nodeId":"n2","leader":{"id":"n1","httpAddr":"x"},"raft":{"state":"Follower","term":4}}`)
		case r.URL.Path == "/v1.0/healthz":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	c := newAPIClient(strings.TrimPrefix(srv.URL, "http://"), 2*time.Second)
	defer c.close()
	ctx := context.Background()

	r, err := c.getState(ctx, "k", true)
	if err != nil || !r.Found || string(r.Raw) != `"v1"` || r.ETag != "e-1" || registerValue(r.Raw) != "v1" {
		t.Fatalf("getState: %+v %v", r, err)
	}
	if r, err := c.getState(ctx, "missing", false); err != nil || r.Found {
		t.Fatalf("missing: %+v %v", r, err)
	}
	opts := &stateOptions{Concurrency: "first-write", Consistency: "strong"}
	if err := c.saveState(ctx, stateItem{Key: "k", Value: "v2", ETag: "e-1", Options: opts}); err != nil {
		t.Fatal(err)
	}
	err = c.saveState(ctx, stateItem{Key: "k", Value: "conflict", Options: opts})
	var ae *apiError
	if typ, status := classify(err); !errors.As(err, &ae) || ae.Code != "ERR_STATE_SAVE" || typ != Fail || status != 409 {
		t.Fatalf("conflict: %v", err)
	}
	if err := c.deleteState(ctx, "k", "e-2", true); err != nil {
		t.Fatal(err)
	}
	if err := c.transact(ctx, []txnOp{{Operation: "upsert", Request: stateItem{Key: "a", Value: 5, ETag: "x",
		Options: &stateOptions{Consistency: "strong"}}}}); err != nil {
		t.Fatal(err)
	}
	v, err := c.crdtApply(ctx, "ctr", false, crdtRequest{Type: "pncounter", Op: "increment", Amount: 3})
	if n, _ := counterValue(v); err != nil || n != 12 || v.ETag != "c-7" {
		t.Fatalf("crdtApply: %+v %v", v, err)
	}
	if _, err := c.crdtGet(ctx, "ctr", true); err != nil {
		t.Fatal(err)
	}
	st, err := c.status(ctx)
	if err != nil || st.Leader.ID != "n1" || st.Raft.Term != 4 {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := c.healthy(ctx); err != nil {
		t.Fatal(err)
	}

	want := []recorded{
		{"GET", "/v1.0/state/statestore/k", "consistency=strong", "", ""},
		{"GET", "/v1.0/state/statestore/missing", "consistency=eventual", "", ""},
		{"POST", "/v1.0/state/statestore", "", "", `[{"key":"k","value":"v2","etag":"e-1","options":{"concurrency":"first-write","consistency":"strong"}}]`},
		{"POST", "/v1.0/state/statestore", "", "", `[{"key":"k","value":"conflict","options":{"concurrency":"first-write","consistency":"strong"}}]`},
		{"DELETE", "/v1.0/state/statestore/k", "consistency=strong", "e-2", ""},
		{"POST", "/v1.0/state/statestore/transaction", "", "", `{"operations":[{"operation":"upsert","request":{"key":"a","value":5,"etag":"x","options":{"consistency":"strong"}}}]}`},
		{"POST", "/v1.0/crdt/statestore/ctr", "consistency=eventual", "", `{"type":"pncounter","op":"increment","amount":3}`},
		{"GET", "/v1.0/crdt/statestore/ctr", "consistency=strong", "", ""},
		{"GET", "/v1.0/cluster/status", "", "", ""},
		{"GET", "/v1.0/healthz", "", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestCRDTDecoding(t *testing.T) {
	v, err := decodeCRDTView(response{Status: 200, Body: []byte(`{"key":"s","type":"orset","value":["b","a"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	els, err := setValue(v)
	if err != nil || strings.Join(els, ",") != "a,b" {
		t.Fatalf("set %v %v", els, err)
	}
	if _, err := counterValue(v); err == nil {
		t.Fatal("a set decoded as a counter")
	}
	absent, _ := decodeCRDTView(response{Status: 204})
	if n, err := counterValue(absent); n != 0 || err != nil {
		t.Fatal("absent counter")
	}
	if _, err := decodeCRDTView(response{Status: 200, Body: []byte("nope")}); err == nil {
		t.Fatal("garbage accepted")
	}
}
