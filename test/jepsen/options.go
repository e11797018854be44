package jepsen

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Workload names accepted in Options.Workloads.
const (
	WorkloadRegister    = "register"
	WorkloadCounter     = "counter"
	WorkloadSet         = "set"
	WorkloadBank        = "bank"
	WorkloadConvergence = "convergence"
)

// AllWorkloads lists every workload in the order they are set up and checked.
var AllWorkloads = []string{WorkloadRegister, WorkloadCounter, WorkloadSet, WorkloadBank, WorkloadConvergence}

// Options configure one run of the suite. Start from DefaultOptions; the zero value is not valid
// (Binary is required). A `lattice jepsen` command maps its flags one to one onto these fields.
type Options struct {
	// Binary is the path of the `lattice` executable started as `Binary serve ...` on every node.
	Binary string
	// Nodes is the cluster size: 3 by default, 5 for the majorities-ring partition; 1 to 9.
	Nodes int
	// Duration is how long clients and nemeses run, before the final heal and the checks.
	Duration time.Duration
	// Workloads to run: any of AllWorkloads, or "all". Each runs its own clients on every node.
	Workloads []string
	// Nemeses to schedule: partition (every partition shape that fits the cluster size),
	// partition-one, partition-leader, partition-halves, partition-bridge, partition-ring, loss,
	// kill, pause, restart, clock; "all" for every one, "none" (or empty) for no faults.
	Nemeses []string
	// Rate is the total target request rate in operations per second, shared by all clients.
	Rate float64
	// ClientsPerNode is the number of client goroutines per workload and node.
	ClientsPerNode int
	// Seed drives every random choice (ops, schedule, targets); 0 picks one from the clock. The seed
	// used is in the results.
	Seed int64
	// ResultsDir is the parent folder: each run writes into a new subfolder named after its start
	// time and seed, and Result.Dir names it.
	ResultsDir string
	// ServeArgs are appended to every `lattice serve` command line, e.g.
	// []string{"--test-unsafe-local-strong-reads"} for a deliberately broken run.
	ServeArgs []string

	// Subnet is the private IPv4 range for the namespaces (a /24 or larger); the root namespace
	// gets .1, node i gets .(10+i). No route leads out of it.
	Subnet string
	// Prefix names everything the suite creates (namespaces, links, the lock file); at most 5
	// characters. Leftovers carrying it are removed at the start of a run.
	Prefix string
	// HTTPPort, GossipPort and RaftPort are the ports every node listens on at its own address.
	HTTPPort, GossipPort, RaftPort int

	// NemesisMin and NemesisMax bound both the length of a fault and the quiet period after its heal.
	NemesisMin, NemesisMax time.Duration
	// LossPercent is the drop probability of the loss nemesis on each chosen link (1-100).
	LossPercent int
	// ClockSkew is the largest clock offset the clock nemesis gives a node (either sign).
	ClockSkew time.Duration

	// RequestTimeout bounds each client request; a timed-out write is indeterminate (info).
	RequestTimeout time.Duration
	// StartTimeout bounds the wait for the cluster to serve strong reads at start and after heal.
	StartTimeout time.Duration
	// ConvergeTimeout bounds the wait for every node to converge after the final heal.
	ConvergeTimeout time.Duration
	// PropagationBound is how long after a fault window an acknowledged eventual write is
	// considered not yet propagated: if its node is killed in that time, losing the write is
	// allowed by the design (counted as at risk, not as a violation).
	PropagationBound time.Duration
	// CheckTimeout bounds the linearizability search; when it expires the register check is unknown.
	CheckTimeout time.Duration

	// RegisterKeys is the number of register keys in use at once; a key is retired after
	// RegisterOpsPerKey operations so that each porcupine partition stays small.
	RegisterKeys, RegisterOpsPerKey int
	// CounterKeys and SetKeys are the numbers of PN-counter and OR-set keys.
	CounterKeys, SetKeys int
	// BankAccounts is the number of accounts, each starting with BankInitial.
	BankAccounts int
	// BankInitial is every account's opening balance.
	BankInitial int64

	// KeepData keeps the nodes' data directories in the results even when every check passed.
	KeepData bool
	// Logger receives debug and error details; nil discards them.
	Logger *slog.Logger
	// Progress receives one human-readable line every ProgressInterval; nil discards them.
	Progress io.Writer
	// ProgressInterval is the period of progress lines.
	ProgressInterval time.Duration
}

// DefaultOptions returns the defaults: 3 nodes, 60 s, every workload, partitions and kills.
func DefaultOptions() Options {
	return Options{
		Nodes:             3,
		Duration:          60 * time.Second,
		Workloads:         []string{"all"},
		Nemeses:           []string{"partition", "kill"},
		Rate:              100,
		ClientsPerNode:    2,
		ResultsDir:        "jepsen-results",
		Subnet:            "10.77.0.0/24",
		Prefix:            "ltj-",
		HTTPPort:          3500,
		GossipPort:        7946,
		RaftPort:          7000,
		NemesisMin:        5 * time.Second,
		NemesisMax:        10 * time.Second,
		LossPercent:       25,
		ClockSkew:         4 * time.Second,
		RequestTimeout:    2 * time.Second,
		StartTimeout:      60 * time.Second,
		ConvergeTimeout:   30 * time.Second,
		PropagationBound:  10 * time.Second,
		CheckTimeout:      60 * time.Second,
		RegisterKeys:      8,
		RegisterOpsPerKey: 100,
		CounterKeys:       2,
		SetKeys:           2,
		BankAccounts:      5,
		BankInitial:       100,
		ProgressInterval:  5 * time.Second,
	}
}

