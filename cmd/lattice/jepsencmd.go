package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/lattice-state/lattice/test/jepsen"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// exitUnknown is the exit code of a `lattice jepsen` run in which no checker
// found a violation but at least one could not decide (verdict "unknown").
const exitUnknown = 3

// JepsenRunner runs the fault-injection suite; jepsen.Run in production.
type JepsenRunner func(ctx context.Context, o jepsen.Options) (jepsen.Result, error)

// jepsenCmd is `lattice jepsen`: jepsen.Options bound to flags, one flag per field.
type jepsenCmd struct {
	a        *app
	opts     jepsen.Options
	logLevel string
}

func newJepsenCmd(a *app) *cobra.Command {
	j := &jepsenCmd{a: a, opts: jepsen.DefaultOptions(), logLevel: "warn"}
	cmd := &cobra.Command{
		Use:   "jepsen",
		Short: "Run the Jepsen-style fault-injection suite against local lattice nodes",
		Long: `Start --nodes "lattice serve" processes (this executable unless --binary says
otherwise), each in its own Linux network namespace, drive them with concurrent
clients for --time while nemeses partition the network, drop packets, kill,
pause and restart nodes and skew clocks, then heal, check the recorded history
(linearizable registers, counters, sets, bank transactions, convergence) and
write a results folder under --results: history.jsonl, nemesis.jsonl,
results.json, latency and rate plots, register.html when the register check
fails, and every node's log. See docs/jepsen.md.

It needs root, ip (iproute2) and nft (nftables). Everything it creates (network
namespaces, links, nftables rules, processes) is removed when it ends; leftovers
of a run that was killed are removed at the start of the next one.

Progress goes to stdout. Ctrl-C stops the clients, heals every fault, writes what
was recorded (without verdicts) and cleans up; a second Ctrl-C exits at once.

Exit status: 0 every checker true; 1 a checker found a violation (false) or the
run could not be carried out; 2 a mistake in the command line; 3 no violation
but some checker could not decide (unknown); 130 or 143 interrupted.`,
		Example: `  sudo lattice jepsen --nodes 3 --time 60s --workload all --nemesis partition,kill --results /tmp/jepsen
  sudo lattice jepsen --nodes 5 --time 5m --nemesis partition-ring --seed 42
  sudo lattice jepsen --workload register,counter --nemesis partition-leader --serve-arg=--test-unsafe-local-strong-reads`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := j.options(cmd)
			if err != nil {
				return err
			}
			return j.run(cmd.Context(), opts)
		},
	}
	j.bindFlags(cmd.Flags())
	return cmd
}

func (j *jepsenCmd) bindFlags(f *pflag.FlagSet) {
	o := &j.opts
	f.StringVar(&o.Binary, "binary", "", "`path` of the lattice executable started as \"PATH serve ...\" on every node (default: this executable)")
	f.IntVar(&o.Nodes, "nodes", o.Nodes, "number of nodes, 1 to 9 (partition-ring needs 4 or more)")
	f.DurationVar(&o.Duration, "time", o.Duration, "how long clients and nemeses run, before the final heal and the checks")
	f.StringSliceVar(&o.Workloads, "workload", o.Workloads, "comma list of "+strings.Join(jepsen.AllWorkloads, ", ")+", or all")
	f.StringSliceVar(&o.Nemeses, "nemesis", o.Nemeses, "comma list of partition (every shape that fits), partition-one, partition-leader, partition-halves, partition-bridge, partition-ring, loss, kill, pause, restart, clock; all; none")
	f.Float64Var(&o.Rate, "rate", o.Rate, "total operations per second over all clients")
	f.IntVar(&o.ClientsPerNode, "clients", o.ClientsPerNode, "client goroutines per workload and node")
	f.Int64Var(&o.Seed, "seed", o.Seed, "seed of every random choice (0: from the clock); recorded in results.json")
	f.StringVar(&o.ResultsDir, "results", o.ResultsDir, "`dir`ectory under which each run writes a folder <time>-seed<seed>")
	f.StringArrayVar(&o.ServeArgs, "serve-arg", o.ServeArgs, "extra `flag` for every \"lattice serve\" (repeatable), e.g. --serve-arg=--test-unsafe-local-strong-reads")
	f.BoolVar(&o.KeepData, "keep-data", o.KeepData, "keep the nodes' data directories even when every check passed")

	f.StringVar(&o.Subnet, "subnet", o.Subnet, "private IPv4 range of the namespaces (/24 or larger)")
	f.StringVar(&o.Prefix, "prefix", o.Prefix, "name prefix of the namespaces, links and lock file (at most 5 characters)")
	f.IntVar(&o.HTTPPort, "http-port", o.HTTPPort, "HTTP port of every node")
	f.IntVar(&o.GossipPort, "gossip-port", o.GossipPort, "gossip port of every node")
	f.IntVar(&o.RaftPort, "raft-port", o.RaftPort, "Raft port of every node")
	f.DurationVar(&o.NemesisMin, "nemesis-min", o.NemesisMin, "shortest fault and shortest quiet period between faults")
	f.DurationVar(&o.NemesisMax, "nemesis-max", o.NemesisMax, "longest fault and longest quiet period between faults")
	f.IntVar(&o.LossPercent, "loss", o.LossPercent, "drop probability in percent on the links the loss nemesis chooses")
	f.DurationVar(&o.ClockSkew, "clock-skew", o.ClockSkew, "largest clock offset the clock nemesis gives a node (either sign)")
	f.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, "bound of each client request; a timed-out write is indeterminate")
	f.DurationVar(&o.StartTimeout, "start-timeout", o.StartTimeout, "bound of the wait for the cluster at start and after the final heal")
	f.DurationVar(&o.ConvergeTimeout, "converge-timeout", o.ConvergeTimeout, "bound of the wait for convergence after the final heal")
	f.DurationVar(&o.PropagationBound, "propagation-bound", o.PropagationBound, "how long after a fault an acknowledged eventual write may still be unpropagated (at risk)")
	f.DurationVar(&o.CheckTimeout, "check-timeout", o.CheckTimeout, "bound of the linearizability search; past it the register verdict is unknown")
	f.IntVar(&o.RegisterKeys, "register-keys", o.RegisterKeys, "register keys in use at once")
	f.IntVar(&o.RegisterOpsPerKey, "register-ops-per-key", o.RegisterOpsPerKey, "operations after which a register key is retired")
	f.IntVar(&o.CounterKeys, "counter-keys", o.CounterKeys, "PN-counter keys")
	f.IntVar(&o.SetKeys, "set-keys", o.SetKeys, "OR-set keys")
	f.IntVar(&o.BankAccounts, "bank-accounts", o.BankAccounts, "bank accounts")
	f.Int64Var(&o.BankInitial, "bank-initial", o.BankInitial, "opening balance of every bank account")
	f.DurationVar(&o.ProgressInterval, "progress-interval", o.ProgressInterval, "period of the progress lines")
	f.StringVar(&j.logLevel, "log-level", j.logLevel, "level of the suite's own log on stderr: debug, info, warn or error")
}

