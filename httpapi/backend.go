package httpapi

import (
	"context"
	"time"

	"github.com/lattice-state/lattice"
)

// Backend is the state store the HTTP API serves; the node package implements it.
//
// Keys: every key a Backend sees is namespaced by store as "<store>||<key>" (see BackendKey),
// the way Dapr prefixes keys with the app id. Store names and user keys never contain "||", so the
// mapping is one to one; the Backend may treat keys as opaque strings.
//
// Values are JSON: a Dapr save hands over the compacted JSON text of the value; reads return the
// key's JSON view (a register's bytes as saved, a counter's number, a set's sorted array, ...).
//
// Errors: return nil for success and wrap one of the lattice sentinels with %w otherwise
// (lattice.ErrETagMismatch, ErrWrongType, ErrOverflow, ErrNoQuorum and ErrBackpressure inside a
// *lattice.RetryAfterError, ErrIndeterminate, ErrInvalidArgument, ErrTooLarge, ErrShuttingDown).
// Anything else is reported as an internal error (500). Every call carries the request's context
// with a deadline; implementations must return when it is done.
//
// Implementations must be safe for concurrent use: the server calls them from many goroutines.
type Backend interface {
	// Get returns the live value of key. A key that is absent, deleted or expired is reported as
	// Item{Key: key, Found: false} with a nil error.
	Get(ctx context.Context, key string, c lattice.Consistency) (Item, error)
	// BulkGet returns exactly one Item per element of keys, in the same order (duplicates
	// included), read at one point: with Strong, after a single linearizable read barrier.
	BulkGet(ctx context.Context, keys []string, c lattice.Consistency) ([]Item, error)
	// Save writes one register value (a Dapr state item). It fails with ErrETagMismatch when
	// req.ETag is set and the committed value has another ETag or does not exist, and when
	// req.Concurrency is FirstWrite without an ETag and the key exists; with ErrWrongType when the
	// key holds a live value of another CRDT type.
	Save(ctx context.Context, req SaveRequest) error
	// Delete deletes a key of any type. Without an ETag, deleting a missing key succeeds; with an
	// ETag it fails with ErrETagMismatch unless the committed value carries that ETag.
	Delete(ctx context.Context, req DeleteRequest) error
	// Transact applies req.Ops atomically through Raft: every ETag and first-write condition is
	// checked first against the committed state, then all operations apply or none does.
	// Deleting a missing key without an ETag is not an error.
	Transact(ctx context.Context, req TransactRequest) error
	// Scan calls fn with every live item whose key starts with prefix, in any order, until fn
	// returns false. The caller may keep the Items it is given; the Backend must not modify them
	// afterwards. With Strong, the scan reads committed state after a linearizable read barrier.
	Scan(ctx context.Context, prefix string, c lattice.Consistency, fn func(Item) bool) error
	// Apply applies one CRDT operation to key, creating the key with op.Type when it is absent or
	// dead, and returns the key's value after the operation as seen by the serving node. It fails
	// with ErrWrongType when the key holds a live value of another type, ErrOverflow when a
	// counter would overflow 64 bits.
	Apply(ctx context.Context, key string, op CRDTOp, c lattice.Consistency) (Item, error)
}

// Cluster is the node's view of its cluster, served under /v1.0/cluster and /v1.0/healthz; the
// node package implements it. Errors follow the same rules as Backend's. Implementations must be
// safe for concurrent use.
type Cluster interface {
	// Health returns nil when the node serves requests (GET /v1.0/healthz answers 204), and an
	// error saying why not otherwise.
	Health(ctx context.Context) error
	// Status describes this node: its id, the leader it knows, Raft indexes, fold-in backlog and
	// replica size.
	Status(ctx context.Context) (ClusterStatus, error)
	// Members lists the members known through gossip and Raft.
	Members(ctx context.Context) ([]Member, error)
	// RemoveMember removes the node id from the Raft configuration and from the gossip
	// membership. An unknown id is an ErrInvalidArgument.
	RemoveMember(ctx context.Context, id string) error
	// TransferLeadership moves Raft leadership to the node to, or to any up-to-date voter when
	// to is empty, and returns the id of the new leader.
	TransferLeadership(ctx context.Context, to string) (string, error)
}

