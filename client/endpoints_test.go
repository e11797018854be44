package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

func value(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", "e1")
		_, _ = io.WriteString(w, body)
	}
}

func TestFailoverOneNodeDown(t *testing.T) {
	live := newServer(t, value(`"v"`))
	log, buf := testLogger()
	c, _ := newTestClient(t, Config{Logger: log}, deadURL(t), live.URL)
	for i := range 3 {
		item, found, err := c.Get(context.Background(), "k")
		if err != nil || !found || string(item.Value) != `"v"` {
			t.Fatalf("get %d: %v %v %s", i, err, found, item.Value)
		}
	}
	if live.hits.Load() != 3 {
		t.Errorf("live hits = %d, want 3", live.hits.Load())
	}
	// The dead node was tried once, then avoided; its failure was logged once.
	if n := strings.Count(buf.String(), "is unavailable; avoiding it for 5s"); n != 1 {
		t.Errorf("%d unavailability messages, want 1:\n%s", n, buf.String())
	}
	if got := c.pool.order(preferSticky)[0].url; got != live.URL {
		t.Errorf("first endpoint %s, want the live one", got)
	}
}

func TestFailover503AvoidsNodeForCooldown(t *testing.T) {
	sick := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		status(http.StatusServiceUnavailable, "ERR_STATE_GET", "lattice: no quorum")(w, r)
	})
	ok := newServer(t, value(`1`))
	c, clock := newTestClient(t, Config{}, sick.URL, ok.URL)
	get := func() {
		t.Helper()
		if _, _, err := c.Get(context.Background(), "k"); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if sick.hits.Load() != 1 || ok.hits.Load() != 1 {
		t.Fatalf("hits sick=%d ok=%d, want 1 and 1", sick.hits.Load(), ok.hits.Load())
	}
	get()
	clock.Advance(6 * time.Second) // past the 5 s cool-down but within Retry-After
	get()
	if sick.hits.Load() != 1 {
		t.Errorf("sick node called %d times during its Retry-After", sick.hits.Load())
	}
	// After Retry-After it is healthy again (tried when it comes up in the order).
	clock.Advance(2 * time.Second)
	order := c.pool.order(preferSticky)
	if order[0].url != ok.URL || order[1].url != sick.URL || !clock.Now().After(order[1].downUntil) {
		t.Errorf("order after cool-down: %s, %s", order[0].url, order[1].url)
	}
}

func TestAllEndpointsDown(t *testing.T) {
	a := newServer(t, status(http.StatusServiceUnavailable, "ERR_STATE_GET", "no quorum"))
	dead := deadURL(t)
	c, _ := newTestClient(t, Config{}, a.URL, dead)
	_, _, err := c.Get(context.Background(), "k")
	var ee *EndpointsError
	if !errors.As(err, &ee) || len(ee.Errs) != 2 {
		t.Fatalf("err = %v, want an EndpointsError of 2", err)
	}
	var api *APIError
	var tr *TransportError
	if !errors.As(err, &api) || api.StatusCode != 503 || !errors.As(err, &tr) || tr.Endpoint != dead {
		t.Errorf("err = %v: want the 503 and the transport error inside", err)
	}
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, lattice.ErrNoQuorum) {
		t.Errorf("err = %v: want ErrUnavailable and ErrNoQuorum", err)
	}
	if errors.Is(err, lattice.ErrIndeterminate) {
		t.Errorf("a refused dial and a 503 are not outcome-unknown: %v", err)
	}
}

func TestNoFailoverOnClientErrors(t *testing.T) {
	for _, code := range []int{400, 401, 404, 409, 413} {
		a := newServer(t, status(code, "ERR_X", "no"))
		b := newServer(t, noContent)
		c, _ := newTestClient(t, Config{}, a.URL, b.URL)
		if err := c.Delete(context.Background(), "k"); err == nil {
			t.Fatalf("%d: no error", code)
		}
		if a.hits.Load() != 1 || b.hits.Load() != 0 {
			t.Errorf("%d: hits a=%d b=%d: failed over", code, a.hits.Load(), b.hits.Load())
		}
		if o := c.pool.order(preferSticky); o[0].url != a.URL {
			t.Errorf("%d: a node that answered a 4xx was demoted", code)
		}
	}
}

