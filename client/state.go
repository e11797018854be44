package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lattice-state/lattice"
)

// API paths.
const (
	pathState          = "/v1.0/state/"
	pathQuery          = "/v1.0-alpha1/state/"
	pathCRDT           = "/v1.0/crdt/"
	pathClusterStatus  = "/v1.0/cluster/status"
	pathClusterMembers = "/v1.0/cluster/members"
	pathTransfer       = "/v1.0/cluster/transfer-leadership"
	pathHealthz        = "/v1.0/healthz"
	pathMetadata       = "/v1.0/metadata"
)

// SetItem is one item of a save (Dapr's SetRequest).
type SetItem struct {
	// Key is the state key.
	Key string
	// Value is encoded with encoding/json; a json.RawMessage is sent as it is but for
	// insignificant whitespace, which encoding/json drops (it must be valid JSON). A nil
	// Value saves JSON null.
	Value any
	// ETag, when set, makes the write a compare-and-set against the committed value.
	ETag string
	// Consistency and Concurrency are Dapr's options of the item.
	Consistency lattice.Consistency
	Concurrency lattice.Concurrency
	// TTL gives the value a time to live, rounded up to whole seconds; negative means -1
	// (Dapr's "persist"), zero none.
	TTL time.Duration
	// Metadata is sent as the item's metadata.
	Metadata map[string]string
}

// Item is a value read with Get.
type Item struct {
	Key string
	// Value is the stored JSON, byte for byte.
	Value json.RawMessage
	// ETag names the write that produced the value.
	ETag string
	// Metadata holds the response metadata, e.g. ttlExpireTime; HTTP header names are case
	// insensitive, so keys other than ttlExpireTime arrive in lower case.
	Metadata map[string]string
}

// Decode unmarshals the value into v.
func (i Item) Decode(v any) error { return json.Unmarshal(i.Value, v) }

// ExpireTime returns the ttlExpireTime metadata, when the value has a TTL.
func (i Item) ExpireTime() (time.Time, bool) {
	s, ok := i.Metadata["ttlExpireTime"]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}

// BulkItem is one key of a bulk get.
type BulkItem struct {
	Key      string            `json:"key"`
	Value    json.RawMessage   `json:"data,omitempty"`
	ETag     string            `json:"etag,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Error is the per-key failure the server reported inside its 200 answer.
	Error string `json:"error,omitempty"`
}

// Found reports whether the key has a value.
func (b BulkItem) Found() bool { return b.Value != nil }

// wireSetItem is Dapr's SetRequest (and a transaction operation's request).
type wireSetItem struct {
	Key      string            `json:"key"`
	Value    json.RawMessage   `json:"value,omitempty"`
	ETag     string            `json:"etag,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Options  *wireOptions      `json:"options,omitempty"`
}

type wireOptions struct {
	Concurrency string `json:"concurrency,omitempty"`
	Consistency string `json:"consistency,omitempty"`
}

// wire encodes the item; withValue is false for a transaction's delete.
func (s SetItem) wire(withValue bool) (wireSetItem, error) {
	if s.Key == "" {
		return wireSetItem{}, fmt.Errorf("client: %w: empty key", lattice.ErrInvalidArgument)
	}
	w := wireSetItem{Key: s.Key, ETag: s.ETag, Metadata: ttlMetadata(s.Metadata, s.TTL)}
	if withValue {
		v, err := encodeValue(s.Value)
		if err != nil {
			return w, fmt.Errorf("client: key %q: %w", s.Key, err)
		}
		w.Value = v
	}
	if s.Consistency != lattice.Eventual || s.Concurrency != lattice.LastWrite {
		w.Options = &wireOptions{Consistency: s.Consistency.String(), Concurrency: s.Concurrency.String()}
	}
	return w, nil
}

// viaRaft reports whether the item's write goes through Raft, and conditional whether
// sending it twice could turn a success into a spurious conflict.
func (s SetItem) viaRaft() (strong, conditional bool) {
	conditional = s.ETag != "" || s.Concurrency == lattice.FirstWrite
	return conditional || s.Consistency == lattice.Strong, conditional
}

func encodeValue(v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%w: value is not valid JSON", lattice.ErrInvalidArgument)
		}
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", lattice.ErrInvalidArgument, err)
	}
	return b, nil
}

func statePath(store string) string { return pathState + url.PathEscape(store) }

func keyPath(prefix, store, key string) string {
	return prefix + url.PathEscape(store) + "/" + url.PathEscape(key)
}

