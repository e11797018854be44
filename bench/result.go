package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Result holds the figures of one run. Latencies are milliseconds, throughputs operations per
// second. It marshals to the JSON that --json prints.
type Result struct {
	Target      Target   `json:"target"`
	URLs        []string `json:"urls"`
	Workload    Workload `json:"workload"`
	Consistency string   `json:"consistency"` // of the mixed and crdt-incr workloads
	ReadRatio   float64  `json:"readRatio"`   // of the mixed workload
	Mode        string   `json:"mode"`        // "closed" or "open"
	Rate        float64  `json:"rate"`        // open-loop schedule, operations per second
	Connections int      `json:"connections"`
	Keys        int      `json:"keys"`
	ValueSize   int      `json:"valueSize"`

	Start   time.Time `json:"start"`
	Seconds float64   `json:"seconds"`
	// Ops counts the operations issued, successes and errors; a cas operation is two requests.
	Ops    int64 `json:"ops"`
	Errors int64 `json:"errors"`
	// Misses counts successful reads that found no value (HTTP 204, empty etcd range).
	Misses int64 `json:"misses"`
	// Unsent counts open-loop operations the schedule asked for but the run could not send.
	Unsent int64 `json:"unsent"`
	// Throughput is successful operations per second.
	Throughput float64 `json:"throughput"`
	// Latency covers successful operations; in open loop it is measured from the intended send time.
	Latency Latency `json:"latency"`
	// ErrorKinds counts errors by kind: "http <status>" or one of the Kind constants.
	ErrorKinds map[string]int64 `json:"errorKinds,omitempty"`
	// Lags holds the Lattice lag samples; nil when not sampled.
	Lags *Lags `json:"lags,omitempty"`
	// Timeline has one entry per progress interval.
	Timeline []Interval `json:"timeline,omitempty"`

	// Reference is the reference server's run with the same options (before and after merged).
	Reference *Result `json:"reference,omitempty"`
	// Ratio is this run's figures divided by Reference's.
	Ratio *Ratio `json:"ratio,omitempty"`
	// Etcd is etcd's run with the same options (Options.EtcdURLs; before and after merged).
	Etcd *Result `json:"etcd,omitempty"`
	// EtcdRatio is this run's figures divided by Etcd's.
	EtcdRatio *Ratio `json:"etcdRatio,omitempty"`
}

// Interval is one progress period of a run.
type Interval struct {
	At         float64 `json:"atS"` // seconds from the start to the end of the interval
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50Ms"`
	P90        float64 `json:"p90Ms"`
	P99        float64 `json:"p99Ms"`
	Max        float64 `json:"maxMs"`
}

// Lags are the replication lags the Lattice sampler measured with probe writes on URLs[0].
type Lags struct {
	Probes      int64 `json:"probes"`      // probe writes acknowledged
	ProbeErrors int64 `json:"probeErrors"` // probe writes that failed
	// Visibility is ack -> value readable eventually on each other node (one sample per node per
	// probe); nil with a single URL.
	Visibility *Lag `json:"visibility,omitempty"`
	// FoldIn is ack -> value returned by a strong read on the last URL.
	FoldIn *Lag `json:"foldIn"`
}

// Lag is a lag distribution; Count is the number of samples, Timeouts those never seen in time.
type Lag struct {
	Latency
	Timeouts int64 `json:"timeouts"`
}

// Ratio is target / reference for each figure (0 where the reference figure is 0). Above 1 is
// better for Throughput and worse for the latencies.
type Ratio struct {
	Throughput float64 `json:"throughput"`
	Mean       float64 `json:"mean"`
	P50        float64 `json:"p50"`
	P90        float64 `json:"p90"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p999"`
	Max        float64 `json:"max"`
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("bench: write json: %w", err)
	}
	return nil
}

// measured is a run's result with the histogram behind its latency, for merging.
type measured struct {
	res  *Result
	hist *hdr.Histogram
}

// mergeRuns combines two runs of the same options (a comparison's runs before and after the target).
func mergeRuns(a, b measured) measured {
	h := newHist()
	h.Merge(a.hist)
	h.Merge(b.hist)
	m := *a.res
	m.Seconds = a.res.Seconds + b.res.Seconds
	m.Ops = a.res.Ops + b.res.Ops
	m.Errors = a.res.Errors + b.res.Errors
	m.Misses = a.res.Misses + b.res.Misses
	m.Unsent = a.res.Unsent + b.res.Unsent
	m.Throughput = perSecond(m.Ops-m.Errors, m.Seconds)
	m.Latency = summarize(h)
	m.ErrorKinds = nil
	for _, kinds := range []map[string]int64{a.res.ErrorKinds, b.res.ErrorKinds} {
		for k, n := range kinds {
			if m.ErrorKinds == nil {
				m.ErrorKinds = map[string]int64{}
			}
			m.ErrorKinds[k] += n
		}
	}
	m.Timeline = nil
	return measured{res: &m, hist: h}
}

// ratioOf divides the target's figures by a comparison's (the reference's or etcd's).
func ratioOf(t, ref *Result) *Ratio {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return &Ratio{
		Throughput: div(t.Throughput, ref.Throughput),
		Mean:       div(t.Latency.Mean, ref.Latency.Mean),
		P50:        div(t.Latency.P50, ref.Latency.P50),
		P90:        div(t.Latency.P90, ref.Latency.P90),
		P99:        div(t.Latency.P99, ref.Latency.P99),
		P999:       div(t.Latency.P999, ref.Latency.P999),
		Max:        div(t.Latency.Max, ref.Latency.Max),
	}
}

// perSecond is n per s seconds, 0 for an empty period.
func perSecond(n int64, s float64) float64 {
	if s <= 0 {
		return 0
	}
	return float64(n) / s
}

// nonEmpty returns nil for an empty map, so that JSON round-trips it unchanged.
func nonEmpty(m map[string]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