func TestNonIdempotentFailover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		wantB   int64
		wantErr bool
	}{
		{"refused: sent elsewhere", http.StatusServiceUnavailable, 1, false},
		{"backpressure: sent elsewhere", http.StatusTooManyRequests, 1, false},
		{"may have applied: not resent", http.StatusInternalServerError, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newServer(t, status(tc.status, "ERR_X", "x"))
			b := newServer(t, value(`{"key":"c","type":"pncounter","value":1}`))
			c, _ := newTestClient(t, Config{}, a.URL, b.URL)
			_, err := c.CRDTApply(context.Background(), "c", PNCounterIncrement(1))
			if (err != nil) != tc.wantErr || b.hits.Load() != tc.wantB {
				t.Errorf("err = %v, b hits = %d; want error %v, %d hits", err, b.hits.Load(), tc.wantErr, tc.wantB)
			}
		})
	}
	// A broken connection after sending is outcome-unknown too.
	a := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		_ = conn.Close()
	})
	b := newServer(t, value(`{"key":"c","type":"pncounter","value":1}`))
	c, _ := newTestClient(t, Config{}, a.URL, b.URL)
	_, err := c.CRDTApply(context.Background(), "c", PNCounterIncrement(1))
	if !errors.Is(err, lattice.ErrIndeterminate) || b.hits.Load() != 0 {
		t.Errorf("err = %v, b hits = %d; want ErrIndeterminate and no resend", err, b.hits.Load())
	}
	// An idempotent operation is resent.
	if _, err := c.CRDTApply(context.Background(), "s", ORSetAdd("x")); err != nil || b.hits.Load() != 1 {
		t.Errorf("err = %v, b hits = %d; want the add resent to b", err, b.hits.Load())
	}
}

// cluster starts n fake nodes whose status names node leader as the leader; each answers
// state reads with its own index.
func cluster(t *testing.T, n int, leader *int) []*server {
	t.Helper()
	nodes := make([]*server, n)
	for i := range nodes {
		nodes[i] = newServer(t, nil)
	}
	for i, s := range nodes {
		s.set(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == pathClusterStatus {
				addr := strings.TrimPrefix(nodes[*leader].URL, "http://")
				_, _ = fmt.Fprintf(w, `{"nodeId":"node%d","leader":{"id":"node%d","httpAddr":%q},"raft":{"state":"Follower","term":3}}`, i+1, *leader+1, addr)
				return
			}
			_, _ = fmt.Fprintf(w, "%d", i)
		})
	}
	return nodes
}

