package client

import (
	"maps"
	"net/url"
	"strconv"
	"time"

	"github.com/lattice-state/lattice"
)

// Option adjusts one call. Options that do not apply to a call are ignored by it.
type Option func(*options)

type options struct {
	store          string
	consistency    lattice.Consistency
	hasConsistency bool
	concurrency    lattice.Concurrency
	etag           string
	ttl            time.Duration
	metadata       map[string]string
	parallelism    int
	endpoint       string
}

// WithStore names the state store (component) of the call instead of Config.Store.
func WithStore(name string) Option { return func(o *options) { o.store = name } }

// WithConsistency sets Dapr's consistency option; Strong goes through Raft.
func WithConsistency(c lattice.Consistency) Option {
	return func(o *options) { o.consistency, o.hasConsistency = c, true }
}

// WithConcurrency sets Dapr's concurrency option of a write; FirstWrite creates only.
func WithConcurrency(c lattice.Concurrency) Option { return func(o *options) { o.concurrency = c } }

// WithETag makes a write conditional on the current etag (compare-and-set).
func WithETag(etag string) Option { return func(o *options) { o.etag = etag } }

// WithTTL gives a saved value a time to live (metadata ttlInSeconds, rounded up to whole
// seconds); a negative d sends -1, Dapr's "persist".
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithMetadata adds one metadata entry (sent as metadata.<key> or in the body's metadata).
func WithMetadata(key, value string) Option {
	return func(o *options) {
		if o.metadata == nil {
			o.metadata = map[string]string{}
		}
		o.metadata[key] = value
	}
}

// WithParallelism sets the parallelism of a bulk get (0: the server decides).
func WithParallelism(n int) Option { return func(o *options) { o.parallelism = n } }

// WithEndpoint pins the call to one node's base URL: no failover, no leader preference.
// Meant for cluster administration and tests (e.g. Status of a given node).
func WithEndpoint(baseURL string) Option { return func(o *options) { o.endpoint = baseURL } }

// collect applies opts over the client's defaults.
func (c *Client) collect(opts []Option) (options, error) {
	o := options{store: c.cfg.Store}
	for _, opt := range opts {
		opt(&o)
	}
	if o.endpoint != "" {
		u, err := normalizeEndpoint(o.endpoint)
		if err != nil {
			return o, err
		}
		o.endpoint = u
	}
	return o, nil
}

// ttlMetadata returns metadata with ttlInSeconds set from ttl (a copy; nil when empty).
func ttlMetadata(md map[string]string, ttl time.Duration) map[string]string {
	if ttl == 0 {
		return md
	}
	out := maps.Clone(md)
	if out == nil {
		out = map[string]string{}
	}
	secs := int64(-1)
	if ttl > 0 {
		secs = int64((ttl + time.Second - 1) / time.Second)
	}
	out["ttlInSeconds"] = strconv.FormatInt(secs, 10)
	return out
}

// query returns the URL parameters of o: metadata.<k>, and consistency/concurrency when asked.
func (o options) query(withConcurrency bool) url.Values {
	q := url.Values{}
	for k, v := range o.metadata {
		q.Set("metadata."+k, v)
	}
	if o.hasConsistency {
		q.Set("consistency", o.consistency.String())
	}
	if withConcurrency && o.concurrency == lattice.FirstWrite {
		q.Set("concurrency", o.concurrency.String())
	}
	return q
}
