package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// devNodes is the size of the `lattice dev` cluster, and devHost its address.
const (
	devNodes = 3
	devHost  = "127.0.0.1"
)

// devConfig configures `lattice dev`.
type devConfig struct {
	// DataDir holds one directory per node; empty means a temporary
	// directory removed on exit.
	DataDir string
	// HTTPPort, GossipPort and RaftPort are the ports of the first node; node
	// i uses port+i.
	HTTPPort, GossipPort, RaftPort int
	// ReadyTimeout bounds the wait for every node to be healthy and agree on a leader.
	ReadyTimeout time.Duration
	// StopTimeout bounds the graceful stop of the nodes before they are killed.
	StopTimeout time.Duration
}

func defaultDevConfig() devConfig {
	return devConfig{
		HTTPPort:     3500,
		GossipPort:   7946,
		RaftPort:     7000,
		ReadyTimeout: 60 * time.Second,
		StopTimeout:  30 * time.Second,
	}
}

func (c devConfig) validate() error {
	for name, p := range map[string]int{"http-port": c.HTTPPort, "gossip-port": c.GossipPort, "raft-port": c.RaftPort} {
		if p < 1 || p+devNodes-1 > 65535 {
			return fmt.Errorf("lattice dev: %s %d: want 1 to %d", name, p, 65535-devNodes+1)
		}
	}
	if c.ReadyTimeout <= 0 || c.StopTimeout <= 0 {
		return fmt.Errorf("lattice dev: ready-timeout and stop-timeout must be positive")
	}
	return nil
}

// devNode is one node of the dev cluster.
type devNode struct {
	Name, HTTPAddr, GossipAddr, RaftAddr, DataDir string
}

// nodes lays out the cluster in dataDir.
func (c devConfig) nodes(dataDir string) []devNode {
	addr := func(port, i int) string { return net.JoinHostPort(devHost, strconv.Itoa(port+i)) }
	out := make([]devNode, devNodes)
	for i := range out {
		name := fmt.Sprintf("node%d", i+1)
		out[i] = devNode{
			Name:       name,
			HTTPAddr:   addr(c.HTTPPort, i),
			GossipAddr: addr(c.GossipPort, i),
			RaftAddr:   addr(c.RaftPort, i),
			DataDir:    filepath.Join(dataDir, name),
		}
	}
	return out
}

// serveArgs is the `lattice serve` command line of n in the cluster.
func (n devNode) serveArgs(cluster []devNode) []string {
	var seeds []string
	for _, o := range cluster {
		if o.Name != n.Name {
			seeds = append(seeds, o.GossipAddr)
		}
	}
	return []string{"serve",
		"--node-id", n.Name,
		"--http-addr", n.HTTPAddr,
		"--gossip-addr", n.GossipAddr,
		"--raft-addr", n.RaftAddr,
		"--data-dir", n.DataDir,
		"--join", strings.Join(seeds, ","),
		"--bootstrap-expect", strconv.Itoa(len(cluster)),
	}
}

func newDevCmd(a *app) *cobra.Command {
	cfg := defaultDevConfig()
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a three-node cluster on this machine",
		Long: `Run a three-node Lattice cluster on this machine, for development: three
` + "`lattice serve`" + ` processes on 127.0.0.1 (HTTP 3500-3502, gossip 7946-7948, Raft
7000-7002 by default), with data in a temporary directory unless --data-dir is
given. It waits until every node is healthy and they agree on a leader, prints
the endpoints and a few requests to try, and prefixes each node's output with
its name.

Ctrl-C stops the nodes gracefully (killing them after --stop-timeout) and removes
the temporary directory; a second Ctrl-C kills them at once. The nodes inherit
the environment, so LATTICE_LOG_LEVEL=debug or LATTICE_LOG_FORMAT=json apply to
all three. Each node gets a third of the CPUs (GOMAXPROCS, at least 1) unless
GOMAXPROCS is set, as it would on a machine of its own.`,
		Example: `  lattice dev
  lattice dev --data-dir ./dev-data --http-port 4500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("lattice dev: finding own binary: %w", err)
			}
			sigs, stop := a.notify()
			defer stop()
			return runDev(cfg, devEnv{exe: exe, env: os.Environ(), stdout: a.stdout, stderr: a.stderr, sigs: sigs})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "keep the nodes' data in DIR/node1..node3 (default: a temporary directory removed on exit)")
	f.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "HTTP port of node1; node2 and node3 use the next ones")
	f.IntVar(&cfg.GossipPort, "gossip-port", cfg.GossipPort, "gossip port of node1; node2 and node3 use the next ones")
	f.IntVar(&cfg.RaftPort, "raft-port", cfg.RaftPort, "Raft port of node1; node2 and node3 use the next ones")
	f.DurationVar(&cfg.ReadyTimeout, "ready-timeout", cfg.ReadyTimeout, "give up if the cluster is not ready within this long")
	f.DurationVar(&cfg.StopTimeout, "stop-timeout", cfg.StopTimeout, "kill nodes that have not stopped this long after Ctrl-C")
	return cmd
}

// envValue returns the value of key in env ("KEY=value" entries); the last
// entry wins, as for exec.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// clusterTokenEnv makes the nodes share a fresh cluster token unless the
// environment already sets one. It goes through the environment so that it
// does not show in the process list.
func clusterTokenEnv(env []string) ([]string, error) {
	key := envName("cluster-token")
	if envValue(env, key) != "" {
		return env, nil
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("lattice dev: cluster token: %w", err)
	}
	return append(env[:len(env):len(env)], key+"="+hex.EncodeToString(b)), nil
}
