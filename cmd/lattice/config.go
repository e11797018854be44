package main

import (
	"os"
	"time"

	"github.com/spf13/pflag"
)

// ServeConfig is the configuration of `lattice serve`. Every field is a flag,
// an environment variable LATTICE_<FLAG_NAME> and a key of the YAML config
// file, with precedence flag > environment > file > default.
type ServeConfig struct {
	// NodeID names the node in the cluster; it must be unique and stable across restarts.
	NodeID string
	// HTTPAddr is the host:port the HTTP API listens on.
	HTTPAddr string
	// GossipAddr is the host:port of memberlist (TCP and UDP).
	GossipAddr string
	// RaftAddr is the host:port of the Raft transport (TCP).
	RaftAddr string
	// AdvertiseAddr is the host other nodes use to reach this one; empty means
	// the host of each bind address, or the hostname's address for 0.0.0.0
	// (see Advertise).
	AdvertiseAddr string
	// DataDir holds the Raft log, stable store and snapshots.
	DataDir string
	// Join lists gossip host:port seeds to join at start.
	Join []string
	// BootstrapExpect is the number of voters the first cluster forms with.
	BootstrapExpect int
	// Stores are the Dapr state store names served.
	Stores []string
	// APIToken, when set, is required from clients (Dapr's dapr-api-token header).
	APIToken string
	// ClusterToken authenticates node-to-node requests (leader forwarding).
	ClusterToken string
	// MaxBodyBytes bounds the size of a request body.
	MaxBodyBytes int64
	// LogFormat is "text" or "json".
	LogFormat string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// ShutdownTimeout bounds a graceful stop after the first SIGTERM/SIGINT.
	ShutdownTimeout time.Duration
	// MemoryLimit is a soft limit of the Go runtime's memory, GOMEMLIMIT's syntax (e.g. "450MiB");
	// empty leaves the runtime's own (GOMEMLIMIT, else none).
	MemoryLimit string
	// EnablePprof serves Go runtime profiles under /debug/pprof/ on the HTTP address.
	EnablePprof bool
	// TestClockOffset skews this node's clock (fault injection in tests only).
	TestClockOffset time.Duration
	// TestUnsafeLocalStrongReads serves strong reads locally without a
	// leadership check (to prove the test suite catches stale reads; never in production).
	TestUnsafeLocalStrongReads bool
	// TestUnsafeSkipTxnETagCheck drops the etag and first-write checks of
	// transactions (to prove the bank checker catches lost updates; never in production).
	TestUnsafeSkipTxnETagCheck bool
	// TestUnsafeNoApply keeps committed entries out of the local replica (to
	// prove the convergence checker catches divergence; never in production).
	TestUnsafeNoApply bool
}

// DefaultServeConfig returns the configuration of a single local node.
func DefaultServeConfig() ServeConfig {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "lattice"
	}
	return ServeConfig{
		NodeID:          host,
		HTTPAddr:        "127.0.0.1:3500",
		GossipAddr:      "127.0.0.1:7946",
		RaftAddr:        "127.0.0.1:7000",
		DataDir:         "./lattice-data",
		BootstrapExpect: 1,
		Stores:          []string{"statestore"},
		MaxBodyBytes:    4 << 20,
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownTimeout: 15 * time.Second,
	}
}

// configFlag is the flag naming the YAML file; it is not itself a file key.
const configFlag = "config"

// bindServeFlags registers the flags of c on fs, with c's current values as defaults.
func bindServeFlags(fs *pflag.FlagSet, c *ServeConfig) {
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "unique, stable name of this node")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "host:port of the HTTP API (Dapr state API, CRDT and cluster APIs, /metrics)")
	fs.StringVar(&c.GossipAddr, "gossip-addr", c.GossipAddr, "host:port for membership gossip, TCP and UDP")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "host:port of the Raft transport, TCP")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", c.AdvertiseAddr, "host (IP or DNS name, no port) other nodes use to reach this one (default: the host of each bind address; for 0.0.0.0, the address of the hostname)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the Raft log and snapshots; created if missing, must be writable")
	fs.StringSliceVar(&c.Join, "join", c.Join, "comma-separated gossip host:port of nodes to join at start (repeatable)")
	fs.IntVar(&c.BootstrapExpect, "bootstrap-expect", c.BootstrapExpect, "number of nodes that form a new cluster together; the first Raft configuration waits for that many members")
	fs.StringSliceVar(&c.Stores, "store", c.Stores, "name of a Dapr state store to serve (repeatable)")
	fs.StringVar(&c.APIToken, "api-token", c.APIToken, "token clients must send in the dapr-api-token header (default: none required)")
	fs.StringVar(&c.ClusterToken, "cluster-token", c.ClusterToken, "shared secret authenticating requests between nodes; the same on every node")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest accepted request body, in bytes")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a graceful stop (first SIGTERM/SIGINT) may take before the process gives up")
	fs.StringVar(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "soft limit of the process's Go memory, e.g. 450MiB (GOMEMLIMIT syntax); the garbage collector works harder near it (default: GOMEMLIMIT, else none)")
	fs.BoolVar(&c.EnablePprof, "enable-pprof", c.EnablePprof, "serve Go runtime profiles (pprof) under /debug/pprof/ on the HTTP address, behind --api-token when set")
	fs.DurationVar(&c.TestClockOffset, "test-clock-offset", c.TestClockOffset, "TEST ONLY: skew this node's clock by DURATION")
	fs.BoolVar(&c.TestUnsafeLocalStrongReads, "test-unsafe-local-strong-reads", c.TestUnsafeLocalStrongReads, "TEST ONLY: serve strong reads locally without a leadership check (breaks linearizability)")
	fs.BoolVar(&c.TestUnsafeSkipTxnETagCheck, "test-unsafe-skip-txn-etag-check", c.TestUnsafeSkipTxnETagCheck, "TEST ONLY: turn transactions into unconditional writes (ignores their etags; breaks them)")
	fs.BoolVar(&c.TestUnsafeNoApply, "test-unsafe-no-apply", c.TestUnsafeNoApply, "TEST ONLY: do not join committed writes into the local replica (eventual reads diverge)")
	fs.String(configFlag, "", "YAML file whose keys are the flag names above (e.g. \"http-addr: 0.0.0.0:3500\")")
}