// Save saves items in one request (Dapr's bulk save: not atomic, each item is applied on its
// own). Options: WithStore, WithEndpoint, WithMetadata (sent as query metadata, which wins
// over the items' own).
func (c *Client) Save(ctx context.Context, items []SetItem, opts ...Option) error {
	o, err := c.collect(opts)
	if err != nil {
		return err
	}
	req := &request{method: http.MethodPost, path: statePath(o.store), query: o.query(false),
		component: o.store, endpoint: o.endpoint, idempotent: true}
	wire := make([]wireSetItem, len(items))
	for i, it := range items {
		if wire[i], err = it.wire(true); err != nil {
			return err
		}
		strong, conditional := it.viaRaft()
		req.strong = req.strong || strong
		req.idempotent = req.idempotent && !conditional
	}
	if req.body, err = json.Marshal(wire); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	_, err = c.do(ctx, req)
	return err
}

// Set saves one value. Options: WithETag, WithConsistency, WithConcurrency, WithTTL,
// WithMetadata (the item's metadata), WithStore, WithEndpoint.
func (c *Client) Set(ctx context.Context, key string, value any, opts ...Option) error {
	o, err := c.collect(opts)
	if err != nil {
		return err
	}
	item := SetItem{Key: key, Value: value, ETag: o.etag, Consistency: o.consistency,
		Concurrency: o.concurrency, TTL: o.ttl, Metadata: o.metadata}
	return c.Save(ctx, []SetItem{item}, WithStore(o.store), WithEndpoint(o.endpoint))
}

// Get reads key; found is false when it has no value (Dapr's 204). Options:
// WithConsistency, WithMetadata, WithStore, WithEndpoint.
func (c *Client) Get(ctx context.Context, key string, opts ...Option) (item Item, found bool, err error) {
	o, err := c.collect(opts)
	if err != nil {
		return Item{}, false, err
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: keyPath(pathState, o.store, key),
		query: o.query(false), strong: o.consistency == lattice.Strong, idempotent: true,
		component: o.store, endpoint: o.endpoint})
	if err != nil {
		return Item{}, false, err
	}
	if resp.status == http.StatusNoContent {
		return Item{Key: key}, false, nil
	}
	return Item{Key: key, Value: resp.body, ETag: resp.header.Get("ETag"), Metadata: headerMetadata(resp.header)}, true, nil
}

// headerMetadata collects the metadata.<k> response headers.
func headerMetadata(h http.Header) map[string]string {
	var md map[string]string
	for name, vs := range h {
		k, ok := strings.CutPrefix(strings.ToLower(name), "metadata.")
		if !ok || len(vs) == 0 {
			continue
		}
		if k == "ttlexpiretime" {
			k = "ttlExpireTime"
		}
		if md == nil {
			md = map[string]string{}
		}
		md[k] = vs[0]
	}
	return md
}

// Delete deletes key (no error when it does not exist, unless an etag is given). Options:
// WithETag (If-Match), WithConsistency, WithConcurrency, WithMetadata, WithStore, WithEndpoint.
func (c *Client) Delete(ctx context.Context, key string, opts ...Option) error {
	o, err := c.collect(opts)
	if err != nil {
		return err
	}
	strong, conditional := SetItem{ETag: o.etag, Consistency: o.consistency, Concurrency: o.concurrency}.viaRaft()
	req := &request{method: http.MethodDelete, path: keyPath(pathState, o.store, key), query: o.query(true),
		strong: strong, idempotent: !conditional, component: o.store, endpoint: o.endpoint}
	if o.etag != "" {
		req.header = http.Header{"If-Match": {o.etag}}
	}
	_, err = c.do(ctx, req)
	return err
}

// BulkGet reads keys, in order; a missing key comes back with Found() false and a per-key
// failure with Error set. Options: WithParallelism, WithMetadata, WithConsistency (a
// Lattice extension Dapr ignores), WithStore, WithEndpoint.
func (c *Client) BulkGet(ctx context.Context, keys []string, opts ...Option) ([]BulkItem, error) {
	o, err := c.collect(opts)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(struct {
		Keys        []string          `json:"keys"`
		Parallelism int               `json:"parallelism,omitempty"`
		Metadata    map[string]string `json:"metadata,omitempty"`
	}{Keys: append([]string{}, keys...), Parallelism: o.parallelism, Metadata: o.metadata})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	q := url.Values{}
	if o.hasConsistency {
		q.Set("consistency", o.consistency.String())
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: statePath(o.store) + "/bulk", query: q,
		body: body, strong: o.consistency == lattice.Strong, idempotent: true, component: o.store, endpoint: o.endpoint})
	if err != nil {
		return nil, err
	}
	var items []BulkItem
	if err := decode(resp, &items); err != nil {
		return nil, err
	}
	return items, nil
}
