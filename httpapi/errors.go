package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lattice-state/lattice"
)

// pkgPrefix starts this package's error strings; client-facing messages of the HTTP layer's own
// errors go without it.
const pkgPrefix = "httpapi: "

// Errors the HTTP layer raises itself, before or instead of calling the Backend.
var (
	// errMalformed: the request is wrong in itself (JSON, shape, key, size, option); nothing was
	// applied.
	errMalformed = errors.New("httpapi: malformed request")
	// errUnauthorized: the dapr-api-token header is missing or wrong.
	errUnauthorized = errors.New("httpapi: invalid api token")
	// errNoRoute: no route matches the path.
	errNoRoute = errors.New("httpapi: no route")
	// errMethodNotAllowed: the path exists for other methods only.
	errMethodNotAllowed = errors.New("httpapi: method not allowed")
	// errPanic: a handler panicked.
	errPanic = errors.New("httpapi: internal error")
)

// badRequestError is an errMalformed with the message the client sees.
type badRequestError struct{ msg string }

func (e *badRequestError) Error() string        { return e.msg }
func (e *badRequestError) Is(target error) bool { return target == errMalformed }

// malformed returns an errMalformed whose message is the formatted text.
func malformed(format string, args ...any) error {
	return &badRequestError{msg: fmt.Sprintf(format, args...)}
}

// storeNotFoundError: the path names a store that is not configured.
type storeNotFoundError struct{ store string }

func (e *storeNotFoundError) Error() string {
	return fmt.Sprintf("state store %s is not found", e.store)
}

// illegalKeyError: a key contains "||".
type illegalKeyError struct{ key string }

func (e *illegalKeyError) Error() string {
	return fmt.Sprintf("input key/keyPrefix '%s' can't contain '%s'", e.key, keySeparator)
}

// unsupportedOpError: a transaction operation is neither upsert nor delete.
type unsupportedOpError struct{ op string }

func (e *unsupportedOpError) Error() string {
	return fmt.Sprintf("operation type %s not supported", e.op)
}

// tooManyOpsError: a transaction has more operations than MaxTransactionOps.
type tooManyOpsError struct{ count, max int }

func (e *tooManyOpsError) Error() string {
	return fmt.Sprintf("the transaction contains %d operations, which is more than what the state store supports: %d",
		e.count, e.max)
}

// bulkSaveError reports the failed items of a multi-item save. It unwraps to the error that
// decides the status: an ETag mismatch only when every failure is one (Dapr's rule), otherwise
// the first other failure in body order.
type bulkSaveError struct {
	decisive error
	msg      string
}

func (e *bulkSaveError) Error() string { return e.msg }
func (e *bulkSaveError) Unwrap() error { return e.decisive }

// Dapr's errorCode strings, and Lattice's own in the same style.
const (
	codeMalformed        = "ERR_MALFORMED_REQUEST"
	codeStoreNotFound    = "ERR_STATE_STORE_NOT_FOUND"
	codeUnsupportedOp    = "ERR_NOT_SUPPORTED_STATE_OPERATION"
	codeTooManyOps       = "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS"
	codeSave             = "ERR_STATE_SAVE"
	codeGet              = "ERR_STATE_GET"
	codeDelete           = "ERR_STATE_DELETE"
	codeBulkGet          = "ERR_STATE_BULK_GET"
	codeTransaction      = "ERR_STATE_TRANSACTION"
	codeQuery            = "ERR_STATE_QUERY"
	codeHealth           = "ERR_HEALTH_NOT_READY"
	codeGeneric          = "ERROR"
	codeNotFound         = "ERR_NOT_FOUND"
	codeMethodNotAllowed = "ERR_METHOD_NOT_ALLOWED"
	codeCRDTWrongType    = "ERR_CRDT_WRONG_TYPE"
	codeCRDTOverflow     = "ERR_CRDT_OVERFLOW"
	codeCRDTGet          = "ERR_CRDT_GET"
	codeCRDTApply        = "ERR_CRDT_APPLY"
	codeCRDTDelete       = "ERR_CRDT_DELETE"
	codeClusterStatus    = "ERR_CLUSTER_STATUS"
	codeClusterMembers   = "ERR_CLUSTER_MEMBERS"
	codeClusterRemove    = "ERR_CLUSTER_REMOVE_MEMBER"
	codeClusterTransfer  = "ERR_CLUSTER_TRANSFER_LEADERSHIP"
)

