package procenv

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, floor uint64
		base, want  int
	}{
		{10 * mib, 64 * mib, 100, 640},  // small heap: grow by the floor
		{64 * mib, 64 * mib, 100, 100},  // the floor is what GOGC=100 gives anyway
		{300 * mib, 64 * mib, 100, 100}, // large heap: GOGC as configured
		{300 * mib, 64 * mib, 150, 150}, // never below the configured GOGC
		{1 * mib, 64 * mib, 100, 2000},  // tiny heap: bounded
		{0, 64 * mib, 100, 2000},        // nothing measured yet
		{3 * mib, 64 * mib, 100, 2000},  // 2134 bounded
		{33 * mib, 64 * mib, 100, 194},  // rounded up
	} {
		if got := gcPercentFor(tc.live, tc.floor, tc.base); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB, %d MiB, %d) = %d, want %d", tc.live/mib, tc.floor/mib, tc.base, got, tc.want)
		}
	}
}

// TestKeepHeapFloorRaisesAndRestoresGOGC runs the tuner on this process, whose live heap is far
// below a 1 GiB floor, forces collections until the setting follows, and checks it is restored.
func TestKeepHeapFloorRaisesAndRestoresGOGC(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		KeepHeapFloor(ctx, 1<<30)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() != maxGCPercent {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC still %d after collections, want %d", gcPercent(), maxGCPercent)
		}
		runtime.GC()                 // each collection runs the tuner's cleanup
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
	// A second tuner in the same process stands aside instead of taking 2000 as its base.
	KeepHeapFloor(context.Background(), 1<<20)
	cancel()
	<-done
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after the tuner ended, want 100 restored", p)
	}
	runtime.GC()
	runtime.GC() // a cleanup of the ended tuner must not raise it again
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after collections with the tuner ended, want 100", p)
	}
}

func TestKeepHeapFloorLeavesGCOff(t *testing.T) {
	base := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(base)
	KeepHeapFloor(context.Background(), 1<<30) // returns at once
	if p := gcPercent(); p != -1 {
		t.Fatalf("GOGC %d, want off", p)
	}
}
