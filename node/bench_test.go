package node_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/node"
	"github.com/lattice-state/lattice/test/cluster"
)

// BenchmarkVisibilityLag writes eventual values on node 1 at a fixed rate
// and measures, for a sample of the writes, the time from acknowledgement
// until the value is readable on nodes 2 and 3 (visibility lag) and until it
// is committed (fold-in lag). It also reports gossip bytes per write.
//
//	go test -run x -bench VisibilityLag -benchtime 20000x ./node/
func BenchmarkVisibilityLag(b *testing.B) {
	for _, rate := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { benchLag(b, rate) })
	}
}

func benchLag(b *testing.B, rate int) {
	c := cluster.Start(b, 3)
	writer := c.Members[0].Node()
	value := make([]byte, 100)
	for i := range value {
		value[i] = 'a'
	}
	value[0], value[len(value)-1] = '"', '"'
	const keys = 10000
	var mu sync.Mutex
	var visible, folded []time.Duration
	sample := max(rate/200, 1) // about 200 samples a second
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	b.ResetTimer()
	start := time.Now()
	n := 0
	for ; n < b.N; n++ {
		due := start.Add(time.Duration(n) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the open-loop writer
		}
		key := fmt.Sprintf("k%d", n%keys)
		_, err := writer.Save(context.Background(), node.SaveRequest{Key: key, Value: value})
		if err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		if n%sample != 0 {
			continue
		}
		e, _ := writer.ReplicaEntry(key)
		wg.Add(1)
		go func() {
			defer wg.Done()
			vis := waitFor(func() bool {
				for _, m := range c.Members[1:] {
					got, ok := m.Node().ReplicaEntry(key)
					if !ok || !crdt.Leq(e, got) {
						return false
					}
				}
				return true
			})
			fold := waitFor(func() bool {
				got, ok := writer.CommittedEntry(key)
				return ok && crdt.Leq(e, got)
			})
			mu.Lock()
			visible = append(visible, vis.Sub(acked))
			folded = append(folded, fold.Sub(acked))
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(ms(pct(visible, 50)), "visible-p50-ms")
	b.ReportMetric(ms(pct(visible, 99)), "visible-p99-ms")
	b.ReportMetric(ms(pct(folded, 50)), "fold-p50-ms")
	b.ReportMetric(ms(pct(folded, 99)), "fold-p99-ms")
	b.ReportMetric(counterSum(b, c, 0, "lattice_gossip_sent_bytes_total")/float64(n), "gossip-B/write")
}

// waitFor polls cond until it holds (at most 10 s) and returns when it did.
func waitFor(cond func() bool) time.Time {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
	return time.Now()
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// counterSum adds up the series of a counter family on member i whose labels
// include every name/value pair of labels.
func counterSum(tb testing.TB, c *cluster.Cluster, i int, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := c.Members[i].Server.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for j := 0; j+1 < len(labels); j += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[j] && lp.GetValue() == labels[j+1])
				}
				if !found {
					continue series
				}
			}
			sum += counterValue(m)
		}
	}
	return sum
}

func counterValue(m *dto.Metric) float64 { return m.GetCounter().GetValue() }

// BenchmarkHealConvergence writes keys on the minority side of a partition
// and measures the time from heal until every replica and the committed
// state agree.
//
//	go test -run x -bench HealConvergence -benchtime 1x ./node/
func BenchmarkHealConvergence(b *testing.B) {
	for range b.N {
		b.StopTimer()
		c := cluster.Start(b, 3)
		leader := c.WaitLeader(10 * time.Second)
		minority := (leader + 1) % 3
		var majority []int
		for i := range 3 {
			if i != minority {
				majority = append(majority, i)
			}
		}
		c.Net.Partition(c.IDs(minority), c.IDs(majority...))
		mn := c.Members[minority].Node()
		for i := range 10000 {
			if _, err := mn.Save(context.Background(), node.SaveRequest{Key: fmt.Sprintf("m%d", i), Value: []byte(`"v"`), Consistency: lattice.Eventual}); err != nil {
				b.Fatal(err)
			}
		}
		if _, ok := c.Members[majority[0]].Node().ReplicaEntry("m9999"); ok {
			b.Fatal("a minority write crossed the partition")
		}
		b.StartTimer()
		start := time.Now()
		c.Net.Heal()
		c.WaitConverged(60 * time.Second)
		b.ReportMetric(float64(time.Since(start))/float64(time.Millisecond), "heal-converge-ms")
		b.StopTimer()
		c.Stop()
	}
}

// BenchmarkStrongSave measures strong saves through the node API (no HTTP)
// from 64 goroutines spread over the three nodes.
//
//	go test -run x -bench StrongSave -benchtime 20000x ./node/
func BenchmarkStrongSave(b *testing.B) {
	c := cluster.Start(b, 3)
	value := []byte(`"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456"`)
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 64 {
		n := c.Members[w%3].Node()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				_, err := n.Save(context.Background(), node.SaveRequest{Key: fmt.Sprintf("k%d", i%10000), Value: value, Consistency: lattice.Strong})
				if err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
	b.ReportMetric(ms(pct(lat, 50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 99)), "p99-ms")
}
