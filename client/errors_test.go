package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

func TestTypedErrors(t *testing.T) {
	all := []error{lattice.ErrInvalidArgument, lattice.ErrETagMismatch, lattice.ErrWrongType, lattice.ErrNoQuorum,
		lattice.ErrIndeterminate, lattice.ErrBackpressure, lattice.ErrOverflow, lattice.ErrTooLarge, lattice.ErrShuttingDown,
		ErrUnavailable, ErrNotFound, ErrUnauthorized, ErrInternal}
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		retry     string
		want      []error
		wantCode  string
		wantMsg   string
		wantAfter time.Duration
	}{
		{"malformed", 400, `{"errorCode":"ERR_MALFORMED_REQUEST","message":"\"key\" is a required field"}`, "",
			[]error{lattice.ErrInvalidArgument}, "ERR_MALFORMED_REQUEST", `"key" is a required field`, 0},
		{"store not found (rich error)", 400, `{"errorCode":"ERR_STATE_STORE_NOT_FOUND","message":"state store s is not found","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"DAPR_STATE_NOT_FOUND"}]}`, "",
			[]error{lattice.ErrInvalidArgument}, "ERR_STATE_STORE_NOT_FOUND", "state store s is not found", 0},
		{"crdt overflow", 400, `{"errorCode":"ERR_CRDT_OVERFLOW","message":"lattice: counter overflow"}`, "",
			[]error{lattice.ErrInvalidArgument, lattice.ErrOverflow}, "ERR_CRDT_OVERFLOW", "lattice: counter overflow", 0},
		{"api token", 401, "invalid api token", "", []error{ErrUnauthorized}, "", "invalid api token", 0},
		{"forbidden", 403, "", "", []error{ErrUnauthorized}, "", "", 0},
		{"no route", 404, `{"errorCode":"ERR_DIRECT_INVOKE","message":"failed getting app id"}`, "",
			[]error{ErrNotFound}, "ERR_DIRECT_INVOKE", "failed getting app id", 0},
		{"etag mismatch", 409, `{"errorCode":"ERR_STATE_SAVE","message":"failed saving state in state store statestore: possible etag mismatch. error from state store: lattice: etag mismatch"}`, "",
			[]error{lattice.ErrETagMismatch}, "ERR_STATE_SAVE", "", 0},
		{"wrong type", 409, `{"errorCode":"ERR_CRDT_WRONG_TYPE","message":"key k is a pncounter"}`, "",
			[]error{lattice.ErrWrongType}, "ERR_CRDT_WRONG_TYPE", "key k is a pncounter", 0},
		{"too large", 413, `{"errorCode":"ERR_MALFORMED_REQUEST","message":"body too large"}`, "",
			[]error{lattice.ErrTooLarge}, "ERR_MALFORMED_REQUEST", "", 0},
		{"backpressure", 429, `{"errorCode":"ERR_STATE_SAVE","message":"lattice: backpressure"}`, "2",
			[]error{lattice.ErrBackpressure}, "ERR_STATE_SAVE", "", 2 * time.Second},
		{"internal", 500, `{"errorCode":"ERR_STATE_GET","message":"fail to get k from state store statestore: disk on fire"}`, "",
			[]error{ErrInternal}, "ERR_STATE_GET", "", 0},
		{"transaction etag mismatch", 500, `{"errorCode":"ERR_STATE_TRANSACTION","message":"error while executing state transaction: possible etag mismatch"}`, "",
			[]error{ErrInternal, lattice.ErrETagMismatch}, "ERR_STATE_TRANSACTION", "", 0},
		{"outcome unknown", 500, `{"errorCode":"ERR_STATE_SAVE","message":"failed saving state: lattice: outcome unknown"}`, "",
			[]error{ErrInternal, lattice.ErrIndeterminate}, "ERR_STATE_SAVE", "", 0},
		{"bad gateway", 502, "<html>", "", []error{ErrUnavailable}, "", "<html>", 0},
		{"no quorum", 503, `{"errorCode":"ERR_STATE_SAVE","message":"failed saving state in state store statestore: lattice: no quorum"}`, "1",
			[]error{ErrUnavailable, lattice.ErrNoQuorum}, "ERR_STATE_SAVE", "", time.Second},
		{"no quorum, terse", 503, `{"errorCode":"ERR_STATE_GET","message":"try later"}`, "",
			[]error{ErrUnavailable, lattice.ErrNoQuorum}, "ERR_STATE_GET", "try later", 0},
		{"shutting down", 503, `{"errorCode":"ERR_STATE_GET","message":"lattice: shutting down"}`, "",
			[]error{ErrUnavailable, lattice.ErrShuttingDown}, "ERR_STATE_GET", "", 0},
		{"backpressure as 503", 503, `{"errorCode":"ERR_STATE_SAVE","message":"lattice: backpressure"}`, "",
			[]error{ErrUnavailable, lattice.ErrBackpressure}, "ERR_STATE_SAVE", "", 0},
		{"gateway timeout", 504, "", "", []error{ErrUnavailable}, "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.retry != "" {
					w.Header().Set("Retry-After", tc.retry)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			c, _ := newTestClient(t, Config{}, srv.URL)
			err := c.Set(context.Background(), "k", "v")
			var api *APIError
			if !errors.As(err, &api) {
				t.Fatalf("err = %v (%T), want an *APIError", err, err)
			}
			if api.StatusCode != tc.status || api.ErrorCode != tc.wantCode || api.RetryAfter != tc.wantAfter || api.Endpoint != srv.URL {
				t.Errorf("got %+v", api)
			}
			if tc.wantMsg != "" && api.Message != tc.wantMsg {
				t.Errorf("message %q, want %q", api.Message, tc.wantMsg)
			}
			for _, s := range all {
				want := false
				for _, w := range tc.want {
					want = want || w == s
				}
				if errors.Is(err, s) != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, !want, want)
				}
			}
			if !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q does not name the endpoint", err)
			}
		})
	}
}

func TestTransportErrorKinds(t *testing.T) {
	c, _ := newTestClient(t, Config{}, deadURL(t))
	_, _, err := c.Get(context.Background(), "k")
	var tr *TransportError
	if !errors.As(err, &tr) || !errors.Is(err, ErrUnavailable) || errors.Is(err, lattice.ErrIndeterminate) {
		t.Errorf("refused connection: err = %v; want a TransportError, unavailable, not indeterminate", err)
	}
	slow := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c, _ = newTestClient(t, Config{TryTimeout: 10 * time.Millisecond}, slow.URL)
	_, _, err = c.Get(context.Background(), "k")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, lattice.ErrIndeterminate) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("try timeout: err = %v; want unavailable, indeterminate, deadline exceeded", err)
	}
}

func TestBadResponses(t *testing.T) {
	srv := newServer(t, value(`not json`))
	c, _ := newTestClient(t, Config{}, srv.URL)
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrBadResponse) {
		t.Errorf("garbage status: err = %v, want ErrBadResponse", err)
	}
	srv.set(value(strings.Repeat("x", 100)))
	cfg := DefaultConfig()
	cfg.Endpoints = []string{srv.URL}
	cfg.MaxResponseBytes = 10
	small, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := small.Get(context.Background(), "k"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("oversized body: err = %v, want ErrBadResponse", err)
	}
}
