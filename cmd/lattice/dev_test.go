package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lattice-state/lattice/internal/syncbuf"
)

// devHarness runs runDev in the background with the test binary as the node
// binary: TestMain turns the children into fake nodes.
type devHarness struct {
	t              *testing.T
	cfg            devConfig
	stdout, stderr *syncbuf.Buffer
	sigs           chan os.Signal
	done           chan error
	finished       bool // runDev's result was received
	tmp            string
}

// newDevHarness lays out a dev cluster on free ports; start runs it.
func newDevHarness(t *testing.T, cfg devConfig) *devHarness {
	t.Helper()
	base := freePorts(t, 3*devNodes)
	cfg.HTTPPort, cfg.GossipPort, cfg.RaftPort = base, base+devNodes, base+2*devNodes
	h := &devHarness{t: t, cfg: cfg, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{},
		sigs: make(chan os.Signal, 4), done: make(chan error, 1), tmp: t.TempDir()}
	t.Setenv("TMPDIR", h.tmp) // the dev data directory goes here
	return h
}

// start runs the cluster in the background; env reaches the children.
func (h *devHarness) start(env ...string) {
	h.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		h.t.Fatal(err)
	}
	childEnv := append(os.Environ(), fakeNodeEnv+"=1")
	childEnv = append(childEnv, env...)
	go func() {
		h.done <- runDev(h.cfg, devEnv{exe: exe, env: childEnv, stdout: h.stdout, stderr: h.stderr, sigs: h.sigs})
	}()
	// A test that failed before stopping the cluster kills it.
	h.t.Cleanup(func() {
		if !h.finished {
			h.sigs <- syscall.SIGINT
			h.sigs <- syscall.SIGINT
			<-h.done
		}
	})
}

// startDev starts a dev cluster on free ports.
func startDev(t *testing.T, cfg devConfig, env ...string) *devHarness {
	h := newDevHarness(t, cfg)
	h.start(env...)
	return h
}

func (h *devHarness) output() string { return h.stdout.String() + h.stderr.String() }

func (h *devHarness) waitOutput(what string, timeout time.Duration) {
	h.t.Helper()
	waitFor(h.t, timeout, what, func() bool { return strings.Contains(h.output(), what) })
}

// wait returns runDev's result.
func (h *devHarness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.finished = true
		return err
	case <-time.After(90 * time.Second):
		h.t.Fatalf("runDev did not return; output:\n%s", h.output())
		return nil
	}
}

var startLine = regexp.MustCompile(`(node\d)\s*\| .*lattice starting.* pid=(\d+)`)

// pids are the children that logged their start, by node name.
func (h *devHarness) pids() map[string]int {
	out := map[string]int{}
	for _, m := range startLine.FindAllStringSubmatch(h.stderr.String(), -1) {
		pid, _ := strconv.Atoi(m[2])
		out[m[1]] = pid
	}
	return out
}

// checkNothingLeft asserts that no child survives, every port is free and the
// temporary data directory is gone.
func (h *devHarness) checkNothingLeft(pids map[string]int) {
	h.t.Helper()
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			h.t.Errorf("%s (pid %d) still exists: kill 0: %v", name, pid, err)
		}
	}
	for i := range devNodes {
		for _, p := range []int{h.cfg.HTTPPort + i, h.cfg.GossipPort + i, h.cfg.RaftPort + i} {
			if err := tryListen("tcp", net.JoinHostPort(devHost, strconv.Itoa(p))); err != nil {
				h.t.Errorf("port %d still taken: %v", p, err)
			}
		}
	}
	if left, _ := os.ReadDir(h.tmp); len(left) != 0 {
		h.t.Errorf("temporary data left behind: %v", left)
	}
}