// Validate reports the first problem with o. It does not look at the machine (root, tools,
// binary); Run does that before touching anything.
func (o Options) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Binary == "" {
		add("binary path is required")
	}
	if o.Nodes < 1 || o.Nodes > 9 {
		add("nodes must be 1..9, got %d", o.Nodes)
	}
	if o.Duration <= 0 {
		add("duration must be positive")
	}
	if _, err := o.workloadList(); err != nil {
		errs = append(errs, err)
	}
	if _, err := o.nemesisKinds(); err != nil {
		errs = append(errs, err)
	}
	if o.Rate <= 0 {
		add("rate must be positive")
	}
	if o.ClientsPerNode < 1 {
		add("clients per node must be at least 1")
	}
	if o.ResultsDir == "" {
		add("results dir is required")
	}
	if _, err := o.subnet(); err != nil {
		errs = append(errs, err)
	}
	if o.Prefix == "" || len(o.Prefix) > 5 || strings.ContainsAny(o.Prefix, " /\t") {
		add("prefix must be 1..5 characters without spaces or slashes, got %q", o.Prefix)
	}
	for _, p := range []int{o.HTTPPort, o.GossipPort, o.RaftPort} {
		if p < 1 || p > 65535 {
			add("port %d out of range", p)
		}
	}
	if o.HTTPPort == o.GossipPort || o.HTTPPort == o.RaftPort || o.GossipPort == o.RaftPort {
		add("http, gossip and raft ports must differ")
	}
	if o.NemesisMin <= 0 || o.NemesisMax < o.NemesisMin {
		add("nemesis interval must satisfy 0 < min <= max")
	}
	if o.LossPercent < 1 || o.LossPercent > 100 {
		add("loss percent must be 1..100")
	}
	if o.ClockSkew <= 0 {
		add("clock skew must be positive")
	}
	for name, d := range map[string]time.Duration{"request timeout": o.RequestTimeout,
		"start timeout": o.StartTimeout, "converge timeout": o.ConvergeTimeout,
		"propagation bound": o.PropagationBound, "check timeout": o.CheckTimeout,
		"progress interval": o.ProgressInterval} {
		if d <= 0 {
			add("%s must be positive", name)
		}
	}
	if o.RegisterKeys < 1 || o.RegisterOpsPerKey < 1 || o.CounterKeys < 1 || o.SetKeys < 1 {
		add("register, counter and set key counts must be at least 1")
	}
	if o.BankAccounts < 2 || o.BankInitial < 1 {
		add("bank needs at least 2 accounts with a positive balance")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("jepsen: invalid options: %w", errors.Join(errs...))
}

// workloadList expands "all" and rejects unknown names; the order follows AllWorkloads.
func (o Options) workloadList() ([]string, error) {
	want := map[string]bool{}
	for _, w := range o.Workloads {
		w = strings.TrimSpace(w)
		switch {
		case w == "all":
			for _, a := range AllWorkloads {
				want[a] = true
			}
		case slices.Contains(AllWorkloads, w):
			want[w] = true
		default:
			return nil, fmt.Errorf("unknown workload %q (want %s or all)", w, strings.Join(AllWorkloads, ", "))
		}
	}
	var out []string
	for _, a := range AllWorkloads {
		if want[a] {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("at least one workload is required")
	}
	return out, nil
}

// nemesisKinds expands the nemesis names into fault kinds valid for the cluster size.
func (o Options) nemesisKinds() ([]FaultKind, error) {
	want := map[FaultKind]bool{}
	for _, name := range o.Nemeses {
		name = strings.TrimSpace(name)
		switch name {
		case "", "none":
		case "all":
			for _, k := range allFaultKinds {
				if k.fits(o.Nodes) {
					want[k] = true
				}
			}
		case "partition":
			for _, k := range allFaultKinds {
				if k.isPartition() && k.fits(o.Nodes) {
					want[k] = true
				}
			}
		default:
			k := FaultKind(name)
			if !slices.Contains(allFaultKinds, k) {
				return nil, fmt.Errorf("unknown nemesis %q", name)
			}
			if !k.fits(o.Nodes) {
				return nil, fmt.Errorf("nemesis %s needs more than %d nodes", k, o.Nodes)
			}
			want[k] = true
		}
	}
	var out []FaultKind
	for _, k := range allFaultKinds {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// subnet parses Subnet and checks it is private and large enough for the nodes.
func (o Options) subnet() (netip.Prefix, error) {
	p, err := netip.ParsePrefix(o.Subnet)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("subnet: %w", err)
	}
	p = p.Masked()
	if !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Bits() > 24 {
		return netip.Prefix{}, fmt.Errorf("subnet %s must be a private IPv4 /24 or larger", p)
	}
	return p, nil
}
