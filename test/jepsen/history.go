package jepsen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// OpType is the outcome of an operation, as in Jepsen.
type OpType string

const (
	// OK: the operation happened.
	OK OpType = "ok"
	// Fail: the operation definitely did not take effect.
	Fail OpType = "fail"
	// Info: the outcome is unknown (timeout, connection reset, 5xx after forwarding); a write may
	// take effect at any time after its invocation.
	Info OpType = "info"
)

// Workload names used in the history for ops that are not client ops.
const (
	workloadNemesis = "nemesis"
	workloadHarness = "harness"
)

// Op is one operation of the history: a client request, a nemesis fault or a harness event.
// Times are nanoseconds since the start of the run on the monotonic clock. Only the fields that
// matter for the operation are set.
type Op struct {
	Index       int              `json:"index"`
	Process     int              `json:"process"` // client goroutine; -1 for nemesis and harness
	Client      int              `json:"client"`  // porcupine client id; renewed after an open-ended op
	Node        string           `json:"node,omitempty"`
	Workload    string           `json:"workload"`
	F           string           `json:"f"`
	Key         string           `json:"key,omitempty"`
	Consistency string           `json:"consistency,omitempty"`
	Value       string           `json:"value,omitempty"`  // register value written/read, set element, description
	Expect      string           `json:"expect,omitempty"` // register CAS: the value the etag was read with
	Found       bool             `json:"found,omitempty"`  // read: the key existed
	Amount      int64            `json:"amount,omitempty"` // counter delta, bank transfer amount
	Count       int64            `json:"count,omitempty"`  // counter read, convergence pairs compared
	From        string           `json:"from,omitempty"`   // bank transfer source
	To          string           `json:"to,omitempty"`     // bank transfer destination
	Elements    []string         `json:"elements,omitempty"`
	Accounts    map[string]int64 `json:"accounts,omitempty"`
	Nodes       []string         `json:"nodes,omitempty"` // nemesis targets
	Type        OpType           `json:"type"`
	Status      int              `json:"status,omitempty"` // HTTP status when a response arrived
	Error       string           `json:"error,omitempty"`
	Invoke      int64            `json:"invoke"`
	Complete    int64            `json:"complete"`
}

// Latency is the time between invocation and completion.
func (o Op) Latency() time.Duration { return time.Duration(o.Complete - o.Invoke) }

// recorder collects the history of a run. It is safe for concurrent use.
type recorder struct {
	base    time.Time
	mu      sync.Mutex
	ops     []Op
	clients atomic.Int64
	counts  [3]atomic.Int64 // ok, fail, info
}

// newRecorder starts a history whose times are measured from base.
func newRecorder(base time.Time) *recorder { return &recorder{base: base} }

// Now is the time since base on the monotonic clock, in nanoseconds.
func (r *recorder) Now() int64 { return int64(time.Since(r.base)) }

// NewClient allocates a fresh porcupine client id.
func (r *recorder) NewClient() int { return int(r.clients.Add(1) - 1) }

// Add appends a completed op, numbering it.
func (r *recorder) Add(op Op) {
	switch op.Type {
	case OK:
		r.counts[0].Add(1)
	case Fail:
		r.counts[1].Add(1)
	case Info:
		r.counts[2].Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = len(r.ops)
	r.ops = append(r.ops, op)
}

// Counts returns the numbers of ok, fail and info ops so far.
func (r *recorder) Counts() (ok, fail, info int64) {
	return r.counts[0].Load(), r.counts[1].Load(), r.counts[2].Load()
}

// History returns a copy of the ops sorted by invocation time.
func (r *recorder) History() []Op {
	r.mu.Lock()
	h := append([]Op(nil), r.ops...)
	r.mu.Unlock()
	sortHistory(h)
	return h
}

func sortHistory(h []Op) {
	sort.SliceStable(h, func(i, j int) bool {
		if h[i].Invoke != h[j].Invoke {
			return h[i].Invoke < h[j].Invoke
		}
		return h[i].Index < h[j].Index
	})
}

// WriteHistory writes h as JSON lines, one op per line.
func WriteHistory(w io.Writer, h []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range h {
		if err := enc.Encode(&h[i]); err != nil {
			return fmt.Errorf("jepsen: write history: %w", err)
		}
	}
	return bw.Flush()
}

// ReadHistory reads a history written by WriteHistory.
func ReadHistory(r io.Reader) ([]Op, error) {
	var h []Op
	dec := json.NewDecoder(r)
	for dec.More() {
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, fmt.Errorf("jepsen: read history: %w", err)
		}
		h = append(h, op)
	}
	return h, nil
}

// filterOps returns the ops of one workload.
func filterOps(h []Op, workload string) []Op {
	var out []Op
	for _, op := range h {
		if op.Workload == workload {
			out = append(out, op)
		}
	}
	return out
}
