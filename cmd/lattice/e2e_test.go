package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevEndToEnd builds the binary, runs `lattice dev` as a user would,
// writes through one node and reads from the others, then interrupts it and
// checks that every process exited, every port is free and the data is gone.
func TestDevEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode: builds the binary and runs a three-node cluster")
	}
	bin := filepath.Join(t.TempDir(), "lattice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	h := newDevHarness(t, defaultDevConfig())
	cmd := exec.Command(bin, "dev", "--http-port", fmt.Sprint(h.cfg.HTTPPort),
		"--gossip-port", fmt.Sprint(h.cfg.GossipPort), "--raft-port", fmt.Sprint(h.cfg.RaftPort))
	cmd.Stdout, cmd.Stderr = h.stdout, h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	waitFor(t, 90*time.Second, "the ready banner", func() bool {
		return strings.Contains(h.stdout.String(), "Press Ctrl-C to stop")
	})
	pids := h.pids()
	n1, n2, n3 := localURL(h.cfg.HTTPPort), localURL(h.cfg.HTTPPort+1), localURL(h.cfg.HTTPPort+2)
	c := &http.Client{Timeout: 10 * time.Second}

	mustDo(t, c, http.MethodPost, n1+"/v1.0/state/statestore", `[{"key":"e","value":"eventual"}]`, http.StatusNoContent)
	mustDo(t, c, http.MethodPost, n1+"/v1.0/state/statestore", `[{"key":"s","value":"strong","options":{"consistency":"strong"}}]`, http.StatusNoContent)
	for _, n := range []string{n2, n3} {
		if got := mustDo(t, c, http.MethodGet, n+"/v1.0/state/statestore/s?consistency=strong", "", http.StatusOK); got != `"strong"` {
			t.Errorf("strong read on %s: %s", n, got)
		}
		waitFor(t, 10*time.Second, "eventual write on "+n, func() bool {
			return bodyOf(c, n+"/v1.0/state/statestore/e") == `"eventual"`
		})
	}
	mustDo(t, c, http.MethodPost, n1+"/v1.0/crdt/statestore/hits", `{"type":"pncounter","op":"increment","amount":2}`, http.StatusOK)
	waitFor(t, 10*time.Second, "counter on node3", func() bool {
		var v struct{ Value int }
		return json.Unmarshal([]byte(bodyOf(c, n3+"/v1.0/crdt/statestore/hits")), &v) == nil && v.Value == 2
	})

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("lattice dev: %v\n%s", err, h.output())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("lattice dev did not stop\n%s", h.output())
	}
	h.checkNothingLeft(pids)
}

func localURL(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// mustDo sends a request and wants the given status; it returns the body.
func mustDo(t *testing.T, c *http.Client, method, url, body string, want int) string {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s %s, want %d", method, url, resp.Status, b, want)
	}
	return string(b)
}

func bodyOf(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
