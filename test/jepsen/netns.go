package jepsen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runner runs a command to completion and returns its standard output.
type runner interface {
	Run(ctx context.Context, stdin string, name string, args ...string) (string, error)
}

// execRunner runs commands with os/exec.
type execRunner struct{ log *slog.Logger }

// Run implements runner.
func (r execRunner) Run(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r.log.Debug("exec", "cmd", name+" "+strings.Join(args, " "), "err", err)
	if err != nil {
		return out.String(), fmt.Errorf("jepsen: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// network is the virtual network of a run: a hub namespace holding a bridge, one namespace per
// node joined to the bridge by a veth pair, and one veth pair from the root namespace (where the
// clients run) to the bridge. The bridge lives in its own namespace, not in the root one, so that
// the root namespace's firewall (e.g. Docker's FORWARD policy drop with br_netfilter) never sees
// the nodes' traffic, and so that nothing but one link and its /24 route is added to the root
// namespace. Nodes have no default route: their traffic cannot leave the subnet.
type network struct {
	prefix string
	subnet netip.Prefix
	host   netip.Addr   // the root namespace's address
	addrs  []netip.Addr // node addresses
	run    runner
}

// newNetwork plans the network of n nodes.
func newNetwork(prefix string, subnet netip.Prefix, n int, r runner) *network {
	base := subnet.Addr().As4()
	at := func(last int) netip.Addr {
		a := base
		a[3] += byte(last)
		return netip.AddrFrom4(a)
	}
	nw := &network{prefix: prefix, subnet: subnet, host: at(1), run: r}
	for i := 0; i < n; i++ {
		nw.addrs = append(nw.addrs, at(11+i))
	}
	return nw
}

func (nw *network) hubNS() string       { return nw.prefix + "hub" }
func (nw *network) nodeNS(i int) string { return nw.prefix + nodeName(i) }
func (nw *network) hostLink() string    { return nw.prefix + "host" }

// setupCommands lists the ip commands that build the network, in order.
func (nw *network) setupCommands() [][]string {
	bits := strconv.Itoa(nw.subnet.Bits())
	hub := nw.hubNS()
	cmds := [][]string{{"ip", "netns", "add", hub}}
	for i := range nw.addrs {
		cmds = append(cmds, []string{"ip", "netns", "add", nw.nodeNS(i)})
	}
	cmds = append(cmds,
		[]string{"ip", "-n", hub, "link", "set", "lo", "up"},
		[]string{"ip", "-n", hub, "link", "add", "br0", "type", "bridge"},
		[]string{"ip", "-n", hub, "link", "set", "br0", "up"},
		[]string{"ip", "link", "add", nw.hostLink(), "type", "veth", "peer", "name", "up0", "netns", hub},
		[]string{"ip", "-n", hub, "link", "set", "up0", "master", "br0"},
		[]string{"ip", "-n", hub, "link", "set", "up0", "up"},
		[]string{"ip", "addr", "add", nw.host.String() + "/" + bits, "dev", nw.hostLink()},
		[]string{"ip", "link", "set", nw.hostLink(), "up"},
	)
	for i, a := range nw.addrs {
		ns, v := nw.nodeNS(i), fmt.Sprintf("v%d", i+1)
		cmds = append(cmds,
			[]string{"ip", "-n", hub, "link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "-n", hub, "link", "set", v, "master", "br0"},
			[]string{"ip", "-n", hub, "link", "set", v, "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			[]string{"ip", "-n", ns, "addr", "add", a.String() + "/" + bits, "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
		)
	}
	return cmds
}

// setup builds the network; on failure it removes what it built.
func (nw *network) setup(ctx context.Context) error {
	if err := checkSubnetFree(nw.subnet); err != nil {
		return err
	}
	for _, c := range nw.setupCommands() {
		if _, err := nw.run.Run(ctx, "", c[0], c[1:]...); err != nil {
			_ = cleanupPrefix(context.WithoutCancel(ctx), nw.run, nw.prefix)
			return err
		}
	}
	return nil
}

// apply installs the rules f asks for in every node namespace (replacing any previous ones).
func (nw *network) apply(ctx context.Context, f netFaults) error {
	var errs []error
	for i := range nw.addrs {
		script := nftScript(f.nodeRules(i, nw.addrs))
		if _, err := nw.run.Run(ctx, script, "ip", "netns", "exec", nw.nodeNS(i), "nft", "-f", "-"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// heal removes every rule.
func (nw *network) heal(ctx context.Context) error { return nw.apply(ctx, netFaults{}) }

// teardown kills what runs in the namespaces and removes everything the network created.
func (nw *network) teardown(ctx context.Context) error {
	return cleanupPrefix(ctx, nw.run, nw.prefix)
}

// leftovers lists the namespaces and root-namespace links whose names start with prefix.
func leftovers(ctx context.Context, r runner, prefix string) (namespaces, links []string, err error) {
	out, err := r.Run(ctx, "", "ip", "netns", "list")
	if err != nil {
		return nil, nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			namespaces = append(namespaces, f[0])
		}
	}
	out, err = r.Run(ctx, "", "ip", "-o", "link", "show")
	if err != nil {
		return nil, nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, prefix) {
			links = append(links, name)
		}
	}
	return namespaces, links, nil
}

// cleanupPrefix removes everything named with prefix: it kills the processes inside the
// namespaces (SIGKILL also ends stopped ones), deletes the namespaces and root links, and waits
// until none is left.
func cleanupPrefix(ctx context.Context, r runner, prefix string) error {
	namespaces, links, err := leftovers(ctx, r, prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range namespaces {
		killNamespace(ctx, r, ns)
		if _, err := r.Run(ctx, "", "ip", "netns", "delete", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, l := range links {
		if _, err := r.Run(ctx, "", "ip", "link", "delete", l); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	// Namespace deletion is asynchronous in the kernel: wait until the links are gone too.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ns, ls, err := leftovers(ctx, r, prefix)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if len(ns) == 0 && len(ls) == 0 {
			return errors.Join(errs...)
		}
		if time.Now().After(deadline) {
			return errors.Join(append(errs, fmt.Errorf("jepsen: still present after cleanup: %v %v", ns, ls))...)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// killNamespace SIGKILLs every process in namespace ns and waits (bounded) for them to exit.
func killNamespace(ctx context.Context, r runner, ns string) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, err := r.Run(ctx, "", "ip", "netns", "pids", ns)
		if err != nil {
			return
		}
		pids := strings.Fields(out)
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkSubnetFree refuses a subnet that overlaps an address already configured on this machine.
func checkSubnetFree(p netip.Prefix) error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("jepsen: list addresses: %w", err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		other := netip.PrefixFrom(ip.Unmap(), ones).Masked()
		if other.Overlaps(p) {
			return fmt.Errorf("jepsen: subnet %s overlaps %s configured on this machine; choose another subnet", p, other)
		}
	}
	return nil
}

// preflight checks what Run needs from the machine before it touches anything.
func preflight(o Options) error {
	if os.Geteuid() != 0 {
		return errors.New("jepsen: must run as root: the suite creates network namespaces, veth links and nftables rules (run it with sudo)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("jepsen: %s not found in PATH; install it (apt-get install -y iproute2 nftables): %w", tool, err)
		}
	}
	st, err := os.Stat(o.Binary)
	if err != nil {
		return fmt.Errorf("jepsen: lattice binary: %w", err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("jepsen: lattice binary %s is not an executable file", o.Binary)
	}
	return nil
}

// lockRun takes an exclusive lock for prefix so that two runs never clean up each other's
// namespaces. The returned function releases it.
func lockRun(prefix string) (func(), error) {
	path := filepath.Join(os.TempDir(), "lattice-jepsen-"+prefix+"lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jepsen: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("jepsen: another run with prefix %q is in progress (lock %s): %w", prefix, path, err)
	}
	return func() {
		os.Remove(path) // nothing named after the prefix stays behind
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
