package main

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lattice-state/lattice/internal/syncbuf"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// testApp is an app whose signals the test sends and whose output it reads.
type testApp struct {
	*app
	stdout, stderr *syncbuf.Buffer
	sigs           chan os.Signal
}

func newTestApp(factory NodeFactory) *testApp {
	ta := &testApp{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, sigs: make(chan os.Signal, 4)}
	ta.app = newApp(ta.stdout, ta.stderr, factory)
	ta.lookupEnv = func(string) (string, bool) { return "", false }
	ta.notify = func() (<-chan os.Signal, func()) { return ta.sigs, func() {} }
	return ta
}

// fakeFactory returns a NodeFactory of fakeNodes and the nodes it built.
func fakeFactory(configure func(*fakeNode)) (NodeFactory, func() []*fakeNode) {
	var mu sync.Mutex
	var built []*fakeNode
	f := func(cfg ServeConfig, logger *slog.Logger) (Node, error) {
		n, err := newFakeNode(cfg, logger, configure)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		built = append(built, n)
		mu.Unlock()
		return n, nil
	}
	return f, func() []*fakeNode {
		mu.Lock()
		defer mu.Unlock()
		return append([]*fakeNode(nil), built...)
	}
}

// freePorts returns the first of n consecutive ports on 127.0.0.1 that are
// free for both TCP and UDP right now.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(40000)
		if portsFree(base, n) {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports found", n)
	return 0
}

func portsFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if tryListen("tcp", addr) != nil || tryListen("udp", addr) != nil {
			return false
		}
	}
	return true
}

// localAddr is 127.0.0.1:port.
func localAddr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
