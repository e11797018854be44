package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/lattice-state/lattice"
)

// Target names the protocol the tool speaks. Its string is the --target flag value.
type Target string

const (
	// TargetLattice is a Lattice cluster: the Dapr state API plus the CRDT API, and the lag samplers.
	TargetLattice Target = "lattice"
	// TargetDapr is any Dapr-compatible state API (a Dapr sidecar, Lattice, the reference server).
	TargetDapr Target = "dapr"
	// TargetEtcd is etcd's v3 HTTP gateway (/v3/kv/put, /v3/kv/range, /v3/kv/txn).
	TargetEtcd Target = "etcd"
)

// Targets lists the valid targets, for flag help.
func Targets() []Target { return []Target{TargetLattice, TargetDapr, TargetEtcd} }

// Workload names what one operation does. Its string is the --workload flag value.
type Workload string

const (
	// WorkloadSave is an eventual last-write save of a random key (etcd: put).
	WorkloadSave Workload = "save"
	// WorkloadGet is an eventual get of a random preloaded key (etcd: serializable range).
	WorkloadGet Workload = "get"
	// WorkloadStrongSave is a save with consistency strong (etcd: put).
	WorkloadStrongSave Workload = "strong-save"
	// WorkloadStrongGet is a linearizable get (Dapr: ?consistency=strong; etcd: default range).
	WorkloadStrongGet Workload = "strong-get"
	// WorkloadFirstWrite is a create-only save of a never-used key: Dapr first-write concurrency
	// without an etag (etcd: txn on create_revision == 0). A conflict is an error.
	WorkloadFirstWrite Workload = "first-write"
	// WorkloadCAS is a read-modify-write: an eventual get for the etag (etcd: serializable range for
	// mod_revision), then a save with that etag and first-write concurrency (etcd: txn on
	// mod_revision). One operation is both requests. Each connection owns a disjoint slice of the
	// keys, so conflicts mean staleness, not contention.
	WorkloadCAS Workload = "cas"
	// WorkloadMixed is a get with probability ReadRatio and a save otherwise, both with Consistency.
	WorkloadMixed Workload = "mixed"
	// WorkloadCRDTIncr is a gcounter increment through the CRDT API with Consistency (Lattice only).
	WorkloadCRDTIncr Workload = "crdt-incr"
)

// Workloads lists the valid workloads, for flag help.
func Workloads() []Workload {
	return []Workload{WorkloadSave, WorkloadGet, WorkloadStrongSave, WorkloadStrongGet,
		WorkloadFirstWrite, WorkloadCAS, WorkloadMixed, WorkloadCRDTIncr}
}

// needsPreload reports whether the workload reads keys that must exist first.
func (w Workload) needsPreload() bool {
	switch w {
	case WorkloadGet, WorkloadStrongGet, WorkloadCAS, WorkloadMixed:
		return true
	}
	return false
}

