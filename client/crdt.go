package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/lattice-state/lattice"
)

// CRDTType names a CRDT type on the wire.
type CRDTType string

// The CRDT types of the API.
const (
	GCounter   CRDTType = "gcounter"
	PNCounter  CRDTType = "pncounter"
	ORSet      CRDTType = "orset"
	Flag       CRDTType = "flag"
	MVRegister CRDTType = "mvregister"
	ORMap      CRDTType = "ormap"
)

// CRDTOp is one operation on a CRDT key (the body of POST /v1.0/crdt/{store}/{key}); build it
// with the constructors below. Type is the type the operation expects (or creates); Op the
// operation; Amount, Elements, Value and Field its arguments; Update the nested operation
// of an ormap update.
type CRDTOp struct {
	Type     CRDTType `json:"type"`
	Op       string   `json:"op"`
	Amount   uint64   `json:"amount,omitempty"`
	Elements []string `json:"elements,omitempty"`
	Value    any      `json:"value,omitempty"`
	Field    string   `json:"field,omitempty"`
	Update   *CRDTOp  `json:"update,omitempty"`
}

// GCounterIncrement adds n to a grow-only counter.
func GCounterIncrement(n uint64) CRDTOp { return CRDTOp{Type: GCounter, Op: "increment", Amount: n} }

// PNCounterIncrement adds n to a counter.
func PNCounterIncrement(n uint64) CRDTOp { return CRDTOp{Type: PNCounter, Op: "increment", Amount: n} }

// PNCounterDecrement subtracts n from a counter.
func PNCounterDecrement(n uint64) CRDTOp { return CRDTOp{Type: PNCounter, Op: "decrement", Amount: n} }

// ORSetAdd adds elements to a set.
func ORSetAdd(elements ...string) CRDTOp { return CRDTOp{Type: ORSet, Op: "add", Elements: elements} }

// ORSetRemove removes the elements this node has seen from a set.
func ORSetRemove(elements ...string) CRDTOp {
	return CRDTOp{Type: ORSet, Op: "remove", Elements: elements}
}

// FlagEnable sets a flag.
func FlagEnable() CRDTOp { return CRDTOp{Type: Flag, Op: "enable"} }

// FlagDisable clears a flag.
func FlagDisable() CRDTOp { return CRDTOp{Type: Flag, Op: "disable"} }

// MVRegisterAssign assigns a multi-value register; v is encoded with encoding/json.
func MVRegisterAssign(v any) CRDTOp { return CRDTOp{Type: MVRegister, Op: "assign", Value: v} }

// ORMapUpdate applies nested to the value of field in a map.
func ORMapUpdate(field string, nested CRDTOp) CRDTOp {
	return CRDTOp{Type: ORMap, Op: "update", Field: field, Update: &nested}
}

// ORMapRemove removes field from a map.
func ORMapRemove(field string) CRDTOp { return CRDTOp{Type: ORMap, Op: "remove", Field: field} }

// idempotent reports whether applying the operation twice has the effect of once: every
// operation but a counter's (possibly nested) increment or decrement.
func (op CRDTOp) idempotent() bool {
	switch {
	case op.Update != nil:
		return op.Update.idempotent()
	case op.Type == GCounter || op.Type == PNCounter:
		return false
	}
	return true
}

// CRDTValue is a CRDT key's JSON view: a number for counters, a sorted array of strings for
// sets, a bool for flags, an array of values for multi-value registers, an object of nested
// views for maps.
type CRDTValue struct {
	Key   string          `json:"key"`
	Type  CRDTType        `json:"type"`
	Value json.RawMessage `json:"value"`
	// ETag changes with every write to the key.
	ETag string `json:"-"`
}

// Decode unmarshals the view into v (a uint64 or int64 for counters, []string for sets, ...).
func (v CRDTValue) Decode(out any) error { return json.Unmarshal(v.Value, out) }

// CRDTGet reads a CRDT key; found is false when it is absent. Options: WithConsistency,
// WithStore, WithEndpoint.
func (c *Client) CRDTGet(ctx context.Context, key string, opts ...Option) (v CRDTValue, found bool, err error) {
	o, err := c.collect(opts)
	if err != nil {
		return CRDTValue{}, false, err
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: keyPath(pathCRDT, o.store, key), query: o.query(false),
		strong: o.consistency == lattice.Strong, idempotent: true, component: o.store, endpoint: o.endpoint})
	if err != nil {
		return CRDTValue{}, false, err
	}
	if resp.status == http.StatusNoContent {
		return CRDTValue{Key: key}, false, nil
	}
	v, err = decodeCRDT(resp)
	return v, err == nil, err
}

// CRDTApply applies op to key and returns the value after it on the serving node. A type
// mismatch matches lattice.ErrWrongType, an overflow lattice.ErrOverflow. Counter operations
// are not idempotent: they are not retried after a failure that may have applied them.
// Options: WithConsistency, WithStore, WithEndpoint.
func (c *Client) CRDTApply(ctx context.Context, key string, op CRDTOp, opts ...Option) (CRDTValue, error) {
	o, err := c.collect(opts)
	if err != nil {
		return CRDTValue{}, err
	}
	body, err := json.Marshal(op)
	if err != nil {
		return CRDTValue{}, fmt.Errorf("client: %w: %v", lattice.ErrInvalidArgument, err)
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: keyPath(pathCRDT, o.store, key), query: o.query(false),
		body: body, strong: o.consistency == lattice.Strong, idempotent: op.idempotent(), component: o.store, endpoint: o.endpoint})
	if err != nil {
		return CRDTValue{}, err
	}
	return decodeCRDT(resp)
}

// CRDTDelete deletes a CRDT key. Options: WithConsistency, WithStore, WithEndpoint.
func (c *Client) CRDTDelete(ctx context.Context, key string, opts ...Option) error {
	o, err := c.collect(opts)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &request{method: http.MethodDelete, path: keyPath(pathCRDT, o.store, key), query: o.query(false),
		strong: o.consistency == lattice.Strong, idempotent: true, component: o.store, endpoint: o.endpoint})
	return err
}

func decodeCRDT(resp *response) (CRDTValue, error) {
	var v CRDTValue
	if err := decode(resp, &v); err != nil {
		return CRDTValue{}, err
	}
	v.ETag = resp.header.Get("ETag")
	return v, nil
}
