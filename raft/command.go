package raft

import (
	"fmt"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
)

// Op is the kind of a Command. The zero value is invalid; values are only ever added, never
// renumbered, because they are stored in the log.
type Op uint8

const (
	// OpInvalid is the zero Op; a command carrying it is rejected.
	OpInvalid Op = iota
	// OpSet writes an LWW register value (Dapr save), with optional etag and first-write checks.
	OpSet
	// OpDelete deletes a key (Dapr delete), with the same checks as OpSet.
	OpDelete
	// OpTxn applies many sets and deletes atomically after checking every etag first.
	OpTxn
	// OpMerge joins the command's Merges and reports the entries of Keys (fold-in, strong CRDT ops).
	OpMerge
	// OpExpire turns registers whose TTL passed at the command's Now into tombstones.
	OpExpire
	// OpCollect drops tombstones older than Horizon and records the horizon.
	OpCollect
	// OpRead joins the command's Merges and reports the entries of Keys (strong read of a key
	// the receiving node holds uncommitted state for).
	OpRead

	opEnd // one past the last valid Op
)

var opNames = [...]string{"invalid", "set", "delete", "txn", "merge", "expire", "collect", "read"}

// String returns the op's name.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Command is one request to the FSM. Several commands may share a log entry; each gets its own
// Result. Merges (replica state of the keys involved) are joined first, whatever the outcome of
// the command's own checks.
type Command struct {
	// Op selects which of the fields below are used.
	Op Op
	// RequestID, when set, makes the command idempotent: a retry after a lost response answers
	// StatusAlreadyApplied instead of being applied again (OpSet, OpDelete, OpTxn).
	RequestID string
	// Now is the proposer's clock (unix ms): TTL base for sets, liveness for checks, the expiry
	// time for OpExpire. The FSM never reads a clock.
	Now int64
	// Merges are joined into the keyspace before the command runs.
	Merges []crdt.KV
	// Set is the write of OpSet.
	Set *SetCmd
	// Delete is the delete of OpDelete.
	Delete *DeleteCmd
	// Txn holds the operations of OpTxn, applied in order.
	Txn []TxnItem
	// Keys are reported in Result.Entries by OpMerge and OpRead.
	Keys []string
	// Horizon is OpCollect's collection horizon.
	Horizon crdt.Timestamp
}

// SetCmd is a Dapr save of one key.
type SetCmd struct {
	// Key and Value are the key and its new raw value.
	Key   string
	Value []byte
	// TTLSeconds > 0 expires the value TTLSeconds after the command's Now.
	TTLSeconds int64
	// ETag is compared with the committed entry's etag when HasETag is set.
	ETag    string
	HasETag bool
	// FirstWrite without an etag fails if the key holds a live value.
	FirstWrite bool
	// Proposed is the write's stamp; the FSM raises its timestamp above the key's newest one.
	Proposed crdt.Stamp
}

// DeleteCmd is a Dapr delete of one key; the fields mean what they mean in SetCmd.
type DeleteCmd struct {
	Key        string
	ETag       string
	HasETag    bool
	FirstWrite bool
	Proposed   crdt.Stamp
}

// TxnItem is one operation of a transaction: exactly one of Set and Delete is set.
type TxnItem struct {
	Set    *SetCmd
	Delete *DeleteCmd
}

// Status is the outcome of one command.
type Status uint8

const (
	// StatusUnknown is the zero Status; the FSM never returns it.
	StatusUnknown Status = iota
	// StatusApplied: the command took effect.
	StatusApplied
	// StatusAlreadyApplied: a command with the same RequestID took effect earlier; ETag and
	// Index are those of that earlier application.
	StatusAlreadyApplied
	// StatusETagMismatch: an etag or first-write check failed; ETag is the current etag.
	StatusETagMismatch
	// StatusNotFound: an etag was given for a key that is absent, deleted or expired.
	StatusNotFound
	// StatusWrongType: the key holds a value of a type the command cannot write.
	StatusWrongType
	// StatusInvalid: the command is malformed (empty key, missing payload, unknown op).
	StatusInvalid
)

var statusNames = [...]string{"unknown", "applied", "already-applied", "etag-mismatch", "not-found", "wrong-type", "invalid"}

// String returns the status name.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Result is the FSM's answer to one command.
type Result struct {
	// Status is the outcome.
	Status Status
	// ETag is the key's etag after an applied set (empty after a delete), or the current etag on
	// a mismatch (empty when the key is missing).
	ETag string
	// Key names the key a failed check refers to (useful for transactions).
	Key string
	// Index is the log index of the entry that carried the command (for AlreadyApplied, of the
	// entry that applied it first).
	Index uint64
	// Entries holds, for OpMerge and OpRead, the committed entries of the requested keys that
	// exist (tombstones included), in request order.
	Entries []crdt.KV
	// Count is the number of keys expired (OpExpire) or tombstones dropped (OpCollect).
	Count int
}

// Err maps a failed status to the lattice sentinel it stands for; nil when the command took effect.
func (r Result) Err() error {
	switch r.Status {
	case StatusApplied, StatusAlreadyApplied:
		return nil
	case StatusETagMismatch:
		return fmt.Errorf("raft: key %q: %w", r.Key, lattice.ErrETagMismatch)
	case StatusNotFound:
		return fmt.Errorf("raft: key %q does not exist: %w", r.Key, lattice.ErrETagMismatch)
	case StatusWrongType:
		return fmt.Errorf("raft: key %q: %w", r.Key, lattice.ErrWrongType)
	}
	return fmt.Errorf("raft: command %s: %w", r.Status, lattice.ErrInvalidArgument)
}

// validate checks the shape of c: what a well-formed proposer never gets wrong.
func (c *Command) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("raft: invalid %s command: %s: %w", c.Op, fmt.Sprintf(format, args...), lattice.ErrInvalidArgument)
	}
	for _, kv := range c.Merges {
		if kv.Key == "" {
			return bad("merge with an empty key")
		}
	}
	switch c.Op {
	case OpSet, OpDelete:
		if (c.Op == OpSet) == (c.Set == nil) || (c.Op == OpDelete) == (c.Delete == nil) {
			return bad("missing payload")
		}
		if why := (TxnItem{Set: c.Set, Delete: c.Delete}).invalid(); why != "" {
			return bad("%s", why)
		}
	case OpTxn:
		for i, it := range c.Txn {
			if why := it.invalid(); why != "" {
				return bad("item %d: %s", i, why)
			}
		}
	case OpMerge, OpRead:
		for _, k := range c.Keys {
			if k == "" {
				return bad("empty key")
			}
		}
	case OpExpire, OpCollect:
	default:
		return bad("unknown op")
	}
	return nil
}

// invalid describes what is wrong with a set or delete, or returns "".
func (it TxnItem) invalid() string {
	var key string
	var replica crdt.ReplicaID
	switch {
	case (it.Set == nil) == (it.Delete == nil):
		return "exactly one of set and delete is required"
	case it.Set != nil:
		if it.Set.TTLSeconds < 0 || it.Set.TTLSeconds > maxTTLSeconds {
			return fmt.Sprintf("ttl %d out of range", it.Set.TTLSeconds)
		}
		key, replica = it.Set.Key, it.Set.Proposed.Replica
	default:
		key, replica = it.Delete.Key, it.Delete.Proposed.Replica
	}
	switch {
	case key == "":
		return "empty key"
	case replica == "":
		return "proposed stamp without replica"
	}
	return ""
}

// maxTTLSeconds is Dapr's TTL bound (a 32-bit second count).
const maxTTLSeconds = 1<<31 - 1
