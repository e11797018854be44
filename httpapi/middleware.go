package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gin-gonic/gin"
)

// tokenHeader carries the API token, as in Dapr.
const tokenHeader = "dapr-api-token"

// authenticate rejects a request without the configured API token: 401, plain text, as Dapr.
func (s *Server) authenticate(c *gin.Context) {
	if s.cfg.APIToken == "" {
		return
	}
	if subtle.ConstantTimeCompare([]byte(c.GetHeader(tokenHeader)), []byte(s.cfg.APIToken)) != 1 {
		s.fail(c, operation{}, errUnauthorized)
		c.Abort()
	}
}

// limitBody bounds the request body to Config.MaxBodyBytes: a declared length over the limit is
// refused at once, a longer body fails when read.
func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.cfg.MaxBodyBytes {
		s.fail(c, operation{}, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes})
		c.Abort()
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
}

// requireStore rejects a request for a store that is not configured, before its body is read.
func (s *Server) requireStore(c *gin.Context) {
	store := c.Param("store")
	if !s.stores[store] {
		s.fail(c, operation{store: store}, &storeNotFoundError{store: store})
		c.Abort()
	}
}

// recoverPanics turns a handler panic into a logged 500.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler { //nolint:errorlint // net/http's sentinel panic value
			panic(r)
		}
		s.log.Error("handler panicked", "method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		if !c.Writer.Written() {
			s.fail(c, operation{code: codeGeneric, what: "internal error"}, errPanic)
		}
		c.Abort()
	}()
	c.Next()
}

func (s *Server) noRoute(c *gin.Context) {
	s.fail(c, operation{}, fmt.Errorf("%w for %s %s (a key containing '/' must be sent as %%2F)",
		errNoRoute, c.Request.Method, c.Request.URL.EscapedPath()))
}

func (s *Server) noMethod(c *gin.Context) {
	s.fail(c, operation{}, fmt.Errorf("%w: %s %s", errMethodNotAllowed, c.Request.Method, c.Request.URL.EscapedPath()))
}

// callContext bounds a Backend or Cluster call by Config.RequestTimeout.
func (s *Server) callContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
}

// fail writes the error response for err (see classify) and logs it.
func (s *Server) fail(c *gin.Context, op operation, err error) {
	op.appID = s.cfg.ID
	r := classify(op, err)
	if r.retryAfter > 0 {
		c.Header("Retry-After", retryAfterSeconds(r.retryAfter))
	}
	level := slog.LevelDebug
	if r.status >= http.StatusInternalServerError {
		level = slog.LevelWarn
	}
	s.log.Log(c.Request.Context(), level, "request failed", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", r.status, "errorCode", r.body.ErrorCode, "err", err)
	if r.plain {
		c.Data(r.status, "text/plain; charset=utf-8", []byte(r.body.Message))
		return
	}
	s.writeJSON(c, r.status, r.body)
}

// writeJSON writes v as compact JSON without HTML escaping, so that values come back as saved.
func (s *Server) writeJSON(c *gin.Context, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a Backend handing out invalid JSON gets here.
		s.fail(c, operation{code: codeGeneric, what: "failed encoding the response"}, err)
		return
	}
	c.Data(status, "application/json", bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
