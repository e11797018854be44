package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/lattice-state/lattice/bench"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// benchCmd is `lattice bench`: bench.Options bound to flags, and the output
// and etcd flags around them.
type benchCmd struct {
	a      *app
	opts   bench.Options
	json   bool
	plot   string
	etcd   bool
	vsEtcd bool
	cpus   int
}

// plotFormats are the file extensions the plot library writes.
var plotFormats = []string{".png", ".svg", ".pdf", ".jpg", ".jpeg", ".eps", ".tif", ".tiff"}

func newBenchCmd(a *app) *cobra.Command {
	b := &benchCmd{a: a, opts: bench.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency of Lattice, a Dapr state API or etcd",
		Long: `Load a Lattice cluster (--target lattice, the default: the three nodes of
"lattice dev"), any Dapr-compatible state API (--target dapr) or etcd's v3 HTTP
gateway (--target etcd) with one workload, and report throughput, latency
percentiles from an HDR histogram, errors by kind and, for Lattice, how long an
eventual write takes to be visible on the other nodes and to be folded into
Raft.

The run is closed-loop (each connection sends its next request when the last
one is answered) unless --rate sets an open-loop schedule, whose latencies are
measured from each request's intended send time. It ends after --duration or
--ops, whichever comes first. A progress line goes to stderr every
--progress-interval, the table (or --json) to stdout at the end.

--reference also measures a trivial HTTP server (net/http and a map, in a
process of its own) with the same load, right before and right after the
target, and reports each figure as a ratio of it. --etcd starts a local
three-member etcd cluster (the etcd binary must be installed: Debian's
etcd-server) and measures it instead; --vs-etcd starts one too and measures it
with the same load right before and right after the target, reporting each
figure also as a ratio of etcd's. Each workload maps to etcd's nearest request
(put for saves, linearizable range for strong gets, a create-only txn for
first-write; docs/performance.md lists them all); crdt-incr has none. Each of
--reference and --vs-etcd adds two runs of the same length to the target's.

Ctrl-C stops the run and prints the figures so far (exit 0) once the requests
in flight are answered or time out (--timeout); a second Ctrl-C exits at once.`,
		Example: `  lattice bench --workload strong-save --duration 30s --reference
  lattice bench --workload get --connections 64 --json > get.json
  lattice bench --workload mixed --read-ratio 0.9 --rate 5000 --plot latency.png
  lattice bench --etcd --workload strong-get
  lattice bench --vs-etcd --workload strong-save
  lattice bench --target dapr --url http://127.0.0.1:3500 --workload save`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := b.options(cmd)
			if err != nil {
				return err
			}
			return b.run(cmd.Context(), opts)
		},
	}
	b.bindFlags(cmd.Flags())
	return cmd
}

