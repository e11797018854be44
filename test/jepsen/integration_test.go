package jepsen

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helper process: the test binary re-executed inside a namespace (or as another user) with
// JEPSEN_HELPER set. Modes: listen (serve a greeting on JEPSEN_HELPER_ADDR until stdin closes),
// dial (exit 0 if a greeting arrives from JEPSEN_HELPER_ADDR within half a second), run (call Run and
// print its error).
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("JEPSEN_HELPER")
	if mode == "" {
		t.Skip("helper process only")
	}
	addr := os.Getenv("JEPSEN_HELPER_ADDR")
	switch mode {
	case "listen":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("ready")
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "hello from %s\n", addr)
				c.Close()
			}
		}()
		_, _ = io.Copy(io.Discard, os.Stdin) // exit when the test closes stdin
		os.Exit(0)
	case "dial":
		if err := greet(addr); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "serve":
		serveFakeNode(flag.Args())
	case "run":
		o := DefaultOptions()
		o.Binary = "/bin/true"
		_, err := Run(context.Background(), o)
		fmt.Println(err)
		os.Exit(0)
	}
	os.Exit(3)
}

// serveFakeNode is a stand-in for `lattice serve`: it listens on --http-addr and proxies every
// request to the fake store of the test process over a unix socket (which crosses network
// namespaces), naming itself in X-Node. With --test-unsafe-local-strong-reads the store serves
// this node's strong reads from a stale snapshot.
func serveFakeNode(args []string) {
	var addr, id string
	unsafe := false
	for i, a := range args {
		switch {
		case a == "--http-addr" && i+1 < len(args):
			addr = args[i+1]
		case a == "--node-id" && i+1 < len(args):
			id = args[i+1]
		case a == "--test-unsafe-local-strong-reads":
			unsafe = true
		}
	}
	sock := os.Getenv("JEPSEN_FAKE_STORE")
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "store"
			pr.Out.Header.Set("X-Node", id)
			if unsafe {
				pr.Out.Header.Set("X-Unsafe-Local-Reads", "1")
			}
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}
	fmt.Println("fake node", id, "on", addr, "unsafe", unsafe)
	fmt.Println((&http.Server{Addr: addr, Handler: proxy}).ListenAndServe())
	os.Exit(1)
}

// greet dials addr and expects the listener's greeting within half a second.
func greet(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "hello from "+addr) {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install -y iproute2 nftables)", tool)
		}
	}
	if testing.Short() {
		t.Skip("-short")
	}
}

// helperIn starts the test binary in mode inside namespace ns.
func helperIn(t *testing.T, ns, mode, addr string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "JEPSEN_HELPER="+mode, "JEPSEN_HELPER_ADDR="+addr)
	return cmd
}

