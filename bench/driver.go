package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// driver opens sessions on one protocol. A driver is safe for concurrent use; a session is not.
type driver interface {
	session(base string) session
}

// session issues the requests of one connection against one base URL. Returned byte slices are
// valid until the session's next call.
type session interface {
	// save writes value under key, last-write-wins.
	save(ctx context.Context, key string, value []byte, strong bool) error
	// get reads key; version is the etag (etcd: mod_revision) when found.
	get(ctx context.Context, key string, strong bool) (value []byte, version string, found bool, err error)
	// cas writes value if key's version is still version; version "" means create-only.
	cas(ctx context.Context, key string, value []byte, version string) error
	// incr adds one to the gcounter at key.
	incr(ctx context.Context, key string, strong bool) error
}

// newDriver returns the driver for a target.
func newDriver(t Target, hc *httpClient, store string) driver {
	if t == TargetEtcd {
		return etcdDriver{hc: hc}
	}
	return daprDriver{hc: hc, store: store}
}

// errConflict is an etcd transaction whose compare failed (Dapr reports the same as HTTP 409).
var errConflict = errors.New("bench: compare failed")

// errBadResponse is a 2xx response the tool could not understand.
var errBadResponse = errors.New("bench: bad response")

// statusError is a response with an unexpected status code.
type statusError struct{ code int }

func (e *statusError) Error() string { return "bench: HTTP status " + strconv.Itoa(e.code) }

// Error kinds that are not HTTP statuses ("http 409", "http 503", ... are the others).
const (
	KindTimeout     = "timeout"      // the request exceeded Options.Timeout
	KindRefused     = "refused"      // connection refused
	KindReset       = "reset"        // connection reset by peer while sending or mid-response
	KindEOF         = "eof"          // the connection closed (or was reset) before a full response
	KindConflict    = "conflict"     // an etcd transaction's compare failed
	KindBadResponse = "bad response" // a 2xx body the tool could not decode
	KindNetwork     = "network"      // any other transport error
)

// classify names the kind of a failed operation, for Result.ErrorKinds.
func classify(err error) string {
	var se *statusError
	var te interface{ Timeout() bool } // net.Error's, and fasthttp's timeout, which is not one
	switch {
	case errors.As(err, &se):
		return "http " + strconv.Itoa(se.code)
	case errors.Is(err, errConflict):
		return KindConflict
	case errors.Is(err, errBadResponse):
		return KindBadResponse
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &te) && te.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, fasthttp.ErrNoFreeConns):
		return KindTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, fasthttp.ErrConnectionClosed):
		// fasthttp reports a connection reset before the response's first byte as closed.
		return KindEOF
	}
	return KindNetwork
}

// httpClient is the client every session of a run shares. It is fasthttp's: a request is written
// and its response read on the calling goroutine, where net/http's client hands each request to a
// connection's writer and reader goroutines and back. On a machine whose cores the load generator
// shares with the target that hand-off is CPU taken from the target (docs/performance.md).
type httpClient struct {
	c       *fasthttp.Client
	timeout time.Duration
	token   string
}

// newHTTPClient opens up to conns connections per host, keeps them alive and sends no compression
// or User-Agent headers.
func newHTTPClient(conns int, timeout time.Duration, token string) *httpClient {
	c := &fasthttp.Client{
		MaxConnsPerHost:           conns,
		MaxConnWaitTimeout:        timeout, // a worker waits for a connection rather than failing
		MaxIdleConnDuration:       90 * time.Second,
		MaxIdemponentCallAttempts: 1, // a failed get is an error of its own, not a hidden retry
		DialDualStack:             true,
		NoDefaultUserAgentHeader:  true,
	}
	return &httpClient{c: c, timeout: timeout, token: token}
}

// close drops the idle connections.
func (h *httpClient) close() { h.c.CloseIdleConnections() }

// exchange sends one request, reads the whole response body into resp and returns the status and
// the ETag header. A nil body sends no body. The request is bounded by the client's timeout and
// ctx's deadline; a cancelled ctx stops it from being sent, not one in flight.
func (h *httpClient) exchange(ctx context.Context, method, url string, body []byte, resp *bytes.Buffer) (int, string, error) {
	if err := ctx.Err(); err != nil {
		return 0, "", err
	}
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI(url)
	req.Header.SetMethod(method)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if h.token != "" {
		req.Header.Set("dapr-api-token", h.token)
	}
	deadline := time.Now().Add(h.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := h.c.DoDeadline(req, res, deadline); err != nil {
		return 0, "", err
	}
	resp.Reset()
	resp.Write(res.Body())
	return res.StatusCode(), string(res.Header.Peek("ETag")), nil
}
