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
	ta.sigs = make(chan os.Signal) // unbuffered: a send returns once the command has taken it
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

func TestReferenceServerStopsWhenItsInputCloses(t *testing.T) {
	rd, wr := io.Pipe()
	ta, url, code := startReferenceCmd(t, rd)
	// lattice bench's Ctrl-C reaches its group: not a reason to stop. The command takes the
	// second SIGINT only if it went on watching after the first.
	ta.sigs <- os.Interrupt
	select {
	case ta.sigs <- os.Interrupt:
	case c := <-code:
		t.Fatalf("exited %d on SIGINT", c)
	case <-time.After(10 * time.Second):
		t.Fatal("stopped watching its signals after SIGINT")
	}
	if err := healthz(url); err != nil {
		t.Fatalf("not serving after SIGINT: %v", err)
	}
	wr.Close()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d: %s", c, ta.stderr)
	}
	if err := healthz(url); err == nil {
		t.Fatal("still serving after its input closed")
	}
}

func TestReferenceServerStopsOnSIGTERM(t *testing.T) {
	rd, wr := io.Pipe()
	defer wr.Close()
	ta, url, code := startReferenceCmd(t, rd)
	ta.sigs <- syscall.SIGTERM
	if c := <-code; c != 0 {
		t.Fatalf("exit %d: %s", c, ta.stderr)
	}
	if err := healthz(url); err == nil {
		t.Fatal("still serving after SIGTERM")
	}
}
