package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
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
	KindReset       = "reset"        // connection reset by peer
	KindEOF         = "eof"          // the server closed the connection before a full response
	KindConflict    = "conflict"     // an etcd transaction's compare failed
	KindBadResponse = "bad response" // a 2xx body the tool could not decode
	KindNetwork     = "network"      // any other transport error
)

// classify names the kind of a failed operation, for Result.ErrorKinds.
func classify(err error) string {
	var se *statusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return "http " + strconv.Itoa(se.code)
	case errors.Is(err, errConflict):
		return KindConflict
	case errors.Is(err, errBadResponse):
		return KindBadResponse
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEOF
	}
	return KindNetwork
}

// httpClient is the tuned client every session of a run shares.
type httpClient struct {
	c     *http.Client
	token string
}

// newHTTPClient keeps up to conns connections alive per host and sends no compression headers.
func newHTTPClient(conns int, timeout time.Duration, token string) *httpClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &httpClient{c: &http.Client{Transport: tr, Timeout: timeout}, token: token}
}

// close drops the idle connections.
func (h *httpClient) close() { h.c.CloseIdleConnections() }

// exchange sends one request, reads the whole response body into resp and returns the status and
// the ETag header. A nil body sends no body.
func (h *httpClient) exchange(ctx context.Context, method, url string, body []byte, resp *bytes.Buffer) (int, string, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.token != "" {
		req.Header.Set("dapr-api-token", h.token)
	}
	res, err := h.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	resp.Reset()
	if _, err := resp.ReadFrom(res.Body); err != nil {
		return 0, "", err
	}
	return res.StatusCode, res.Header.Get("ETag"), nil
}
