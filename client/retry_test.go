package client

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

func constant(d time.Duration, maxRetries int) *RetryPolicy {
	p := DefaultRetryPolicy()
	p.Duration, p.MaxRetries = d, maxRetries
	return &p
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestConstantRetryTiming(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxRetries int
		failures   int // before the server recovers; -1 never
		wantHits   int64
		wantErr    bool
	}{
		{"no retries", 0, -1, 1, true},
		{"three retries exhausted", 3, -1, 4, true},
		{"three retries enough", 3, 2, 3, false},
		{"forever until it recovers", -1, 40, 41, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if k := n.Add(1); tc.failures < 0 || k <= int64(tc.failures) {
					status(http.StatusServiceUnavailable, "ERR_STATE_SAVE", "no quorum")(w, r)
					return
				}
				noContent(w, r)
			})
			c, clock := newTestClient(t, Config{Resiliency: policies(constant(5*time.Second, tc.maxRetries), nil, 0)}, srv.URL)
			err := c.Set(context.Background(), "k", "v")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, lattice.ErrNoQuorum) {
				t.Errorf("err = %v, want ErrNoQuorum", err)
			}
			if got := srv.hits.Load(); got != tc.wantHits {
				t.Errorf("attempts = %d, want %d", got, tc.wantHits)
			}
			if got, want := clock.Sleeps(), repeat(5*time.Second, int(tc.wantHits-1)); !slices.Equal(got, want) {
				t.Errorf("sleeps = %v, want %v", got, want)
			}
		})
	}
}

func exponential(maxInterval time.Duration, maxRetries int) RetryPolicy {
	p := DefaultRetryPolicy()
	p.Policy, p.MaxInterval, p.MaxRetries = Exponential, maxInterval, maxRetries
	return p
}

