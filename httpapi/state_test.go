package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

func TestSaveThenGetReturnsTheValueAsSaved(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"string is quoted", `"value1"`, `"value1"`},
		{"object is compacted, key order kept", `{ "b" : 1, "a" : [ 1, 2 ] }`, `{"b":1,"a":[1,2]}`},
		{"big integer is exact", `12345678901234567890`, `12345678901234567890`},
		{"html is not escaped", `"<a&b>"`, `"<a&b>"`},
		{"unicode", `"héllo ☃"`, `"héllo ☃"`},
		{"null", `null`, `null`},
		{"bool", `true`, `true`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.save(`[{"key":"k1","value":` + tc.value + `}]`)
			rr := h.get("k1")
			wantStatus(t, rr, http.StatusOK)
			if got := rr.Body.String(); got != tc.want {
				t.Fatalf("body %s, want %s", got, tc.want)
			}
			if ct := rr.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if rr.Header().Get("Etag") == "" {
				t.Fatal("no ETag header")
			}
			if _, ok := rr.Header()["Metadata.ttlexpiretime"]; ok {
				t.Fatal("ttl header on a value without TTL")
			}
		})
	}
}

func TestSaveWithoutValueStoresNull(t *testing.T) {
	h := newHarness(t)
	h.save(`[{"key":"k1","vae":"typo is ignored, as in Dapr"}]`)
	if got := h.get("k1").Body.String(); got != "null" {
		t.Fatalf("body %s, want null", got)
	}
}

func TestSaveAcceptsPUTAndEmptyArray(t *testing.T) {
	h := newHarness(t)
	rr := h.do(http.MethodPut, "/v1.0/state/statestore", `[{"key":"k","value":1}]`)
	wantStatus(t, rr, http.StatusNoContent)
	h.neverReached(func() {
		wantStatus(t, h.do(http.MethodPost, "/v1.0/state/statestore", `[]`), http.StatusNoContent)
		wantStatus(t, h.do(http.MethodPost, "/v1.0/state/statestore", `null`), http.StatusNoContent)
	})
}

func TestGetMissingKeyIs204WithoutETag(t *testing.T) {
	h := newHarness(t)
	rr := h.get("nope")
	wantStatus(t, rr, http.StatusNoContent)
	if rr.Body.Len() != 0 || rr.Header().Get("Etag") != "" {
		t.Fatalf("204 with body %q etag %q", rr.Body.String(), rr.Header().Get("Etag"))
	}
}

func TestStoresAreSeparateNamespaces(t *testing.T) {
	h := newHarness(t)
	h.save(`[{"key":"k","value":"in statestore"}]`)
	wantStatus(t, h.do(http.MethodGet, "/v1.0/state/other/k", ""), http.StatusNoContent)
	if _, ok := h.b.state()["statestore||k"]; !ok {
		t.Fatalf("backend keys %v, want statestore||k", h.b.state())
	}
}

func TestETagConcurrency(t *testing.T) {
	tests := []struct {
		name   string
		body   func(etag string) string
		status int
	}{
		{"matching etag", func(e string) string { return `[{"key":"k","value":2,"etag":"` + e + `"}]` }, http.StatusNoContent},
		{"stale etag", func(string) string { return `[{"key":"k","value":2,"etag":"999"}]` }, http.StatusConflict},
		{"etag on a missing key", func(e string) string { return `[{"key":"missing","value":2,"etag":"` + e + `"}]` }, http.StatusConflict},
		{"empty etag means none", func(string) string { return `[{"key":"k","value":2,"etag":""}]` }, http.StatusNoContent},
		{"null etag means none", func(string) string { return `[{"key":"k","value":2,"etag":null}]` }, http.StatusNoContent},
		{"first-write on an existing key", func(string) string {
			return `[{"key":"k","value":2,"options":{"concurrency":"first-write"}}]`
		}, http.StatusConflict},
		{"first-write on a new key", func(string) string {
			return `[{"key":"new","value":2,"options":{"concurrency":"first-write"}}]`
		}, http.StatusNoContent},
		{"first-write with the matching etag", func(e string) string {
			return `[{"key":"k","value":2,"etag":"` + e + `","options":{"concurrency":"first-write"}}]`
		}, http.StatusNoContent},
		{"first-write as a header", func(string) string { return `[{"key":"k","value":2}]` }, http.StatusConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			etag := h.b.put("statestore||k", "1")
			var hdr []string
			if strings.HasSuffix(tc.name, "header") {
				hdr = []string{"concurrency", "first-write"}
			}
			before := h.b.state()
			rr := h.do(http.MethodPost, "/v1.0/state/statestore", tc.body(etag), hdr...)
			if tc.status == http.StatusConflict {
				body := wantError(t, rr, http.StatusConflict, "ERR_STATE_SAVE")
				if !strings.HasPrefix(body.Message, "failed saving state in state store statestore: possible etag mismatch. error from state store: ") {
					t.Fatalf("message %q", body.Message)
				}
				if after := h.b.state(); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("a refused save changed state: %v -> %v", before, after)
				}
				return
			}
			wantStatus(t, rr, tc.status)
		})
	}
}

