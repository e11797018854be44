package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// The test binary doubles as a fake `lattice serve` process for the dev tests:
// with fakeNodeEnv set it runs the real command line (flags, environment,
// validation, logging, signals) around a fakeNode instead of a real node.
const (
	fakeNodeEnv       = "LATTICE_TEST_FAKE_NODE"
	fakeNeverReadyEnv = "LATTICE_TEST_FAKE_NEVER_READY" // node id that never sees a leader
	fakeHangStopEnv   = "LATTICE_TEST_FAKE_HANG_STOP"   // non-empty: Shutdown never returns
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // as main does
	if len(os.Args) > 1 && os.Args[1] == referenceServerCmd {
		// lattice bench --reference runs os.Executable(), this test binary, as its reference server.
		os.Exit(run(os.Args[1:], newApp(os.Stdout, os.Stderr, nil)))
	}
	if os.Getenv(fakeNodeEnv) != "" {
		factory := func(cfg ServeConfig, logger *slog.Logger) (Node, error) {
			return newFakeNode(cfg, logger, func(n *fakeNode) {
				n.neverReady = os.Getenv(fakeNeverReadyEnv) == cfg.NodeID
				if os.Getenv(fakeHangStopEnv) != "" {
					n.release = make(chan struct{}) // never closed: the process is killed
				}
			})
		}
		os.Exit(run(os.Args[1:], newApp(os.Stdout, os.Stderr, factory)))
	}
	os.Exit(m.Run())
}

// fakeNode stands in for a real node. It listens on its HTTP, gossip and Raft
// addresses; on the gossip address it answers every connection with its node
// id. It is healthy, and knows a leader (the smallest id), once it has reached
// every join address, so a cluster of fakes is ready only when all members are up.
type fakeNode struct {
	cfg        ServeConfig
	log        *slog.Logger
	neverReady bool
	// release, when not nil, blocks Shutdown until closed (a node that hangs on stop).
	release chan struct{}
	srv     *http.Server
	lns     []net.Listener // http, gossip, raft
	stopped chan struct{}

	mu       sync.Mutex
	leader   string
	started  bool
	shutdown bool
}

// newFakeNode binds the node's addresses, as a real node does before Start.
func newFakeNode(cfg ServeConfig, logger *slog.Logger, configure func(*fakeNode)) (*fakeNode, error) {
	f := &fakeNode{cfg: cfg, log: logger.With("component", "fakenode"), stopped: make(chan struct{})}
	if configure != nil {
		configure(f)
	}
	for _, addr := range []string{f.cfg.HTTPAddr, f.cfg.GossipAddr, f.cfg.RaftAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range f.lns {
				l.Close()
			}
			return nil, err
		}
		f.lns = append(f.lns, ln)
	}
	f.srv = &http.Server{Handler: f.handler()}
	return f, nil
}

func (f *fakeNode) Start() {
	go f.srv.Serve(f.lns[0])
	go f.answerIDs(f.lns[1])
	go f.discover()
	f.mu.Lock()
	f.started = true
	f.mu.Unlock()
}

func (f *fakeNode) answerIDs(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte(f.cfg.NodeID + "\n"))
		c.Close()
	}
}

// discover polls the join addresses until each has answered with its id.
func (f *fakeNode) discover() {
	ids := map[string]string{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(ids) < len(f.cfg.Join) {
		for _, addr := range f.cfg.Join {
			if _, ok := ids[addr]; ok {
				continue
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				continue
			}
			id, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil {
				ids[addr] = id[:len(id)-1]
			}
		}
		select {
		case <-f.stopped:
			return
		case <-tick.C:
		}
	}
	all := []string{f.cfg.NodeID}
	for _, id := range ids {
		all = append(all, id)
	}
	if !f.neverReady {
		f.mu.Lock()
		f.leader = slices.Min(all)
		f.mu.Unlock()
	}
	f.log.Info("fake node: cluster formed", "members", len(all))
}

func (f *fakeNode) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.0/healthz", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		ready := f.leader != ""
		f.mu.Unlock()
		if !ready {
			http.Error(w, "no leader yet", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1.0/cluster/status", func(w http.ResponseWriter, r *http.Request) {
		if f.cfg.APIToken != "" && r.Header.Get("dapr-api-token") != f.cfg.APIToken {
			http.Error(w, "bad api token", http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		var st struct {
			NodeID string `json:"nodeId"`
			Leader struct {
				ID string `json:"id"`
			} `json:"leader"`
			PID int `json:"pid"`
		}
		st.NodeID, st.Leader.ID, st.PID = f.cfg.NodeID, f.leader, os.Getpid()
		json.NewEncoder(w).Encode(st)
	})
	return mux
}

func (f *fakeNode) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.shutdown = true
	f.mu.Unlock()
	close(f.stopped)
	for _, ln := range f.lns[1:] {
		ln.Close()
	}
	if f.release != nil {
		f.log.Info("fake node: hanging in shutdown")
		<-f.release
		return errors.New("fake node: released")
	}
	if err := f.srv.Shutdown(ctx); err != nil {
		return err
	}
	f.log.Info("fake node: stopped")
	return nil
}

// state reports whether Start and Shutdown were called.
func (f *fakeNode) state() (started, shutdown bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started, f.shutdown
}
