package jepsen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// storeName is the Dapr state store every node serves.
const storeName = "statestore"

// apiClient talks to one node over the HTTP wire contract. It is safe for concurrent use.
type apiClient struct {
	base    string // http://10.77.0.11:3500
	hc      *http.Client
	timeout time.Duration
}

// newAPIClient returns a client for the node at addr ("ip:port"). Every request is bounded by timeout.
func newAPIClient(addr string, timeout time.Duration) *apiClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	return &apiClient{base: "http://" + addr, hc: &http.Client{Transport: tr}, timeout: timeout}
}

// close releases idle connections.
func (c *apiClient) close() { c.hc.CloseIdleConnections() }

// apiError is a response with a status that is not a success.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("jepsen: http %d %s: %s", e.Status, e.Code, e.Message)
}

// response is a successful response.
type response struct {
	Status int
	Body   []byte
	ETag   string
}

// do sends one request and reads the whole response; a status >= 300 is returned as *apiError.
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, hdr map[string]string, body any) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, fmt.Errorf("jepsen: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return response{}, fmt.Errorf("jepsen: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return response{}, err
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		var eb struct {
			ErrorCode string `json:"errorCode"`
			Message   string `json:"message"`
		}
		if json.Unmarshal(b, &eb) == nil && eb.ErrorCode != "" {
			e.Code, e.Message = eb.ErrorCode, eb.Message
		} else {
			e.Message = strings.TrimSpace(string(b))
		}
		return response{}, e
	}
	return response{Status: resp.StatusCode, Body: b, ETag: resp.Header.Get("ETag")}, nil
}

func consistencyQuery(strong bool) url.Values {
	if strong {
		return url.Values{"consistency": {"strong"}}
	}
	return url.Values{"consistency": {"eventual"}}
}

func statePath(key string) string { return "/v1.0/state/" + storeName + "/" + url.PathEscape(key) }
func crdtPath(key string) string  { return "/v1.0/crdt/" + storeName + "/" + url.PathEscape(key) }

// stateRead is the answer to a Dapr GET.
type stateRead struct {
	Found bool
	Raw   []byte // the stored JSON value
	ETag  string
}

// getState reads key with the given consistency; a 204 means absent.
func (c *apiClient) getState(ctx context.Context, key string, strong bool) (stateRead, error) {
	r, err := c.do(ctx, http.MethodGet, statePath(key), consistencyQuery(strong), nil, nil)
	if err != nil {
		return stateRead{}, err
	}
	if r.Status == http.StatusNoContent {
		return stateRead{}, nil
	}
	return stateRead{Found: true, Raw: r.Body, ETag: r.ETag}, nil
}

// stateOptions is the Dapr options object of a save.
type stateOptions struct {
	Concurrency string `json:"concurrency,omitempty"`
	Consistency string `json:"consistency,omitempty"`
}

// stateItem is one Dapr save (or transaction upsert) item.
type stateItem struct {
	Key     string        `json:"key"`
	Value   any           `json:"value"`
	ETag    string        `json:"etag,omitempty"`
	Options *stateOptions `json:"options,omitempty"`
}

// saveState saves one item.
func (c *apiClient) saveState(ctx context.Context, item stateItem) error {
	_, err := c.do(ctx, http.MethodPost, "/v1.0/state/"+storeName, nil, nil, []stateItem{item})
	return err
}

// deleteState deletes key, with an If-Match etag when etag is not empty.
func (c *apiClient) deleteState(ctx context.Context, key, etag string, strong bool) error {
	var hdr map[string]string
	if etag != "" {
		hdr = map[string]string{"If-Match": etag}
	}
	_, err := c.do(ctx, http.MethodDelete, statePath(key), consistencyQuery(strong), hdr, nil)
	return err
}

// txnOp is one operation of a Dapr transaction.
type txnOp struct {
	Operation string    `json:"operation"` // upsert | delete
	Request   stateItem `json:"request"`
}

// transact executes a Dapr transaction.
func (c *apiClient) transact(ctx context.Context, ops []txnOp) error {
	_, err := c.do(ctx, http.MethodPost, "/v1.0/state/"+storeName+"/transaction", nil, nil,
		map[string]any{"operations": ops})
	return err
}

// crdtRequest is one CRDT operation body.
type crdtRequest struct {
	Type     string   `json:"type"`
	Op       string   `json:"op"`
	Amount   int64    `json:"amount,omitempty"`
	Elements []string `json:"elements,omitempty"`
}

// crdtView is the answer of the CRDT API: the raw body (for comparisons), its value and etag.
type crdtView struct {
	Found bool
	Raw   []byte
	Value json.RawMessage
	ETag  string
}

func decodeCRDTView(r response) (crdtView, error) {
	if r.Status == http.StatusNoContent {
		return crdtView{}, nil
	}
	var v struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return crdtView{}, fmt.Errorf("jepsen: decode crdt view %q: %w", r.Body, err)
	}
	return crdtView{Found: true, Raw: r.Body, Value: v.Value, ETag: r.ETag}, nil
}

// crdtApply applies one operation to key.
func (c *apiClient) crdtApply(ctx context.Context, key string, strong bool, op crdtRequest) (crdtView, error) {
	r, err := c.do(ctx, http.MethodPost, crdtPath(key), consistencyQuery(strong), nil, op)
	if err != nil {
		return crdtView{}, err
	}
	return decodeCRDTView(r)
}

// crdtGet reads key; a 204 means absent.
func (c *apiClient) crdtGet(ctx context.Context, key string, strong bool) (crdtView, error) {
	r, err := c.do(ctx, http.MethodGet, crdtPath(key), consistencyQuery(strong), nil, nil)
	if err != nil {
		return crdtView{}, err
	}
	return decodeCRDTView(r)
}

// clusterStatus is the part of GET /v1.0/cluster/status the suite uses.
type clusterStatus struct {
	NodeID string `json:"nodeId"`
	Leader struct {
		ID       string `json:"id"`
		HTTPAddr string `json:"httpAddr"`
	} `json:"leader"`
	Raft struct {
		State string `json:"state"`
		Term  uint64 `json:"term"`
	} `json:"raft"`
}

// status reads the node's cluster status.
func (c *apiClient) status(ctx context.Context) (clusterStatus, error) {
	r, err := c.do(ctx, http.MethodGet, "/v1.0/cluster/status", nil, nil, nil)
	if err != nil {
		return clusterStatus{}, err
	}
	var s clusterStatus
	if err := json.Unmarshal(r.Body, &s); err != nil {
		return clusterStatus{}, fmt.Errorf("jepsen: decode status: %w", err)
	}
	return s, nil
}

// healthy checks GET /v1.0/healthz.
func (c *apiClient) healthy(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/v1.0/healthz", nil, nil, nil)
	return err
}

// classify maps a request error to an outcome: no error is ok; a 4xx answer (conflict, bad
// request, backpressure) or a connection that was never established definitely did not apply; a
// 5xx or a broken or timed-out exchange is unknown. A transaction's etag mismatch is a 500 in Dapr
// (no 409 on that route) and is definite too.
func classify(err error) (OpType, int) {
	if err == nil {
		return OK, 0
	}
	var ae *apiError
	if errors.As(err, &ae) {
		switch {
		case ae.Status < 500:
			return Fail, ae.Status
		case ae.Code == "ERR_STATE_TRANSACTION" && strings.Contains(strings.ToLower(ae.Message), "etag"):
			return Fail, ae.Status
		}
		return Info, ae.Status
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return Fail, 0
	}
	return Info, 0
}