// options returns the run's validated options; every problem is a usage error.
func (j *jepsenCmd) options(cmd *cobra.Command) (jepsen.Options, error) {
	opts := j.opts
	if opts.Binary == "" {
		self, err := os.Executable()
		if err != nil {
			return opts, fmt.Errorf("lattice jepsen: --binary: cannot find this executable: %w", err)
		}
		opts.Binary = self
	}
	logger, err := newLogger(j.a.stderr, "text", j.logLevel)
	if err != nil {
		return opts, asUsage(cmd, err)
	}
	opts.Logger = logger
	opts.Progress = j.a.stdout
	if err := opts.Validate(); err != nil {
		return opts, asUsage(cmd, err)
	}
	return opts, nil
}

// run runs the suite and turns its outcome into the exit status. The first
// signal cancels the run (the suite heals, writes what it recorded and cleans
// up); a second one returns a signalExit at once.
func (j *jepsenCmd) run(ctx context.Context, opts jepsen.Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	interrupted, forced, stop := j.a.watchSignals(cancel, func(sig os.Signal) {
		fmt.Fprintf(j.a.stderr, "lattice jepsen: %v: stopping; healing, writing what was recorded and cleaning up (again to exit at once)\n", sig)
	})
	defer stop()

	type outcome struct {
		res jepsen.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := j.a.runJepsen(ctx, opts)
		done <- outcome{res, err}
	}()
	var out outcome
	select {
	case out = <-done:
	case sig := <-forced:
		return &exitError{code: signalCode(sig),
			msg: fmt.Sprintf("lattice jepsen: second %v: exiting at once (the next run removes what this one left)", sig)}
	}
	return verdict(received(interrupted), out.res, out.err, j.a.stdout)
}

// verdict maps a run's outcome to the command's error: nil when every checker
// said true (a summary line goes to stdout). A signal that came too late to
// stop the run does not hide its verdict.
func verdict(sig os.Signal, res jepsen.Result, err error, stdout io.Writer) error {
	where := ""
	if res.Dir != "" {
		where = fmt.Sprintf(" (results in %s)", res.Dir)
	}
	switch {
	case sig != nil && (err != nil || res.Interrupted):
		msg := fmt.Sprintf("lattice jepsen: %v: interrupted; nothing was checked%s", sig, where)
		if err != nil && !errors.Is(err, context.Canceled) {
			msg = fmt.Sprintf("lattice jepsen: %v: interrupted: %v%s", sig, err, where)
		}
		return &exitError{code: signalCode(sig), msg: msg}
	case err != nil:
		return fmt.Errorf("lattice jepsen: %w%s", err, where)
	case res.Valid == jepsen.Invalid:
		return &exitError{code: 1, msg: fmt.Sprintf("lattice jepsen: valid: false: %s found a violation%s",
			strings.Join(checkersWith(res, jepsen.Invalid), ", "), where)}
	case res.Valid == jepsen.Unknown:
		return &exitError{code: exitUnknown, msg: fmt.Sprintf("lattice jepsen: valid: unknown: %s could not decide; no violation found%s",
			strings.Join(checkersWith(res, jepsen.Unknown), ", "), where)}
	}
	fmt.Fprintf(stdout, "lattice jepsen: valid: true: every checker passed%s\n", where)
	return nil
}

// checkersWith lists, sorted, the checkers of res whose verdict is v.
func checkersWith(res jepsen.Result, v jepsen.Validity) []string {
	var out []string
	for name, c := range res.Checkers {
		if c.Valid == v {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		out = []string{"the run"}
	}
	return out
}