// statusClientCancelled is recorded when the client went away before the answer (nginx's
// convention); the client never sees it, metrics and logs do.
const statusClientCancelled = 499

// operation is what a request was doing when it failed: it picks the errorCode and the message
// prefix of backend failures.
type operation struct {
	code  string // errorCode of a failure of the operation itself
	what  string // message prefix, e.g. "failed saving state in state store statestore"
	store string // the store, for Dapr's rich error details
	appID string // the app id (Config.ID), for Dapr's rich error details
	txn   bool   // a transaction: an ETag mismatch is a 500, as in Dapr
}

// errorBody is Dapr's error response. Details is set for Dapr's "rich" errors only.
type errorBody struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
	Details   []any  `json:"details,omitempty"`
}

// errorResponse is the response to one failed request.
type errorResponse struct {
	status     int
	body       errorBody
	retryAfter time.Duration // sent as Retry-After when positive
	plain      bool          // a text/plain body (body.Message) instead of JSON
}

// classify maps err, raised while performing op, to its HTTP response. It is the one place where
// an error becomes a status code.
func classify(op operation, err error) errorResponse {
	var (
		maxBytes   *http.MaxBytesError
		notFound   *storeNotFoundError
		illegalKey *illegalKeyError
		unsup      *unsupportedOpError
		tooMany    *tooManyOpsError
	)
	withPrefix := func(status int, code string) errorResponse {
		return errorResponse{status: status, body: errorBody{ErrorCode: code, Message: op.what + ": " + err.Error()}}
	}
	switch {
	case errors.Is(err, errUnauthorized):
		return errorResponse{status: http.StatusUnauthorized, body: errorBody{Message: "invalid api token"}, plain: true}
	case errors.As(err, &maxBytes):
		return errorResponse{status: http.StatusRequestEntityTooLarge, body: errorBody{ErrorCode: codeMalformed,
			Message: fmt.Sprintf("request body too large: the limit is %d bytes", maxBytes.Limit)}}
	case errors.As(err, &notFound):
		return errorResponse{status: http.StatusBadRequest, body: errorBody{ErrorCode: codeStoreNotFound,
			Message: notFound.Error(), Details: storeNotFoundDetails(op.appID)}}
	case errors.As(err, &illegalKey):
		return errorResponse{status: http.StatusBadRequest, body: errorBody{ErrorCode: codeMalformed,
			Message: "api error: code = InvalidArgument desc = " + illegalKey.Error(),
			Details: illegalKeyDetails(op.store, illegalKey)}}
	case errors.As(err, &unsup):
		return errorResponse{status: http.StatusBadRequest, body: errorBody{ErrorCode: codeUnsupportedOp, Message: unsup.Error()}}
	case errors.As(err, &tooMany):
		return errorResponse{status: http.StatusBadRequest, body: errorBody{ErrorCode: codeTooManyOps,
			Message: tooMany.Error(), Details: tooManyOpsDetails(op.store, tooMany)}}
	case errors.Is(err, errMalformed):
		return errorResponse{status: http.StatusBadRequest, body: errorBody{ErrorCode: codeMalformed, Message: err.Error()}}
	case errors.Is(err, errNoRoute):
		return errorResponse{status: http.StatusNotFound, body: errorBody{ErrorCode: codeNotFound,
			Message: strings.TrimPrefix(err.Error(), pkgPrefix)}}
	case errors.Is(err, errMethodNotAllowed):
		return errorResponse{status: http.StatusMethodNotAllowed, body: errorBody{ErrorCode: codeMethodNotAllowed,
			Message: strings.TrimPrefix(err.Error(), pkgPrefix)}}
	case errors.Is(err, lattice.ErrETagMismatch):
		status := http.StatusConflict
		if op.txn {
			status = http.StatusInternalServerError
		}
		return errorResponse{status: status, body: errorBody{ErrorCode: op.code,
			Message: op.what + ": possible etag mismatch. error from state store: " + err.Error()}}
	case errors.Is(err, lattice.ErrWrongType):
		return withPrefix(http.StatusConflict, codeCRDTWrongType)
	case errors.Is(err, lattice.ErrOverflow):
		return withPrefix(http.StatusBadRequest, codeCRDTOverflow)
	case errors.Is(err, lattice.ErrBackpressure):
		r := withPrefix(http.StatusTooManyRequests, op.code)
		r.retryAfter = retryAfter(err)
		return r
	case errors.Is(err, lattice.ErrNoQuorum), errors.Is(err, lattice.ErrNotLeader), errors.Is(err, lattice.ErrShuttingDown):
		r := withPrefix(http.StatusServiceUnavailable, op.code)
		r.retryAfter = retryAfter(err)
		return r
	case errors.Is(err, lattice.ErrIndeterminate), errors.Is(err, context.DeadlineExceeded):
		return withPrefix(http.StatusGatewayTimeout, op.code)
	case errors.Is(err, context.Canceled):
		return withPrefix(statusClientCancelled, op.code)
	case errors.Is(err, lattice.ErrInvalidArgument), errors.Is(err, lattice.ErrTooLarge):
		return withPrefix(http.StatusBadRequest, op.code)
	}
	return withPrefix(http.StatusInternalServerError, op.code)
}

