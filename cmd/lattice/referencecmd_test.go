package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startReferenceCmd runs `lattice reference-server` in-process with stdin as its input and
// returns its URL and the channel of its exit code.
func startReferenceCmd(t *testing.T, stdin io.Reader) (*testApp, string, <-chan int) {
	t.Helper()
	ta := newTestApp(nil)
	ta.stdin = stdin
	code := make(chan int, 1)
	go func() { code <- run([]string{referenceServerCmd}, ta.app) }()
	var url string
	waitFor(t, 10*time.Second, "the reference server's URL", func() bool {
		url, _, _ = strings.Cut(ta.stdout.String(), "\n")
		return strings.HasPrefix(url, "http://") && strings.Contains(ta.stdout.String(), "\n")
	})
	return ta, url, code
}

func healthz(url string) error {
	res, err := http.Get(url + "/v1.0/healthz")
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

// exitCode waits for the command's exit code; a command that never exits fails the test.
func exitCode(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("lattice reference-server did not exit")
		return 0
	}
}

func TestReferenceServerStopsWhenItsInputCloses(t *testing.T) {
	rd, wr := io.Pipe()
	ta, url, code := startReferenceCmd(t, rd)
	if err := healthz(url); err != nil {
		t.Fatalf("not serving: %v", err)
	}
	wr.Close()
	if c := exitCode(t, code); c != 0 {
		t.Fatalf("exit %d: %s", c, ta.stderr)
	}
	if err := healthz(url); err == nil {
		t.Fatal("still serving after its input closed")
	}
}

func TestReferenceServerStopsOnASignal(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		rd, wr := io.Pipe()
		ta, url, code := startReferenceCmd(t, rd)
		ta.sigs <- sig
		if c := exitCode(t, code); c != 0 {
			t.Fatalf("%v: exit %d: %s", sig, c, ta.stderr)
		}
		wr.Close()
		if err := healthz(url); err == nil {
			t.Fatalf("still serving after %v", sig)
		}
	}
}
