package jepsen

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// scriptRunner answers commands from a table and records them.
type scriptRunner struct {
	mu      sync.Mutex
	calls   []string
	answers func(cmd string) string
}

func (r *scriptRunner) Run(_ context.Context, stdin, name string, args ...string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := strings.Join(append([]string{name}, args...), " ")
	if stdin != "" {
		cmd += " <<" + stdin
	}
	r.calls = append(r.calls, cmd)
	if r.answers == nil {
		return "", nil
	}
	return r.answers(cmd), nil
}

func TestNetworkPlan(t *testing.T) {
	nw := newNetwork("ltj-", netip.MustParsePrefix("10.77.0.0/24"), 3, nil)
	if nw.host.String() != "10.77.0.1" || nw.addrs[0].String() != "10.77.0.11" || nw.addrs[2].String() != "10.77.0.13" {
		t.Fatalf("addresses %s %v", nw.host, nw.addrs)
	}
	var cmds []string
	for _, c := range nw.setupCommands() {
		cmds = append(cmds, strings.Join(c, " "))
	}
	for _, want := range []string{
		"ip netns add ltj-hub", "ip netns add ltj-n1", "ip netns add ltj-n3",
		"ip -n ltj-hub link add br0 type bridge",
		"ip link add ltj-host type veth peer name up0 netns ltj-hub",
		"ip addr add 10.77.0.1/24 dev ltj-host",
		"ip -n ltj-hub link add v2 type veth peer name eth0 netns ltj-n2",
		"ip -n ltj-hub link set v2 master br0",
		"ip -n ltj-n2 addr add 10.77.0.12/24 dev eth0",
		"ip -n ltj-n3 link set lo up",
	} {
		if !slices.Contains(cmds, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, c := range cmds {
		// Only the prefixed link and its address touch the root namespace; nothing adds a route.
		if strings.HasPrefix(c, "ip link") || strings.HasPrefix(c, "ip addr") {
			if !strings.Contains(c, "ltj-host") {
				t.Errorf("root-namespace command without the prefix: %q", c)
			}
		}
		if strings.Contains(c, "route") || strings.Contains(c, "default") {
			t.Errorf("route command %q", c)
		}
	}
	// Interface names must fit in 15 bytes.
	for _, c := range nw.setupCommands() {
		for i, a := range c {
			if (a == "add" || a == "name") && i+1 < len(c) && c[i-1] == "link" && len(c[i+1]) > 15 {
				t.Errorf("interface name too long in %v", c)
			}
		}
	}
}

func TestApplyWritesRulesIntoEveryNamespace(t *testing.T) {
	r := &scriptRunner{}
	nw := newNetwork("ltj-", netip.MustParsePrefix("10.77.0.0/24"), 3, r)
	if err := nw.apply(context.Background(), netFaults{Partition: isolateGrudge(3, 2)}); err != nil {
		t.Fatal(err)
	}
	if len(r.calls) != 3 {
		t.Fatalf("calls %q", r.calls)
	}
	if !strings.HasPrefix(r.calls[0], "ip netns exec ltj-n1 nft -f - <<") || !strings.Contains(r.calls[0], "ip saddr { 10.77.0.13 } drop") {
		t.Errorf("n1 call %q", r.calls[0])
	}
	if !strings.Contains(r.calls[2], "ip saddr { 10.77.0.11, 10.77.0.12 } drop") {
		t.Errorf("n3 call %q", r.calls[2])
	}
	r.calls = nil
	if err := nw.heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range r.calls {
		if strings.Contains(c, "drop") || !strings.Contains(c, "delete table inet ltj") {
			t.Errorf("heal call %q", c)
		}
	}
}

func TestLeftoversAndCleanup(t *testing.T) {
	var mu sync.Mutex
	present := map[string]bool{"ltj-hub": true, "ltj-n1": true, "other": true, "link:ltj-host": true, "link:eth0": true}
	r := &scriptRunner{}
	r.answers = func(cmd string) string {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case cmd == "ip netns list":
			var out []string
			for _, ns := range []string{"ltj-hub", "ltj-n1", "other"} {
				if present[ns] {
					out = append(out, ns+" (id: 3)")
				}
			}
			return strings.Join(out, "\n") + "\n"
		case cmd == "ip -o link show":
			out := "1: lo: <LOOPBACK,UP> mtu 65536\n"
			if present["link:eth0"] {
				out += "2: eth0: <BROADCAST> mtu 1500\n"
			}
			if present["link:ltj-host"] {
				out += "6: ltj-host@if4: <BROADCAST> mtu 1500\n"
			}
			return out
		case strings.HasPrefix(cmd, "ip netns delete "):
			delete(present, strings.TrimPrefix(cmd, "ip netns delete "))
		case strings.HasPrefix(cmd, "ip link delete "):
			delete(present, "link:"+strings.TrimPrefix(cmd, "ip link delete "))
		}
		return ""
	}
	ns, links, err := leftovers(context.Background(), r, "ltj-")
	if err != nil || !slices.Equal(ns, []string{"ltj-hub", "ltj-n1"}) || !slices.Equal(links, []string{"ltj-host"}) {
		t.Fatalf("leftovers %v %v %v", ns, links, err)
	}
	if err := cleanupPrefix(context.Background(), r, "ltj-"); err != nil {
		t.Fatal(err)
	}
	if present["ltj-hub"] || present["ltj-n1"] || present["link:ltj-host"] || !present["other"] || !present["link:eth0"] {
		t.Fatalf("after cleanup: %v", present)
	}
	for _, c := range r.calls {
		if strings.Contains(c, "other") || strings.Contains(c, "delete eth0") {
			t.Fatalf("touched something without the prefix: %q", c)
		}
	}
}

func TestCheckSubnetFree(t *testing.T) {
	if err := checkSubnetFree(netip.MustParsePrefix("127.0.0.0/16")); err == nil {
		t.Fatal("loopback range reported free")
	}
}