func TestSaveChangesTheETag(t *testing.T) {
	h := newHarness(t)
	h.save(`[{"key":"k","value":1}]`)
	e1 := h.get("k").Header().Get("Etag")
	h.save(`[{"key":"k","value":1,"etag":"` + e1 + `"}]`)
	e2 := h.get("k").Header().Get("Etag")
	if e1 == "" || e1 == e2 {
		t.Fatalf("etags %q then %q: want a new one per write", e1, e2)
	}
}

func TestSaveRejectsBadInputAndLosesNothing(t *testing.T) {
	longKey := strings.Repeat("k", DefaultMaxKeyBytes+1)
	bigValue := `"` + strings.Repeat("v", 200) + `"`
	tests := []struct {
		name, body string
		hdr        []string
		status     int
		code       string
		msg        string // substring of the message
	}{
		{"empty body", ``, nil, 400, "ERR_MALFORMED_REQUEST", "body is empty"},
		{"object instead of array", `{}`, nil, 400, "ERR_MALFORMED_REQUEST", "expected a JSON array of state items, got object"},
		{"array of numbers", `[1,2]`, nil, 400, "ERR_MALFORMED_REQUEST", "got number"},
		{"json string holding an array", `"[{\"key\":\"k\"}]"`, nil, 400, "ERR_MALFORMED_REQUEST", "got string"},
		{"not json", `foobar`, nil, 400, "ERR_MALFORMED_REQUEST", "invalid character"},
		{"truncated", `[{"key":"k","value":`, nil, 400, "ERR_MALFORMED_REQUEST", "unexpected end"},
		{"trailing comma", `[{"key":"k"},]`, nil, 400, "ERR_MALFORMED_REQUEST", "invalid character"},
		{"trailing garbage", `[{"key":"k"}] [`, nil, 400, "ERR_MALFORMED_REQUEST", "after top-level value"},
		{"numeric etag", `[{"key":"k","etag":123}]`, nil, 400, "ERR_MALFORMED_REQUEST", "etag: expected a string, got number"},
		{"object etag", `[{"key":"k","etag":{}}]`, nil, 400, "ERR_MALFORMED_REQUEST", "etag"},
		{"numeric key", `[{"key":1}]`, nil, 400, "ERR_MALFORMED_REQUEST", "key"},
		{"missing key", `[{"value":1}]`, nil, 400, "ERR_MALFORMED_REQUEST", `"key" is a required field`},
		{"empty key", `[{"key":"","value":1}]`, nil, 400, "ERR_MALFORMED_REQUEST", `"key" is a required field`},
		{"illegal key", `[{"key":"ke||y1","value":1}]`, nil, 400, "ERR_MALFORMED_REQUEST", "can't contain '||'"},
		{"huge key", `[{"key":"` + longKey + `","value":1}]`, nil, 400, "ERR_MALFORMED_REQUEST", "over the limit of 1024 bytes"},
		{"huge illegal key is not echoed", `[{"key":"a||` + longKey + `"}]`, nil, 400, "ERR_MALFORMED_REQUEST", "over the limit of 1024 bytes"},
		{"value over the limit", `[{"key":"k","value":` + bigValue + `}]`, nil, 400, "ERR_MALFORMED_REQUEST", "over the limit of 100 bytes"},
		{"ttl not an integer", `[{"key":"k","metadata":{"ttlInSeconds":"foo"}}]`, nil, 400, "ERR_MALFORMED_REQUEST", "ttlInSeconds"},
		{"ttl below -1", `[{"key":"k","metadata":{"ttlInSeconds":"-2"}}]`, nil, 400, "ERR_MALFORMED_REQUEST", "ttlInSeconds"},
		{"ttl over int32", `[{"key":"k","metadata":{"ttlInSeconds":"2147483648"}}]`, nil, 400, "ERR_MALFORMED_REQUEST", "ttlInSeconds"},
		{"ttl as a number", `[{"key":"k","metadata":{"ttlInSeconds":120}}]`, nil, 400, "ERR_MALFORMED_REQUEST", "expected a string"},
		{"unknown consistency", `[{"key":"k","options":{"consistency":"linearizable"}}]`, nil, 400, "ERR_MALFORMED_REQUEST", "unrecognized consistency model 'linearizable'"},
		{"unknown concurrency", `[{"key":"k","options":{"concurrency":"first"}}]`, nil, 400, "ERR_MALFORMED_REQUEST", "unrecognized concurrency model 'first'"},
		{"unknown consistency header", `[{"key":"k"}]`, []string{"consistency", "STRONG"}, 400, "ERR_MALFORMED_REQUEST", "unrecognized consistency model"},
		{"a bad item after a good one", `[{"key":"good","value":1},{"key":"a||b"}]`, nil, 400, "ERR_MALFORMED_REQUEST", "can't contain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxValueBytes = 100 })
			h.b.put("statestore||k", `"before"`)
			h.neverReached(func() {
				rr := h.do(http.MethodPost, "/v1.0/state/statestore", tc.body, tc.hdr...)
				body := wantError(t, rr, tc.status, tc.code)
				if !strings.Contains(body.Message, tc.msg) {
					t.Fatalf("message %q does not contain %q", body.Message, tc.msg)
				}
			})
		})
	}
}