func TestExponentialBackoffSequence(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name string
		rand float64
		want []time.Duration
	}{
		// rand 0.5 sits in the middle of [cur/2, 3cur/2]: the bare 500 ms x 1.5 progression.
		{"middle", 0.5, []time.Duration{ms(500), ms(750), ms(1125), ms(1687.5), ms(2531.25), ms(3000), ms(3000)}},
		// rand 0 is the lower edge: half of each interval; the interval itself is capped.
		{"low", 0, []time.Duration{ms(250), ms(375), ms(562.5), ms(843.75), ms(1265.625), ms(1500), ms(1500)}},
		// rand ~1 is the upper edge, 1.5 times the interval, capped at maxInterval.
		{"high", 0.999999999, []time.Duration{ms(750), ms(1125), ms(1687.5), ms(2531.25), ms(3000), ms(3000), ms(3000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackoff(exponential(3*time.Second, -1), time.Time{}, func() float64 { return tc.rand })
			var got []time.Duration
			for range tc.want {
				d, ok := b.next(time.Time{})
				if !ok {
					t.Fatal("backoff stopped")
				}
				got = append(got, d)
			}
			for i := range got {
				if diff := got[i] - tc.want[i]; diff < -time.Microsecond || diff > time.Microsecond {
					t.Fatalf("waits = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestExponentialRetryThroughClient(t *testing.T) {
	srv := newServer(t, status(http.StatusInternalServerError, "ERR_STATE_GET", "boom"))
	p := exponential(2*time.Second, 5)
	c, clock := newTestClient(t, Config{Resiliency: policies(&p, nil, 0), Rand: func() float64 { return 0.5 }}, srv.URL)
	_, _, err := c.Get(context.Background(), "k")
	if !errors.Is(err, ErrInternal) {
		t.Fatalf("err = %v, want ErrInternal", err)
	}
	want := []time.Duration{500 * time.Millisecond, 750 * time.Millisecond, 1125 * time.Millisecond,
		1687500 * time.Microsecond, 2 * time.Second}
	if got := clock.Sleeps(); !slices.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
	if srv.hits.Load() != 6 {
		t.Errorf("attempts = %d, want 6", srv.hits.Load())
	}
}

func TestExponentialMaxElapsedTime(t *testing.T) {
	p := exponential(time.Second, -1)
	p.MaxElapsedTime = 3 * time.Second
	b := newBackoff(p, time.Time{}, func() float64 { return 0.5 })
	now := time.Time{}
	var total time.Duration
	for {
		d, ok := b.next(now)
		if !ok {
			break
		}
		now = now.Add(d)
		total += d
		if total > time.Hour {
			t.Fatal("exponential retries did not stop at MaxElapsedTime")
		}
	}
	if total > p.MaxElapsedTime {
		t.Errorf("waited %v in all, more than MaxElapsedTime %v", total, p.MaxElapsedTime)
	}
	if total < 2*time.Second {
		t.Errorf("waited only %v, stopped long before MaxElapsedTime", total)
	}
}

func TestRetryMatching(t *testing.T) {
	codes, err := ParseStatusCodes("429, 500-502", 100, 599)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status   int
		wantHits int64
	}{
		{429, 3}, {500, 3}, {501, 3}, {502, 3}, // listed
		{503, 1}, {504, 1}, // not listed
	} {
		srv := newServer(t, status(tc.status, "ERR_STATE_GET", "x"))
		p := constant(time.Second, 2)
		p.Matching.HTTPStatusCodes = codes
		c, _ := newTestClient(t, Config{Resiliency: policies(p, nil, 0)}, srv.URL)
		if _, _, err := c.Get(context.Background(), "k"); err == nil {
			t.Fatalf("%d: no error", tc.status)
		}
		if got := srv.hits.Load(); got != tc.wantHits {
			t.Errorf("status %d: attempts = %d, want %d", tc.status, got, tc.wantHits)
		}
	}
	// A connection failure has no status: it is retried whatever the list says.
	p := constant(time.Second, 2)
	p.Matching.HTTPStatusCodes = codes
	c, clock := newTestClient(t, Config{Resiliency: policies(p, nil, 0)}, deadURL(t))
	if _, _, err := c.Get(context.Background(), "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if n := len(clock.Sleeps()); n != 2 {
		t.Errorf("connection failure retried %d times, want 2", n)
	}
}

func TestParseStatusCodes(t *testing.T) {
	got, err := ParseStatusCodes("429,,500-599, 404 ", 100, 599)
	if err != nil {
		t.Fatal(err)
	}
	if want := []StatusRange{{429, 429}, {500, 599}, {404, 404}}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"600", "99", "500-400", "5x", "1-2-3", "-5"} {
		if _, err := ParseStatusCodes(bad, 100, 599); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := ParseStatusCodes("1-4,8-11,13,14", 0, 16); err != nil {
		t.Errorf("gRPC codes: %v", err)
	}
}

func TestNeverRetryConflictsOrClientErrors(t *testing.T) {
	all, _ := ParseStatusCodes("100-599", 100, 599)
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		want error
	}{
		{"etag mismatch", status(http.StatusConflict, "ERR_STATE_SAVE", "possible etag mismatch"), lattice.ErrETagMismatch},
		{"wrong type", status(http.StatusConflict, "ERR_CRDT_WRONG_TYPE", "wrong type"), lattice.ErrWrongType},
		{"transaction etag mismatch", status(http.StatusInternalServerError, "ERR_STATE_TRANSACTION", "etag mismatch"), lattice.ErrETagMismatch},
		{"bad request", status(http.StatusBadRequest, "ERR_MALFORMED_REQUEST", "bad"), lattice.ErrInvalidArgument},
		{"not found", status(http.StatusNotFound, "", "no route"), ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newServer(t, tc.h)
			b := newServer(t, noContent)
			p := constant(time.Second, -1)
			p.Matching.HTTPStatusCodes = all
			c, clock := newTestClient(t, Config{Resiliency: policies(p, nil, 0)}, a.URL, b.URL)
			err := c.Set(context.Background(), "k", "v")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if a.hits.Load() != 1 || b.hits.Load() != 0 || len(clock.Sleeps()) != 0 {
				t.Errorf("hits a=%d b=%d sleeps=%v: the answer was retried or failed over",
					a.hits.Load(), b.hits.Load(), clock.Sleeps())
			}
		})
	}
}

func TestTimeoutPolicyPerAttempt(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c, clock := newTestClient(t, Config{Resiliency: policies(constant(time.Second, 2), nil, 20*time.Millisecond)}, srv.URL)
	_, _, err := c.Get(context.Background(), "k")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want a deadline exceeded that is ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "timed out after 20ms") {
		t.Errorf("err = %v, want the timeout policy named", err)
	}
	if srv.hits.Load() != 3 || len(clock.Sleeps()) != 2 {
		t.Errorf("attempts = %d, sleeps = %v; want 3 attempts, 2 sleeps", srv.hits.Load(), clock.Sleeps())
	}
}

func TestCallerCancelStopsRetries(t *testing.T) {
	srv := newServer(t, status(http.StatusServiceUnavailable, "ERR_STATE_GET", "no quorum"))
	ctx, cancel := context.WithCancel(context.Background())
	cfg := DefaultConfig()
	cfg.Endpoints = []string{srv.URL}
	cfg.Resiliency = policies(constant(time.Second, -1), nil, 0)
	cfg.Clock = &cancellingClock{fakeClock: newFakeClock(), after: 3, cancel: cancel}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Get(ctx, "k")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, lattice.ErrNoQuorum) {
		t.Fatalf("err = %v, want the cancellation and the last error", err)
	}
	if srv.hits.Load() != 4 {
		t.Errorf("attempts = %d, want 4", srv.hits.Load())
	}
}

// cancellingClock cancels the caller's context on its after-th sleep.
type cancellingClock struct {
	*fakeClock
	after  int
	n      int
	cancel context.CancelFunc
}

func (c *cancellingClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.n++; c.n == c.after+1 {
		c.cancel()
	}
	return c.fakeClock.Sleep(ctx, d)
}

func TestNonIdempotentNotRetriedWhenOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		h        http.HandlerFunc
		wantHits int64
	}{
		{"500 may have applied", status(http.StatusInternalServerError, "ERROR", "boom"), 1},
		{"503 refused", status(http.StatusServiceUnavailable, "ERR_STATE_SAVE", "no quorum"), 3},
		{"429 refused", status(http.StatusTooManyRequests, "ERR_STATE_SAVE", "backpressure"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.h)
			c, _ := newTestClient(t, Config{Resiliency: policies(constant(time.Second, 2), nil, 0)}, srv.URL)
			if _, err := c.CRDTApply(context.Background(), "ctr", PNCounterIncrement(1)); err == nil {
				t.Fatal("no error")
			}
			if got := srv.hits.Load(); got != tc.wantHits {
				t.Errorf("attempts = %d, want %d", got, tc.wantHits)
			}
		})
	}
}

