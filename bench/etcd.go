package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// etcdDriver speaks etcd's v3 JSON gateway: keys and values travel base64-encoded.
type etcdDriver struct {
	hc *httpClient
}

// errUnsupported is an operation the target has no equivalent for (Validate rules it out).
var errUnsupported = errors.New("bench: operation not supported by etcd")

func (d etcdDriver) session(base string) session {
	return &etcdSession{
		hc:       d.hc,
		putURL:   base + "/v3/kv/put",
		rangeURL: base + "/v3/kv/range",
		txnURL:   base + "/v3/kv/txn",
	}
}

// etcdSession keeps one connection's buffers.
type etcdSession struct {
	hc                       *httpClient
	putURL, rangeURL, txnURL string
	req                      []byte
	resp                     bytes.Buffer
	rng                      etcdRange
}

// etcdRange is the part of a range response the tool reads. int64 fields arrive as JSON strings.
type etcdRange struct {
	Kvs []struct {
		Value       []byte          `json:"value"`
		ModRevision json.RawMessage `json:"mod_revision"`
	} `json:"kvs"`
}

// etcdTxn is the part of a txn response the tool reads; false booleans are omitted on the wire.
type etcdTxn struct {
	Succeeded bool `json:"succeeded"`
}

// appendB64Field appends "name":"<base64 of v>".
func appendB64Field(b []byte, name string, v []byte) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":"`...)
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

// post sends s.req to url and fails on any status but 200.
func (s *etcdSession) post(ctx context.Context, url string) error {
	code, _, err := s.hc.exchange(ctx, http.MethodPost, url, s.req, &s.resp)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return &statusError{code: code}
	}
	return nil
}

// put is always linearizable in etcd: strong has no effect.
func (s *etcdSession) save(ctx context.Context, key string, value []byte, _ bool) error {
	b := append(s.req[:0], '{')
	b = appendB64Field(b, "key", []byte(key))
	b = append(b, ',')
	b = appendB64Field(b, "value", value)
	s.req = append(b, '}')
	return s.post(ctx, s.putURL)
}

// get is a linearizable range when strong, a serializable (member-local) one otherwise.
func (s *etcdSession) get(ctx context.Context, key string, strong bool) ([]byte, string, bool, error) {
	b := append(s.req[:0], '{')
	b = appendB64Field(b, "key", []byte(key))
	if !strong {
		b = append(b, `,"serializable":true`...)
	}
	s.req = append(b, '}')
	if err := s.post(ctx, s.rangeURL); err != nil {
		return nil, "", false, err
	}
	s.rng.Kvs = s.rng.Kvs[:0]
	if err := json.Unmarshal(s.resp.Bytes(), &s.rng); err != nil {
		return nil, "", false, fmt.Errorf("%w: range: %v", errBadResponse, err)
	}
	if len(s.rng.Kvs) == 0 {
		return nil, "", false, nil
	}
	kv := s.rng.Kvs[0]
	return kv.Value, string(bytes.Trim(kv.ModRevision, `"`)), true, nil
}

// cas is a txn: compare create_revision == 0 (create-only) or mod_revision == version, then put.
func (s *etcdSession) cas(ctx context.Context, key string, value []byte, version string) error {
	b := append(s.req[:0], `{"compare":[{`...)
	b = appendB64Field(b, "key", []byte(key))
	if version == "" {
		b = append(b, `,"target":"CREATE","result":"EQUAL","create_revision":"0"}]`...)
	} else {
		b = append(b, `,"target":"MOD","result":"EQUAL","mod_revision":"`...)
		b = append(b, version...)
		b = append(b, `"}]`...)
	}
	b = append(b, `,"success":[{"request_put":{`...)
	b = appendB64Field(b, "key", []byte(key))
	b = append(b, ',')
	b = appendB64Field(b, "value", value)
	s.req = append(b, `}}]}`...)
	if err := s.post(ctx, s.txnURL); err != nil {
		return err
	}
	var res etcdTxn
	if err := json.Unmarshal(s.resp.Bytes(), &res); err != nil {
		return fmt.Errorf("%w: txn: %v", errBadResponse, err)
	}
	if !res.Succeeded {
		return errConflict
	}
	return nil
}

func (s *etcdSession) incr(context.Context, string, bool) error { return errUnsupported }