func TestIllegalKeyIsDaprsRichError(t *testing.T) {
	h := newHarness(t)
	rr := h.do(http.MethodPost, "/v1.0/state/statestore", `[{"key":"ke||y1","value":1}]`)
	wantStatus(t, rr, http.StatusBadRequest)
	want := `{"errorCode":"ERR_MALFORMED_REQUEST","message":"api error: code = InvalidArgument desc = input key/keyPrefix 'ke||y1' can't contain '||'",` +
		`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"dapr.io","metadata":null,"reason":"DAPR_STATE_ILLEGAL_KEY"},` +
		`{"@type":"type.googleapis.com/google.rpc.ResourceInfo","resource_type":"state","resource_name":"statestore","owner":"","description":"input key/keyPrefix 'ke||y1' can't contain '||'"},` +
		`{"@type":"type.googleapis.com/google.rpc.BadRequest","field_violations":[{"field":"ke||y1","description":"input key/keyPrefix 'ke||y1' can't contain '||'"}]}]}`
	if got := rr.Body.String(); got != want {
		t.Fatalf("body\n%s\nwant\n%s", got, want)
	}
	wantError(t, h.get("a%7C%7Cb"), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
}

func TestBodyOverTheLimitIs413(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 64 })
	body := `[{"key":"k","value":"` + strings.Repeat("x", 100) + `"}]`
	h.neverReached(func() {
		body := wantError(t, h.do(http.MethodPost, "/v1.0/state/statestore", body), http.StatusRequestEntityTooLarge, "ERR_MALFORMED_REQUEST")
		if !strings.Contains(body.Message, "the limit is 64 bytes") {
			t.Fatalf("message %q", body.Message)
		}
	})
	// Without a Content-Length the limit applies while reading.
	req, rr := newChunkedRequest(http.MethodPost, "/v1.0/state/statestore", body)
	h.neverReached(func() {
		h.srv.Handler().ServeHTTP(rr, req)
		wantError(t, rr, http.StatusRequestEntityTooLarge, "ERR_MALFORMED_REQUEST")
	})
	// A body at the limit passes.
	ok := `[{"key":"k","value":"` + strings.Repeat("x", 64-len(`[{"key":"k","value":""}]`)) + `"}]`
	wantStatus(t, h.do(http.MethodPost, "/v1.0/state/statestore", ok), http.StatusNoContent)
}

