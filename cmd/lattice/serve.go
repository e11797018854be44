package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/lattice-state/lattice/internal/procenv"
	"github.com/spf13/cobra"
)

// Node is one running node with its HTTP API, as `lattice serve` drives it;
// *server.Server implements it (see wireNode).
type Node interface {
	// Start serves the HTTP API and starts the node: joining, gossip, fold-in.
	Start()
	// Shutdown stops gracefully: stop accepting, fold in pending deltas, hand
	// leadership over, leave the cluster, close Raft, drain HTTP. It returns
	// when done or when ctx expires.
	Shutdown(ctx context.Context) error
}

// NodeFactory builds the Node of a validated configuration: everything that
// can fail (listening, opening the Raft log) happens here, before Start.
type NodeFactory func(cfg ServeConfig, logger *slog.Logger) (Node, error)

// stopGrace is how long serve waits past shutdown-timeout for a Node that
// ignores its context before it gives up on it.
const stopGrace = time.Second

func newServeCmd(a *app) *cobra.Command {
	cfg := DefaultServeConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run one Lattice node",
		Long: `Run one Lattice node: the HTTP API, membership gossip and Raft.

Every flag can also be given as an environment variable LATTICE_<FLAG> (upper
case, dashes as underscores, e.g. LATTICE_HTTP_ADDR; lists comma-separated; an
empty variable counts as unset) or as a key of a YAML file named by --config
(or LATTICE_CONFIG), for example:

  node-id: node1
  http-addr: 0.0.0.0:3500
  advertise-addr: 10.0.0.5
  join: [10.0.0.6:7946, 10.0.0.7:7946]
  bootstrap-expect: 3

Precedence: flag, then environment, then file, then default.

The configuration is checked before anything starts: addresses, that the data
directory can be created and written, and that the listen ports are free.

The first SIGTERM or SIGINT stops the node gracefully within --shutdown-timeout
(stop accepting, drain requests, fold in pending writes, hand over leadership,
leave the cluster); a second one exits at once.`,
		Example: `  lattice serve --node-id n1 --data-dir /var/lib/lattice
  lattice serve --config /etc/lattice.yaml --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnvAndFile(cmd.Flags(), a.lookupEnv); err != nil {
				return err
			}
			return serve(cfg, a)
		},
	}
	bindServeFlags(cmd.Flags(), &cfg)
	return cmd
}

// serve validates cfg, then runs the node until the first signal and stops it
// gracefully; a second signal returns a signalExit at once.
func serve(cfg ServeConfig, a *app) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger, err := newLogger(a.stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	log := logger.With("component", "serve")
	if cfg.MemoryLimit != "" {
		limit, _ := parseMemoryLimit(cfg.MemoryLimit) // validated above
		debug.SetMemoryLimit(limit)
	}
	// Unless the operator set GOGC, collect after at least DefaultHeapFloor of allocation.
	if _, set := a.lookupEnv("GOGC"); !set {
		gcCtx, stopGC := context.WithCancel(context.Background())
		defer stopGC()
		go procenv.KeepHeapFloor(gcCtx, procenv.DefaultHeapFloor)
	}
	adv, err := cfg.advertised(context.Background())
	if err != nil {
		return fmt.Errorf("lattice: %w", err)
	}
	log.Info("lattice starting", "version", versionString(), "node_id", cfg.NodeID,
		"http_addr", cfg.HTTPAddr, "gossip_addr", cfg.GossipAddr, "raft_addr", cfg.RaftAddr,
		"advertise_http", adv.HTTP, "advertise_gossip", adv.Gossip, "advertise_raft", adv.Raft,
		"data_dir", cfg.DataDir, "join", cfg.Join, "bootstrap_expect", cfg.BootstrapExpect,
		"stores", cfg.Stores, "memory_limit", memoryLimitText(cfg.MemoryLimit), "pid", os.Getpid())

	sigs, stopSignals := a.notify()
	defer stopSignals()

	// Building the node can take a while (Raft log replay): a signal meanwhile
	// stops it as soon as it is built, a second one exits at once.
	type built struct {
		n   Node
		err error
	}
	ready := make(chan built, 1)
	go func() {
		n, err := a.newNode(cfg, logger)
		if err == nil {
			n.Start()
		}
		ready <- built{n, err}
	}()
	var n Node
	var sig os.Signal
	select {
	case b := <-ready:
		if b.err != nil {
			return fmt.Errorf("lattice: serve: %w", b.err)
		}
		n = b.n
		log.Info("lattice serving", "http_addr", cfg.HTTPAddr)
		sig = <-sigs
	case sig = <-sigs:
		log.Info("signal while starting; stopping once started", "signal", sig.String())
		select {
		case b := <-ready:
			if b.err != nil {
				return fmt.Errorf("lattice: serve: %w", b.err)
			}
			n = b.n
		case second := <-sigs:
			return signalExit(second)
		}
	}
	return stop(n, sig, sigs, cfg.ShutdownTimeout, log)
}

// stop shuts n down gracefully within timeout; a signal meanwhile returns a
// signalExit at once, and a Node that overruns the timeout is given up on.
func stop(n Node, sig os.Signal, sigs <-chan os.Signal, timeout time.Duration, log *slog.Logger) error {
	log.Info("stopping gracefully; a second signal exits at once", "signal", sig.String(), "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Shutdown(ctx) }()
	deadline := time.NewTimer(timeout + stopGrace)
	defer deadline.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("lattice: stopping: %w", err)
		}
		log.Info("lattice stopped")
		return nil
	case second := <-sigs:
		return signalExit(second)
	case <-deadline.C:
		return fmt.Errorf("lattice: graceful stop did not finish within shutdown-timeout %v", timeout)
	}
}

// memoryLimitText describes the Go runtime's memory limit for the startup line.
func memoryLimitText(flag string) string {
	switch {
	case flag != "":
		return flag
	case os.Getenv("GOMEMLIMIT") != "":
		return os.Getenv("GOMEMLIMIT") + " (GOMEMLIMIT)"
	}
	return "none"
}
