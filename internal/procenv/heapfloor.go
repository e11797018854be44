package procenv

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultHeapFloor is the allocation a node makes between two garbage collections at least.
// With Go's default GOGC=100 a node whose live heap is 10-20 MB (a small keyspace) collects
// after every 10-20 MB of allocation: under eventual writes that was 7 collections a second and
// 13 % of its CPU, against 3 % with the floor (docs/performance.md). A large heap is unaffected.
const DefaultHeapFloor = 64 << 20

// maxGCPercent bounds the GOGC KeepHeapFloor sets while the live heap is tiny.
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

// floorMu lets one KeepHeapFloor run per process: GOGC is process-wide.
var floorMu sync.Mutex

// KeepHeapFloor raises GOGC above its value at the call (base) while the live heap is small, so
// that a collection follows about floor bytes of allocation instead of base percent of a small
// heap, and lowers it back to base as the heap grows. It sets GOGC anew after every collection,
// from the live heap that collection found, so the heap peaks near max(live + floor,
// live × (1 + base/100)) however fast it grows; a memory limit (debug.SetMemoryLimit) still
// bounds it. It runs until ctx ends and then restores base. It does nothing with GC off (a
// negative base) or while another KeepHeapFloor runs in the process.
func KeepHeapFloor(ctx context.Context, floor uint64) {
	if !floorMu.TryLock() {
		return
	}
	defer floorMu.Unlock()
	base := gcPercent()
	if base < 0 {
		return
	}
	t := &floorTuner{floor: floor, base: base, cur: base, stop: ctx.Done()}
	t.arm()
	<-ctx.Done()
	t.mu.Lock()
	t.stopped = true
	debug.SetGCPercent(base)
	t.mu.Unlock()
}

// floorTuner adjusts GOGC from a cleanup that runs after each collection.
type floorTuner struct {
	floor uint64
	base  int
	stop  <-chan struct{}

	mu      sync.Mutex
	cur     int
	stopped bool
}

// sentinel is an object made only to be collected: its cleanup marks the end of a cycle. It is
// larger than the tiny allocator's 16-byte blocks, so it is freed in the first cycle that finds
// it unreachable.
type sentinel struct{ _ [32]byte }

// arm allocates a sentinel whose cleanup adjusts GOGC and arms the next one.
func (t *floorTuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *floorTuner) {
		select {
		case <-t.stop:
			return
		default:
		}
		t.adjust()
		t.arm()
	}, t)
}

// adjust sets GOGC for the live heap the last collection found.
func (t *floorTuner) adjust() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 || sample[0].Value.Uint64() == 0 {
		return
	}
	p := gcPercentFor(sample[0].Value.Uint64(), t.floor, t.base)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped && p != t.cur {
		debug.SetGCPercent(p)
		t.cur = p
	}
}

// gcPercent reads GOGC without setting it; GC off reads as -1.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64()))
}
