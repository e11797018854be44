package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/lattice-state/lattice"
)

// TxType is the kind of a transaction operation.
type TxType string

const (
	// TxUpsert saves the item.
	TxUpsert TxType = "upsert"
	// TxDelete deletes the item's key (its Value is ignored).
	TxDelete TxType = "delete"
)

// TxOperation is one operation of a transaction.
type TxOperation struct {
	Type TxType
	Item SetItem
}

// Transaction applies ops atomically through Raft: all or nothing, etags checked first.
// Options: WithMetadata (the transaction's metadata), WithStore, WithEndpoint. An etag
// mismatch matches lattice.ErrETagMismatch (Dapr reports it as a 500 on this route).
func (c *Client) Transaction(ctx context.Context, ops []TxOperation, opts ...Option) error {
	o, err := c.collect(opts)
	if err != nil {
		return err
	}
	type wireOp struct {
		Operation TxType      `json:"operation"`
		Request   wireSetItem `json:"request"`
	}
	wire := make([]wireOp, len(ops))
	idempotent := true
	for i, op := range ops {
		if op.Type != TxUpsert && op.Type != TxDelete {
			return fmt.Errorf("client: %w: transaction operation %q", lattice.ErrInvalidArgument, op.Type)
		}
		w, err := op.Item.wire(op.Type == TxUpsert)
		if err != nil {
			return err
		}
		wire[i] = wireOp{Operation: op.Type, Request: w}
		_, conditional := op.Item.viaRaft()
		idempotent = idempotent && !conditional
	}
	body, err := json.Marshal(struct {
		Operations []wireOp          `json:"operations"`
		Metadata   map[string]string `json:"metadata,omitempty"`
	}{wire, o.metadata})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	_, err = c.do(ctx, &request{method: http.MethodPost, path: statePath(o.store) + "/transaction", body: body,
		strong: true, idempotent: idempotent, component: o.store, endpoint: o.endpoint})
	return err
}

// Query is a state query (alpha API): a filter over dot-paths of the values, a sort order
// and a page.
type Query struct {
	// Filter is one operator object, e.g. {"EQ": {"state": "CA"}} or {"AND": [...]}.
	Filter map[string]any `json:"filter,omitempty"`
	Sort   []QuerySort    `json:"sort,omitempty"`
	Page   QueryPage      `json:"page,omitzero"`
}

// QuerySort orders by a dot-path key, "ASC" (default) or "DESC".
type QuerySort struct {
	Key   string `json:"key"`
	Order string `json:"order,omitempty"`
}

// QueryPage limits the results; Token continues a previous page.
type QueryPage struct {
	Limit int    `json:"limit,omitempty"`
	Token string `json:"token,omitempty"`
}

// QueryResult is one match of a query.
type QueryResult struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"data"`
	ETag  string          `json:"etag,omitempty"`
	Error string          `json:"error,omitempty"`
}

// QueryResponse is a page of results and the token of the next one.
type QueryResponse struct {
	Results  []QueryResult     `json:"results"`
	Token    string            `json:"token,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Query runs q. Options: WithMetadata, WithConsistency (a Lattice extension), WithStore,
// WithEndpoint.
func (c *Client) Query(ctx context.Context, q Query, opts ...Option) (QueryResponse, error) {
	o, err := c.collect(opts)
	if err != nil {
		return QueryResponse{}, err
	}
	body, err := json.Marshal(q)
	if err != nil {
		return QueryResponse{}, fmt.Errorf("client: %w: %v", lattice.ErrInvalidArgument, err)
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: pathQuery + url.PathEscape(o.store) + "/query",
		query: o.query(false), body: body, strong: o.consistency == lattice.Strong, idempotent: true,
		component: o.store, endpoint: o.endpoint})
	if err != nil {
		return QueryResponse{}, err
	}
	var out QueryResponse
	if resp.status == http.StatusNoContent || len(resp.body) == 0 {
		return out, nil
	}
	err = decode(resp, &out)
	return out, err
}
