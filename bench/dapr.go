package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
)

// daprDriver speaks the Dapr v1.0 state API and Lattice's CRDT API (CONTRACTS.md).
type daprDriver struct {
	hc    *httpClient
	store string
}

func (d daprDriver) session(base string) session {
	return &daprSession{
		hc:       d.hc,
		stateURL: base + "/v1.0/state/" + d.store,
		crdtURL:  base + "/v1.0/crdt/" + d.store + "/",
	}
}

// daprSession keeps one connection's request and response buffers.
type daprSession struct {
	hc       *httpClient
	stateURL string
	crdtURL  string
	url      []byte
	req      bytes.Buffer
	resp     bytes.Buffer
}

// Keys the tool sends are plain names (see validName), so they need no escaping.

func (s *daprSession) save(ctx context.Context, key string, value []byte, strong bool) error {
	s.writeItem(key, value, "", strong, false)
	return s.send(ctx)
}

func (s *daprSession) cas(ctx context.Context, key string, value []byte, version string) error {
	s.writeItem(key, value, version, true, true)
	return s.send(ctx)
}

// writeItem builds a one-item save body: [{"key":..,"value":..,"etag":..,"options":{..}}].
func (s *daprSession) writeItem(key string, value []byte, etag string, strong, firstWrite bool) {
	b := &s.req
	b.Reset()
	b.WriteString(`[{"key":"`)
	b.WriteString(key)
	b.WriteString(`","value":`)
	b.Write(value)
	if etag != "" {
		b.WriteString(`,"etag":`)
		q, _ := json.Marshal(etag) // an etag is opaque: escape it; marshalling a string cannot fail
		b.Write(q)
	}
	switch {
	case firstWrite:
		b.WriteString(`,"options":{"concurrency":"first-write","consistency":"strong"}`)
	case strong:
		b.WriteString(`,"options":{"consistency":"strong"}`)
	}
	b.WriteString("}]")
}

// send posts the save body built by writeItem.
func (s *daprSession) send(ctx context.Context) error {
	code, _, err := s.hc.exchange(ctx, http.MethodPost, s.stateURL, s.req.Bytes(), &s.resp)
	if err != nil {
		return err
	}
	if code != http.StatusNoContent && code != http.StatusOK {
		return &statusError{code: code}
	}
	return nil
}

func (s *daprSession) get(ctx context.Context, key string, strong bool) ([]byte, string, bool, error) {
	s.url = append(append(append(s.url[:0], s.stateURL...), '/'), key...)
	if strong {
		s.url = append(s.url, "?consistency=strong"...)
	}
	code, etag, err := s.hc.exchange(ctx, http.MethodGet, string(s.url), nil, &s.resp)
	switch {
	case err != nil:
		return nil, "", false, err
	case code == http.StatusOK:
		return s.resp.Bytes(), etag, true, nil
	case code == http.StatusNoContent:
		return nil, "", false, nil
	}
	return nil, "", false, &statusError{code: code}
}

// incrBody is the CRDT API operation the crdt-incr workload sends.
var incrBody = []byte(`{"type":"gcounter","op":"increment","amount":1}`)

func (s *daprSession) incr(ctx context.Context, key string, strong bool) error {
	s.url = append(append(s.url[:0], s.crdtURL...), key...)
	if strong {
		s.url = append(s.url, "?consistency=strong"...)
	} else {
		s.url = append(s.url, "?consistency=eventual"...)
	}
	code, _, err := s.hc.exchange(ctx, http.MethodPost, string(s.url), incrBody, &s.resp)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return &statusError{code: code}
	}
	return nil
}