func TestDevStartsThreeNodesWaitsAndStopsCleanly(t *testing.T) {
	h := startDev(t, defaultDevConfig())
	h.waitOutput("Press Ctrl-C to stop", 60*time.Second)

	// Ready means every node is healthy and they agree on a leader.
	cfg := h.cfg
	for i := range devNodes {
		addr := net.JoinHostPort(devHost, strconv.Itoa(cfg.HTTPPort+i))
		if !healthy(addr) {
			t.Errorf("node%d not healthy after the ready banner", i+1)
		}
		if !strings.Contains(h.stdout.String(), "http://"+addr) {
			t.Errorf("banner does not list %s", addr)
		}
	}
	out := h.stdout.String()
	for _, w := range []string{"leader node1", "?consistency=strong", "/v1.0/crdt/statestore/", "removed on exit"} {
		if !strings.Contains(out, w) {
			t.Errorf("banner lacks %q:\n%s", w, out)
		}
	}
	pids := h.pids()
	if len(pids) != devNodes {
		t.Fatalf("want %d children, saw %v in:\n%s", devNodes, pids, h.stderr)
	}
	// Each node gets an equal share of the CPUs unless GOMAXPROCS is set.
	want := "GOMAXPROCS=" + strconv.Itoa(max(1, runtime.NumCPU()/devNodes))
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		want = "GOMAXPROCS=" + v
	}
	for name, pid := range pids {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Logf("not checking the children's environment: %v", err)
			break
		}
		vars := strings.Split(string(environ), "\x00")
		if !slices.Contains(vars, want) {
			t.Errorf("%s runs without %s", name, want)
		}
		if !slices.ContainsFunc(vars, func(kv string) bool {
			return strings.HasPrefix(kv, "GODEBUG=") && strings.Contains(kv, "schedtrace=")
		}) {
			t.Errorf("%s runs without the sysmon setting of internal/procenv", name)
		}
	}
	// Each child's output carries its name; each joined the other two.
	for i := range devNodes {
		if !regexp.MustCompile(`node` + strconv.Itoa(i+1) + `\s*\| .*fake node: cluster formed.* members=3`).MatchString(h.stderr.String()) {
			t.Errorf("node%d: no prefixed 'cluster formed members=3' line", i+1)
		}
	}

	h.sigs <- syscall.SIGINT
	if err := h.wait(); err != nil {
		t.Fatalf("runDev: %v\n%s", err, h.output())
	}
	for i := range devNodes {
		if !strings.Contains(h.stdout.String(), "lattice dev: node"+strconv.Itoa(i+1)+" stopped") {
			t.Errorf("node%d did not stop gracefully:\n%s", i+1, h.output())
		}
	}
	h.checkNothingLeft(pids)
}

func TestDevGivesUpWhenNotReady(t *testing.T) {
	cfg := defaultDevConfig()
	cfg.ReadyTimeout = 5 * time.Second
	h := startDev(t, cfg, fakeNeverReadyEnv+"=node2")
	err := h.wait()
	if err == nil || !strings.Contains(err.Error(), "not ready within 5s") || !strings.Contains(err.Error(), "node2") {
		t.Fatalf("runDev: %v\n%s", err, h.output())
	}
	if strings.Contains(h.stdout.String(), "is ready") {
		t.Fatal("printed the ready banner for a cluster without a leader")
	}
	h.checkNothingLeft(h.pids())
}

func TestDevReportsNodeThatCannotStart(t *testing.T) {
	h := newDevHarness(t, defaultDevConfig())
	// Take node3's HTTP port: its serve validation must refuse to start.
	taken := localAddr(h.cfg.HTTPPort + 2)
	ln, err := net.Listen("tcp", taken)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h.start()
	err = h.wait()
	if err == nil || !strings.Contains(err.Error(), "node3 exited: exit status 1 before the cluster was ready") {
		t.Fatalf("runDev: %v\n%s", err, h.output())
	}
	if !regexp.MustCompile(`node3\s*\| .*http-addr ` + regexp.QuoteMeta(taken) + `: address already in use`).MatchString(h.stderr.String()) {
		t.Errorf("node3's reason is not shown, prefixed:\n%s", h.stderr)
	}
	ln.Close()
	h.checkNothingLeft(h.pids())
}

