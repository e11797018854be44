package client

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-state/lattice/internal/syncbuf"
)

// fakeClock advances only when the code under test sleeps (or the test says so) and
// records every sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// testLogger logs at debug level into a buffer the test can inspect.
func testLogger() (*slog.Logger, *syncbuf.Buffer) {
	buf := &syncbuf.Buffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// captured is one request a test server received.
type captured struct {
	Method string
	Path   string // escaped
	Query  map[string][]string
	Header http.Header
	Body   string
}

// server is an httptest server with a programmable handler that counts and records requests.
type server struct {
	*httptest.Server
	hits    atomic.Int64
	mu      sync.Mutex
	reqs    []captured
	handler atomic.Pointer[http.HandlerFunc]
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.set(h)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, captured{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(),
			Header: r.Header.Clone(), Body: string(body)})
		s.mu.Unlock()
		s.hits.Add(1)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		(*s.handler.Load())(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(h http.HandlerFunc) { s.handler.Store(&h) }

func (s *server) last() captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return captured{}
	}
	return s.reqs[len(s.reqs)-1]
}

// status answers every request with code and a Dapr error body.
func status(code int, errorCode, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"errorCode":"`+errorCode+`","message":"`+msg+`"}`)
	}
}

func noContent(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// deadURL returns the URL of a server that no longer listens.
func deadURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

// newTestClient builds a client on endpoints with a fake clock and a fixed jitter/first
// choice of 0 unless cfg says otherwise.
func newTestClient(t *testing.T, cfg Config, endpoints ...string) (*Client, *fakeClock) {
	t.Helper()
	base := DefaultConfig()
	base.Endpoints = endpoints
	base.Resiliency = cfg.Resiliency
	base.Logger = cfg.Logger
	base.APIToken = cfg.APIToken
	if cfg.TryTimeout != 0 {
		base.TryTimeout = cfg.TryTimeout
	}
	clock := newFakeClock()
	base.Clock = clock
	base.Rand = cfg.Rand
	if base.Rand == nil {
		base.Rand = func() float64 { return 0 }
	}
	c, err := New(base)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, clock
}

// policies builds a Resiliency with one retry and/or breaker policy on statestore.
func policies(retry *RetryPolicy, cb *CircuitBreakerPolicy, timeout time.Duration) *Resiliency {
	r := &Resiliency{Timeouts: map[string]time.Duration{}, Retries: map[string]RetryPolicy{},
		CircuitBreakers: map[string]CircuitBreakerPolicy{}, Components: map[string]PolicyNames{}}
	var names PolicyNames
	if retry != nil {
		r.Retries["r"] = *retry
		names.Retry = "r"
	}
	if cb != nil {
		r.CircuitBreakers["simpleCB"] = *cb
		names.CircuitBreaker = "simpleCB"
	}
	if timeout > 0 {
		r.Timeouts["t"] = timeout
		names.Timeout = "t"
	}
	r.Components[DefaultStore] = names
	return r
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