func TestMultiItemSaveIsNotAtomicLikeDapr(t *testing.T) {
	h := newHarness(t)
	etag := h.b.put("statestore||a", "1")
	h.b.put("statestore||b", "1")
	rr := h.do(http.MethodPost, "/v1.0/state/statestore",
		`[{"key":"a","value":2,"etag":"`+etag+`"},{"key":"b","value":2,"etag":"stale"},{"key":"c","value":2}]`)
	body := wantError(t, rr, http.StatusConflict, "ERR_STATE_SAVE")
	if !strings.Contains(body.Message, "key b") {
		t.Fatalf("message %q does not name key b", body.Message)
	}
	for key, want := range map[string]string{"a": "2", "b": "1", "c": "2"} {
		if got := h.get(key).Body.String(); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
}

func TestMultiItemSaveAppliesOneKeyInBodyOrder(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BulkParallelism = 4 })
	var items []string
	for i := range 50 {
		items = append(items, fmt.Sprintf(`{"key":"k%d","value":%d},{"key":"same","value":%d}`, i%7, i, i))
	}
	h.save("[" + strings.Join(items, ",") + "]")
	if got := h.get("same").Body.String(); got != "49" {
		t.Fatalf("same = %s, want the last item's 49", got)
	}
	if got := h.get("k0").Body.String(); got != "49" {
		t.Fatalf("k0 = %s, want 49", got)
	}
}

func TestMultiItemSaveStatusWhenFailuresMix(t *testing.T) {
	h := newHarness(t)
	h.b.put("statestore||a", "1")
	h.b.set(func(f *fakeBackend) {
		f.backpressure = &lattice.RetryAfterError{Err: lattice.ErrBackpressure, After: 3 * time.Second}
	})
	// An ETag mismatch (a) and backpressure (b): the other failure decides.
	rr := h.do(http.MethodPost, "/v1.0/state/statestore", `[{"key":"a","value":2,"etag":"stale"},{"key":"b","value":2}]`)
	body := wantError(t, rr, http.StatusTooManyRequests, "ERR_STATE_SAVE")
	if rr.Header().Get("Retry-After") != "3" || !strings.Contains(body.Message, "2 of 2 items failed") {
		t.Fatalf("Retry-After %q message %q", rr.Header().Get("Retry-After"), body.Message)
	}
}

func TestSavePassesOptionsAndMetadata(t *testing.T) {
	h := newHarness(t)
	h.save(`[{"key":"k","value":1,"metadata":{"ttlInSeconds":"60","partitionKey":"body","contentType":"text/plain"},
		"options":{"consistency":"strong","concurrency":"first-write"}}]`)
	rr := h.do(http.MethodPost, "/v1.0/state/statestore?metadata.contentType=application/json&metadata.extra=x",
		`[{"key":"k2","value":1,"metadata":{"contentType":"text/plain"}}]`, "consistency", "strong")
	wantStatus(t, rr, http.StatusNoContent)
	s1, s2 := h.b.saves[0], h.b.saves[1]
	if s1.Key != "statestore||k" || s1.Consistency != lattice.Strong || s1.Concurrency != lattice.FirstWrite ||
		s1.TTL != time.Minute || s1.Metadata["partitionKey"] != "body" {
		t.Errorf("first save %+v", s1)
	}
	if s2.Metadata["contentType"] != "application/json" || s2.Metadata["extra"] != "x" || s2.Consistency != lattice.Strong {
		t.Errorf("second save %+v: the query metadata must win and the header set the default", s2)
	}
}

