package httpapi

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // gin's mode is process-global; tests keep it quiet
	os.Exit(m.Run())
}

// harness is a Server over a fakeBackend and a fakeCluster, with stores "statestore" and "other".
type harness struct {
	t   testing.TB
	srv *Server
	b   *fakeBackend
	cl  *fakeCluster
	reg *prometheus.Registry
}

func newHarness(t testing.TB, opts ...func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ID = "node-1"
	cfg.Stores = []string{"statestore", "other"}
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{t: t, b: newFakeBackend(), cl: newFakeCluster(), reg: reg}
	srv, err := New(cfg, h.b, h.cl)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.srv = srv
	return h
}

// do sends a request to the server's handler; hdr holds header name/value pairs.
func (h *harness) do(method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rr := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(rr, req)
	return rr
}

// wantStatus fails the test unless rr has the status.
func wantStatus(t testing.TB, rr *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rr.Code != status {
		t.Fatalf("status %d, want %d; body %s", rr.Code, status, rr.Body.String())
	}
}

// wantError checks a Dapr error response: status, JSON content type, errorCode, a message.
func wantError(t testing.TB, rr *httptest.ResponseRecorder, status int, code string) errorBody {
	t.Helper()
	wantStatus(t, rr, status)
	if ct := rr.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var body errorBody
	if err := json.Unmarshal(rr.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", rr.Body.String(), err)
	}
	if body.ErrorCode != code {
		t.Fatalf("errorCode %q, want %q; message %q", body.ErrorCode, code, body.Message)
	}
	if body.Message == "" {
		t.Fatal("empty error message")
	}
	return body
}

// neverReached runs fn, a request the server must reject itself, and checks that no write
// reached the backend and its state is as it was.
func (h *harness) neverReached(fn func()) {
	h.t.Helper()
	writes := h.b.writes()
	h.unchanged(fn)
	if got := h.b.writes(); got != writes {
		h.t.Fatalf("the rejected request reached the backend: %d write calls, want %d", got, writes)
	}
}

// unchanged runs fn, a request the backend refuses, and checks that the backend's state is as
// it was.
func (h *harness) unchanged(fn func()) {
	h.t.Helper()
	before := h.b.state()
	fn()
	if after := h.b.state(); !maps.Equal(before, after) {
		h.t.Fatalf("state changed:\nbefore %v\nafter  %v", before, after)
	}
}

// get is a GET of a Dapr key in statestore.
func (h *harness) get(key string, hdr ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(http.MethodGet, "/v1.0/state/statestore/"+key, "", hdr...)
}

// save posts a save body to statestore and requires 204.
func (h *harness) save(body string) {
	h.t.Helper()
	rr := h.do(http.MethodPost, "/v1.0/state/statestore", body)
	wantStatus(h.t, rr, http.StatusNoContent)
}

// newChunkedRequest builds a request whose body length is unknown, as with chunked encoding.
func newChunkedRequest(method, target, body string) (*http.Request, *httptest.ResponseRecorder) {
	req := httptest.NewRequest(method, target, io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	return req, httptest.NewRecorder()
}