// TestNetworkIntegration builds a real 3-node network, checks connectivity with a TCP listener
// inside a namespace, applies and heals a partition and packet loss, and checks that cleanup
// (teardown, and the leftover scan of a later run) leaves nothing behind.
func TestNetworkIntegration(t *testing.T) {
	requireRoot(t)
	const prefix = "ltjt-"
	ctx := context.Background()
	unlock, err := lockRun(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	r := execRunner{log: discardLogger()}
	if err := cleanupPrefix(ctx, r, prefix); err != nil {
		t.Fatal(err)
	}
	nw := newNetwork(prefix, netip.MustParsePrefix("10.78.0.0/24"), 3, r)
	if err := nw.setup(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cleanupPrefix(context.Background(), r, prefix) })

	// Listeners in n1 and n2.
	var stdins []io.WriteCloser
	for i := 0; i < 2; i++ {
		cmd := helperIn(t, nw.nodeNS(i), "listen", nw.addrs[i].String()+":9000")
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stdins = append(stdins, in)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			t.Fatalf("listener in %s: %q %v", nw.nodeNS(i), line, err)
		}
		go func() { _ = cmd.Wait() }()
	}
	n1, n2 := nw.addrs[0].String()+":9000", nw.addrs[1].String()+":9000"
	fromN3 := func(addr string) error {
		out, err := helperIn(t, nw.nodeNS(2), "dial", addr).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	expect := func(what string, err error, ok bool) {
		t.Helper()
		if (err == nil) != ok {
			t.Fatalf("%s: err=%v, want reachable=%v", what, err, ok)
		}
	}

	expect("root -> n1", greet(n1), true)
	expect("n3 -> n1", fromN3(n1), true)

	if err := nw.apply(ctx, netFaults{Partition: isolateGrudge(3, 0)}); err != nil {
		t.Fatal(err)
	}
	expect("n3 -> n1 while n1 is isolated", fromN3(n1), false)
	expect("n3 -> n2 while n1 is isolated", fromN3(n2), true)
	expect("root -> n1 while n1 is isolated (clients are never cut off)", greet(n1), true)

	if err := nw.heal(ctx); err != nil {
		t.Fatal(err)
	}
	expect("n3 -> n1 after heal", fromN3(n1), true)

	if err := nw.apply(ctx, netFaults{Loss: []link{{1, 2}}, LossPercent: 100}); err != nil {
		t.Fatal(err)
	}
	expect("n3 -> n2 with 100% loss on n2-n3", fromN3(n2), false)
	expect("n3 -> n1 with loss only on n2-n3", fromN3(n1), true)
	if err := nw.heal(ctx); err != nil {
		t.Fatal(err)
	}
	expect("n3 -> n2 after heal", fromN3(n2), true)

	// A later run finds the network and the processes in it (as after a crash) and removes them.
	if err := cleanupPrefix(ctx, r, prefix); err != nil {
		t.Fatal(err)
	}
	ns, links, err := leftovers(ctx, r, prefix)
	if err != nil || len(ns)+len(links) > 0 {
		t.Fatalf("left behind: %v %v %v", ns, links, err)
	}
	out, _ := exec.Command("ip", "-o", "addr", "show").CombinedOutput()
	if strings.Contains(string(out), "10.78.0.") {
		t.Fatalf("address left in the root namespace:\n%s", out)
	}
	expect("root -> n1 after cleanup", greet(n1), false)
	for _, in := range stdins {
		in.Close()
	}
}

// TestRunRefusesWithoutRoot runs Run as an unprivileged user and checks the message.
func TestRunRefusesWithoutRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		o := DefaultOptions()
		o.Binary = "/bin/true"
		_, err := Run(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "must run as root") {
			t.Fatalf("err = %v", err)
		}
		return
	}
	// A copy of the test binary that the unprivileged user can execute.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ltj-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(self)
	if err == nil {
		err = os.WriteFile(dir+"/jepsen.test", b, 0o755)
	}
	if err != nil || os.Chmod(dir, 0o755) != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dir+"/jepsen.test", "-test.run=^TestHelperProcess$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "JEPSEN_HELPER=run")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("cannot run the test binary as nobody: %v %s", err, out)
	}
	if !strings.Contains(string(out), "jepsen: must run as root") {
		t.Fatalf("output %q", out)
	}
}

