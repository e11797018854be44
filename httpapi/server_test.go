package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestAPIToken(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.APIToken = "s3cret" })
	tests := []struct {
		name, method, path, body, token string
		status                          int
	}{
		{"no token", http.MethodGet, "/v1.0/state/statestore/k", "", "", http.StatusUnauthorized},
		{"wrong token", http.MethodGet, "/v1.0/state/statestore/k", "", "s3cre", http.StatusUnauthorized},
		{"right token", http.MethodGet, "/v1.0/state/statestore/k", "", "s3cret", http.StatusNoContent},
		{"save without token", http.MethodPost, "/v1.0/state/statestore", `[{"key":"k"}]`, "", http.StatusUnauthorized},
		{"unknown store without token", http.MethodGet, "/v1.0/state/nostore/k", "", "", http.StatusUnauthorized},
		{"metadata without token", http.MethodGet, "/v1.0/metadata", "", "", http.StatusUnauthorized},
		{"cluster without token", http.MethodGet, "/v1.0/cluster/status", "", "", http.StatusUnauthorized},
		{"crdt without token", http.MethodGet, "/v1.0/crdt/statestore/k", "", "", http.StatusUnauthorized},
		{"query without token", http.MethodPost, "/v1.0-alpha1/state/statestore/query", "{}", "", http.StatusUnauthorized},
		{"healthz needs none", http.MethodGet, "/v1.0/healthz", "", "", http.StatusNoContent},
		{"metrics needs none", http.MethodGet, "/metrics", "", "", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.token != "" {
				hdr = []string{"dapr-api-token", tc.token}
			}
			h.neverReached(func() {
				rr := h.do(tc.method, tc.path, tc.body, hdr...)
				wantStatus(t, rr, tc.status)
				if tc.status == http.StatusUnauthorized {
					if rr.Body.String() != "invalid api token" || !strings.HasPrefix(rr.Header().Get("Content-Type"), "text/plain") {
						t.Fatalf("401 body %q content type %q", rr.Body.String(), rr.Header().Get("Content-Type"))
					}
				}
			})
		})
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	h := newHarness(t)
	wantError(t, h.do(http.MethodGet, "/v1.0/nothing", ""), http.StatusNotFound, "ERR_NOT_FOUND")
	wantError(t, h.do(http.MethodGet, "/v1.0/state/statestore/", ""), http.StatusNotFound, "ERR_NOT_FOUND")
	rr := h.do(http.MethodGet, "/v1.0/state/statestore", "")
	wantError(t, rr, http.StatusMethodNotAllowed, "ERR_METHOD_NOT_ALLOWED")
	if allow := rr.Header().Get("Allow"); !strings.Contains(allow, "POST") || !strings.Contains(allow, "PUT") {
		t.Fatalf("Allow %q", allow)
	}
	wantError(t, h.do(http.MethodPatch, "/v1.0/crdt/statestore/k", "{}"), http.StatusMethodNotAllowed, "ERR_METHOD_NOT_ALLOWED")
}

func TestPanicBecomes500(t *testing.T) {
	h := newHarness(t)
	h.b.set(func(f *fakeBackend) { f.panicOn = "Get" })
	wantError(t, h.do(http.MethodGet, "/v1.0/state/statestore/k", ""), http.StatusInternalServerError, "ERROR")
	h.b.set(func(f *fakeBackend) { f.panicOn = "" })
	wantStatus(t, h.do(http.MethodGet, "/v1.0/state/statestore/k", ""), http.StatusNoContent)
}