// retryAfter is the hint of a *lattice.RetryAfterError in err, or one second.
func retryAfter(err error) time.Duration {
	var ra *lattice.RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		return ra.After
	}
	return time.Second
}

// retryAfterSeconds renders d as a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(math.Max(1, math.Ceil(d.Seconds()))), 10)
}

// Dapr's rich error details (google.rpc types, snake_case fields as protojson writes them).
type errorInfo struct {
	Type     string            `json:"@type"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
	Reason   string            `json:"reason"`
}

type resourceInfo struct {
	Type         string `json:"@type"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	Owner        string `json:"owner"`
	Description  string `json:"description"`
}

type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

type badRequestDetail struct {
	Type            string           `json:"@type"`
	FieldViolations []fieldViolation `json:"field_violations"`
}

const (
	typeErrorInfo    = "type.googleapis.com/google.rpc.ErrorInfo"
	typeResourceInfo = "type.googleapis.com/google.rpc.ResourceInfo"
	typeBadRequest   = "type.googleapis.com/google.rpc.BadRequest"
	daprDomain       = "dapr.io"
)

func storeNotFoundDetails(appID string) []any {
	return []any{errorInfo{Type: typeErrorInfo, Domain: daprDomain, Reason: "DAPR_STATE_NOT_FOUND",
		Metadata: map[string]string{"appID": appID}}}
}

func illegalKeyDetails(store string, e *illegalKeyError) []any {
	msg := e.Error()
	return []any{
		errorInfo{Type: typeErrorInfo, Domain: daprDomain, Reason: "DAPR_STATE_ILLEGAL_KEY"},
		resourceInfo{Type: typeResourceInfo, ResourceType: "state", ResourceName: store, Description: msg},
		badRequestDetail{Type: typeBadRequest, FieldViolations: []fieldViolation{{Field: e.key, Description: msg}}},
	}
}

func tooManyOpsDetails(store string, e *tooManyOpsError) []any {
	return []any{
		errorInfo{Type: typeErrorInfo, Domain: daprDomain, Reason: "DAPR_STATE_TOO_MANY_TRANSACTIONS",
			Metadata: map[string]string{"currentOpsTransaction": strconv.Itoa(e.count), "maxOpsPerTransaction": strconv.Itoa(e.max)}},
		resourceInfo{Type: typeResourceInfo, ResourceType: "state", ResourceName: store, Description: e.Error()},
	}
}
