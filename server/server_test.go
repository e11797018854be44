package server

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/lattice-state/lattice/httpapi"
	"github.com/lattice-state/lattice/node"
)

func testConfig(t *testing.T) Config {
	nc := node.DefaultConfig()
	nc.NodeID = "s1"
	nc.HTTPAddr, nc.GossipAddr, nc.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	nc.DataDir = filepath.Join(t.TempDir(), "data")
	return Config{Node: nc, HTTP: httpapi.DefaultConfig()}
}

func TestSingleNodeServesAndStops(t *testing.T) {
	s, err := New(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	url := "http://" + s.Addr()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/v1.0/state/statestore/k?consistency=strong")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				break // a leader exists and a linearizable read of a missing key answers 204
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("single node never served a strong read: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get(url + "/v1.0/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestCloseWithoutStart(t *testing.T) {
	s, err := New(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close of a server never started hangs")
	}
}

// With HTTPListen set, the node advertises Node.HTTPAddr, not the listener's
// address (a node bound to 0.0.0.0 must advertise a reachable address).
func TestAdvertisedHTTPAddress(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.Node.HTTPAddr = "127.0.0.1:4999"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms, err := s.Node().Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].HTTPAddr != "127.0.0.1:4999" {
		t.Fatalf("advertised %+v, want http address 127.0.0.1:4999", ms)
	}
	if s.Addr() == "127.0.0.1:4999" {
		t.Fatal("listening on the advertised address instead of HTTPListen")
	}
}

func TestBadAddressIsAnError(t *testing.T) {
	cfg := testConfig(t)
	cfg.Node.HTTPAddr = "127.0.0.1:notaport"
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted a bad HTTP address")
	}
}
