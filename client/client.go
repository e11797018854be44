package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// statusProbeTimeout bounds the look-up of the leader before a strong request, so that a
// hung node delays it by at most this much.
const statusProbeTimeout = time.Second

// Client talks to a Lattice cluster. It is safe for concurrent use; create one per
// application and share it.
type Client struct {
	cfg   Config
	http  *http.Client
	pool  *pool
	log   *slog.Logger
	clock Clock
	rand  func() float64
	trips map[string]func(gobreaker.Counts) bool // compiled trip expression per breaker policy

	mu       sync.Mutex
	policies map[string]*policy // per component; nil entry: no policies
}

// New validates cfg and returns a client. It does not contact the cluster.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient, log: cfg.Logger, clock: cfg.Clock, rand: cfg.Rand,
		trips: map[string]func(gobreaker.Counts) bool{}, policies: map[string]*policy{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "client")
	if c.clock == nil {
		c.clock = systemClock{}
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.http == nil {
		c.http = &http.Client{Transport: newTransport()}
	}
	if r := cfg.Resiliency; r != nil {
		for name, p := range r.CircuitBreakers {
			trip, err := compileTrip(p.Trip)
			if err != nil {
				return nil, err
			}
			c.trips[name] = trip
		}
	}
	urls := make([]string, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		urls[i], _ = normalizeEndpoint(e) // validated above
	}
	first := min(int(c.rand()*float64(len(urls))), len(urls)-1)
	c.pool = newPool(urls, first, c.clock, cfg.Cooldown, cfg.LeaderTTL, c.log)
	return c, nil
}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.DialContext = (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return t
}

// Close releases idle connections. The client must not be used afterwards.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Endpoints returns the normalised base URLs of the client's nodes.
func (c *Client) Endpoints() []string {
	out := make([]string, len(c.pool.eps))
	for i, e := range c.pool.eps {
		out[i] = e.url
	}
	return out
}

// request is one API call, independent of the endpoint it goes to.
type request struct {
	method     string
	path       string // escaped
	query      url.Values
	header     http.Header
	body       []byte
	strong     bool   // goes through Raft: prefer the leader
	idempotent bool   // may be sent again after an outcome-unknown failure
	component  string // resiliency target; "" applies no policies
	endpoint   string // pinned base URL: no failover
}

// response is a 2xx answer.
type response struct {
	status   int
	header   http.Header
	body     []byte
	endpoint string
}

// do runs req under its component's policies, each attempt failing over between endpoints.
func (c *Client) do(ctx context.Context, req *request) (*response, error) {
	var resp *response
	err := c.run(ctx, c.policyFor(req.component), req, func(actx context.Context) error {
		r, err := c.attempt(actx, req)
		if err == nil {
			resp = r
		}
		return err
	})
	return resp, err
}

// attempt sends req to the endpoints in the pool's order until one answers. A 4xx (409
// included) is final; a failure of the endpoint (connection, 429, 5xx) sends the request
// to the next one, unless the request is not idempotent and may already have been applied.
func (c *Client) attempt(ctx context.Context, req *request) (*response, error) {
	if req.endpoint != "" {
		resp, err := c.try(ctx, req.endpoint, req)
		if e := c.pool.find(req.endpoint); e != nil {
			c.record(e, preferLeader, err) // a pinned call says nothing about stickiness
		}
		return resp, err
	}
	pref := preferSticky
	if req.strong {
		pref = preferLeader
		c.refreshLeader(ctx)
	}
	var errs []error
	for _, e := range c.pool.order(pref) {
		if ctx.Err() != nil {
			break
		}
		resp, err := c.try(ctx, e.url, req)
		if failover := c.record(e, pref, err); !failover {
			return resp, err
		}
		errs = append(errs, err)
		if !req.idempotent && mayHaveApplied(err) {
			break
		}
	}
	switch len(errs) {
	case 0:
		return nil, fmt.Errorf("client: %w", ctx.Err())
	case 1:
		return nil, errs[0]
	}
	return nil, &EndpointsError{Errs: errs}
}

// record books the outcome of one try against e's health and reports whether the error
// calls for another endpoint.
func (c *Client) record(e *endpoint, pref preference, err error) (failover bool) {
	var api *APIError
	switch {
	case err == nil, errors.As(err, &api) && !api.retryableStatus():
		c.pool.succeeded(e, pref) // it answered, even if with a 4xx
		return false
	case errors.Is(err, ErrBadResponse), errors.Is(err, context.Canceled):
		return false
	}
	var after time.Duration
	if api != nil {
		after = api.RetryAfter
	}
	c.pool.failed(e, after, err)
	return true
}

// try performs one HTTP exchange with one endpoint.
func (c *Client) try(ctx context.Context, base string, req *request) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.TryTimeout)
	defer cancel()
	u := base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", req.method, u, err)
	}
	for k, vs := range req.header {
		hreq.Header[k] = vs
	}
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if c.cfg.APIToken != "" {
		hreq.Header.Set("dapr-api-token", c.cfg.APIToken)
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return nil, &TransportError{Endpoint: base, Err: err}
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, &TransportError{Endpoint: base, Err: err}
	}
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return nil, fmt.Errorf("client: %s: %w: body larger than %d bytes", base, ErrBadResponse, c.cfg.MaxResponseBytes)
	}
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		return nil, newAPIError(base, hresp.StatusCode, hresp.Header, data)
	}
	return &response{status: hresp.StatusCode, header: hresp.Header, body: data, endpoint: base}, nil
}

// refreshLeader looks the leader up when the pool's information is stale. Failures leave
// it unknown until the TTL passes or an endpoint fails; requests then go to any node,
// which forwards them.
func (c *Client) refreshLeader(ctx context.Context) {
	if !c.pool.beginRefresh() {
		return
	}
	defer c.pool.endRefresh()
	ctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
	defer cancel()
	req := &request{method: http.MethodGet, path: pathClusterStatus, idempotent: true}
	for _, e := range c.pool.order(preferSticky) {
		resp, err := c.try(ctx, e.url, req)
		c.record(e, preferLeader, err)
		if err == nil {
			var st ClusterStatus
			if json.Unmarshal(resp.body, &st) == nil {
				c.pool.setLeader(st.Leader.HTTPAddr)
				return
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	c.pool.setLeader("")
}

// decode unmarshals a response body, reporting garbage as ErrBadResponse.
func decode(resp *response, v any) error {
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("client: %s: %w: %v", resp.endpoint, ErrBadResponse, err)
	}
	return nil
}