// Options configures one run. Each field's doc names the `lattice bench` flag that sets it; the
// command binds DefaultOptions() to those flags and calls Run. Options is a plain value.
type Options struct {
	// Target is the protocol (--target lattice|dapr|etcd).
	Target Target
	// URLs are base URLs such as http://127.0.0.1:3500 (--url, repeatable or comma-separated).
	// Connection i sends to URLs[i%len(URLs)]. For Lattice the lag sampler writes to URLs[0] and
	// watches the others.
	URLs []string
	// Store is the Dapr state store name (--store).
	Store string
	// Workload is what one operation does (--workload).
	Workload Workload
	// Consistency applies to the mixed and crdt-incr workloads (--consistency eventual|strong).
	Consistency lattice.Consistency
	// ReadRatio is the fraction of gets in the mixed workload, in [0,1] (--read-ratio).
	ReadRatio float64
	// Keys is the number of distinct keys (--keys).
	Keys int
	// ValueSize is the stored value's size in bytes: a JSON string, quotes included (--value-size).
	ValueSize int
	// Connections is the number of concurrent connections, one goroutine each (--connections).
	Connections int
	// Duration bounds the run in time (--duration); 0 = bounded by Ops only.
	Duration time.Duration
	// Ops bounds the run in operations (--ops); 0 = bounded by Duration only. With both, the first
	// bound reached ends the run.
	Ops int64
	// Rate is the open-loop schedule in operations per second (--rate); 0 runs closed-loop. In
	// open loop latency is measured from each operation's intended send time (no coordinated
	// omission); operations that could not be sent by the end of the schedule plus Timeout are
	// reported as Unsent.
	Rate float64
	// Timeout bounds each request (--timeout).
	Timeout time.Duration
	// Preload writes every key before the measurement when the workload reads them (--preload).
	Preload bool
	// KeyPrefix starts every key the tool writes (--key-prefix); letters, digits, '.', '_', '-'.
	KeyPrefix string
	// APIToken, when set, is sent as the dapr-api-token header (--api-token).
	APIToken string
	// LagInterval is how often the Lattice lag sampler writes a probe (--lag-interval); 0 disables.
	LagInterval time.Duration
	// LagPoll is the shortest pause between two polls for a probe's value (--lag-poll).
	LagPoll time.Duration
	// LagPrecision bounds the pause between two polls to this fraction of the time since the
	// probe's acknowledgement, when that is longer than LagPoll (--lag-precision). A sample then
	// overstates the lag by at most max(LagPoll, LagPrecision × lag) plus one get, and a slow
	// probe costs a number of polls logarithmic in its lag instead of linear: polling at a fixed
	// period loaded the target with more reads than the workload once lags grew.
	LagPrecision float64
	// LagTimeout is how long a probe is polled before it counts as a timeout (--lag-timeout).
	LagTimeout time.Duration
	// Reference also runs the reference server with the same options right before and right
	// after the target, and reports every figure as a ratio target/reference (--reference).
	Reference bool
	// ReferenceCommand runs the reference server in a process of its own, as every target runs:
	// the command (argv) serves it on a loopback port, writes its base URL as the first line of
	// its standard output and exits when its standard input closes (`lattice reference-server`).
	// Empty serves it in this process instead, where it shares the load generator's scheduler:
	// on two cores that made it about 1.5 times as fast as the same server on its own.
	ReferenceCommand []string
	// EtcdURLs, when set, also runs the same load against the etcd cluster whose v3 gateways
	// these are, right before and right after the target, and reports every figure as a ratio
	// target/etcd (--vs-etcd, which starts the cluster and keeps it up for the whole run).
	EtcdURLs []string
	// Progress receives one line per ProgressInterval while the run lasts; nil = silent.
	Progress io.Writer
	// ProgressInterval is the progress and timeline period (--progress-interval).
	ProgressInterval time.Duration
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the reference setup against a local `lattice dev` cluster:
// eventual saves, 64 connections, 100-byte values, 10k keys, 10 s closed loop.
func DefaultOptions() Options {
	return Options{
		Target:           TargetLattice,
		URLs:             []string{"http://127.0.0.1:3500", "http://127.0.0.1:3501", "http://127.0.0.1:3502"},
		Store:            "statestore",
		Workload:         WorkloadSave,
		Consistency:      lattice.Eventual,
		ReadRatio:        0.5,
		Keys:             10000,
		ValueSize:        100,
		Connections:      64,
		Duration:         10 * time.Second,
		Timeout:          5 * time.Second,
		Preload:          true,
		KeyPrefix:        "bench",
		LagInterval:      20 * time.Millisecond,
		LagPoll:          500 * time.Microsecond,
		LagPrecision:     0.05,
		LagTimeout:       10 * time.Second,
		ProgressInterval: time.Second,
	}
}

// minValueSize fits the quotes of a JSON string and a short tag.
const minValueSize = 8

// Validate reports the first invalid field.
func (o Options) Validate() error {
	var errs []error
	switch o.Target {
	case TargetLattice, TargetDapr, TargetEtcd:
	default:
		errs = append(errs, fmt.Errorf("unknown target %q", o.Target))
	}
	if len(o.URLs) == 0 {
		errs = append(errs, errors.New("no URLs"))
	}
	for _, u := range o.URLs {
		if !httpURL(u) {
			errs = append(errs, fmt.Errorf("URL %q is not http(s)://host[:port]", u))
		}
	}
	if o.Target != TargetEtcd && !validName(o.Store) {
		errs = append(errs, fmt.Errorf("store %q is not a simple name", o.Store))
	}
	switch o.Workload {
	case WorkloadSave, WorkloadGet, WorkloadStrongSave, WorkloadStrongGet, WorkloadFirstWrite,
		WorkloadCAS, WorkloadMixed:
	case WorkloadCRDTIncr:
		if o.Target != TargetLattice {
			errs = append(errs, errors.New("workload crdt-incr needs target lattice"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown workload %q", o.Workload))
	}
	if len(o.EtcdURLs) > 0 {
		if o.Target == TargetEtcd {
			errs = append(errs, errors.New("the etcd comparison needs a target other than etcd"))
		}
		if o.Workload == WorkloadCRDTIncr {
			errs = append(errs, errors.New("workload crdt-incr has no etcd equivalent to compare with"))
		}
		for _, u := range o.EtcdURLs {
			if !httpURL(u) {
				errs = append(errs, fmt.Errorf("etcd URL %q is not http(s)://host[:port]", u))
			}
		}
	}
	if o.Consistency != lattice.Eventual && o.Consistency != lattice.Strong {
		errs = append(errs, fmt.Errorf("unknown consistency %d", o.Consistency))
	}
	if o.ReadRatio < 0 || o.ReadRatio > 1 {
		errs = append(errs, fmt.Errorf("read ratio %v outside [0,1]", o.ReadRatio))
	}
	if o.Connections < 1 {
		errs = append(errs, errors.New("connections must be at least 1"))
	}
	if o.Keys < 1 {
		errs = append(errs, errors.New("keys must be at least 1"))
	}
	if o.Workload == WorkloadCAS && o.Keys < o.Connections {
		errs = append(errs, errors.New("workload cas needs at least one key per connection"))
	}
	if o.ValueSize < minValueSize {
		errs = append(errs, fmt.Errorf("value size must be at least %d bytes", minValueSize))
	}
	if o.Duration < 0 || o.Ops < 0 || (o.Duration == 0 && o.Ops == 0) {
		errs = append(errs, errors.New("set a positive duration or op count"))
	}
	if o.Rate < 0 {
		errs = append(errs, errors.New("rate must not be negative"))
	}
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("timeout must be positive"))
	}
	if !validName(o.KeyPrefix) {
		errs = append(errs, fmt.Errorf("key prefix %q: use letters, digits, '.', '_', '-'", o.KeyPrefix))
	}
	if o.LagInterval < 0 || (o.LagInterval > 0 && (o.LagPoll <= 0 || o.LagTimeout <= 0)) {
		errs = append(errs, errors.New("lag sampling needs a positive poll period and timeout"))
	}
	if !(o.LagPrecision >= 0 && o.LagPrecision < 1) {
		errs = append(errs, errors.New("lag precision must lie in [0, 1)"))
	}
	if o.ProgressInterval <= 0 {
		errs = append(errs, errors.New("progress interval must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench: invalid options: %w", err)
	}
	return nil
}

// httpURL reports whether u is an http(s) URL with a host.
func httpURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// validName accepts the characters that need no escaping in a URL path or a JSON string.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// lagEnabled reports whether this run samples replication lags.
func (o Options) lagEnabled() bool { return o.Target == TargetLattice && o.LagInterval > 0 }

// logger returns the injected logger or one that discards.
func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}