// BackendKey returns the key a Backend sees for key in store: "<store>||<key>".
func BackendKey(store, key string) string { return store + keySeparator + key }

// keySeparator joins store and key; user keys may not contain it (Dapr's illegal-key rule).
const keySeparator = "||"

// CRDTType names the type of a key's value, as crdt.Type.String spells it.
type CRDTType string

// The CRDT types. TypeRegister is the type of every Dapr state value.
const (
	TypeRegister   CRDTType = "register"
	TypeGCounter   CRDTType = "gcounter"
	TypePNCounter  CRDTType = "pncounter"
	TypeORSet      CRDTType = "orset"
	TypeFlag       CRDTType = "flag"
	TypeMVRegister CRDTType = "mvregister"
	TypeORMap      CRDTType = "ormap"
)

// Item is one key's value as read from a Backend.
type Item struct {
	// Key is the backend key ("<store>||<key>").
	Key string
	// Found is false when the key is absent, deleted or expired; the other fields are then empty.
	Found bool
	// Value is the key's JSON view; never empty when Found.
	Value []byte
	// ETag names the write that produced the value; it changes with every write.
	ETag string
	// Type is the key's CRDT type; TypeRegister for Dapr state values.
	Type CRDTType
	// ExpireAt is when a register with a TTL expires; the zero time when it has none.
	ExpireAt time.Time
}

// SaveRequest is one Dapr state item to write as a register.
type SaveRequest struct {
	// Key is the backend key.
	Key string
	// Value is the compacted JSON text of the value ("null" when the item had none).
	Value []byte
	// ETag, when not empty, makes the save a compare-and-set against the committed value.
	ETag string
	// TTL is the time to live from the moment the write is applied; zero means no expiry, and a
	// save without a TTL removes the TTL of the previous value (Dapr's rule).
	TTL time.Duration
	// Consistency selects the plane: Eventual applies to the replica (unless an ETag or
	// FirstWrite forces Raft), Strong commits through Raft.
	Consistency lattice.Consistency
	// Concurrency FirstWrite without an ETag creates the key only if it does not exist.
	Concurrency lattice.Concurrency
	// Metadata is the item's request metadata (body metadata merged with metadata.* query
	// parameters, the query winning), ttlInSeconds included; nil when there is none.
	Metadata map[string]string
}

// DeleteRequest deletes one key.
type DeleteRequest struct {
	// Key is the backend key.
	Key string
	// ETag, when not empty, makes the delete conditional on the committed value's ETag.
	ETag string
	// Consistency selects the plane, as for SaveRequest.
	Consistency lattice.Consistency
	// Concurrency is passed through from the request (Dapr accepts it on delete).
	Concurrency lattice.Concurrency
	// Metadata holds the request's metadata.* query parameters; nil when there are none.
	Metadata map[string]string
}

// TxnOpKind is the kind of one transaction operation. The zero value is invalid.
type TxnOpKind uint8

// The transaction operations of Dapr's transaction API.
const (
	// TxnUpsert saves a register value.
	TxnUpsert TxnOpKind = iota + 1
	// TxnDelete deletes a key.
	TxnDelete
)

// String returns Dapr's spelling of k.
func (k TxnOpKind) String() string {
	switch k {
	case TxnUpsert:
		return "upsert"
	case TxnDelete:
		return "delete"
	}
	return "invalid"
}

