package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lattice-state/lattice"
)

// Sentinel errors of the client for failures the root package has no word for.
// Every error the client returns wraps one of these or a lattice.Err* sentinel.
var (
	// ErrUnavailable: no endpoint could serve the request (connection failures, 502/503/504).
	ErrUnavailable = errors.New("client: unavailable")
	// ErrNotFound: the server answered 404 (an unknown route or cluster member). A missing
	// state key is not an error: Get reports found=false.
	ErrNotFound = errors.New("client: not found")
	// ErrUnauthorized: the server refused the API token (401 or 403).
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrInternal: the server answered 500 for a reason the client cannot classify further.
	ErrInternal = errors.New("client: internal server error")
	// ErrCircuitOpen: the circuit breaker of the target refused the call (open, or half-open
	// with its quota of trial requests in flight). It is never retried within the call.
	ErrCircuitOpen = errors.New("client: circuit breaker is open")
	// ErrBadResponse: the server's answer could not be decoded.
	ErrBadResponse = errors.New("client: bad response")
)

// APIError is a non-2xx answer of a Lattice node, with Dapr's errorCode and message. It
// matches (errors.Is) the sentinel its status and code stand for: 400 lattice.ErrInvalidArgument
// (ERR_CRDT_OVERFLOW also lattice.ErrOverflow), 401/403 ErrUnauthorized, 404 ErrNotFound,
// 409 lattice.ErrETagMismatch (ERR_CRDT_WRONG_TYPE: lattice.ErrWrongType), 413
// lattice.ErrTooLarge, 429 lattice.ErrBackpressure, 500 ErrInternal, 502/504 ErrUnavailable,
// 503 ErrUnavailable and lattice.ErrNoQuorum (or the sentinel its message names). A message
// that contains the text of a lattice sentinel matches that sentinel too, and a 500
// ERR_STATE_TRANSACTION that reports an etag mismatch (Dapr has no 409 on that route)
// matches lattice.ErrETagMismatch.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// ErrorCode is Dapr's errorCode, e.g. ERR_STATE_SAVE; empty when the body had none.
	ErrorCode string
	// Message is Dapr's message, or the raw body when it was not JSON.
	Message string
	// RetryAfter is the Retry-After hint of a 429 or 503, zero when absent.
	RetryAfter time.Duration
	// Endpoint is the base URL of the node that answered.
	Endpoint string
}