func (b *benchCmd) bindFlags(f *pflag.FlagSet) {
	o := &b.opts
	names := func(xs []string) string { return strings.Join(xs, ", ") }
	var targets, workloads []string
	for _, t := range bench.Targets() {
		targets = append(targets, string(t))
	}
	for _, w := range bench.Workloads() {
		workloads = append(workloads, string(w))
	}
	f.StringVar((*string)(&o.Target), "target", string(o.Target), "protocol of the target: "+names(targets))
	f.StringSliceVar(&o.URLs, "url", o.URLs, "base `URLs` of the target (repeatable or comma-separated); connection i uses URL i modulo their number")
	f.StringVar(&o.Store, "store", o.Store, "Dapr state store name")
	f.StringVar((*string)(&o.Workload), "workload", string(o.Workload), "what one operation does: "+names(workloads))
	f.Var(consistencyFlag(&o.Consistency), "consistency", "consistency of the mixed and crdt-incr workloads")
	f.Float64Var(&o.ReadRatio, "read-ratio", o.ReadRatio, "fraction of gets in the mixed workload, 0 to 1")
	f.IntVar(&o.Keys, "keys", o.Keys, "number of distinct keys")
	f.IntVar(&o.ValueSize, "value-size", o.ValueSize, "size of each stored value in bytes (a JSON string, quotes included)")
	f.IntVar(&o.Connections, "connections", o.Connections, "concurrent connections")
	f.DurationVar(&o.Duration, "duration", o.Duration, "length of the run (0: bounded by --ops only)")
	f.Int64Var(&o.Ops, "ops", o.Ops, "operations in the run (0: bounded by --duration only)")
	f.Float64Var(&o.Rate, "rate", o.Rate, "open-loop schedule in operations per second (0: closed loop)")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of each request")
	f.BoolVar(&o.Preload, "preload", o.Preload, "write every key before measuring a workload that reads them")
	f.StringVar(&o.KeyPrefix, "key-prefix", o.KeyPrefix, "prefix of every key written (letters, digits, '.', '_', '-')")
	f.StringVar(&o.APIToken, "api-token", o.APIToken, "token sent in the dapr-api-token header (env LATTICE_API_TOKEN)")
	f.DurationVar(&o.LagInterval, "lag-interval", o.LagInterval, "Lattice: how often a lag probe is written (0: no lag figures)")
	f.DurationVar(&o.LagPoll, "lag-poll", o.LagPoll, "Lattice: shortest pause between two polls for a probe's value")
	f.Float64Var(&o.LagPrecision, "lag-precision", o.LagPrecision, "Lattice: longest pause between two polls as a fraction of the probe's age (0: always --lag-poll)")
	f.DurationVar(&o.LagTimeout, "lag-timeout", o.LagTimeout, "Lattice: how long a probe is polled before it counts as a timeout")
	f.BoolVar(&o.Reference, "reference", o.Reference, "also measure a trivial HTTP server in its own process and report ratios to it")
	f.DurationVar(&o.ProgressInterval, "progress-interval", o.ProgressInterval, "period of the progress lines and of the latency timeline")
	f.BoolVar(&b.json, "json", b.json, "print the figures as JSON on stdout")
	f.StringVar(&b.plot, "plot", b.plot, "also write a plot of latency over time to `PATH` (.png, .svg, .pdf)")
	f.BoolVar(&b.etcd, "etcd", b.etcd, "start a local three-member etcd cluster and measure it (--target etcd)")
	f.BoolVar(&b.vsEtcd, "vs-etcd", b.vsEtcd, "also start a local three-member etcd cluster, measure it before and after the target, and report ratios to it")
	f.IntVar(&b.cpus, "cpus", b.cpus, "how many CPUs the load generator's own goroutines may use at once (GOMAXPROCS; 0: all); on a machine it shares with the target, fewer leave more to the target")
}

// options returns the run's validated options; every problem is a usage error.
func (b *benchCmd) options(cmd *cobra.Command) (bench.Options, error) {
	f := cmd.Flags()
	if tok := f.Lookup("api-token"); !tok.Changed {
		if v, ok := b.a.lookupEnv(envName("api-token")); ok && v != "" {
			b.opts.APIToken = v
		}
	}
	opts := b.opts
	opts.Progress = b.a.stderr
	logger, err := newLogger(b.a.stderr, "text", "warn")
	if err != nil {
		return opts, err
	}
	opts.Logger = logger
	if b.etcd {
		if f.Changed("target") && opts.Target != bench.TargetEtcd {
			return opts, usagef(cmd, "--etcd measures etcd: it cannot be combined with --target %s", opts.Target)
		}
		if f.Changed("url") {
			return opts, usagef(cmd, "--etcd measures the etcd cluster it starts: it cannot be combined with --url")
		}
		opts.Target = bench.TargetEtcd
		opts.URLs = []string{"http://127.0.0.1:2379"} // checked now, replaced by the cluster's own
	}
	if b.vsEtcd {
		if b.etcd || opts.Target == bench.TargetEtcd {
			return opts, usagef(cmd, "--vs-etcd compares the target with etcd: the target cannot be etcd itself")
		}
		opts.EtcdURLs = []string{"http://127.0.0.1:2379"} // checked now, replaced by the cluster's own
	}
	if opts.Reference {
		self, err := os.Executable()
		if err != nil {
			return opts, fmt.Errorf("lattice bench: --reference runs this binary as the reference server: %w", err)
		}
		opts.ReferenceCommand = []string{self, referenceServerCmd}
	}
	if b.cpus < 0 {
		return opts, usagef(cmd, "--cpus %d: want 0 (all) or more", b.cpus)
	}
	if b.plot != "" && !slices.Contains(plotFormats, strings.ToLower(filepath.Ext(b.plot))) {
		return opts, usagef(cmd, "--plot %s: want a file ending in one of %s", b.plot, strings.Join(plotFormats, " "))
	}
	if err := opts.Validate(); err != nil {
		return opts, asUsage(cmd, err)
	}
	return opts, nil
}

