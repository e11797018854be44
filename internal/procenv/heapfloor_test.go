package procenv

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// gogc reads the current GOGC without setting it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(int64(s[0].Value.Uint64()))
}

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

// TestKeepHeapFloorRaisesAndRestoresGOGC runs the loop on this process, whose live heap is far
// below a 1 GiB floor, and checks the setting while it runs and after it ends.
func TestKeepHeapFloorRaisesAndRestoresGOGC(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		KeepHeapFloor(ctx, 1<<30, time.Millisecond)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := gogc()
		if p == maxGCPercent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC still %d, want %d", p, maxGCPercent)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
	cancel()
	<-done
	if p := gogc(); p != 100 {
		t.Fatalf("GOGC %d after the loop ended, want 100 restored", p)
	}
}

func TestKeepHeapFloorLeavesGCOff(t *testing.T) {
	base := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(base)
	KeepHeapFloor(context.Background(), 1<<30, time.Millisecond) // returns at once
	if p := gogc(); p != -1 {
		t.Fatalf("GOGC %d, want off", p)
	}
}