// counter returns the value of lattice_http_requests_total for the labels, 0 if absent.
func counter(t *testing.T, reg prometheus.Gatherer, method, route, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "lattice_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labels(m) == method+" "+route+" "+code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labels(m *dto.Metric) string {
	var vals []string
	for _, l := range m.GetLabel() { // sorted by name: code, method, route
		vals = append(vals, l.GetValue())
	}
	if len(vals) != 3 {
		return ""
	}
	return vals[1] + " " + vals[2] + " " + vals[0]
}

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	h.save(`[{"key":"k","value":1}]`)
	h.get("k")
	h.get("k")
	h.get("missing")
	h.do(http.MethodGet, "/nowhere", "")
	h.do("BREW", "/v1.0/state/statestore/k", "")
	for _, tc := range []struct {
		method, route, code string
		want                float64
	}{
		{"POST", "/v1.0/state/:store", "204", 1},
		{"GET", "/v1.0/state/:store/:key", "200", 2},
		{"GET", "/v1.0/state/:store/:key", "204", 1},
		{"GET", "unmatched", "404", 1},
		{"other", "unmatched", "405", 1},
	} {
		if got := counter(t, h.reg, tc.method, tc.route, tc.code); got != tc.want {
			t.Errorf("requests{%s %s %s} = %v, want %v", tc.method, tc.route, tc.code, got, tc.want)
		}
	}
	rr := h.do(http.MethodGet, "/metrics", "")
	wantStatus(t, rr, http.StatusOK)
	for _, want := range []string{
		`lattice_http_request_duration_seconds_count{code="200",method="GET",route="/v1.0/state/:store/:key"} 2`,
		`lattice_http_requests_in_flight 1`, // the /metrics request itself
	} {
		if !strings.Contains(rr.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"default", func(*Config) {}, ""},
		{"no stores", func(c *Config) { c.Stores = nil }, "no Stores"},
		{"store with ||", func(c *Config) { c.Stores = []string{"a||b"} }, "store name"},
		{"store with |", func(c *Config) { c.Stores = []string{"a|"} }, "store name"},
		{"duplicate store", func(c *Config) { c.Stores = []string{"a", "a"} }, "listed twice"},
		{"empty addr", func(c *Config) { c.Addr = "" }, "Addr"},
		{"empty id", func(c *Config) { c.ID = "" }, "ID"},
		{"zero body", func(c *Config) { c.MaxBodyBytes = 0 }, "MaxBodyBytes"},
		{"zero key", func(c *Config) { c.MaxKeyBytes = 0 }, "MaxKeyBytes"},
		{"zero value", func(c *Config) { c.MaxValueBytes = 0 }, "MaxValueBytes"},
		{"zero txn", func(c *Config) { c.MaxTransactionOps = 0 }, "MaxTransactionOps"},
		{"zero parallelism", func(c *Config) { c.BulkParallelism = 0 }, "BulkParallelism"},
		{"zero timeout", func(c *Config) { c.RequestTimeout = 0 }, "RequestTimeout"},
		{"zero shutdown", func(c *Config) { c.ShutdownTimeout = 0 }, "ShutdownTimeout"},
		{"nil logger", func(c *Config) { c.Logger = nil }, "Logger"},
		{"nil registry", func(c *Config) { c.Registry = nil }, "Registry"},
		{"extra on the API", func(c *Config) {
			c.Extra = []Route{{Method: "POST", Path: "/v1.0/state/x", Handler: http.NotFoundHandler()}}
		}, "reserved prefix"},
		{"extra without handler", func(c *Config) { c.Extra = []Route{{Method: "POST", Path: "/internal"}} }, "needs a method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "httpapi: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	cfg := DefaultConfig()
	if _, err := New(cfg, nil, newFakeCluster()); err == nil {
		t.Fatal("New accepted a nil Backend")
	}
	if _, err := New(cfg, newFakeBackend(), newFakeCluster()); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, newFakeBackend(), newFakeCluster()); err == nil || !strings.Contains(err.Error(), "registering metrics") {
		t.Fatalf("a second server on the same registry: %v", err)
	}
	cfg = DefaultConfig()
	dup := Route{Method: http.MethodPost, Path: "/internal/v1/forward", Handler: http.NotFoundHandler()}
	cfg.Extra = []Route{dup, dup}
	if _, err := New(cfg, newFakeBackend(), newFakeCluster()); err == nil || !strings.Contains(err.Error(), "registering routes") {
		t.Fatalf("conflicting extra routes: %v", err)
	}
}

func TestExtraRoutesSkipTheTokenAndTheLimit(t *testing.T) {
	forward := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, len(b))
	})
	h := newHarness(t, func(c *Config) {
		c.APIToken = "tok"
		c.MaxBodyBytes = 10
		c.Extra = []Route{{Method: http.MethodPost, Path: "/internal/v1/forward", Handler: forward}}
	})
	rr := h.do(http.MethodPost, "/internal/v1/forward", strings.Repeat("b", 100))
	wantStatus(t, rr, http.StatusAccepted)
	if rr.Body.String() != "100" {
		t.Fatalf("the extra route read %s bytes of 100", rr.Body.String())
	}
	if got := counter(t, h.reg, "POST", "/internal/v1/forward", "202"); got != 1 {
		t.Fatalf("extra route not counted: %v", got)
	}
}

// seedClient talks to a served Server over real HTTP.
type seedClient struct {
	t    *testing.T
	base string
}

