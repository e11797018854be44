package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
)

// ConfigError lists every problem found in a ServeConfig.
type ConfigError struct {
	Problems []error
}

// Error lists the problems, one per line.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("lattice: invalid configuration:")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the individual problems, for errors.Is and errors.As.
func (e *ConfigError) Unwrap() []error { return e.Problems }

// Validate checks c and the machine it is about to run on: the data directory
// is created if missing and must be writable, every listen address must be
// free, and the advertised addresses must resolve (see Advertise). It reports
// all problems at once as a *ConfigError.
func (c ServeConfig) Validate() error {
	var probs []error
	add := func(format string, args ...any) { probs = append(probs, fmt.Errorf(format, args...)) }

	if strings.TrimSpace(c.NodeID) == "" || strings.ContainsAny(c.NodeID, " \t\r\n/") {
		add("node-id %q: want a non-empty name without spaces or slashes", c.NodeID)
	}
	addrsOK := true
	for _, a := range c.listenAddrs() {
		if err := checkHostPort(a.value, true); err != nil {
			add("%s %q: %v", a.flag, a.value, err)
			addrsOK = false
		}
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err == nil {
			add("advertise-addr %q: want a host without port (the ports are those of the bind addresses)", c.AdvertiseAddr)
			addrsOK = false
		} else if !validHost(c.AdvertiseAddr) {
			add("advertise-addr %q: want an IP address or a DNS name", c.AdvertiseAddr)
			addrsOK = false
		}
	}
	for _, j := range c.Join {
		if err := checkHostPort(j, false); err != nil {
			add("join %q: %v", j, err)
		}
	}
	if c.BootstrapExpect < 1 {
		add("bootstrap-expect %d: want at least 1", c.BootstrapExpect)
	}
	if len(c.Stores) == 0 {
		add("store: want at least one store name")
	}
	seen := map[string]bool{}
	for _, s := range c.Stores {
		if !validStoreName(s) {
			add("store %q: want at most 63 letters, digits, '-', '_' or '.', starting with a letter or digit", s)
		} else if seen[s] {
			add("store %q: given twice", s)
		}
		seen[s] = true
	}
	if c.MaxBodyBytes < 1 {
		add("max-body-bytes %d: want a positive size", c.MaxBodyBytes)
	}
	if c.MemoryLimit != "" {
		if _, err := parseMemoryLimit(c.MemoryLimit); err != nil {
			add("memory-limit %q: %v", c.MemoryLimit, err)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		add("log-format %q: unknown format, want text or json", c.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		add("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown-timeout %v: want a positive duration", c.ShutdownTimeout)
	}
	if err := checkDataDir(c.DataDir); err != nil {
		probs = append(probs, err)
	}
	if addrsOK {
		probs = append(probs, c.checkPorts()...)
		if _, err := c.advertised(context.Background()); err != nil {
			probs = append(probs, err)
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return &ConfigError{Problems: probs}
}

type namedAddr struct{ flag, value string }

func (c ServeConfig) listenAddrs() []namedAddr {
	return []namedAddr{{"http-addr", c.HTTPAddr}, {"gossip-addr", c.GossipAddr}, {"raft-addr", c.RaftAddr}}
}

// checkHostPort accepts host:port with a numeric port; a listen address may
// have an empty host (all interfaces) and port 0, a peer address may not.
func checkHostPort(s string, listen bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || (!listen && p == 0) {
		return fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	if host == "" && !listen {
		return errors.New("missing host")
	}
	if host != "" && !validHost(host) {
		return fmt.Errorf("host %q: want an IP address or a DNS name", host)
	}
	return nil
}

// validHost accepts an IP address or a syntactically valid DNS name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// validStoreName is the rule of the HTTP API: [A-Za-z0-9][A-Za-z0-9._-]{0,62}.
func validStoreName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		alnum := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !alnum && (i == 0 || r != '-' && r != '_' && r != '.') {
			return false
		}
	}
	return true
}

// checkDataDir creates dir if missing and proves it writable by creating and
// removing a file in it.
func checkDataDir(dir string) error {
	if dir == "" {
		return errors.New("data-dir: want a directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data-dir %q: cannot create: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".lattice-write-check-*")
	if err != nil {
		return fmt.Errorf("data-dir %q: not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("data-dir %q: cannot remove a file: %w", dir, err)
	}
	return nil
}

// checkPorts binds every listen address for a moment (gossip both TCP and UDP,
// as memberlist uses both) and reports those already taken, with the owning
// process when the system tells.
func (c ServeConfig) checkPorts() []error {
	var probs []error
	seen := map[string]string{}
	for _, a := range c.listenAddrs() {
		_, port, _ := net.SplitHostPort(a.value)
		if port != "0" {
			if other, dup := seen[port]; dup {
				probs = append(probs, fmt.Errorf("%s %q: same port as %s", a.flag, a.value, other))
				continue
			}
			seen[port] = a.flag
		}
		networks := []string{"tcp"}
		if a.flag == "gossip-addr" {
			networks = append(networks, "udp")
		}
		for _, network := range networks {
			if err := tryListen(network, a.value); err != nil {
				where := a.flag + " " + a.value
				if network == "udp" {
					where += " (udp)"
				}
				probs = append(probs, fmt.Errorf("%s: %w", where, err))
			}
		}
	}
	return probs
}

// tryListen binds addr and releases it at once.
func tryListen(network, addr string) error {
	if network == "udp" {
		pc, err := net.ListenPacket(network, addr)
		if err != nil {
			return describeListenError(network, addr, err)
		}
		return pc.Close()
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return describeListenError(network, addr, err)
	}
	return ln.Close()
}

func describeListenError(network, addr string, err error) error {
	if !isAddrInUse(err) {
		return fmt.Errorf("cannot listen: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	if owner := portOwner(network, p); owner != "" {
		return fmt.Errorf("address already in use by %s", owner)
	}
	return errors.New("address already in use")
}

// parseMemoryLimit reads a size in GOMEMLIMIT's syntax: a whole number of bytes with an optional
// unit B, KiB, MiB, GiB or TiB. It must be at least 64 MiB: below that the garbage collector
// would run without pause on any real keyspace.
func parseMemoryLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a whole number of bytes with an optional unit B, KiB, MiB, GiB or TiB, e.g. 450MiB")
	}
	if n > math.MaxInt64>>shift {
		return 0, errors.New("too large")
	}
	n <<= shift
	if n < 64<<20 {
		return 0, errors.New("want at least 64MiB")
	}
	return n, nil
}
