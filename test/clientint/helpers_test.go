package clientint

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/internal/syncbuf"
	"github.com/lattice-state/lattice/test/cluster"
)

// counter is an http.RoundTripper that counts the requests the client sends, per method
// and path and per node (host:port), and the 2xx answers per node. Safe for concurrent use.
type counter struct {
	base http.RoundTripper

	mu      sync.Mutex
	byRoute map[string]int // "POST /v1.0/state/statestore"
	byHost  map[string]int
	okHost  map[string]int
	trace   []string // the last traceLen exchanges, for failure reports
}

const traceLen = 100

func newCounter() *counter {
	return &counter{base: http.DefaultTransport.(*http.Transport).Clone(),
		byRoute: map[string]int{}, byHost: map[string]int{}, okHost: map[string]int{}}
}

// RoundTrip counts req and passes it on.
func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.byRoute[req.Method+" "+req.URL.Path]++
	c.byHost[req.URL.Host]++
	c.mu.Unlock()
	resp, err := c.base.RoundTrip(req)
	outcome := fmt.Sprint(err)
	if err == nil {
		outcome = resp.Status
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && resp.StatusCode/100 == 2 {
		c.okHost[req.URL.Host]++
	}
	if len(c.trace) == traceLen {
		c.trace = c.trace[1:]
	}
	c.trace = append(c.trace, fmt.Sprintf("%s %s %s%s: %s", time.Now().Format("15:04:05.000"),
		req.Method, req.URL.Host, req.URL.RequestURI(), outcome))
	return resp, err
}

// route returns how many requests went to method and path (any node).
func (c *counter) route(method, path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byRoute[method+" "+path]
}

// hostCounts returns the requests sent to and the 2xx answers from the node at baseURL.
func (c *counter) hostCounts(baseURL string) (sent, ok int) {
	h := strings.TrimPrefix(baseURL, "http://")
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byHost[h], c.okHost[h]
}

// logBuffer collects a client's slog output. Safe for concurrent use.
type logBuffer struct{ syncbuf.Buffer }

// contains reports whether the log holds s.
func (b *logBuffer) contains(s string) bool { return strings.Contains(b.String(), s) }

// len returns the length of the log so far, to search only what comes after.
func (b *logBuffer) len() int { return len(b.String()) }

// containsSince reports whether the log holds s after its first off bytes.
func (b *logBuffer) containsSince(off int, s string) bool {
	return strings.Contains(b.String()[off:], s)
}

// captureLog returns a debug-level logger writing to a buffer that is dumped into the
// test log if the test fails.
func captureLog(t *testing.T) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	t.Cleanup(func() {
		if out := b.String(); t.Failed() && out != "" {
			t.Logf("client log:\n%s", out)
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// endpoints returns the base URLs of every member of c.
func endpoints(c *cluster.Cluster) []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.URL()
	}
	return out
}

// clientOpts tune the client config of newClient.
type clientOpts func(*client.Config)

// newClient returns a client of every member of c, attached first to the first member
// (Rand 0), that counts its requests and logs into a captured buffer.
func newClient(t *testing.T, c *cluster.Cluster, opts ...clientOpts) (*client.Client, *counter, *logBuffer) {
	t.Helper()
	cnt := newCounter()
	log, buf := captureLog(t)
	cfg := client.DefaultConfig()
	cfg.Endpoints = endpoints(c)
	cfg.HTTPClient = &http.Client{Transport: cnt}
	cfg.Logger = log
	cfg.TryTimeout = 5 * time.Second
	cfg.Cooldown = time.Second
	cfg.Rand = func() float64 { return 0 }
	for _, o := range opts {
		o(&cfg)
	}
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cl.Close()
		if t.Failed() {
			cnt.mu.Lock()
			t.Logf("last requests:\n%s", strings.Join(cnt.trace, "\n"))
			cnt.mu.Unlock()
		}
	})
	return cl, cnt, buf
}

// crash stops member i as a crash would, cut off from its peers before Cluster.Kill
// closes it, for two reasons:
//   - Kill closes the node, whose Raft store hands leadership over before it shuts down:
//     cut off, it cannot, and the others elect a leader as after a real crash;
//   - the partitionable memberlist transport of test/cluster stops draining the packets
//     of the inner transport before shutting that down, so a gossip packet that arrives
//     in between blocks NetTransport.Shutdown, and Kill, forever. Cut off, the node
//     receives no packets.
func crash(c *cluster.Cluster, i int) {
	var others []int
	for j, m := range c.Members {
		if j != i && m.Server != nil {
			others = append(others, j)
		}
	}
	c.Net.Partition(c.IDs(i), c.IDs(others...))
	c.Kill(i)
	c.Net.Heal()
}

// ctxFor returns a context that ends after d or with the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 20 ms until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// skipShort skips cluster tests under -short.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
}