func TestGetConsistencyFromQueryOrHeader(t *testing.T) {
	tests := []struct {
		target string
		hdr    []string
		want   lattice.Consistency
	}{
		{"k", nil, lattice.Eventual},
		{"k?consistency=strong", nil, lattice.Strong},
		{"k", []string{"consistency", "strong"}, lattice.Strong},
		{"k?consistency=eventual", []string{"consistency", "strong"}, lattice.Eventual},
		{"k", []string{"consistency", "strong", "concurrency", "first-write"}, lattice.Strong},
		{"k", []string{"concurrency", "bogus"}, lattice.Eventual}, // a GET has no concurrency: ignored
	}
	for _, tc := range tests {
		t.Run(tc.target+fmt.Sprint(tc.hdr), func(t *testing.T) {
			h := newHarness(t)
			wantStatus(t, h.get(tc.target, tc.hdr...), http.StatusNoContent)
			if got := h.b.reads[0]; got != tc.want {
				t.Fatalf("consistency %v, want %v", got, tc.want)
			}
		})
	}
	h := newHarness(t)
	wantError(t, h.get("k?consistency=bogus"), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
	wantError(t, h.get("k", "consistency", "Strong"), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
	if n := h.b.callCount("Get"); n != 0 {
		t.Fatalf("invalid requests reached the backend %d times", n)
	}
}

func TestTTL(t *testing.T) {
	h := newHarness(t)
	h.save(`[{"key":"k","value":"v","metadata":{"ttlInSeconds":"100"}}]`)
	rr := h.get("k")
	wantStatus(t, rr, http.StatusOK)
	want := h.b.now.Add(100 * time.Second).Format(time.RFC3339)
	if got := rr.Header().Get("Metadata.ttlexpiretime"); got != want {
		t.Fatalf("ttl header %q, want %q (headers %v)", got, want, rr.Header())
	}
	rr = h.do(http.MethodPost, "/v1.0/state/statestore/bulk", `{"keys":["k"]}`)
	wantStatus(t, rr, http.StatusOK)
	if !strings.Contains(rr.Body.String(), `"metadata":{"ttlExpireTime":"`+want+`"}`) {
		t.Fatalf("bulk body %s", rr.Body.String())
	}
	h.b.advance(101 * time.Second)
	wantStatus(t, h.get("k"), http.StatusNoContent)

	// The query parameter sets a TTL; saving again without one removes it; -1 means none.
	rr = h.do(http.MethodPost, "/v1.0/state/statestore?metadata.ttlInSeconds=5", `[{"key":"q","value":1}]`)
	wantStatus(t, rr, http.StatusNoContent)
	if h.get("q").Header().Get("Metadata.ttlexpiretime") == "" {
		t.Fatal("no TTL from the metadata.ttlInSeconds query parameter")
	}
	h.save(`[{"key":"q","value":2}]`)
	h.save(`[{"key":"r","value":2,"metadata":{"ttlInSeconds":"-1"}}]`)
	for _, k := range []string{"q", "r"} {
		if got := h.get(k).Header().Get("Metadata.ttlexpiretime"); got != "" {
			t.Fatalf("%s has TTL %q, want none", k, got)
		}
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name    string
		target  string
		ifMatch func(etag string) string
		status  int
		code    string
		deleted bool
	}{
		{"no etag", "k", nil, http.StatusNoContent, "", true},
		{"missing key", "missing", nil, http.StatusNoContent, "", false},
		{"matching etag", "k", func(e string) string { return e }, http.StatusNoContent, "", true},
		{"empty If-Match is no etag", "k", func(string) string { return "" }, http.StatusNoContent, "", true},
		{"stale etag", "k", func(string) string { return "stale" }, http.StatusConflict, "ERR_STATE_DELETE", false},
		{"etag on a missing key", "missing", func(e string) string { return e }, http.StatusConflict, "ERR_STATE_DELETE", false},
		{"strong", "k?consistency=strong&concurrency=first-write", nil, http.StatusNoContent, "", true},
		{"bad consistency", "k?consistency=quorum", nil, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", false},
		{"bad concurrency", "k?concurrency=whatever", nil, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", false},
		{"illegal key", "a%7C%7Cb", nil, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			etag := h.b.put("statestore||k", "1")
			var hdr []string
			if tc.ifMatch != nil {
				hdr = []string{"If-Match", tc.ifMatch(etag)}
			}
			rr := h.do(http.MethodDelete, "/v1.0/state/statestore/"+tc.target, "", hdr...)
			if tc.code != "" {
				body := wantError(t, rr, tc.status, tc.code)
				if tc.status == http.StatusConflict && !strings.Contains(body.Message, "failed deleting state with key") {
					t.Fatalf("message %q", body.Message)
				}
			} else {
				wantStatus(t, rr, tc.status)
			}
			_, exists := h.b.state()["statestore||k"]
			if exists == tc.deleted {
				t.Fatalf("key k exists=%v after the request, want deleted=%v", exists, tc.deleted)
			}
		})
	}
}

func TestDeletePassesOptions(t *testing.T) {
	h := newHarness(t)
	rr := h.do(http.MethodDelete, "/v1.0/state/statestore/k?metadata.partitionKey=p", "",
		"consistency", "strong", "concurrency", "first-write", "If-Match", "7")
	wantError(t, rr, http.StatusConflict, "ERR_STATE_DELETE")
	d := h.b.deletes[0]
	if d.Key != "statestore||k" || d.ETag != "7" || d.Consistency != lattice.Strong ||
		d.Concurrency != lattice.FirstWrite || d.Metadata["partitionKey"] != "p" {
		t.Fatalf("delete request %+v", d)
	}
}

func TestKeysInThePath(t *testing.T) {
	h := newHarness(t)
	h.save(`[{"key":"a/b","value":1},{"key":"bulk","value":2},{"key":"sp ace","value":3}]`)
	for target, want := range map[string]string{"a%2Fb": "1", "bulk": "2", "sp%20ace": "3"} {
		rr := h.get(target)
		wantStatus(t, rr, http.StatusOK)
		if rr.Body.String() != want {
			t.Errorf("GET %s = %s, want %s", target, rr.Body.String(), want)
		}
	}
	body := wantError(t, h.get("a/b"), http.StatusNotFound, "ERR_NOT_FOUND")
	if !strings.Contains(body.Message, "%2F") {
		t.Fatalf("404 message %q should explain %%2F", body.Message)
	}
	wantError(t, h.get("%FF"), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
	wantError(t, h.get(strings.Repeat("k", DefaultMaxKeyBytes+1)), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
	wantStatus(t, h.do(http.MethodDelete, "/v1.0/state/statestore/bulk", ""), http.StatusNoContent)
	if _, ok := h.b.state()["statestore||bulk"]; ok {
		t.Fatal("DELETE .../bulk must delete the key named bulk")
	}
}

func TestUnknownStoreIsRejectedBeforeTheBody(t *testing.T) {
	routes := []struct{ method, path, body string }{
		{http.MethodPost, "/v1.0/state/nostore", `[{"key":"k"}]`},
		{http.MethodGet, "/v1.0/state/nostore/k", ``},
		{http.MethodDelete, "/v1.0/state/nostore/k", ``},
		{http.MethodPost, "/v1.0/state/nostore/bulk", `not even json`},
		{http.MethodPost, "/v1.0/state/nostore/transaction", `{"operations":[]}`},
		{http.MethodPost, "/v1.0-alpha1/state/nostore/query", `{}`},
		{http.MethodGet, "/v1.0/crdt/nostore/k", ``},
		{http.MethodPost, "/v1.0/crdt/nostore/k", `{"type":"flag","op":"enable"}`},
		{http.MethodDelete, "/v1.0/crdt/nostore/k", ``},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			h := newHarness(t)
			h.neverReached(func() {
				rr := h.do(r.method, r.path, r.body)
				want := `{"errorCode":"ERR_STATE_STORE_NOT_FOUND","message":"state store nostore is not found",` +
					`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"dapr.io","metadata":{"appID":"node-1"},"reason":"DAPR_STATE_NOT_FOUND"}]}`
				wantStatus(t, rr, http.StatusBadRequest)
				if rr.Body.String() != want {
					t.Fatalf("body %s\nwant %s", rr.Body.String(), want)
				}
			})
			if n := h.b.callCount("Get") + h.b.callCount("BulkGet") + h.b.callCount("Scan"); n != 0 {
				t.Fatalf("%d reads reached the backend", n)
			}
		})
	}
}

func TestWrongTypeOnDaprSave(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(http.MethodPost, "/v1.0/crdt/statestore/hits", `{"type":"gcounter","op":"increment","amount":3}`), http.StatusOK)
	h.unchanged(func() {
		rr := h.do(http.MethodPost, "/v1.0/state/statestore", `[{"key":"hits","value":1}]`)
		wantError(t, rr, http.StatusConflict, "ERR_CRDT_WRONG_TYPE")
	})
	// A plain Dapr GET of a CRDT key returns its JSON view.
	rr := h.get("hits")
	wantStatus(t, rr, http.StatusOK)
	if rr.Body.String() != "3" {
		t.Fatalf("GET of a gcounter = %s, want 3", rr.Body.String())
	}
}

func TestResponsesAreValidJSON(t *testing.T) {
	h := newHarness(t)
	h.save(`[{"key":"k","value":{"a":"<b>"}}]`)
	rr := h.do(http.MethodPost, "/v1.0/state/statestore/bulk", `{"keys":["k"]}`)
	if !json.Valid(rr.Body.Bytes()) || !strings.Contains(rr.Body.String(), `"data":{"a":"<b>"}`) {
		t.Fatalf("bulk body %s", rr.Body.String())
	}
}
