package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lattice-state/lattice/internal/syncbuf"
	"github.com/lattice-state/lattice/test/jepsen"
)

// fakeJepsen records the options of each run and answers with res and err.
type fakeJepsen struct {
	calls []jepsen.Options
	res   jepsen.Result
	err   error
}

func (f *fakeJepsen) run(_ context.Context, o jepsen.Options) (jepsen.Result, error) {
	f.calls = append(f.calls, o)
	fmt.Fprintln(o.Progress, "jepsen: progress line")
	return f.res, f.err
}

func withJepsen(f *fakeJepsen) func(*testApp) {
	return func(ta *testApp) { ta.runJepsen = f.run }
}

func TestJepsenFlagsMapOntoOptions(t *testing.T) {
	f := &fakeJepsen{res: jepsen.Result{Dir: "/r/x", Valid: jepsen.Valid}}
	r := runCLI(t, withJepsen(f), "jepsen", "--nodes", "5", "--time", "90s", "--workload", "register,bank",
		"--nemesis", "partition-ring,kill", "--rate", "250", "--clients", "3", "--seed", "42", "--results", "/r",
		"--binary", "/opt/lattice", "--serve-arg", "--test-unsafe-local-strong-reads", "--serve-arg=--join=a:1,b:2",
		"--keep-data", "--subnet", "10.88.0.0/24", "--prefix", "ltx-", "--http-port", "4500", "--gossip-port", "8946",
		"--raft-port", "8000", "--nemesis-min", "2s", "--nemesis-max", "3s", "--loss", "40", "--clock-skew", "2s",
		"--request-timeout", "3s", "--start-timeout", "70s", "--converge-timeout", "20s", "--propagation-bound", "8s",
		"--check-timeout", "90s", "--register-keys", "4", "--register-ops-per-key", "50", "--counter-keys", "3",
		"--set-keys", "4", "--bank-accounts", "7", "--bank-initial", "1000", "--progress-interval", "1s")
	if r.code != 0 || len(f.calls) != 1 {
		t.Fatalf("exit %d, %d runs, stderr:\n%s", r.code, len(f.calls), r.stderr)
	}
	o := f.calls[0]
	want := jepsen.Options{Binary: "/opt/lattice", Nodes: 5, Duration: 90 * time.Second,
		Workloads: []string{"register", "bank"}, Nemeses: []string{"partition-ring", "kill"}, Rate: 250,
		ClientsPerNode: 3, Seed: 42, ResultsDir: "/r",
		ServeArgs: []string{"--test-unsafe-local-strong-reads", "--join=a:1,b:2"}, KeepData: true,
		Subnet: "10.88.0.0/24", Prefix: "ltx-", HTTPPort: 4500, GossipPort: 8946, RaftPort: 8000,
		NemesisMin: 2 * time.Second, NemesisMax: 3 * time.Second, LossPercent: 40, ClockSkew: 2 * time.Second,
		RequestTimeout: 3 * time.Second, StartTimeout: 70 * time.Second, ConvergeTimeout: 20 * time.Second,
		PropagationBound: 8 * time.Second, CheckTimeout: 90 * time.Second, RegisterKeys: 4, RegisterOpsPerKey: 50,
		CounterKeys: 3, SetKeys: 4, BankAccounts: 7, BankInitial: 1000, ProgressInterval: time.Second}
	got := o
	got.Logger, got.Progress = nil, nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("options\n got %+v\nwant %+v", got, want)
	}
	if o.Logger == nil || o.Progress == nil {
		t.Error("no logger or progress writer")
	}
	if !strings.Contains(r.stdout, "jepsen: progress line") || !strings.Contains(r.stdout, "valid: true") ||
		!strings.Contains(r.stdout, "/r/x") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestJepsenDefaults(t *testing.T) {
	f := &fakeJepsen{res: jepsen.Result{Valid: jepsen.Valid}}
	if r := runCLI(t, withJepsen(f), "jepsen"); r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got, want := f.calls[0], jepsen.DefaultOptions()
	if got.Binary != self {
		t.Errorf("binary %q, want this executable %q", got.Binary, self)
	}
	if got.Nodes != want.Nodes || got.Duration != want.Duration || !slices.Equal(got.Workloads, want.Workloads) ||
		!slices.Equal(got.Nemeses, want.Nemeses) || got.Seed != 0 || got.ResultsDir != want.ResultsDir ||
		got.ServeArgs != nil || got.KeepData {
		t.Errorf("defaults: %+v", got)
	}
}