// Error reports the endpoint, status, errorCode and message.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("client: ")
	if e.Endpoint != "" {
		b.WriteString(e.Endpoint)
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.ErrorCode != "" {
		b.WriteString(" ")
		b.WriteString(e.ErrorCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is a sentinel e stands for (see the type's documentation).
func (e *APIError) Is(target error) bool {
	for _, s := range e.sentinels() {
		if s == target {
			return true
		}
	}
	return false
}

// lattice sentinels recognised by their text inside a message.
var messageSentinels = []error{
	lattice.ErrInvalidArgument, lattice.ErrETagMismatch, lattice.ErrWrongType, lattice.ErrNoQuorum,
	lattice.ErrIndeterminate, lattice.ErrBackpressure, lattice.ErrOverflow, lattice.ErrTooLarge,
	lattice.ErrShuttingDown,
}

func (e *APIError) sentinels() []error {
	var out []error
	named := false
	for _, s := range messageSentinels {
		if strings.Contains(e.Message, s.Error()) {
			out = append(out, s)
			named = true
		}
	}
	switch c := e.StatusCode; {
	case c == http.StatusBadRequest:
		out = append(out, lattice.ErrInvalidArgument)
		if e.ErrorCode == "ERR_CRDT_OVERFLOW" {
			out = append(out, lattice.ErrOverflow)
		}
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		out = append(out, ErrUnauthorized)
	case c == http.StatusNotFound:
		out = append(out, ErrNotFound)
	case c == http.StatusConflict:
		if e.ErrorCode == "ERR_CRDT_WRONG_TYPE" {
			out = append(out, lattice.ErrWrongType)
		} else {
			out = append(out, lattice.ErrETagMismatch)
		}
	case c == http.StatusRequestEntityTooLarge:
		out = append(out, lattice.ErrTooLarge)
	case c == http.StatusTooManyRequests:
		out = append(out, lattice.ErrBackpressure)
	case c == http.StatusInternalServerError:
		out = append(out, ErrInternal)
		if e.ErrorCode == "ERR_STATE_TRANSACTION" && strings.Contains(strings.ToLower(e.Message), "etag") {
			out = append(out, lattice.ErrETagMismatch)
		}
	case c == http.StatusServiceUnavailable:
		out = append(out, ErrUnavailable)
		if !named {
			out = append(out, lattice.ErrNoQuorum)
		}
	case c >= 500:
		out = append(out, ErrUnavailable)
	}
	return out
}

// retryableStatus reports whether a status is worth another attempt at all: 429 and 5xx,
// except a 500 that is an etag mismatch in disguise. Every other 4xx (and 409 above all)
// would fail the same way again.
func (e *APIError) retryableStatus() bool {
	if errors.Is(e, lattice.ErrETagMismatch) || errors.Is(e, lattice.ErrWrongType) {
		return false
	}
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// refused reports whether the node refused the request before doing anything with it
// (backpressure, no quorum), so that sending it again elsewhere cannot apply it twice.
func (e *APIError) refused() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable
}

// errorBody is Dapr's error body; rich errors carry details the client does not need.
type errorBody struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

// newAPIError builds the error of a non-2xx response.
func newAPIError(endpoint string, status int, header http.Header, body []byte) *APIError {
	e := &APIError{StatusCode: status, Endpoint: endpoint, RetryAfter: parseRetryAfter(header.Get("Retry-After"))}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && (eb.ErrorCode != "" || eb.Message != "") {
		e.ErrorCode, e.Message = eb.ErrorCode, eb.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// parseRetryAfter reads delay-seconds; the HTTP-date form is not used by Lattice.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// TransportError is a failure to get an answer from one endpoint: the connection failed or
// broke, or the try ran out of time. It matches ErrUnavailable, and lattice.ErrIndeterminate
// when the request may have reached the node (anything but a failed dial).
type TransportError struct {
	// Endpoint is the base URL of the node.
	Endpoint string
	// Err is the underlying error.
	Err error
}

// Error reports the endpoint and the underlying error.
func (e *TransportError) Error() string { return "client: " + e.Endpoint + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// Is matches ErrUnavailable, and lattice.ErrIndeterminate when the request may have been sent.
func (e *TransportError) Is(target error) bool {
	return target == ErrUnavailable || (target == lattice.ErrIndeterminate && e.sent())
}

// sent reports whether the request may have reached the node: only a failed dial proves
// it did not.
func (e *TransportError) sent() bool {
	var op *net.OpError
	return !(errors.As(e.Err, &op) && op.Op == "dial")
}

// EndpointsError reports that every endpoint tried in one attempt failed. Errs holds one
// error per endpoint, in the order they were tried; errors.Is and errors.As look into each.
type EndpointsError struct {
	Errs []error
}

// Error lists every endpoint's error.
func (e *EndpointsError) Error() string {
	parts := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		parts[i] = err.Error()
	}
	return fmt.Sprintf("client: all %d endpoints failed: %s", len(e.Errs), strings.Join(parts, "; "))
}

// Unwrap returns the per-endpoint errors.
func (e *EndpointsError) Unwrap() []error { return e.Errs }

// breakerError is returned when a circuit breaker refuses a call; it wraps gobreaker's
// error so both ErrCircuitOpen and gobreaker.ErrOpenState/ErrTooManyRequests match.
type breakerError struct {
	name string
	err  error
}

func (e *breakerError) Error() string {
	return fmt.Sprintf("client: circuit breaker %q: %v", e.name, e.err)
}

func (e *breakerError) Unwrap() error { return e.err }

func (e *breakerError) Is(target error) bool { return target == ErrCircuitOpen }

// timeoutError is an attempt cut short by a timeout policy.
type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("client: attempt timed out after %v: %v", e.after, e.err)
}

func (e *timeoutError) Unwrap() error { return e.err }

func (e *timeoutError) Is(target error) bool {
	return target == ErrUnavailable || target == lattice.ErrIndeterminate
}

// leaves flattens the errors of one attempt: an EndpointsError into its parts.
func leaves(err error) []error {
	var ee *EndpointsError
	if errors.As(err, &ee) {
		return ee.Errs
	}
	return []error{err}
}

// mayHaveApplied reports whether a failed request may nevertheless have been applied by a
// node, which forbids sending it again when it is not idempotent.
func mayHaveApplied(err error) bool {
	for _, l := range leaves(err) {
		var api *APIError
		var tr *TransportError
		var to *timeoutError
		switch {
		case errors.As(l, &to):
			return true
		case errors.As(l, &api):
			if api.StatusCode >= 500 && !api.refused() {
				return true
			}
		case errors.As(l, &tr):
			if tr.sent() {
				return true
			}
		}
	}
	return false
}