// TxnOp is one operation of a transaction. Transactions always go through Raft, so an
// operation's own consistency option is validated and dropped.
type TxnOp struct {
	// Kind is TxnUpsert or TxnDelete.
	Kind TxnOpKind
	// Key is the backend key.
	Key string
	// Value is the compacted JSON value of an upsert ("null" when it had none); nil for a delete.
	Value []byte
	// ETag, when not empty, is checked against the committed value before anything applies.
	ETag string
	// TTL of an upsert; zero means none.
	TTL time.Duration
	// Concurrency FirstWrite without an ETag makes an upsert create-only.
	Concurrency lattice.Concurrency
	// Metadata is the operation's metadata merged with the transaction's metadata.* query
	// parameters (the query wins); nil when there is none.
	Metadata map[string]string
}

// TransactRequest is one Dapr state transaction.
type TransactRequest struct {
	// Ops are applied in order, atomically.
	Ops []TxnOp
	// Metadata is the body's top-level metadata merged with the metadata.* query parameters
	// (the query wins); nil when there is none.
	Metadata map[string]string
}

// CRDTOpKind names an operation of the CRDT API.
type CRDTOpKind string

// The CRDT operations. Which kinds fit which type: gcounter increment; pncounter increment,
// decrement; orset add, remove; flag enable, disable; mvregister assign; ormap update, remove.
const (
	OpIncrement CRDTOpKind = "increment"
	OpDecrement CRDTOpKind = "decrement"
	OpAdd       CRDTOpKind = "add"
	OpRemove    CRDTOpKind = "remove"
	OpEnable    CRDTOpKind = "enable"
	OpDisable   CRDTOpKind = "disable"
	OpAssign    CRDTOpKind = "assign"
	OpUpdate    CRDTOpKind = "update"
)

// CRDTOp is one validated operation of the CRDT API: Kind always fits Type, and only the fields
// that Kind uses are set.
type CRDTOp struct {
	// Type is the type the operation expects, or creates when the key is absent or dead.
	Type CRDTType
	// Kind is the operation.
	Kind CRDTOpKind
	// Amount of an increment or decrement; at least 1.
	Amount uint64
	// Elements added to or removed from an orset; at least one.
	Elements []string
	// Value assigned to an mvregister: compacted JSON text.
	Value []byte
	// Field of an ormap that an update or remove addresses.
	Field string
	// Nested is the operation an ormap update applies to Field's value.
	Nested *CRDTOp
}

// ClusterStatus is the body of GET /v1.0/cluster/status.
type ClusterStatus struct {
	NodeID  string        `json:"nodeId"`
	Leader  LeaderInfo    `json:"leader"`
	Raft    RaftStatus    `json:"raft"`
	FoldIn  FoldInStatus  `json:"foldIn"`
	Replica ReplicaStatus `json:"replica"`
}

// LeaderInfo names the Raft leader as this node knows it; empty fields when there is none.
type LeaderInfo struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"httpAddr"`
}

// RaftStatus reports this node's Raft state ("leader", "follower", "candidate", "shutdown") and
// indexes.
type RaftStatus struct {
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
	LastIndex    uint64 `json:"lastIndex"`
}

// FoldInStatus reports the eventual writes of this node not yet committed through Raft: how many
// keys and bytes wait, and the age in milliseconds of the oldest.
type FoldInStatus struct {
	PendingKeys  int   `json:"pendingKeys"`
	PendingBytes int64 `json:"pendingBytes"`
	LagMs        int64 `json:"lagMs"`
}

// ReplicaStatus reports the size of this node's replica.
type ReplicaStatus struct {
	Keys        int   `json:"keys"`
	MemoryBytes int64 `json:"memoryBytes"`
}

// Member is one cluster member. State is "alive", "suspect", "dead" or "left".
type Member struct {
	ID         string `json:"id"`
	HTTPAddr   string `json:"httpAddr"`
	GossipAddr string `json:"gossipAddr"`
	RaftAddr   string `json:"raftAddr"`
	State      string `json:"state"`
	Voter      bool   `json:"voter"`
	Leader     bool   `json:"leader"`
}