func (c seedClient) do(method, path, body string, hdr ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func bodyOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSeedFlows runs the flows of Dapr's "stateful service" how-to (shared/seeds 000, 001) over
// real HTTP: strong save and get, the ETag header, a first-write save with it, the retry loop on
// a version mismatch, a delete with If-Match.
func TestSeedFlows(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, ln) }()
	c := seedClient{t: t, base: "http://" + ln.Addr().String() + "/v1.0/state/statestore"}

	// Save and get with strong consistency (the get sends it as a header, as the seed does).
	resp := c.do(http.MethodPost, "", `[{ "key": "key1", "value": "Some Data", "options": { "consistency": "strong" }}]`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("save: %d %s", resp.StatusCode, bodyOf(t, resp))
	}
	resp = c.do(http.MethodGet, "/key1", "", "consistency", "strong")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || bodyOf(t, resp) != `"Some Data"` || etag == "" {
		t.Fatalf("get: %d etag %q", resp.StatusCode, etag)
	}

	// First-write save with the ETag read back (the seed also sends concurrency on the GET).
	resp = c.do(http.MethodGet, "/key1", "", "concurrency", "first-write")
	etag = resp.Header.Get("ETag")
	resp = c.do(http.MethodPost, "", `[{ "key": "key1", "value": "New Data", "etag": "`+etag+`", "options": { "concurrency": "first-write" }}]`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first-write save with the etag: %d %s", resp.StatusCode, bodyOf(t, resp))
	}
	// The same ETag again is now stale: 409.
	resp = c.do(http.MethodPost, "", `[{ "key": "key1", "value": "Stale", "etag": "`+etag+`", "options": { "concurrency": "first-write" }}]`)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("stale etag: %d", resp.StatusCode)
	}

	// The retry loop: another writer changes the key between our read and our save; the loop
	// reads again and succeeds. (The seed tests for 200; Dapr and Lattice answer 204.)
	attempts := 0
	for success := false; !success; {
		attempts++
		if attempts > 5 {
			t.Fatal("retry loop did not converge")
		}
		etag := c.do(http.MethodGet, "/key1", "", "concurrency", "first-write").Header.Get("ETag")
		if attempts == 1 {
			c.do(http.MethodPost, "", `[{"key":"key1","value":"someone else"}]`)
		}
		resp := c.do(http.MethodPost, "", `[{ "key": "key1", "value": "New Data", "etag": "`+etag+`", "options": { "concurrency": "first-write" }}]`)
		success = resp.StatusCode == http.StatusNoContent
	}
	if attempts != 2 {
		t.Fatalf("the loop took %d attempts, want 2 (one mismatch)", attempts)
	}

	// Delete with If-Match: a stale ETag fails, the current one deletes.
	resp = c.do(http.MethodGet, "/key1", "", "consistency", "strong")
	etag = resp.Header.Get("ETag")
	if resp = c.do(http.MethodDelete, "/key1", "", "If-Match", "stale", "consistency", "strong"); resp.StatusCode != http.StatusConflict {
		t.Fatalf("delete with a stale etag: %d", resp.StatusCode)
	}
	if resp = c.do(http.MethodDelete, "/key1", "", "If-Match", etag, "consistency", "strong"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, bodyOf(t, resp))
	}
	if resp = c.do(http.MethodGet, "/key1", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("get after delete: %d", resp.StatusCode)
	}

	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestServeShutsDownGracefully checks that a request in flight when the context ends completes.
func TestServeShutsDownGracefully(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	entered := make(chan struct{})
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.WriteHeader(http.StatusOK)
	})
	cfg := DefaultConfig()
	cfg.Registry = prometheus.NewRegistry()
	cfg.Extra = []Route{{Method: http.MethodGet, Path: "/slow", Handler: slow}}
	srv, err := New(cfg, h.b, h.cl)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-entered
	cancel()
	// New connections are refused once shutdown has begun; poll until they are.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
	}
	close(release)
	if code := <-got; code != http.StatusOK {
		t.Fatalf("in-flight request got %d", code)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestListenAndServeReportsListenErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:-1"
	srv, err := New(cfg, newFakeBackend(), newFakeCluster())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenAndServe(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "httpapi: listen") {
		t.Fatalf("ListenAndServe = %v", err)
	}
	var opErr *net.OpError
	if err := srv.ListenAndServe(context.Background()); !errors.As(err, &opErr) {
		t.Fatalf("error %v does not wrap the net error", err)
	}
}

func TestPprof(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		h := newHarness(t)
		wantStatus(t, h.do(http.MethodGet, "/debug/pprof/", ""), http.StatusNotFound)
		wantStatus(t, h.do(http.MethodGet, "/debug/pprof/heap", ""), http.StatusNotFound)
	})
	t.Run("enabled", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.EnablePprof = true })
		rr := h.do(http.MethodGet, "/debug/pprof/", "")
		wantStatus(t, rr, http.StatusOK)
		if !strings.Contains(rr.Body.String(), "goroutine") {
			t.Fatalf("index does not list the goroutine profile: %.200s", rr.Body.String())
		}
		rr = h.do(http.MethodGet, "/debug/pprof/goroutine?debug=1", "")
		wantStatus(t, rr, http.StatusOK)
		if !strings.Contains(rr.Body.String(), "goroutine profile:") {
			t.Fatalf("goroutine profile: %.200s", rr.Body.String())
		}
		wantStatus(t, h.do(http.MethodGet, "/debug/pprof/cmdline", ""), http.StatusOK)
		wantStatus(t, h.do(http.MethodGet, "/debug/pprof/nosuchprofile", ""), http.StatusNotFound)
	})
	t.Run("behind the API token", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.EnablePprof = true; c.APIToken = "s3cret" })
		wantStatus(t, h.do(http.MethodGet, "/debug/pprof/heap", ""), http.StatusUnauthorized)
		wantStatus(t, h.do(http.MethodGet, "/debug/pprof/heap", "", "dapr-api-token", "s3cret"), http.StatusOK)
	})
	t.Run("extra routes may not take its prefix", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Registry = prometheus.NewRegistry()
		cfg.Extra = []Route{{Method: http.MethodGet, Path: "/debug/pprof/x", Handler: http.NotFoundHandler()}}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "reserved prefix") {
			t.Fatalf("Validate = %v, want a reserved prefix error", err)
		}
	})
}
