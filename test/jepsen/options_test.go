package jepsen

import (
	"reflect"
	"strings"
	"testing"

	"github.com/lattice-state/lattice/internal/procenv"
)

func validOptions() Options {
	o := DefaultOptions()
	o.Binary = "/usr/local/bin/lattice"
	return o
}

func TestDefaultOptionsValidate(t *testing.T) {
	if err := validOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := DefaultOptions().Validate(); err == nil || !strings.Contains(err.Error(), "binary") {
		t.Fatalf("missing binary not reported: %v", err)
	}
}

func TestOptionsValidateRejects(t *testing.T) {
	for name, mut := range map[string]func(*Options){
		"nodes":          func(o *Options) { o.Nodes = 0 },
		"too many nodes": func(o *Options) { o.Nodes = 10 },
		"duration":       func(o *Options) { o.Duration = 0 },
		"workload":       func(o *Options) { o.Workloads = []string{"queue"} },
		"no workload":    func(o *Options) { o.Workloads = nil },
		"nemesis":        func(o *Options) { o.Nemeses = []string{"flood"} },
		"ring on 3":      func(o *Options) { o.Nemeses = []string{"partition-ring"} },
		"rate":           func(o *Options) { o.Rate = 0 },
		"public subnet":  func(o *Options) { o.Subnet = "8.8.8.0/24" },
		"small subnet":   func(o *Options) { o.Subnet = "10.77.0.0/28" },
		"prefix":         func(o *Options) { o.Prefix = "toolong-" },
		"same ports":     func(o *Options) { o.RaftPort = o.HTTPPort },
		"interval":       func(o *Options) { o.NemesisMax = o.NemesisMin / 2 },
		"loss":           func(o *Options) { o.LossPercent = 0 },
		"timeout":        func(o *Options) { o.RequestTimeout = 0 },
		"bank":           func(o *Options) { o.BankAccounts = 1 },
	} {
		o := validOptions()
		mut(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWorkloadAndNemesisExpansion(t *testing.T) {
	o := validOptions()
	o.Workloads = []string{"bank", "register"}
	if got, _ := o.workloadList(); !reflect.DeepEqual(got, []string{"register", "bank"}) {
		t.Errorf("workloads %v", got)
	}
	o.Workloads = []string{"all"}
	if got, _ := o.workloadList(); !reflect.DeepEqual(got, AllWorkloads) {
		t.Errorf("all workloads %v", got)
	}
	o.Nemeses = []string{"partition", "kill"}
	got, err := o.nemesisKinds()
	want := []FaultKind{FaultPartitionOne, FaultPartitionLeader, FaultPartitionHalves, FaultPartitionBridge, FaultKill}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("3-node partition,kill = %v, %v", got, err)
	}
	o.Nodes = 5
	if got, _ := o.nemesisKinds(); !reflect.DeepEqual(got, append(want[:4:4], FaultPartitionRing, FaultKill)) {
		t.Errorf("5-node partition,kill = %v", got)
	}
	o.Nemeses = []string{"all"}
	if got, _ := o.nemesisKinds(); !reflect.DeepEqual(got, allFaultKinds) {
		t.Errorf("all = %v", got)
	}
	o.Nemeses = []string{"none"}
	if got, err := o.nemesisKinds(); err != nil || len(got) != 0 {
		t.Errorf("none = %v, %v", got, err)
	}
}

func TestServeArgs(t *testing.T) {
	c := serveConfig{Binary: "/bin/lattice", Addrs: []string{"10.77.0.11", "10.77.0.12", "10.77.0.13"},
		HTTPPort: 3500, GossipPort: 7946, RaftPort: 7000, ClusterToken: "tok",
		ServeArgs: []string{"--test-unsafe-local-strong-reads"}}
	got := c.serveArgs(1, "/r/nodes/n2/data", []string{"--test-clock-offset=2s"})
	want := []string{"serve", "--node-id", "n2", "--http-addr", "10.77.0.12:3500",
		"--gossip-addr", "10.77.0.12:7946", "--raft-addr", "10.77.0.12:7000", "--advertise-addr", "10.77.0.12",
		"--data-dir", "/r/nodes/n2/data", "--bootstrap-expect", "3", "--cluster-token", "tok", "--log-format", "json",
		"--join", "10.77.0.11:7946,10.77.0.13:7946", "--test-unsafe-local-strong-reads", "--test-clock-offset=2s"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("args\n%q\nwant\n%q", got, want)
	}
	if got := (serveConfig{Addrs: []string{"10.77.0.11"}, GossipPort: 1}).serveArgs(0, "d", nil); strings.Contains(strings.Join(got, " "), "--join") {
		t.Fatalf("single node joins: %q", got)
	}
}

func TestNodeEnvDropsLatticeVariables(t *testing.T) {
	t.Setenv("LATTICE_HTTP_ADDR", "0.0.0.0:1")
	t.Setenv("JEPSEN_KEEP", "1")
	env := strings.Join(nodeEnv(), "\n")
	if strings.Contains(env, "LATTICE_HTTP_ADDR") || !strings.Contains(env, "JEPSEN_KEEP=1") {
		t.Fatal("environment not filtered")
	}
	if !strings.Contains(env, procenv.SysmonPolling) {
		t.Fatalf("nodes do not get the runtime settings of lattice dev: %s", env)
	}
}

func TestNodeIndex(t *testing.T) {
	for id, want := range map[string]int{"n1": 0, "n3": 2, "n4": -1, "x1": -1, "n": -1, "": -1, "n0": -1} {
		if got := nodeIndex(id, 3); got != want {
			t.Errorf("nodeIndex(%q) = %d, want %d", id, got, want)
		}
	}
}
