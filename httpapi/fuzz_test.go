package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// fuzzLimits are small, so that the fuzzer reaches them.
var fuzzLimits = limits{maxKey: 32, maxValue: 128, maxTxnOps: 8}

// wantRejection fails unless err is a client error with a message: a decoder may refuse input,
// never fail in a way that would answer 5xx.
func wantRejection(t *testing.T, err error) {
	t.Helper()
	r := classify(operation{code: "ERR_X", what: "x"}, err)
	if r.status < 400 || r.status >= 500 || r.body.Message == "" {
		t.Fatalf("decoder error %v maps to %d %q", err, r.status, r.body.Message)
	}
}

// wantValidKey fails unless key is one the server may hand to a Backend.
func wantValidKey(t *testing.T, key string) {
	t.Helper()
	if err := fuzzLimits.checkKey(key); err != nil {
		t.Fatalf("accepted key %q: %v", key, err)
	}
}

// wantValue fails unless v is compact valid JSON within the limit.
func wantValue(t *testing.T, v []byte) {
	t.Helper()
	var buf bytes.Buffer
	if !json.Valid(v) || len(v) > fuzzLimits.maxValue || json.Compact(&buf, v) != nil || !bytes.Equal(buf.Bytes(), v) {
		t.Fatalf("accepted value %q", v)
	}
}

