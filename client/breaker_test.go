package client

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

func TestTripExpressions(t *testing.T) {
	for _, tc := range []struct {
		expr   string
		counts gobreaker.Counts
		want   bool
	}{
		{"", gobreaker.Counts{ConsecutiveFailures: 5}, false}, // default: > 5
		{"", gobreaker.Counts{ConsecutiveFailures: 6}, true},
		{"consecutiveFailures >= 5", gobreaker.Counts{ConsecutiveFailures: 4}, false},
		{"consecutiveFailures >= 5", gobreaker.Counts{ConsecutiveFailures: 5}, true},
		{"totalFailures * 100 / requests > 50", gobreaker.Counts{Requests: 10, TotalFailures: 5}, false},
		{"totalFailures * 100 / requests > 50", gobreaker.Counts{Requests: 10, TotalFailures: 6}, true},
		{"consecutiveFailures > 2.5", gobreaker.Counts{ConsecutiveFailures: 3}, true}, // int vs double
		{"requests > 3 && consecutiveSuccesses == 0", gobreaker.Counts{Requests: 4}, true},
		{"requests > 3 && consecutiveSuccesses == 0", gobreaker.Counts{Requests: 4, ConsecutiveSuccesses: 1}, false},
		// Division by zero is an evaluation error: Dapr does not trip then.
		{"totalFailures / totalSuccesses > 2", gobreaker.Counts{TotalFailures: 9}, false},
		{"totalFailures / totalSuccesses > 2", gobreaker.Counts{TotalFailures: 9, TotalSuccesses: 1}, true},
	} {
		trip, err := compileTrip(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		if got := trip(tc.counts); got != tc.want {
			t.Errorf("%q with %+v = %v, want %v", tc.expr, tc.counts, got, tc.want)
		}
	}
	for _, bad := range []string{"consecutiveFailure > 5", "consecutiveFailures + 1", "consecutiveFailures >", `"yes"`} {
		if _, err := compileTrip(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
}

var transition = regexp.MustCompile(`Circuit breaker \\"([^"\\]+)\\" changed state from ([a-z-]+) to ([a-z-]+)`)

func transitions(log string) []string {
	var out []string
	for _, m := range transition.FindAllStringSubmatch(log, -1) {
		out = append(out, m[1]+": "+m[2]+" -> "+m[3])
	}
	return out
}

func TestBreakerTransitions(t *testing.T) {
	log, buf := testLogger()
	trip, err := compileTrip("consecutiveFailures >= 3")
	if err != nil {
		t.Fatal(err)
	}
	b := newBreaker("simpleCB-statestore", CircuitBreakerPolicy{MaxRequests: 2, Timeout: 20 * time.Millisecond}, trip, log)
	fail := func() error { return &APIError{StatusCode: http.StatusServiceUnavailable} }
	ok := func() error { return nil }
	conflict := func() error { return &APIError{StatusCode: http.StatusConflict} }

	// A 409 is an answer of a healthy node: it never counts towards tripping.
	for range 5 {
		_ = b.execute(conflict)
	}
	for range 2 {
		_ = b.execute(fail)
	}
	if s := b.cb.State(); s != gobreaker.StateClosed {
		t.Fatalf("after 2 failures: %v, want closed", s)
	}
	_ = b.execute(fail)
	if s := b.cb.State(); s != gobreaker.StateOpen {
		t.Fatalf("after 3 failures: %v, want open", s)
	}
	err = b.execute(ok)
	if !errors.Is(err, ErrCircuitOpen) || !errors.Is(err, gobreaker.ErrOpenState) {
		t.Fatalf("open breaker: err = %v, want ErrCircuitOpen", err)
	}
	waitFor(t, "half-open", func() bool { return b.cb.State() == gobreaker.StateHalfOpen })
	_ = b.execute(fail) // a failed trial re-opens
	if s := b.cb.State(); s != gobreaker.StateOpen {
		t.Fatalf("after a failed trial: %v, want open", s)
	}
	waitFor(t, "half-open again", func() bool { return b.cb.State() == gobreaker.StateHalfOpen })
	if err := b.execute(ok); err != nil {
		t.Fatal(err)
	}
	if s := b.cb.State(); s != gobreaker.StateHalfOpen {
		t.Fatalf("after 1 of 2 trial successes: %v, want half-open", s)
	}
	if err := b.execute(ok); err != nil {
		t.Fatal(err)
	}
	if s := b.cb.State(); s != gobreaker.StateClosed {
		t.Fatalf("after 2 trial successes: %v, want closed", s)
	}
	want := []string{
		"simpleCB-statestore: closed -> open",
		"simpleCB-statestore: open -> half-open",
		"simpleCB-statestore: half-open -> open",
		"simpleCB-statestore: open -> half-open",
		"simpleCB-statestore: half-open -> closed",
	}
	if got := transitions(buf.String()); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("transitions = %q, want %q", got, want)
	}
}

func TestBreakerIntervalClearsCounts(t *testing.T) {
	trip, _ := compileTrip("totalFailures >= 2")
	log, _ := testLogger()
	b := newBreaker("cb-x", CircuitBreakerPolicy{Interval: 10 * time.Millisecond, Timeout: time.Hour}, trip, log)
	fail := func() error { return &APIError{StatusCode: http.StatusInternalServerError} }
	_ = b.execute(fail)
	waitFor(t, "counts cleared", func() bool {
		_ = b.cb.State() // gobreaker starts a new generation lazily
		return b.cb.Counts().TotalFailures == 0
	})
	_ = b.execute(fail)
	if s := b.cb.State(); s != gobreaker.StateClosed {
		t.Fatalf("%v: one failure per interval must not trip totalFailures >= 2", s)
	}
	_ = b.execute(fail)
	if s := b.cb.State(); s != gobreaker.StateOpen {
		t.Fatalf("%v: two failures within an interval must trip", s)
	}
}

// TestSeedScenario replays the Dapr quickstart: retryForever (constant) over simpleCB
// (consecutiveFailures >= 5, timeout about one retry period) against a store that is down
// for a while. The call keeps retrying while the breaker cycles open -> half-open -> open,
// and succeeds by itself once the store is back, exactly once.
func TestSeedScenario(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	var saves atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			status(http.StatusServiceUnavailable, "ERR_STATE_SAVE", "no quorum")(w, r)
			return
		}
		saves.Add(1)
		noContent(w, r)
	})
	log, buf := testLogger()
	cfg := DefaultConfig()
	cfg.Endpoints = []string{srv.URL}
	cfg.Logger = log
	cfg.Resiliency = policies(constant(15*time.Millisecond, -1),
		&CircuitBreakerPolicy{MaxRequests: 1, Timeout: 10 * time.Millisecond, Trip: "consecutiveFailures >= 5"}, 0)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Set(context.Background(), "order_1", map[string]int{"orderId": 1}) }()
	// Let the breaker open and fail at least two half-open trials, then bring the store back.
	waitFor(t, "two failed trials", func() bool {
		return strings.Count(buf.String(), `changed state from half-open to open`) >= 2
	})
	down.Store(false)
	if err := <-done; err != nil {
		t.Fatalf("Set: %v", err)
	}
	if saves.Load() != 1 {
		t.Errorf("saved %d times, want 1", saves.Load())
	}
	got := strings.Join(transitions(buf.String()), "|")
	if !strings.HasPrefix(got, "simpleCB-statestore: closed -> open|simpleCB-statestore: open -> half-open|simpleCB-statestore: half-open -> open") ||
		!strings.HasSuffix(got, "simpleCB-statestore: open -> half-open|simpleCB-statestore: half-open -> closed") {
		t.Errorf("transitions = %s", got)
	}
	if !strings.Contains(buf.String(), "Recovered processing operation component[statestore] output.") {
		t.Errorf("no recovery logged:\n%s", buf.String())
	}
	if s := c.BreakerState(DefaultStore); s != "closed" {
		t.Errorf("breaker %s, want closed", s)
	}
}

func TestBreakerOpenFailsFastWithoutRetry(t *testing.T) {
	srv := newServer(t, status(http.StatusServiceUnavailable, "ERR_STATE_GET", "no quorum"))
	c, clock := newTestClient(t, Config{Resiliency: policies(constant(time.Second, -1),
		&CircuitBreakerPolicy{Timeout: time.Hour, Trip: "consecutiveFailures >= 2"}, 0)}, srv.URL)
	_, _, err := c.Get(context.Background(), "k")
	if !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	// Two failures trip it; the retry after the second finds it open and stops there.
	if srv.hits.Load() != 2 || len(clock.Sleeps()) != 2 {
		t.Errorf("hits %d sleeps %v, want 2 and 2", srv.hits.Load(), clock.Sleeps())
	}
	before := srv.hits.Load()
	if _, _, err := c.Get(context.Background(), "k"); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	if srv.hits.Load() != before {
		t.Error("an open breaker let a request through")
	}
}
