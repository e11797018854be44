package raft

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchClients is the number of concurrent writers or readers of the reference figures.
const benchClients = 64

// benchTimeouts restores the default (LAN) timeouts: the test ones are short enough that a
// starved CPU under full load can cost the leader its lease.
func benchTimeouts(cfg *Config) {
	d := DefaultConfig()
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = d.HeartbeatTimeout, d.ElectionTimeout, d.LeaderLeaseTimeout
}

// runClients calls op b.N times in total from clients goroutines and reports throughput,
// latency percentiles and CPU time per operation.
func runClients(b *testing.B, clients int, unit string, op func(ctx context.Context, client, i int) error) {
	b.Helper()
	var (
		next   atomic.Int64
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, b.N)
		wg     sync.WaitGroup
		ctx    = context.Background()
		start  = time.Now()
		u0, s0 = cpuTime()
	)
	b.ResetTimer()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/clients+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					break
				}
				t0 := time.Now()
				if err := op(ctx, c, i); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	u1, s1 := cpuTime()
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	// CPU time of the whole process (all three nodes and the clients) per operation: unlike
	// throughput, this barely depends on what else the machine is running.
	b.ReportMetric(float64((u1-u0).Microseconds())/float64(len(lat)), "usr-µs/op")
	b.ReportMetric(float64((s1-s0).Microseconds())/float64(len(lat)), "sys-µs/op")
	b.ReportMetric(0, "ns/op")
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkClusterWrites: committed 100-byte writes on a 3-node cluster (loopback TCP, bolt
// files with fsync). The reference figure is writers=64; with 64 writers the throughput is
// bounded by commit latency (Little's law), so writers=256 shows the layer's capacity.
func BenchmarkClusterWrites(b *testing.B) {
	for _, writers := range []int{benchClients, 4 * benchClients} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			c := newTestCluster(b, 3, benchTimeouts)
			s := c.leader().store()
			value := bytes.Repeat([]byte("x"), 100)
			first := s.raft.LastIndex()
			runClients(b, writers, "writes", func(ctx context.Context, client, i int) error {
				cmd := setCmd(fmt.Sprintf("key-%d-%d", client, i%1000), "")
				cmd.Set.Value = value
				r, err := s.Propose(ctx, cmd)
				if err == nil && r.Status != StatusApplied {
					err = fmt.Errorf("status %v", r.Status)
				}
				return err
			})
			if entries := s.raft.LastIndex() - first; entries > 0 {
				b.ReportMetric(float64(b.N)/float64(entries), "cmds/entry")
			}
		})
	}
}

// BenchmarkClusterLinearizableReads: ReadIndex reads (leadership confirmation + local get) on the
// leader of a 3-node cluster, 64 concurrent readers.
func BenchmarkClusterLinearizableReads(b *testing.B) {
	c := newTestCluster(b, 3, benchTimeouts)
	s := c.leader().store()
	ctx := context.Background()
	for i := range 1000 {
		if _, err := s.Propose(ctx, setCmd(fmt.Sprintf("key-%d", i), "value")); err != nil {
			b.Fatal(err)
		}
	}
	runClients(b, benchClients, "reads", func(ctx context.Context, client, i int) error {
		if err := s.LinearizableRead(ctx); err != nil {
			return err
		}
		if _, ok := s.Get(fmt.Sprintf("key-%d", i%1000)); !ok {
			return fmt.Errorf("key-%d missing", i%1000)
		}
		return nil
	})
}