func TestJepsenExitCodes(t *testing.T) {
	checkers := map[string]jepsen.CheckResult{
		"register": {Name: "register", Valid: jepsen.Valid},
		"bank":     {Name: "bank", Valid: jepsen.Invalid},
		"set":      {Name: "set", Valid: jepsen.Invalid},
		"counter":  {Name: "counter", Valid: jepsen.Unknown},
	}
	unknownOnly := map[string]jepsen.CheckResult{"register": {Valid: jepsen.Unknown}, "bank": {Valid: jepsen.Valid}}
	for _, tc := range []struct {
		name   string
		res    jepsen.Result
		err    error
		code   int
		stderr string
	}{
		{"invalid", jepsen.Result{Dir: "/r/1", Valid: jepsen.Invalid, Checkers: checkers}, nil, 1,
			"valid: false: bank, set found a violation (results in /r/1)"},
		{"unknown", jepsen.Result{Dir: "/r/2", Valid: jepsen.Unknown, Checkers: unknownOnly}, nil, exitUnknown,
			"valid: unknown: register could not decide; no violation found (results in /r/2)"},
		{"harness error", jepsen.Result{Dir: "/r/3"}, errors.New("jepsen: cluster not ready"), 1,
			"lattice jepsen: jepsen: cluster not ready (results in /r/3)"},
		{"refused", jepsen.Result{}, errors.New("jepsen: must run as root"), 1, "lattice jepsen: jepsen: must run as root\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, withJepsen(&fakeJepsen{res: tc.res, err: tc.err}), "jepsen")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || strings.Contains(r.stdout, "valid: true") {
				t.Errorf("exit %d (want %d), stdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestJepsenUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"jepsen", "extra"},
		{"jepsen", "--nodes", "0"},
		{"jepsen", "--workload", "queue"},
		{"jepsen", "--nemesis", "partition-ring", "--nodes", "3"},
		{"jepsen", "--time", "0s"},
		{"jepsen", "--log-level", "loud"},
		{"jepsen", "--rate", "fast"},
	} {
		f := &fakeJepsen{}
		r := runCLI(t, withJepsen(f), args...)
		if r.code != exitUsage || len(f.calls) != 0 || !strings.Contains(r.stderr, "Run 'lattice jepsen --help' for usage.") {
			t.Errorf("%v: exit %d, %d runs, stderr:\n%s", args, r.code, len(f.calls), r.stderr)
		}
	}
}

// TestJepsenInterrupt: the first signal cancels the run, whose partial result is reported with
// the signal's exit code; a second signal exits at once even if the run does not stop.
func TestJepsenInterrupt(t *testing.T) {
	for _, stubborn := range []bool{false, true} {
		t.Run(fmt.Sprintf("stubborn=%v", stubborn), func(t *testing.T) {
			ta := newTestApp(nil)
			started := make(chan struct{})
			release := make(chan struct{})
			defer close(release)
			ta.runJepsen = func(ctx context.Context, o jepsen.Options) (jepsen.Result, error) {
				close(started)
				if stubborn {
					<-release
				}
				<-ctx.Done()
				return jepsen.Result{Dir: "/r/int", Interrupted: true}, ctx.Err()
			}
			code := make(chan int, 1)
			go func() { code <- run([]string{"jepsen"}, ta.app) }()
			<-started
			ta.sigs <- syscall.SIGINT
			if stubborn {
				waitFor(t, 10*time.Second, "the stopping line", func() bool { return strings.Contains(ta.stderr.String(), "stopping") })
				ta.sigs <- syscall.SIGINT
			}
			select {
			case c := <-code:
				if c != 130 {
					t.Errorf("exit %d, want 130; stderr:\n%s", c, ta.stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("jepsen did not stop after the signal")
			}
			want := "interrupted; nothing was checked (results in /r/int)"
			if stubborn {
				want = "second interrupt: exiting at once"
			}
			if !strings.Contains(ta.stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, ta.stderr)
			}
		})
	}
}

// TestJepsenLateSignalKeepsVerdict: a signal that arrives once the run has finished its checks
// does not turn a verdict into "interrupted".
func TestJepsenLateSignalKeepsVerdict(t *testing.T) {
	var out syncbuf.Buffer
	err := verdict(syscall.SIGINT, jepsen.Result{Dir: "/r/late", Valid: jepsen.Valid}, nil, &out)
	if err != nil || !strings.Contains(out.String(), "valid: true") {
		t.Fatalf("err %v, stdout %q", err, out.String())
	}
	err = verdict(syscall.SIGINT, jepsen.Result{Dir: "/r/late", Valid: jepsen.Unknown, Interrupted: true}, context.Canceled, &out)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 130 {
		t.Fatalf("interrupted run: %v", err)
	}
}

// TestJepsenRealRunRefusesEarly runs the real suite with a binary that does not exist: it must
// stop before touching anything (not root, or no such binary) and exit 1.
func TestJepsenRealRunRefusesEarly(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-lattice")
	r := runCLI(t, nil, "jepsen", "--binary", missing, "--results", t.TempDir())
	want := "lattice binary: stat " + missing
	if os.Geteuid() != 0 {
		want = "must run as root"
	} else if _, err := exec.LookPath("nft"); err != nil {
		want = "not found in PATH"
	} else if _, err := exec.LookPath("ip"); err != nil {
		want = "not found in PATH"
	}
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
