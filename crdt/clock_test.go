package crdt

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type fakeTime struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.mu.Unlock()
}

func TestTimestampParts(t *testing.T) {
	ts := MakeTimestamp(1_700_000_000_123, 7)
	if ts.UnixMilli() != 1_700_000_000_123 || ts.Logical() != 7 {
		t.Fatalf("parts of %v", ts)
	}
	if MakeTimestamp(-5, 1) != MakeTimestamp(0, 1) {
		t.Fatal("negative ms not clamped")
	}
	// Logical overflow carries into the physical part.
	if next := MakeTimestamp(10, 0xffff) + 1; next != MakeTimestamp(11, 0) {
		t.Fatalf("carry: %v", next)
	}
}

func TestStampCompare(t *testing.T) {
	a := Stamp{TS: 5, Replica: "b"}
	for _, c := range []struct {
		b    Stamp
		want int
	}{{Stamp{TS: 6, Replica: "a"}, -1}, {Stamp{TS: 5, Replica: "c"}, -1}, {Stamp{TS: 5, Replica: "a"}, 1}, {a, 0}} {
		if got := a.Compare(c.b); got != c.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", a, c.b, got, c.want)
		}
	}
	if !(Stamp{}).IsZero() || a.IsZero() {
		t.Fatal("IsZero")
	}
}

func TestClockMonotonic(t *testing.T) {
	ft := &fakeTime{t: time.UnixMilli(1000)}
	c := NewClock(ClockConfig{Now: ft.now})
	prev := c.Now()
	if prev.UnixMilli() != 1000 {
		t.Fatalf("first reading %v", prev)
	}
	// Physical time frozen, then going backwards: still strictly increasing,
	// and past 65536 readings in one millisecond the physical part moves on.
	for i := range 70000 {
		if i == 100 {
			ft.set(time.UnixMilli(900))
		}
		ts := c.Now()
		if ts <= prev {
			t.Fatalf("reading %d: %v after %v", i, ts, prev)
		}
		prev = ts
	}
	if prev.UnixMilli() != 1001 {
		t.Fatalf("after 70000 readings in one ms: %v", prev)
	}
	ft.set(time.UnixMilli(5000))
	if ts := c.Now(); ts != MakeTimestamp(5000, 0) {
		t.Fatalf("physical time not adopted: %v", ts)
	}
}

func TestClockUpdate(t *testing.T) {
	ft := &fakeTime{t: time.UnixMilli(10_000)}
	c := NewClock(ClockConfig{Now: ft.now, MaxDrift: time.Second})
	remote := MakeTimestamp(10_900, 3)
	got, err := c.Update(remote)
	if err != nil || got <= remote {
		t.Fatalf("Update(%v) = %v, %v", remote, got, err)
	}
	if now := c.Now(); now <= got {
		t.Fatalf("Now %v not after update %v", now, got)
	}
	far := MakeTimestamp(11_500, 0)
	if _, err := c.Update(far); !errors.Is(err, ErrClockDrift) {
		t.Fatalf("Update(far) err = %v", err)
	}
	if now := c.Now(); now >= far {
		t.Fatalf("rejected remote adopted: %v", now)
	}
	// Offset skews the physical clock (test-only).
	skewed := NewClock(ClockConfig{Now: ft.now, Offset: 2 * time.Second})
	if ts := skewed.Now(); ts.UnixMilli() != 12_000 {
		t.Fatalf("offset reading %v", ts)
	}
	if err := (ClockConfig{MaxDrift: -1}).Validate(); err == nil {
		t.Fatal("negative drift validated")
	}
}

func TestClockConcurrent(t *testing.T) {
	c := NewClock(ClockConfig{})
	const g, n = 4, 2000
	out := make([][]Timestamp, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				out[i] = append(out[i], c.Now())
			}
		}()
	}
	wg.Wait()
	seen := map[Timestamp]bool{}
	for _, ts := range out {
		for j, x := range ts {
			if seen[x] || (j > 0 && x <= ts[j-1]) {
				t.Fatalf("duplicate or non-monotonic timestamp %v", x)
			}
			seen[x] = true
		}
	}
}
