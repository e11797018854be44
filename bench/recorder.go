package bench

import (
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms count microseconds from 1 µs to 1 hour with 3 significant digits (0.1% error).
const (
	histMinMicros = 1
	histMaxMicros = int64(time.Hour / time.Microsecond)
	histSigFigs   = 3
)

// newHist returns an empty latency histogram.
func newHist() *hdr.Histogram { return hdr.New(histMinMicros, histMaxMicros, histSigFigs) }

// recordDuration adds d to h, clamped into the trackable range.
func recordDuration(h *hdr.Histogram, d time.Duration) {
	us := d.Microseconds()
	us = max(us, histMinMicros)
	us = min(us, histMaxMicros)
	_ = h.RecordValue(us) // cannot fail: us is within the trackable range
}

// Latency summarises a histogram in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"meanMs"`
	Min   float64 `json:"minMs"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	P999  float64 `json:"p999Ms"`
	Max   float64 `json:"maxMs"`
}

// summarize reads the figures of h; an empty histogram gives zeros.
func summarize(h *hdr.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		Min:   ms(h.Min()),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// recorder collects one worker's outcomes. The worker records; the progress ticker drains the
// interval part. Safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	total    *hdr.Histogram // successful operations, whole run
	interval *hdr.Histogram // successful operations since the last drain
	ops      int64          // operations issued, successes and errors
	errs     int64
	misses   int64
	kinds    map[string]int64
	iops     int64
	ierrs    int64
}

func newRecorder() *recorder {
	return &recorder{total: newHist(), interval: newHist(), kinds: map[string]int64{}}
}

// record adds one operation's outcome. Only successes enter the latency histograms.
func (r *recorder) record(d time.Duration, err error, miss bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops++
	r.iops++
	if err != nil {
		r.errs++
		r.ierrs++
		r.kinds[classify(err)]++
		return
	}
	if miss {
		r.misses++
	}
	recordDuration(r.total, d)
	recordDuration(r.interval, d)
}

// drain moves the interval figures into agg and resets them.
func (r *recorder) drain(agg *hdr.Histogram) (ops, errs int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	agg.Merge(r.interval)
	r.interval.Reset()
	ops, errs = r.iops, r.ierrs
	r.iops, r.ierrs = 0, 0
	return ops, errs
}

// lagRecorder collects lag samples (ack -> visible). Safe for concurrent use.
type lagRecorder struct {
	mu       sync.Mutex
	hist     *hdr.Histogram
	timeouts int64
}

func newLagRecorder() *lagRecorder { return &lagRecorder{hist: newHist()} }

func (l *lagRecorder) record(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recordDuration(l.hist, d)
}

func (l *lagRecorder) timeout() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timeouts++
}

// figures returns the lag summary so far.
func (l *lagRecorder) figures() *Lag {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &Lag{Latency: summarize(l.hist), Timeouts: l.timeouts}
}
