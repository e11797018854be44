package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// validConfig is a configuration that passes Validate on any machine.
func validConfig(t *testing.T) ServeConfig {
	cfg := DefaultServeConfig()
	cfg.NodeID = "n1"
	cfg.HTTPAddr, cfg.GossipAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	return cfg
}

func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *ConfigError, got %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

func TestValidateAcceptsGoodConfig(t *testing.T) {
	cfg := validConfig(t)
	cfg.Join = []string{"lattice-0.lattice-peers.default.svc:7946", "10.0.0.1:7946", "[::1]:7946"}
	cfg.AdvertiseAddr = "10.0.0.5"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(cfg.DataDir); err != nil || !fi.IsDir() {
		t.Fatalf("data dir not created: %v", err)
	}
	left, _ := os.ReadDir(cfg.DataDir)
	if len(left) != 0 {
		t.Fatalf("write check left files behind: %v", left)
	}
}

func TestValidatePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := validConfig(t)
	cfg.HTTPAddr = ln.Addr().String()
	err = cfg.Validate()
	wantProblems(t, err, "http-addr "+cfg.HTTPAddr, "already in use")
	if runtime.GOOS == "linux" {
		wantProblems(t, err, fmt.Sprintf("pid %d", os.Getpid()))
	}
	if strings.Contains(err.Error(), "raft-addr") || strings.Contains(err.Error(), "gossip-addr") {
		t.Errorf("blames a free address: %v", err)
	}
}

func TestValidateGossipUDPInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := validConfig(t)
	cfg.GossipAddr = pc.LocalAddr().String()
	wantProblems(t, cfg.Validate(), "gossip-addr "+cfg.GossipAddr+" (udp)", "already in use")
}

func TestValidateSamePortTwice(t *testing.T) {
	cfg := validConfig(t)
	cfg.HTTPAddr, cfg.RaftAddr = "127.0.0.1:7711", "0.0.0.0:7711"
	wantProblems(t, cfg.Validate(), "raft-addr \"0.0.0.0:7711\": same port as http-addr")
}

func TestValidateDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("under a file", func(t *testing.T) {
		cfg := validConfig(t)
		cfg.DataDir = filepath.Join(file, "data")
		wantProblems(t, cfg.Validate(), "data-dir", "cannot create", "not a directory")
	})
	t.Run("is a file", func(t *testing.T) {
		cfg := validConfig(t)
		cfg.DataDir = file
		wantProblems(t, cfg.Validate(), "data-dir", file)
	})
	t.Run("permission denied", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: directory permissions are not enforced")
		}
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		cfg := validConfig(t)
		cfg.DataDir = ro
		wantProblems(t, cfg.Validate(), "data-dir", "not writable", "permission denied")
		cfg.DataDir = filepath.Join(ro, "sub")
		wantProblems(t, cfg.Validate(), "data-dir", "cannot create", "permission denied")
	})
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name string
		edit func(*ServeConfig)
		want string
	}{
		{"join without port", func(c *ServeConfig) { c.Join = []string{"node2"} }, `join "node2": want host:port`},
		{"join without host", func(c *ServeConfig) { c.Join = []string{":7946"} }, `join ":7946": missing host`},
		{"join port zero", func(c *ServeConfig) { c.Join = []string{"node2:0"} }, `join "node2:0": port`},
		{"join port too big", func(c *ServeConfig) { c.Join = []string{"node2:99999"} }, `join "node2:99999": port`},
		{"join port not a number", func(c *ServeConfig) { c.Join = []string{"node2:gossip"} }, `join "node2:gossip": port`},
		{"join bad host", func(c *ServeConfig) { c.Join = []string{"no de:7946"} }, `join "no de:7946": host`},
		{"http-addr without port", func(c *ServeConfig) { c.HTTPAddr = "127.0.0.1" }, `http-addr "127.0.0.1": want host:port`},
		{"bootstrap-expect zero", func(c *ServeConfig) { c.BootstrapExpect = 0 }, "bootstrap-expect 0: want at least 1"},
		{"unknown log format", func(c *ServeConfig) { c.LogFormat = "xml" }, `log-format "xml": unknown format`},
		{"unknown log level", func(c *ServeConfig) { c.LogLevel = "loud" }, `log-level "loud"`},
		{"advertise with port", func(c *ServeConfig) { c.AdvertiseAddr = "10.0.0.1:7946" }, "advertise-addr \"10.0.0.1:7946\": want a host without port"},
		{"empty node id", func(c *ServeConfig) { c.NodeID = "" }, "node-id"},
		{"no store", func(c *ServeConfig) { c.Stores = nil }, "store: want at least one"},
		{"store twice", func(c *ServeConfig) { c.Stores = []string{"s", "s"} }, `store "s": given twice`},
		{"bad store name", func(c *ServeConfig) { c.Stores = []string{"a/b"} }, `store "a/b"`},
		{"store name starting with a dot", func(c *ServeConfig) { c.Stores = []string{".s"} }, `store ".s"`},
		{"zero body limit", func(c *ServeConfig) { c.MaxBodyBytes = 0 }, "max-body-bytes 0"},
		{"zero shutdown timeout", func(c *ServeConfig) { c.ShutdownTimeout = 0 }, "shutdown-timeout"},
		{"memory limit without number", func(c *ServeConfig) { c.MemoryLimit = "MiB" }, `memory-limit "MiB": want a whole number`},
		{"memory limit with unknown unit", func(c *ServeConfig) { c.MemoryLimit = "512MB" }, `memory-limit "512MB": want a whole number`},
		{"memory limit too small", func(c *ServeConfig) { c.MemoryLimit = "1MiB" }, "want at least 64MiB"},
		{"memory limit overflowing", func(c *ServeConfig) { c.MemoryLimit = "9000000000TiB" }, "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig(t)
			c.edit(&cfg)
			err := cfg.Validate()
			wantProblems(t, err, c.want)
			if n := len(err.(*ConfigError).Problems); n != 1 {
				t.Errorf("want 1 problem, got %d:\n%v", n, err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := validConfig(t)
	cfg.Join = []string{"bad"}
	cfg.BootstrapExpect = -1
	cfg.LogFormat = "yaml"
	err := cfg.Validate()
	wantProblems(t, err, "join", "bootstrap-expect", "log-format")
	if n := len(err.(*ConfigError).Problems); n != 3 {
		t.Fatalf("want 3 problems, got %d:\n%v", n, err)
	}
}

func TestParseMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"450MiB", 450 << 20},
		{"1GiB", 1 << 30},
		{"2TiB", 2 << 40},
		{"65536KiB", 64 << 20},
		{"67108864", 64 << 20},
		{"67108864B", 64 << 20},
	} {
		got, err := parseMemoryLimit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-1GiB", "1.5GiB", "1 GiB", "GiB", "1gib"} {
		if got, err := parseMemoryLimit(bad); err == nil {
			t.Errorf("parseMemoryLimit(%q) = %d, want an error", bad, got)
		}
	}
}
