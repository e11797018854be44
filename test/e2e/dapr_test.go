package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/lattice-state/lattice/test/cluster"
)

type resp struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, body any, header map[string]string) resp {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := cluster.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: string(data)}
}

type item map[string]any

func state(c *cluster.Cluster, i int) string { return c.Members[i].URL() + "/v1.0/state/statestore" }

// The flows of the Dapr state-management how-to (shared/seeds 000, 001):
// strong save and get, read the ETag, first-write save with it, the retry
// loop on a version mismatch, delete with If-Match.
func TestDaprSeedFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3)

	// Save with strong consistency on node 1.
	r := do(t, http.MethodPost, state(c, 0), []item{{"key": "k1", "value": "Some Data", "options": item{"consistency": "strong"}}}, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("strong save: %d %s", r.status, r.body)
	}
	// Get with strong consistency (as a header, like the seed) on every node.
	var etag string
	for i := range 3 {
		r = do(t, http.MethodGet, state(c, i)+"/k1", nil, map[string]string{"consistency": "strong"})
		if r.status != http.StatusOK || r.body != `"Some Data"` {
			t.Fatalf("strong get on node %d: %d %q", i, r.status, r.body)
		}
		if e := r.header.Get("ETag"); e == "" || (etag != "" && e != etag) {
			t.Fatalf("etag on node %d = %q (node 0 had %q)", i, e, etag)
		} else {
			etag = e
		}
	}
	// First-write save with that etag (the seed's flow) succeeds once...
	newState := []item{{"key": "k1", "value": "New Data", "etag": etag, "options": item{"concurrency": "first-write"}}}
	if r = do(t, http.MethodPost, state(c, 1), newState, nil); r.status != http.StatusNoContent {
		t.Fatalf("first-write save with the current etag: %d %s", r.status, r.body)
	}
	// ...and the same etag is stale now: 409.
	if r = do(t, http.MethodPost, state(c, 2), newState, nil); r.status != http.StatusConflict {
		t.Fatalf("save with a stale etag: %d %s, want 409", r.status, r.body)
	}
	// First-write without an etag on an existing key: 409 (Dapr's in-memory store).
	if r = do(t, http.MethodPost, state(c, 0), []item{{"key": "k1", "value": 1, "options": item{"concurrency": "first-write"}}}, nil); r.status != http.StatusConflict {
		t.Fatalf("first-write on an existing key: %d %s, want 409", r.status, r.body)
	}

	// The retry loop on a version mismatch, from every node at once: each
	// client adds its share to a counter kept in a register, with
	// read-ETag-then-save until the save succeeds. No update is lost.
	if r = do(t, http.MethodPost, state(c, 0), []item{{"key": "total", "value": 0, "options": item{"consistency": "strong"}}}, nil); r.status != http.StatusNoContent {
		t.Fatalf("init total: %d %s", r.status, r.body)
	}
	const perClient = 10
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perClient {
				for attempt := 0; ; attempt++ {
					if attempt > 200 {
						t.Errorf("node %d: no success after 200 attempts", i)
						return
					}
					g := do(t, http.MethodGet, state(c, i)+"/total", nil, map[string]string{"concurrency": "first-write"})
					if g.status == http.StatusNoContent {
						continue // an eventual read may not have seen the strong write yet
					}
					var n int
					if err := json.Unmarshal([]byte(g.body), &n); err != nil {
						t.Errorf("total = %q: %v", g.body, err)
						return
					}
					s := do(t, http.MethodPost, state(c, i), []item{{"key": "total", "value": n + 1, "etag": g.header.Get("ETag"),
						"options": item{"concurrency": "first-write"}}}, nil)
					if s.status == http.StatusNoContent {
						break
					}
					if s.status != http.StatusConflict {
						t.Errorf("save total: %d %s", s.status, s.body)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	r = do(t, http.MethodGet, state(c, 2)+"/total?consistency=strong", nil, nil)
	if r.body != fmt.Sprint(3*perClient) {
		t.Fatalf("total after the retry loops = %s, want %d", r.body, 3*perClient)
	}

	// Delete with If-Match: a stale etag is refused, the current one deletes.
	if r = do(t, http.MethodDelete, state(c, 1)+"/k1", nil, map[string]string{"If-Match": etag}); r.status != http.StatusConflict {
		t.Fatalf("delete with a stale etag: %d %s, want 409", r.status, r.body)
	}
	cur := do(t, http.MethodGet, state(c, 1)+"/k1?consistency=strong", nil, nil).header.Get("ETag")
	if r = do(t, http.MethodDelete, state(c, 1)+"/k1", nil, map[string]string{"If-Match": cur}); r.status != http.StatusNoContent {
		t.Fatalf("delete with the current etag: %d %s", r.status, r.body)
	}
	for i := range 3 {
		if r = do(t, http.MethodGet, state(c, i)+"/k1?consistency=strong", nil, nil); r.status != http.StatusNoContent {
			t.Fatalf("get after delete on node %d: %d %q, want 204", i, r.status, r.body)
		}
	}
}

// Eventual writes through one node are read on the others; a CRDT counter
// incremented on every node converges; TTLs expire.
func TestEventualAndCRDTOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3)
	if r := do(t, http.MethodPost, state(c, 0), []item{{"key": "e", "value": item{"a": 1}}, {"key": "short", "value": "x", "metadata": item{"ttlInSeconds": "1"}}}, nil); r.status != http.StatusNoContent {
		t.Fatalf("eventual save: %d %s", r.status, r.body)
	}
	for i := range 3 {
		c.Eventually(5*time.Second, "eventual value on every node", func() bool {
			return do(t, http.MethodGet, state(c, i)+"/e", nil, nil).body == `{"a":1}`
		})
	}
	r := do(t, http.MethodGet, state(c, 0)+"/short", nil, nil)
	if r.status != http.StatusOK || r.header.Get("metadata.ttlExpireTime") == "" {
		t.Fatalf("ttl'd value: %d %q, ttlExpireTime=%q", r.status, r.body, r.header.Get("metadata.ttlExpireTime"))
	}
	c.Eventually(5*time.Second, "ttl expiry", func() bool {
		return do(t, http.MethodGet, state(c, 1)+"/short", nil, nil).status == http.StatusNoContent
	})

	for i := range 3 {
		for range 5 {
			u := c.Members[i].URL() + "/v1.0/crdt/statestore/hits"
			if r := do(t, http.MethodPost, u, item{"type": "pncounter", "op": "increment", "amount": 2}, nil); r.status != http.StatusOK {
				t.Fatalf("increment: %d %s", r.status, r.body)
			}
		}
	}
	c.WaitConverged(10 * time.Second)
	for i := range 3 {
		r := do(t, http.MethodGet, c.Members[i].URL()+"/v1.0/crdt/statestore/hits?consistency=strong", nil, nil)
		var v struct {
			Type  string `json:"type"`
			Value int    `json:"value"`
		}
		if err := json.Unmarshal([]byte(r.body), &v); err != nil || v.Value != 30 || v.Type != "pncounter" {
			t.Fatalf("counter on node %d: %d %s (%v)", i, r.status, r.body, err)
		}
		// A plain Dapr GET of a CRDT key returns its JSON view.
		if g := do(t, http.MethodGet, state(c, i)+"/hits", nil, nil); g.body != "30" {
			t.Fatalf("dapr get of the counter on node %d = %q", i, g.body)
		}
	}
	// Wrong type: a register write to a counter key.
	if r := do(t, http.MethodPost, state(c, 0), []item{{"key": "hits", "value": 1}}, nil); r.status != http.StatusConflict {
		t.Fatalf("register save over a counter: %d %s, want 409", r.status, r.body)
	}
}