func FuzzDecodeSave(f *testing.F) {
	f.Add([]byte(`[{"key":"k","value":{"a":1},"etag":"1","metadata":{"ttlInSeconds":"10"},"options":{"concurrency":"first-write","consistency":"strong"}}]`), "", "", "")
	f.Add([]byte(`[{"key":"k"}]`), "strong", "first-write", "-1")
	f.Fuzz(func(t *testing.T, body []byte, consistency, concurrency, ttl string) {
		def := requestDefaults{consistency: consistency, concurrency: concurrency, meta: map[string]string{ttlKey: ttl}}
		reqs, err := decodeSave(body, fuzzLimits, def)
		if err != nil {
			wantRejection(t, err)
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		for _, r := range reqs {
			wantValidKey(t, r.Key)
			wantValue(t, r.Value)
			if r.TTL < 0 || r.Metadata[ttlKey] != ttl {
				t.Fatalf("request %+v: the query ttl must win", r)
			}
		}
	})
}

func FuzzDecodeBulkGet(f *testing.F) {
	f.Add([]byte(`{"keys":["a","b"],"parallelism":10,"metadata":{"partitionKey":"p"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := decodeBulkGet(body, fuzzLimits)
		if err != nil {
			wantRejection(t, err)
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		for _, k := range keys {
			wantValidKey(t, k)
		}
	})
}

func FuzzDecodeTransaction(f *testing.F) {
	f.Add([]byte(`{"operations":[{"operation":"upsert","request":{"key":"a","value":1,"etag":"2","metadata":{"ttlInSeconds":"5"}}},{"operation":"delete","request":{"key":"b"}}],"metadata":{"p":"q"}}`), "")
	f.Fuzz(func(t *testing.T, body []byte, concurrency string) {
		req, err := decodeTransaction(body, fuzzLimits, requestDefaults{concurrency: concurrency})
		if err != nil {
			wantRejection(t, err)
			return
		}
		if !json.Valid(body) || len(req.Ops) > fuzzLimits.maxTxnOps {
			t.Fatalf("accepted %q", body)
		}
		for _, op := range req.Ops {
			wantValidKey(t, op.Key)
			switch op.Kind {
			case TxnUpsert:
				wantValue(t, op.Value)
			case TxnDelete:
				if op.Value != nil || op.TTL != 0 {
					t.Fatalf("delete with a value or TTL: %+v", op)
				}
			default:
				t.Fatalf("op kind %v", op.Kind)
			}
		}
	})
}

func FuzzDecodeQuery(f *testing.F) {
	f.Add([]byte(`{"filter":{"OR":[{"EQ":{"person.org":"Dev Ops"}},{"AND":[{"IN":{"state":["CA","WA"]}},{"GT":{"id":3}}]}]},"sort":[{"key":"state","order":"DESC"}],"page":{"limit":2,"token":"2"}}`),
		[]byte(`{"person":{"org":"Dev Ops"},"state":"CA","id":4}`))
	f.Add([]byte(`{"filter":{"NEQ":{"a":[1,{"b":null}]}}}`), []byte(`{"a":[1,{"b":null}]}`))
	f.Fuzz(func(t *testing.T, body, doc []byte) {
		q, err := decodeQuery(body)
		if err != nil {
			wantRejection(t, err)
			return
		}
		if !json.Valid(body) || q.limit < 0 || q.offset < 0 {
			t.Fatalf("accepted %q as %+v", body, q)
		}
		d, err := decodeDocument(doc)
		if err != nil {
			return
		}
		if q.filter != nil {
			q.filter.match(d)
		}
		for _, sk := range q.sort {
			v, found := lookup(d, sk.path)
			if sv := (sortValue{v: v, found: found}); compareSort(sv, sv) != 0 {
				t.Fatalf("compareSort of %v with itself is not 0", v)
			}
		}
	})
}

func FuzzDecodeCRDTOp(f *testing.F) {
	f.Add([]byte(`{"type":"ormap","op":"update","field":"f","update":{"type":"pncounter","op":"decrement","amount":3}}`))
	f.Add([]byte(`{"type":"orset","op":"add","elements":["a","b"]}`))
	f.Add([]byte(`{"type":"mvregister","op":"assign","value":{"x":[1,2]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		op, err := decodeCRDTOp(body, fuzzLimits)
		if err != nil {
			wantRejection(t, err)
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		for depth := 1; ; depth++ {
			if depth > maxCRDTDepth || !slices.Contains(crdtKinds[op.Type], op.Kind) {
				t.Fatalf("accepted %+v at depth %d", op, depth)
			}
			switch {
			case op.Type == TypeGCounter || op.Type == TypePNCounter:
				if op.Amount == 0 {
					t.Fatal("zero amount")
				}
			case op.Type == TypeORSet:
				if len(op.Elements) == 0 {
					t.Fatal("no elements")
				}
			case op.Type == TypeMVRegister:
				wantValue(t, op.Value)
			case op.Type == TypeORMap:
				if op.Field == "" || (op.Kind == OpUpdate) != (op.Nested != nil) {
					t.Fatalf("ormap op %+v", op)
				}
			}
			if op.Nested == nil {
				return
			}
			op = *op.Nested
		}
	})
}

func FuzzDecodeTransfer(f *testing.F) {
	f.Add([]byte(`{"to":"node-2"}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := decodeTransfer(body); err != nil {
			wantRejection(t, err)
		}
	})
}

// FuzzHandler sends arbitrary requests through the whole router over a healthy fake: whatever
// the input, every error body is Dapr's JSON shape, and the only 5xx is Dapr's 500 for an ETag
// mismatch inside a transaction.
func FuzzHandler(f *testing.F) {
	f.Add("POST", "/v1.0/state/statestore?metadata.ttlInSeconds=3", []byte(`[{"key":"k","value":1}]`), "strong")
	f.Add("GET", "/v1.0/state/statestore/k", []byte(nil), "")
	f.Add("POST", "/v1.0/state/statestore/transaction", []byte(`{"operations":[{"operation":"upsert","request":{"key":"k"}}]}`), "")
	f.Add("PUT", "/v1.0-alpha1/state/statestore/query", []byte(`{"filter":{"EQ":{"a":1}}}`), "")
	f.Add("POST", "/v1.0/crdt/statestore/c", []byte(`{"type":"gcounter","op":"increment"}`), "")
	f.Add("DELETE", "/v1.0/state/statestore/a%2Fb", []byte(nil), "eventual")
	cfg := DefaultConfig()
	cfg.MaxBodyBytes, cfg.MaxKeyBytes, cfg.MaxValueBytes, cfg.MaxTransactionOps = 1024, 32, 128, 8
	b := newFakeBackend()
	srv, err := New(cfg, b, newFakeCluster())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte, consistency string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") || strings.ContainsAny(method, " \t\r\n") || method == "" {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		req.Method, req.URL, req.RequestURI = method, u, target
		req.Header.Set("consistency", consistency)
		rr := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rr, req)
		txnMismatch := rr.Code == http.StatusInternalServerError &&
			strings.Contains(rr.Body.String(), `"ERR_STATE_TRANSACTION","message":"error while executing state transaction: possible etag mismatch`)
		if rr.Code >= 500 && !txnMismatch {
			t.Fatalf("%s %s %q: %d %s", method, target, body, rr.Code, rr.Body.String())
		}
		if rr.Code >= 400 && rr.Code != http.StatusUnauthorized {
			var eb errorBody
			if err := json.Unmarshal(rr.Body.Bytes(), &eb); err != nil || eb.ErrorCode == "" || eb.Message == "" {
				t.Fatalf("%s %s: error body %q", method, target, rr.Body.String())
			}
		}
	})
}
