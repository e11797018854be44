// Package lattice holds the vocabulary shared by every layer of Lattice: the
// consistency and concurrency options of a request and the sentinel errors the
// API can report. It imports nothing of the module.
package lattice

import (
	"errors"
	"fmt"
	"time"
)

// Consistency is Dapr's per-request consistency option.
type Consistency uint8

const (
	// Eventual is served by the receiving node's replica (Dapr's default).
	Eventual Consistency = iota
	// Strong goes through Raft: linearizable reads, writes acknowledged once committed.
	Strong
)

// String returns the Dapr spelling of c.
func (c Consistency) String() string {
	if c == Strong {
		return "strong"
	}
	return "eventual"
}

// ParseConsistency parses Dapr's spelling; the empty string means Eventual.
func ParseConsistency(s string) (Consistency, error) {
	switch s {
	case "", "eventual":
		return Eventual, nil
	case "strong":
		return Strong, nil
	}
	return Eventual, fmt.Errorf("%w: unrecognized consistency model '%s'", ErrInvalidArgument, s)
}

// Concurrency is Dapr's per-request concurrency option.
type Concurrency uint8

const (
	// LastWrite overwrites whatever is there unless an etag is given (Dapr's default).
	LastWrite Concurrency = iota
	// FirstWrite creates only: without an etag the write fails if the key exists.
	FirstWrite
)

// String returns the Dapr spelling of c.
func (c Concurrency) String() string {
	if c == FirstWrite {
		return "first-write"
	}
	return "last-write"
}

// ParseConcurrency parses Dapr's spelling; the empty string means LastWrite.
func ParseConcurrency(s string) (Concurrency, error) {
	switch s {
	case "", "last-write":
		return LastWrite, nil
	case "first-write":
		return FirstWrite, nil
	}
	return LastWrite, fmt.Errorf("%w: unrecognized concurrency model '%s'", ErrInvalidArgument, s)
}

// Sentinel errors. Every layer wraps one of these with %w; the HTTP layer maps
// them to status codes in exactly one function.
var (
	// ErrInvalidArgument: the request is malformed or out of range.
	ErrInvalidArgument = errors.New("lattice: invalid argument")
	// ErrETagMismatch: a compare-and-set or first-write check failed against the committed value.
	ErrETagMismatch = errors.New("lattice: etag mismatch")
	// ErrWrongType: the operation does not fit the type the key already has.
	ErrWrongType = errors.New("lattice: wrong type")
	// ErrNoQuorum: a strong request could not reach a Raft quorum within its deadline.
	ErrNoQuorum = errors.New("lattice: no quorum")
	// ErrNotLeader: this node is not the Raft leader (the forwarding layer handles it).
	ErrNotLeader = errors.New("lattice: not leader")
	// ErrIndeterminate: a write was submitted but its outcome is unknown (leadership lost, timeout after forwarding).
	ErrIndeterminate = errors.New("lattice: outcome unknown")
	// ErrBackpressure: the node refuses eventual writes until fold-in or gossip catches up.
	ErrBackpressure = errors.New("lattice: backpressure")
	// ErrOverflow: a counter operation would overflow 64 bits.
	ErrOverflow = errors.New("lattice: counter overflow")
	// ErrTooLarge: a key, value or request exceeds a configured limit.
	ErrTooLarge = errors.New("lattice: too large")
	// ErrShuttingDown: the node is stopping and no longer accepts requests.
	ErrShuttingDown = errors.New("lattice: shutting down")
)

// RetryAfterError carries a hint of when a refused request may succeed. It wraps
// one of the sentinels (ErrNoQuorum, ErrBackpressure).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped sentinel.
func (e *RetryAfterError) Unwrap() error { return e.Err }