// TestRunWithFakeBinary runs Run end to end as root, with the test binary standing in for
// `lattice serve` (a proxy to one in-memory store, see serveFakeNode): real namespaces, processes,
// every nemesis, every workload, the final phase, the checks and the results folder. A correct
// store passes; with --test-unsafe-local-strong-reads the register and counter checks fail.
func TestRunWithFakeBinary(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "store.sock")
	bin := filepath.Join(dir, "lattice")
	script := fmt.Sprintf("#!/bin/sh\nJEPSEN_HELPER=serve JEPSEN_FAKE_STORE=%s exec %s -test.run='^TestHelperProcess$' -- \"$@\"\n", sock, self)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// run runs the suite with o against a fresh store; a cancelled ctx must end it with an error.
	run := func(t *testing.T, ctx context.Context, o Options) Result {
		t.Helper()
		store := newFakeStore(o.Nodes, fakeBugs{})
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: store}
		go srv.Serve(ln)
		defer srv.Close()
		o.Binary, o.Prefix, o.Subnet = bin, "ltjf-", "10.79.0.0/24"
		o.ResultsDir, o.Progress = t.TempDir(), testWriter{t}
		o.RequestTimeout, o.StartTimeout, o.ConvergeTimeout, o.CheckTimeout = time.Second, 20*time.Second, 2*time.Second, 4*time.Second
		o.NemesisMin, o.NemesisMax, o.ProgressInterval = time.Second, 2*time.Second, 2*time.Second
		res, err := Run(ctx, o)
		if (ctx.Err() != nil) != (err != nil) {
			t.Fatalf("run: %v", err)
		}
		ns, links, err := leftovers(context.Background(), execRunner{log: discardLogger()}, o.Prefix)
		if err != nil || len(ns)+len(links) > 0 {
			t.Fatalf("left behind: %v %v %v", ns, links, err)
		}
		if _, err := os.Stat(filepath.Join(os.TempDir(), "lattice-jepsen-"+o.Prefix+"lock")); err == nil {
			t.Error("lock file left behind")
		}
		return res
	}

	t.Run("correct", func(t *testing.T) {
		o := DefaultOptions()
		o.Duration, o.Rate, o.Nemeses = 7*time.Second, 150, []string{"all"}
		res := run(t, context.Background(), o)
		for name, c := range res.Checkers {
			if c.Valid != Valid {
				t.Errorf("%s: %s %+v", name, c, c.Anomalies)
			}
		}
		kinds := map[FaultKind]bool{}
		for _, f := range res.Faults {
			kinds[f.Kind] = true
			if f.Error != "" {
				t.Errorf("fault %s failed: %s", f.Kind, f.Error)
			}
		}
		if len(kinds) < 3 {
			t.Errorf("only %v faults in 7 s", kinds)
		}
		for _, f := range []string{"history.jsonl", "nemesis.jsonl", "results.json", latencyPlot, ratePlot, "nodes/n1/node.log"} {
			if _, err := os.Stat(filepath.Join(res.Dir, f)); err != nil {
				t.Errorf("missing %s", f)
			}
		}
		if _, err := os.Stat(filepath.Join(res.Dir, "nodes/n1/data")); err == nil {
			t.Error("data kept although the run was valid")
		}
	})
	t.Run("unsafe local strong reads", func(t *testing.T) {
		o := DefaultOptions()
		o.Duration, o.Rate, o.Nemeses = 3*time.Second, 300, []string{"none"}
		o.Workloads = []string{WorkloadRegister, WorkloadCounter}
		o.ServeArgs = []string{"--test-unsafe-local-strong-reads"}
		res := run(t, context.Background(), o)
		if res.Valid != Invalid || res.Checkers[WorkloadRegister].Valid != Invalid {
			t.Fatalf("valid %s, register %s", res.Valid, res.Checkers[WorkloadRegister])
		}
		if _, err := os.Stat(filepath.Join(res.Dir, "register.html")); err != nil {
			t.Error("no register.html")
		}
		if _, err := os.Stat(filepath.Join(res.Dir, "nodes/n1/data")); err != nil {
			t.Error("data removed although the run failed")
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		o := DefaultOptions()
		o.Duration, o.Nemeses = time.Minute, []string{"pause"}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second) // as a Ctrl-C would
		defer cancel()
		res := run(t, ctx, o)
		if !res.Interrupted || res.Valid != Unknown {
			t.Fatalf("interrupted %v valid %s", res.Interrupted, res.Valid)
		}
		for _, f := range []string{"history.jsonl", "results.json"} {
			if _, err := os.Stat(filepath.Join(res.Dir, f)); err != nil {
				t.Errorf("missing %s", f)
			}
		}
	})
}

// TestSmokeRun runs the whole suite briefly against a real binary: LATTICE_BIN=/path/to/lattice
// go test -run TestSmokeRun ./test/jepsen/ (as root). CI does not set LATTICE_BIN: it runs the
// longer smoke configuration through the command instead (make jepsen-smoke).
func TestSmokeRun(t *testing.T) {
	requireRoot(t)
	bin := os.Getenv("LATTICE_BIN")
	if bin == "" {
		t.Skip("set LATTICE_BIN to a built lattice binary")
	}
	o := DefaultOptions()
	o.Binary = bin
	o.Duration = 20 * time.Second
	o.Nemeses = []string{"partition", "kill"}
	o.ResultsDir = t.TempDir()
	o.Progress = testWriter{t}
	if d := os.Getenv("JEPSEN_RESULTS"); d != "" {
		o.ResultsDir = d
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v (results in %s)", err, res.Dir)
	}
	for name, c := range res.Checkers {
		t.Logf("%s: %s", name, c)
	}
	if res.Valid != Valid {
		t.Fatalf("valid = %s; results in %s", res.Valid, res.Dir)
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
