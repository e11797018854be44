package crdt

import "errors"

// Sentinel errors of the package. Callers test them with errors.Is; the
// root package aliases ErrWrongType and ErrOverflow.
var (
	// ErrWrongType reports an operation on a live key of another type.
	ErrWrongType = errors.New("crdt: wrong type")
	// ErrOverflow reports a counter operation that would overflow 64 bits.
	ErrOverflow = errors.New("crdt: counter overflow")
	// ErrInvalidOp reports a malformed operation (unknown kind, missing field, zero amount).
	ErrInvalidOp = errors.New("crdt: invalid operation")
	// ErrClockDrift reports a remote timestamp too far ahead of the local physical clock.
	ErrClockDrift = errors.New("crdt: clock drift too large")
	// ErrCorrupt reports bytes that do not decode to a valid value.
	ErrCorrupt = errors.New("crdt: corrupt encoding")
)
