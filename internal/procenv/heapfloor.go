package procenv

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultHeapFloor is the allocation a node makes between two garbage collections at least.
// With Go's default GOGC=100 a node whose live heap is 10-20 MB (a small keyspace) collects
// after every 10-20 MB of allocation: under eventual writes that was 7 collections a second and
// 13 % of its CPU, against 4 % with the floor (docs/performance.md). A large heap is unaffected.
const DefaultHeapFloor = 64 << 20

// maxGCPercent bounds the GOGC KeepHeapFloor sets while the live heap is tiny (at start).
const maxGCPercent = 2000

// gcPercentFor is the GOGC under which the heap may grow by at least floor bytes over live
// before the next collection, and never less than base.
func gcPercentFor(live, floor uint64, base int) int {
	p := maxGCPercent
	if live > 0 {
		p = int(min(uint64(maxGCPercent), (100*floor+live-1)/live))
	}
	return max(base, p)
}

// KeepHeapFloor raises GOGC above its value at the call (base) while the live heap is small, so
// that the collector runs after about floor bytes of allocation instead of base percent of a
// small heap, and lowers it back towards base as the heap grows: the heap then peaks near
// max(live + floor, live × (1 + base/100)), and a memory limit (debug.SetMemoryLimit) still
// bounds it. It looks at the live heap every period until ctx ends, then restores base. With
// GC off (a negative base) it does nothing.
func KeepHeapFloor(ctx context.Context, floor uint64, period time.Duration) {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 {
		return
	}
	defer debug.SetGCPercent(base)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	cur := base
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			// Small moves of the live heap do not change the setting.
			if p := gcPercentFor(sample[0].Value.Uint64(), floor, base); p < cur*9/10 || p > cur*11/10 {
				debug.SetGCPercent(p)
				cur = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
