package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus series. They are registered on the
// Registerer of the Config (none when it is nil), never on a global one.
type metrics struct {
	reg prometheus.Registerer

	gossipBytes   *prometheus.CounterVec
	gossipBatches *prometheus.CounterVec
	gossipErrors  *prometheus.CounterVec
	badMessages   prometheus.Counter
	clockRejects  prometheus.Counter
	staleDrops    prometheus.Counter
	backpressure  prometheus.Counter
	foldErrors    prometheus.Counter
	foldBatches   prometheus.Counter
	foldKeys      prometheus.Counter
	foldLag       prometheus.Histogram
	repairs       prometheus.Counter
	aeRounds      prometheus.Counter
	aeErrors      prometheus.Counter
	aeBytes       prometheus.Counter
	aeEntries     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "lattice", Name: name, Help: help})
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lattice", Name: name, Help: help}, labels)
	}
	m := &metrics{
		reg:           reg,
		gossipBytes:   cv("gossip_sent_bytes_total", "Bytes of delta batches sent to peers.", "transport"),
		gossipBatches: cv("gossip_sent_batches_total", "Delta batches sent to peers.", "transport"),
		gossipErrors:  cv("gossip_send_errors_total", "Delta batches that could not be sent.", "reason"),
		badMessages:   c("gossip_malformed_messages_total", "Messages from peers dropped because they did not decode."),
		clockRejects:  c("clock_drift_rejections_total", "Peer timestamps beyond the drift bound (not adopted by the clock)."),
		staleDrops:    c("gossip_stale_drops_total", "Entries older than the tombstone horizon dropped on receipt."),
		backpressure:  c("backpressure_refusals_total", "Eventual writes refused because fold-in is behind."),
		foldErrors:    c("foldin_errors_total", "Fold-in proposals that failed (retried)."),
		foldBatches:   c("foldin_batches_total", "Fold-in proposals committed."),
		foldKeys:      c("foldin_keys_total", "Keys committed by fold-in."),
		foldLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "lattice", Name: "foldin_lag_seconds",
			Help:    "Time from an eventual write's acknowledgement to its commit through fold-in.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		repairs:   c("foldin_repairs_total", "Entries folded in by repair because they stayed ahead of the committed state."),
		aeRounds:  c("antientropy_rounds_total", "Anti-entropy rounds started."),
		aeErrors:  c("antientropy_errors_total", "Anti-entropy rounds that failed."),
		aeBytes:   c("antientropy_bytes_total", "Bytes exchanged by anti-entropy (requests and answers)."),
		aeEntries: cv("antientropy_entries_total", "Entries repaired by anti-entropy.", "direction"),
	}
	if reg != nil {
		reg.MustRegister(m.gossipBytes, m.gossipBatches, m.gossipErrors, m.badMessages, m.clockRejects,
			m.staleDrops, m.backpressure, m.foldErrors, m.foldBatches, m.foldKeys, m.foldLag, m.repairs,
			m.aeRounds, m.aeErrors, m.aeBytes, m.aeEntries)
	}
	return m
}

// registerGauges adds the series read from the node's state at scrape time.
func (m *metrics) registerGauges(n *Node) {
	if m.reg == nil {
		return
	}
	g := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "lattice", Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		g("replica_keys", "Keys in this node's replica (tombstones included).", func() float64 { return float64(n.replica.Len()) }),
		g("replica_memory_bytes", "Estimated bytes held by this node's replica.", func() float64 { return float64(n.replica.MemoryBytes()) }),
		g("foldin_pending_keys", "Keys waiting to be folded into the Raft log.", func() float64 { k, _, _ := n.fold.stats(); return float64(k) }),
		g("foldin_pending_bytes", "Bytes waiting to be folded into the Raft log.", func() float64 { _, b, _ := n.fold.stats(); return float64(b) }),
		g("foldin_oldest_pending_seconds", "Age of the oldest delta not yet folded in.", func() float64 { _, _, l := n.fold.stats(); return l.Seconds() }),
		g("raft_applied_index", "Index of the last entry applied to this node's FSM.", func() float64 { return float64(n.store.Stats().AppliedIndex) }),
		g("raft_commit_index", "This node's Raft commit index.", func() float64 { return float64(n.store.Stats().CommitIndex) }),
		g("raft_is_leader", "1 when this node is the Raft leader.", func() float64 {
			if n.store.IsLeader() {
				return 1
			}
			return 0
		}),
		g("members_alive", "Live members seen by gossip, this node included.", func() float64 { return float64(len(n.peers.alive()) + 1) }),
	)
}
