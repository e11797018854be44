package crdt

import (
	"cmp"
	"fmt"
	"sync/atomic"
	"time"
)

// Timestamp is a hybrid logical clock reading: upper 48 bits unix
// milliseconds, lower 16 bits a logical counter. Incrementing a Timestamp
// whose logical part is full carries into the physical part, so the order of
// Timestamps as integers is the order of events.
type Timestamp uint64

const logicalBits = 16

// MakeTimestamp builds a Timestamp; negative milliseconds are clamped to 0.
func MakeTimestamp(unixMs int64, logical uint16) Timestamp {
	if unixMs < 0 {
		unixMs = 0
	}
	return Timestamp(uint64(unixMs)<<logicalBits | uint64(logical))
}

// UnixMilli returns the physical part in unix milliseconds.
func (t Timestamp) UnixMilli() int64 { return int64(t >> logicalBits) }

// Logical returns the logical counter.
func (t Timestamp) Logical() uint16 { return uint16(t) }

// String formats t as "<unixms>.<logical>".
func (t Timestamp) String() string { return fmt.Sprintf("%d.%d", t.UnixMilli(), t.Logical()) }

// ReplicaID names a replica (a node). It must never be reused by a replica
// that may have lost dots it generated (see DESIGN.md).
type ReplicaID string

// Stamp orders writes totally: timestamp first, then replica id.
type Stamp struct {
	TS      Timestamp
	Replica ReplicaID
}

// Compare returns -1, 0 or +1 as a is before, equal to or after b.
func (a Stamp) Compare(b Stamp) int {
	if c := cmp.Compare(a.TS, b.TS); c != 0 {
		return c
	}
	return cmp.Compare(a.Replica, b.Replica)
}

// IsZero reports whether a is the zero Stamp.
func (a Stamp) IsZero() bool { return a.TS == 0 && a.Replica == "" }

// ClockConfig configures a Clock.
type ClockConfig struct {
	// Now reads physical time; nil means time.Now.
	Now func() time.Time
	// MaxDrift bounds how far ahead of local physical time a remote
	// timestamp may be and still be adopted; 0 means the default (5s).
	MaxDrift time.Duration
	// Offset skews the local physical clock (test-only).
	Offset time.Duration
}

// DefaultClockConfig returns the default clock configuration.
func DefaultClockConfig() ClockConfig {
	return ClockConfig{Now: time.Now, MaxDrift: 5 * time.Second}
}

// Validate reports a configuration error.
func (c ClockConfig) Validate() error {
	if c.MaxDrift < 0 {
		return fmt.Errorf("crdt: clock: MaxDrift %v is negative", c.MaxDrift)
	}
	return nil
}

// Clock is a hybrid logical clock. It is safe for concurrent use.
type Clock struct {
	now      func() time.Time
	maxDrift int64 // milliseconds
	offset   time.Duration
	last     atomic.Uint64
}

// NewClock returns a Clock; zero fields of cfg take their defaults.
func NewClock(cfg ClockConfig) *Clock {
	d := DefaultClockConfig()
	if cfg.Now == nil {
		cfg.Now = d.Now
	}
	if cfg.MaxDrift <= 0 {
		cfg.MaxDrift = d.MaxDrift
	}
	return &Clock{now: cfg.Now, maxDrift: cfg.MaxDrift.Milliseconds(), offset: cfg.Offset}
}

func (c *Clock) physicalMs() int64 { return c.now().Add(c.offset).UnixMilli() }

// Now returns a timestamp strictly greater than every timestamp this clock
// returned or adopted before, and not below physical time.
func (c *Clock) Now() Timestamp {
	pt := uint64(MakeTimestamp(c.physicalMs(), 0))
	for {
		old := c.last.Load()
		next := max(old+1, pt)
		if c.last.CompareAndSwap(old, next) {
			return Timestamp(next)
		}
	}
}

// Update advances the clock past a timestamp received from another replica
// and returns a fresh local timestamp above both. A remote timestamp more
// than MaxDrift ahead of local physical time is rejected with ErrClockDrift
// and not adopted.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	phys := c.physicalMs()
	if remote.UnixMilli() > phys+c.maxDrift {
		return 0, fmt.Errorf("%w: remote %v is %dms ahead (max %dms)", ErrClockDrift, remote,
			remote.UnixMilli()-phys, c.maxDrift)
	}
	pt := uint64(MakeTimestamp(phys, 0))
	for {
		old := c.last.Load()
		next := max(old+1, uint64(remote)+1, pt)
		if c.last.CompareAndSwap(old, next) {
			return Timestamp(next), nil
		}
	}
}

// Last returns the latest timestamp issued or adopted, without advancing.
func (c *Clock) Last() Timestamp { return Timestamp(c.last.Load()) }
