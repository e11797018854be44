package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/internal/syncbuf"
)

// fakeCluster is a few nodes of a Dapr-compatible state API sharing one store, which can
// all be made to refuse requests (503) at once.
type fakeCluster struct {
	mu    sync.Mutex
	store map[string]json.RawMessage
	saves int
	down  atomic.Bool
	// downAfter makes the cluster go down right after that many saves (0: never).
	downAfter int
}

func (f *fakeCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"errorCode":"ERR_STATE_SAVE","message":"lattice: no quorum"}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1.0/state/statestore":
		var items []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&items); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, it := range items {
			f.store[it.Key] = it.Value
		}
		f.saves++
		if f.saves == f.downAfter {
			f.down.Store(true)
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1.0/state/statestore/"):
		v, ok := f.store[strings.TrimPrefix(r.URL.Path, "/v1.0/state/statestore/")]
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("ETag", "1")
		_, _ = w.Write(v)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// fastResiliency is resiliency.yaml with milliseconds instead of seconds.
func fastResiliency(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("resiliency.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.ReplaceAll(string(data), "5s", "10ms")
	path := filepath.Join(t.TempDir(), "resiliency.yaml")
	if err := os.WriteFile(path, []byte(fast), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestResiliencyFileIsTheSeeds(t *testing.T) {
	r, err := client.LoadResiliency("resiliency.yaml", "order-processor")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.ComponentPolicies("statestore"), (client.PolicyNames{Retry: "retryForever", CircuitBreaker: "simpleCB"}); got != want {
		t.Fatalf("statestore policies %+v, want %+v", got, want)
	}
	retry := r.Retries["retryForever"]
	if retry.Policy != client.Constant || retry.Duration != 5*time.Second || retry.MaxRetries != -1 {
		t.Errorf("retryForever = %+v", retry)
	}
	if cb := r.CircuitBreakers["simpleCB"]; cb.MaxRequests != 1 || cb.Timeout != 5*time.Second || cb.Trip != "consecutiveFailures >= 5" {
		t.Errorf("simpleCB = %+v", cb)
	}
}

// TestRideOutAnOutage runs the program against a cluster with one node gone for good and
// the other two refusing everything for a while, after the third order: the program
// retries, the breaker opens and half-opens, and once the nodes are back every order from
// 1 to 8 is acknowledged once, in order, and stored.
func TestRideOutAnOutage(t *testing.T) {
	fc := &fakeCluster{store: map[string]json.RawMessage{}, downAfter: 3}
	b := httptest.NewServer(fc)
	defer b.Close()
	c := httptest.NewServer(fc)
	defer c.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var out syncbuf.Buffer
	cfg := config{endpoints: []string{gone.URL, b.URL, c.URL}, resiliency: fastResiliency(t), appID: "order-processor",
		store: "statestore", interval: time.Millisecond, first: 1, count: 8, verify: true}
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), cfg, &out, log) }()

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "changed state from half-open to open") {
		if time.Now().After(deadline) {
			t.Fatalf("the breaker never cycled:\n%s", logs.String())
		}
		time.Sleep(time.Millisecond)
	}
	if strings.Contains(out.String(), "orderId: 4") {
		t.Fatalf("order 4 acknowledged while the cluster was down:\n%s", out.String())
	}
	fc.down.Store(false)
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}

	var want strings.Builder
	for id := 1; id <= 8; id++ {
		fmt.Fprintf(&want, "Saving Order: {orderId: %d}\nGetting Order: {orderId: %d}\n", id, id)
	}
	want.WriteString("Acknowledged orders 1 to 8\nVerified: all 8 acknowledged orders are stored\n")
	if out.String() != want.String() {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want.String())
	}
	fc.mu.Lock()
	for id := 1; id <= 8; id++ {
		if got := string(fc.store[orderKey(id)]); got != fmt.Sprintf(`{"orderId":%d}`, id) {
			t.Errorf("stored %s = %q", orderKey(id), got)
		}
	}
	fc.mu.Unlock()
	for _, msg := range []string{
		"Error processing operation component[statestore] output. Retrying",
		`Circuit breaker \"simpleCB-statestore\" changed state from closed to open`,
		`Circuit breaker \"simpleCB-statestore\" changed state from open to half-open`,
		`Circuit breaker \"simpleCB-statestore\" changed state from half-open to closed`,
		"Recovered processing operation component[statestore] output.",
	} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("log lacks %q:\n%s", msg, logs.String())
		}
	}
}

func TestVerifyReportsMissingOrders(t *testing.T) {
	fc := &fakeCluster{store: map[string]json.RawMessage{"order_1": json.RawMessage(`{"orderId":1}`)}}
	srv := httptest.NewServer(fc)
	defer srv.Close()
	ccfg := client.DefaultConfig()
	ccfg.Endpoints = []string{srv.URL}
	c, err := client.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &processor{c: c, out: io.Discard, log: slog.New(slog.DiscardHandler), interval: time.Millisecond}
	err = p.verify(context.Background(), 1, 3)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 acknowledged orders missing: [2 3]") {
		t.Errorf("err = %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseFlags(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.endpoints, ",") != defaultEndpoints || cfg.consistency != lattice.Eventual ||
		cfg.resiliency != "resiliency.yaml" || cfg.interval != time.Second || cfg.appID != "order-processor" {
		t.Errorf("defaults %+v", cfg)
	}
	env["LATTICE_ENDPOINTS"] = "h1:1, h2:2"
	cfg, err = parseFlags([]string{"-consistency", "strong", "-count", "3", "-log-level", "debug"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.endpoints, ",") != "h1:1,h2:2" || cfg.consistency != lattice.Strong || cfg.count != 3 || cfg.logLevel != slog.LevelDebug {
		t.Errorf("parsed %+v", cfg)
	}
	for _, bad := range [][]string{{"-consistency", "linear"}, {"-interval", "0s"}, {"-log-level", "loud"}, {"-nope"}} {
		if _, err := parseFlags(bad, getenv, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
