package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The request path's own cost: routing, middleware, decoding and the response, over the fake
// backend (a mutex and a map), without a network. go test -run x -bench . -benchmem ./httpapi/
func benchmarkRequest(b *testing.B, method, target, body string, want int) {
	h := newHarness(b)
	h.b.put(BackendKey("statestore", "k1"), `"`+string(bytes.Repeat([]byte("v"), 98))+`"`)
	handler := h.srv.Handler()
	req := httptest.NewRequest(method, target, nil)
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(req.Context())
		if body != "" {
			r.Body = readCloser{bytes.NewReader([]byte(body))}
			r.ContentLength = int64(len(body))
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if w.Code != want {
			b.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func BenchmarkSaveRequest(b *testing.B) {
	body := `[{"key":"k1","value":"` + string(bytes.Repeat([]byte("v"), 98)) + `"}]`
	benchmarkRequest(b, http.MethodPost, "/v1.0/state/statestore", body, http.StatusNoContent)
}

func BenchmarkGetRequest(b *testing.B) {
	benchmarkRequest(b, http.MethodGet, "/v1.0/state/statestore/k1", "", http.StatusOK)
}