func TestDevKeepsRunningWhenANodeDies(t *testing.T) {
	h := startDev(t, defaultDevConfig())
	h.waitOutput("Press Ctrl-C to stop", 60*time.Second)
	pids := h.pids()
	if err := syscall.Kill(pids["node2"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitOutput("lattice dev: node2 exited: signal: killed; 2 nodes left", 10*time.Second)
	h.sigs <- syscall.SIGINT
	if err := h.wait(); err != nil {
		t.Fatalf("runDev: %v\n%s", err, h.output())
	}
	out := h.stdout.String()
	if !strings.Contains(out, "stopping 2 nodes") || !strings.Contains(out, "node1 stopped") || !strings.Contains(out, "node3 stopped") {
		t.Errorf("the remaining nodes did not stop gracefully:\n%s", out)
	}
	h.checkNothingLeft(pids)
}

func TestDevSecondInterruptKillsAtOnce(t *testing.T) {
	cfg := defaultDevConfig()
	cfg.StopTimeout = time.Hour
	h := startDev(t, cfg, fakeHangStopEnv+"=1", "LATTICE_SHUTDOWN_TIMEOUT=1h")
	h.waitOutput("Press Ctrl-C to stop", 60*time.Second)
	pids := h.pids()
	h.sigs <- syscall.SIGINT
	waitFor(t, 20*time.Second, "every node hanging in shutdown", func() bool {
		return strings.Count(h.stderr.String(), "hanging in shutdown") == devNodes
	})
	start := time.Now()
	h.sigs <- syscall.SIGINT
	err := h.wait()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 130 {
		t.Fatalf("runDev: %v, want exit code 130\n%s", err, h.output())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("second interrupt took %v", d)
	}
	if !strings.Contains(h.stdout.String(), "second interrupt; killing node1, node2, node3") {
		t.Errorf("output:\n%s", h.stdout)
	}
	h.checkNothingLeft(pids)
}

func TestDevKillsNodesAfterStopTimeout(t *testing.T) {
	cfg := defaultDevConfig()
	cfg.StopTimeout = 500 * time.Millisecond
	h := startDev(t, cfg, fakeHangStopEnv+"=1", "LATTICE_SHUTDOWN_TIMEOUT=1h")
	h.waitOutput("Press Ctrl-C to stop", 60*time.Second)
	pids := h.pids()
	h.sigs <- syscall.SIGTERM
	if err := h.wait(); err != nil {
		t.Fatalf("runDev: %v\n%s", err, h.output())
	}
	out := h.stdout.String()
	if !strings.Contains(out, "still running after 500ms; killing") || strings.Count(out, "exited: signal: killed") != devNodes {
		t.Errorf("output:\n%s", out)
	}
	h.checkNothingLeft(pids)
}

func TestDevWithDataDirAndAPIToken(t *testing.T) {
	cfg := defaultDevConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "dev")
	// The fake nodes refuse /v1.0/cluster/status without the token, so the
	// cluster becomes ready only if the probes send it.
	h := startDev(t, cfg, "LATTICE_API_TOKEN=s3cret")
	h.waitOutput("Press Ctrl-C to stop", 60*time.Second)
	if !strings.Contains(h.stdout.String(), `curl -H "dapr-api-token: $LATTICE_API_TOKEN" `) {
		t.Errorf("banner curl lines lack the token header:\n%s", h.stdout)
	}
	if !strings.Contains(h.stdout.String(), cfg.DataDir+" (kept on exit)") {
		t.Errorf("banner does not name the kept data dir:\n%s", h.stdout)
	}
	pids := h.pids()
	h.sigs <- syscall.SIGINT
	if err := h.wait(); err != nil {
		t.Fatalf("runDev: %v", err)
	}
	h.checkNothingLeft(pids)
	for i := range devNodes {
		if fi, err := os.Stat(filepath.Join(cfg.DataDir, "node"+strconv.Itoa(i+1))); err != nil || !fi.IsDir() {
			t.Errorf("node%d data dir not kept: %v", i+1, err)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var out syncbuf.Buffer
	con := &console{out: &out, errOut: &out}
	p := &prefixWriter{con: con, w: &out, prefix: "n1 | "}
	for _, chunk := range []string{"one\ntw", "o\n", "three", "\nfour"} {
		if _, err := p.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	p.Flush()
	want := "n1 | one\nn1 | two\nn1 | three\nn1 | four\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}