func TestRetryAndRecoveryLogged(t *testing.T) {
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 3 {
			status(http.StatusServiceUnavailable, "ERR_STATE_SAVE", "no quorum")(w, r)
			return
		}
		noContent(w, r)
	})
	log, buf := testLogger()
	c, _ := newTestClient(t, Config{Resiliency: policies(constant(5*time.Second, -1), nil, 0), Logger: log}, srv.URL)
	if err := c.Set(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Error processing operation component[statestore] output. Retrying in 5s",
		"Recovered processing operation component[statestore] output.",
	} {
		if strings.Count(out, want) != 1 {
			t.Errorf("log has %d x %q, want 1:\n%s", strings.Count(out, want), want, out)
		}
	}
	if got := strings.Count(out, "Retrying operation component[statestore] output"); got != 2 {
		t.Errorf("log has %d debug retry lines, want 2:\n%s", got, out)
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	good := DefaultRetryPolicy()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*RetryPolicy){
		"unknown policy":      func(p *RetryPolicy) { p.Policy = "linear" },
		"maxRetries -2":       func(p *RetryPolicy) { p.MaxRetries = -2 },
		"negative duration":   func(p *RetryPolicy) { p.Duration = -time.Second },
		"exp no max interval": func(p *RetryPolicy) { p.Policy, p.MaxInterval = Exponential, 0 },
		"exp multiplier < 1":  func(p *RetryPolicy) { p.Policy, p.Multiplier = Exponential, 0.5 },
		"bad range":           func(p *RetryPolicy) { p.Matching.HTTPStatusCodes = []StatusRange{{500, 400}} },
	} {
		p := DefaultRetryPolicy()
		mut(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
