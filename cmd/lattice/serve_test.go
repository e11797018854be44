package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveArgs is a serve command line on free ports in a temporary directory.
func serveArgs(t *testing.T, extra ...string) (args []string, httpAddr string) {
	base := freePorts(t, 3)
	httpAddr = localAddr(base)
	args = append([]string{"serve", "--node-id", "n1",
		"--http-addr", httpAddr, "--gossip-addr", localAddr(base + 1), "--raft-addr", localAddr(base + 2),
		"--data-dir", filepath.Join(t.TempDir(), "data")}, extra...)
	return args, httpAddr
}

// startServe runs `lattice serve` in the background and returns its exit code channel.
func startServe(t *testing.T, ta *testApp, args []string) <-chan int {
	code := make(chan int, 1)
	go func() { code <- run(args, ta.app) }()
	return code
}

func healthy(addr string) bool {
	return checkHealth(context.Background(), "http://"+addr+"/v1.0/healthz") == nil
}

func waitExit(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return")
		return -1
	}
}

func TestServeRunsNodeAndStopsGracefully(t *testing.T) {
	factory, built := fakeFactory(nil)
	ta := newTestApp(factory)
	args, httpAddr := serveArgs(t)
	code := startServe(t, ta, args)
	waitFor(t, 10*time.Second, "healthz", func() bool { return healthy(httpAddr) })

	ta.sigs <- syscall.SIGTERM
	if c := waitExit(t, code); c != 0 {
		t.Fatalf("exit %d, stderr:\n%s", c, ta.stderr)
	}
	nodes := built()
	if len(nodes) != 1 {
		t.Fatalf("built %d nodes", len(nodes))
	}
	if started, shutdown := nodes[0].state(); !started || !shutdown {
		t.Fatalf("started %v, shut down %v", started, shutdown)
	}
	if err := tryListen("tcp", httpAddr); err != nil {
		t.Fatalf("http port still taken after stop: %v", err)
	}
	logs := ta.stderr.String()
	for _, w := range []string{"lattice starting", "version=", "node_id=n1", "http_addr=" + httpAddr,
		"gossip_addr=", "raft_addr=", "signal=terminated", "lattice stopped"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
}

func TestServeJSONLogs(t *testing.T) {
	factory, _ := fakeFactory(nil)
	ta := newTestApp(factory)
	args, httpAddr := serveArgs(t, "--log-format", "json")
	code := startServe(t, ta, args)
	waitFor(t, 10*time.Second, "healthz", func() bool { return healthy(httpAddr) })
	ta.sigs <- syscall.SIGINT
	if c := waitExit(t, code); c != 0 {
		t.Fatalf("exit %d, stderr:\n%s", c, ta.stderr)
	}
	first, _, _ := strings.Cut(ta.stderr.String(), "\n")
	var line map[string]any
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("first log line is not JSON: %v\n%s", err, first)
	}
	if line["msg"] != "lattice starting" || line["node_id"] != "n1" || line["http_addr"] != httpAddr ||
		line["version"] != versionString() || line["gossip_addr"] == nil || line["raft_addr"] == nil {
		t.Fatalf("startup line: %v", line)
	}
}

func TestServeSecondSignalExitsAtOnce(t *testing.T) {
	for _, c := range []struct {
		second syscall.Signal
		code   int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(c.second.String(), func(t *testing.T) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			factory, _ := fakeFactory(func(n *fakeNode) { n.release = release })
			ta := newTestApp(factory)
			args, httpAddr := serveArgs(t, "--shutdown-timeout", "1h")
			code := startServe(t, ta, args)
			waitFor(t, 10*time.Second, "healthz", func() bool { return healthy(httpAddr) })
			ta.sigs <- syscall.SIGTERM
			waitFor(t, 10*time.Second, "shutdown to hang", func() bool {
				return strings.Contains(ta.stderr.String(), "hanging in shutdown")
			})
			ta.sigs <- c.second
			if got := waitExit(t, code); got != c.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", got, c.code, ta.stderr)
			}
			if !strings.Contains(ta.stderr.String(), "exiting at once") {
				t.Errorf("no message for the second signal:\n%s", ta.stderr)
			}
		})
	}
}

func TestServeGivesUpAfterShutdownTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	factory, _ := fakeFactory(func(n *fakeNode) { n.release = release })
	ta := newTestApp(factory)
	args, httpAddr := serveArgs(t, "--shutdown-timeout", "100ms")
	code := startServe(t, ta, args)
	waitFor(t, 10*time.Second, "healthz", func() bool { return healthy(httpAddr) })
	start := time.Now()
	ta.sigs <- syscall.SIGTERM
	if c := waitExit(t, code); c != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", c, ta.stderr)
	}
	if !strings.Contains(ta.stderr.String(), "did not finish within shutdown-timeout 100ms") {
		t.Fatalf("stderr:\n%s", ta.stderr)
	}
	if d := time.Since(start); d > 100*time.Millisecond+stopGrace+5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestServeRejectsBadConfigBeforeStarting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	factory, built := fakeFactory(nil)
	ta := newTestApp(factory)
	args := []string{"serve", "--http-addr", ln.Addr().String(), "--gossip-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--join", "nohostport", "--bootstrap-expect", "0", "--log-format", "xml"}
	if c := run(args, ta.app); c != 1 {
		t.Fatalf("exit %d, want 1", c)
	}
	out := ta.stderr.String()
	for _, w := range []string{"invalid configuration", "http-addr", "already in use", `join "nohostport"`, "bootstrap-expect 0", `log-format "xml"`} {
		if !strings.Contains(out, w) {
			t.Errorf("stderr lacks %q:\n%s", w, out)
		}
	}
	if len(built()) != 0 {
		t.Fatal("a node was built from an invalid configuration")
	}
}

func TestServeReportsNodeFailure(t *testing.T) {
	occupied, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer occupied.Close()
	// The fake binds its Raft address when built; taking it between Validate
	// and the build makes the build fail.
	factory, built := fakeFactory(func(n *fakeNode) { n.cfg.RaftAddr = occupied.Addr().String() })
	ta := newTestApp(factory)
	args, _ := serveArgs(t)
	if c := run(args, ta.app); c != 1 {
		t.Fatalf("exit %d, want 1", c)
	}
	if !strings.Contains(ta.stderr.String(), "lattice: serve: listen tcp "+occupied.Addr().String()) {
		t.Fatalf("stderr:\n%s", ta.stderr)
	}
	if len(built()) != 0 {
		t.Fatal("a node that failed to build was returned")
	}
}

func TestServeSignalWhileStarting(t *testing.T) {
	building := make(chan struct{})
	proceed := make(chan struct{})
	inner, built := fakeFactory(nil)
	slow := func(cfg ServeConfig, logger *slog.Logger) (Node, error) {
		close(building)
		<-proceed
		return inner(cfg, logger)
	}
	ta := newTestApp(slow)
	args, _ := serveArgs(t)
	code := startServe(t, ta, args)
	<-building
	ta.sigs <- syscall.SIGTERM
	waitFor(t, 10*time.Second, "the signal to be seen", func() bool {
		return strings.Contains(ta.stderr.String(), "signal while starting")
	})
	close(proceed)
	if c := waitExit(t, code); c != 0 {
		t.Fatalf("exit %d, stderr:\n%s", c, ta.stderr)
	}
	if started, shutdown := built()[0].state(); !started || !shutdown {
		t.Fatalf("started %v, shut down %v: a node built after the signal must be stopped", started, shutdown)
	}
}

func TestServeRootVersion(t *testing.T) {
	ta := newTestApp(nil)
	if c := run([]string{"--version"}, ta.app); c != 0 {
		t.Fatalf("exit %d", c)
	}
	if got := ta.stdout.String(); !strings.HasPrefix(got, "lattice "+versionString()+" (go") {
		t.Fatalf("version output %q", got)
	}
}

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no quorum", http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(mux)
	closed.Close()
	cases := []struct {
		url  string
		code int
		want string
	}{
		{srv.URL + "/ok", 0, "healthy"},
		{srv.URL + "/down", 1, "503 Service Unavailable no quorum"},
		{srv.URL + "/missing", 1, "404"},
		{closed.URL + "/ok", 1, "connection refused"},
	}
	for _, c := range cases {
		ta := newTestApp(nil)
		if got := run([]string{"healthcheck", "--url", c.url, "--timeout", "2s"}, ta.app); got != c.code {
			t.Errorf("%s: exit %d, want %d", c.url, got, c.code)
		}
		if out := ta.stdout.String() + ta.stderr.String(); !strings.Contains(out, c.want) {
			t.Errorf("%s: output %q lacks %q", c.url, out, c.want)
		}
	}
}