// run measures, starting etcd first with --etcd or --vs-etcd, and writes the figures. The
// first signal stops the run and writes the figures so far; a second one
// returns a signalExit at once.
func (b *benchCmd) run(ctx context.Context, opts bench.Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	interrupted, forced, stop := b.a.watchSignals(cancel, func(sig os.Signal) {
		fmt.Fprintf(b.a.stderr, "lattice bench: %v: stopping; the figures so far follow (again to exit at once)\n", sig)
	})
	defer stop()
	if b.cpus > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(b.cpus))
	}

	if b.etcd || b.vsEtcd {
		fmt.Fprintln(b.a.stderr, "lattice bench: starting a local three-member etcd cluster")
		cfg := bench.DefaultEtcdConfig()
		cfg.Logger = opts.Logger
		ec, err := bench.StartEtcdCluster(ctx, cfg)
		if err != nil {
			if sig := received(interrupted); sig != nil {
				return interruptedExit(sig, "while etcd was starting")
			}
			flag := "--etcd"
			if b.vsEtcd {
				flag = "--vs-etcd"
			}
			return fmt.Errorf("lattice bench: %s: %w", flag, err)
		}
		defer func() {
			fmt.Fprintln(b.a.stderr, "lattice bench: stopping etcd")
			if err := ec.Stop(); err != nil {
				fmt.Fprintf(b.a.stderr, "lattice bench: %v\n", err)
			}
		}()
		if b.etcd {
			opts.URLs = ec.ClientURLs()
		} else {
			opts.EtcdURLs = ec.ClientURLs()
		}
		fmt.Fprintf(b.a.stderr, "lattice bench: etcd ready at %s\n", strings.Join(ec.ClientURLs(), " "))
	}

	type outcome struct {
		res *bench.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := bench.Run(ctx, opts)
		done <- outcome{res, err}
	}()
	var out outcome
	select {
	case out = <-done:
	case sig := <-forced:
		return signalExit(sig)
	}
	sig := received(interrupted)
	if out.res == nil {
		if sig != nil {
			return interruptedExit(sig, "before any figures")
		}
		return fmt.Errorf("lattice bench: %w", out.err)
	}
	if err := b.write(out.res); err != nil {
		return err
	}
	if out.err != nil && !(sig != nil && errors.Is(out.err, context.Canceled)) {
		return fmt.Errorf("lattice bench: %w", out.err)
	}
	return nil
}

// write prints the figures and writes the plot.
func (b *benchCmd) write(res *bench.Result) error {
	var err error
	if b.json {
		err = res.WriteJSON(b.a.stdout)
	} else {
		err = res.WriteTable(b.a.stdout)
	}
	if err != nil {
		return fmt.Errorf("lattice bench: %w", err)
	}
	if b.plot != "" {
		if err := res.WritePlot(b.plot); err != nil {
			return fmt.Errorf("lattice bench: %w", err)
		}
		fmt.Fprintf(b.a.stderr, "lattice bench: latency plot written to %s\n", b.plot)
	}
	return nil
}

// received returns the signal on ch, or nil when there is none.
func received(ch <-chan os.Signal) os.Signal {
	select {
	case sig := <-ch:
		return sig
	default:
		return nil
	}
}

// interruptedExit is the error of a run stopped by sig before it had figures:
// the shell convention 128 + signal number.
func interruptedExit(sig os.Signal, when string) error {
	return &exitError{code: signalCode(sig), msg: fmt.Sprintf("lattice bench: %v %s", sig, when)}
}

// watchSignals runs the two-stage interrupt of long commands: the first
// signal is announced, recorded on interrupted and cancels the work; the
// second is delivered on forced so the command can exit at once. stop ends
// the watch.
func (a *app) watchSignals(cancel context.CancelFunc, announce func(os.Signal)) (interrupted, forced <-chan os.Signal, stop func()) {
	sigs, stopSignals := a.notify()
	first := make(chan os.Signal, 1)
	second := make(chan os.Signal, 1)
	finished := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			announce(sig)
			first <- sig
			cancel()
		case <-finished:
			return
		}
		select {
		case sig := <-sigs:
			second <- sig
		case <-finished:
		}
	}()
	return first, second, func() {
		close(finished)
		stopSignals()
	}
}