func servedBy(t *testing.T, c *Client, opts ...Option) string {
	t.Helper()
	item, _, err := c.Get(context.Background(), "k", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return string(item.Value)
}

func TestLeaderPreference(t *testing.T) {
	leader := 2
	nodes := cluster(t, 3, &leader)
	c, clock := newTestClient(t, Config{}, nodes[0].URL, nodes[1].URL, nodes[2].URL)
	// Eventual reads stick to one node (Rand 0: the first).
	for range 3 {
		if got := servedBy(t, c); got != "0" {
			t.Fatalf("eventual read served by %s, want the sticky node 0", got)
		}
	}
	// Strong reads go to the leader, learned once per TTL.
	for range 3 {
		if got := servedBy(t, c, WithConsistency(lattice.Strong)); got != "2" {
			t.Fatalf("strong read served by %s, want the leader 2", got)
		}
	}
	if got := nodes[0].hits.Load(); got != 4 { // 3 reads + 1 status
		t.Errorf("node 0 hits = %d, want 4 (one status look-up)", got)
	}
	// Leadership moves: after the TTL the client asks again.
	leader = 1
	clock.Advance(6 * time.Second)
	if got := servedBy(t, c, WithConsistency(lattice.Strong)); got != "1" {
		t.Errorf("after the TTL: served by %s, want the new leader 1", got)
	}
	// The leader fails: the request fails over at once, and the leader is looked up again.
	nodes[1].set(status(http.StatusServiceUnavailable, "ERR_STATE_GET", "shutting down"))
	if got := servedBy(t, c, WithConsistency(lattice.Strong)); got == "1" {
		t.Errorf("served by the failed leader")
	}
	leader = 0
	if got := servedBy(t, c, WithConsistency(lattice.Strong)); got != "0" {
		t.Errorf("after the leader failed: served by %s, want the new leader 0", got)
	}
	// Status called by the application also teaches the client the leader.
	leader = 2
	if _, err := c.Status(context.Background(), WithEndpoint(nodes[2].URL)); err != nil {
		t.Fatal(err)
	}
	if got := servedBy(t, c, WithConsistency(lattice.Strong)); got != "2" {
		t.Errorf("after Status: served by %s, want 2", got)
	}
}

func TestStickyMovesOnlyOnFailure(t *testing.T) {
	leader := 0
	nodes := cluster(t, 3, &leader)
	c, _ := newTestClient(t, Config{Rand: func() float64 { return 0.5 }}, nodes[0].URL, nodes[1].URL, nodes[2].URL)
	if got := servedBy(t, c); got != "1" {
		t.Fatalf("Rand 0.5 of 3 endpoints: served by %s, want 1", got)
	}
	nodes[1].set(status(http.StatusBadGateway, "", "bad gateway"))
	if got := servedBy(t, c); got != "2" {
		t.Fatalf("after node 1 failed: served by %s, want the next one, 2", got)
	}
	nodes[1].set(value("1"))
	for range 3 {
		if got := servedBy(t, c); got != "2" {
			t.Fatalf("served by %s, want to stay on 2", got)
		}
	}
}

func TestPinnedEndpointDoesNotFailOver(t *testing.T) {
	a := newServer(t, status(http.StatusServiceUnavailable, "", "down"))
	b := newServer(t, noContent)
	c, _ := newTestClient(t, Config{}, a.URL, b.URL)
	if err := c.Healthz(context.Background(), WithEndpoint(a.URL)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if b.hits.Load() != 0 {
		t.Error("a pinned call failed over")
	}
	if err := c.Healthz(context.Background()); err != nil {
		t.Errorf("unpinned: %v", err)
	}
	if _, err := c.Status(context.Background(), WithEndpoint("ftp://x")); err == nil {
		t.Error("bad pinned endpoint accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Endpoints = []string{"127.0.0.1:3500", "http://127.0.0.1:3501/", "https://h:1"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no endpoints":   func(c *Config) { c.Endpoints = nil },
		"duplicate":      func(c *Config) { c.Endpoints = []string{"127.0.0.1:3500", "http://127.0.0.1:3500"} },
		"path":           func(c *Config) { c.Endpoints = []string{"http://h:1/v1.0"} },
		"scheme":         func(c *Config) { c.Endpoints = []string{"ftp://h:1"} },
		"negative":       func(c *Config) { c.Cooldown = -1 },
		"response bound": func(c *Config) { c.MaxResponseBytes = -1 },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	c, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Endpoints(), ","); got != "http://127.0.0.1:3500,http://127.0.0.1:3501,https://h:1" {
		t.Errorf("endpoints = %s", got)
	}
	// Only the endpoints are required; every other field defaults.
	bare, err := New(Config{Endpoints: []string{"127.0.0.1:3500"}})
	if err != nil {
		t.Fatal(err)
	}
	if bare.cfg.Store != DefaultStore || bare.cfg.TryTimeout != 10*time.Second ||
		bare.cfg.Cooldown != 5*time.Second || bare.cfg.LeaderTTL != 5*time.Second || bare.cfg.MaxResponseBytes != 64<<20 {
		t.Errorf("defaults not applied: %+v", bare.cfg)
	}
}
