package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lattice-state/lattice"
)

// metadataPrefix marks the query parameters that become request metadata (Dapr's rule).
const metadataPrefix = "metadata."

// ttlKey is the metadata key of a value's time to live, in seconds.
const ttlKey = "ttlInSeconds"

// limits bounds what one request may carry.
type limits struct {
	maxKey    int // bytes of a key, an orset element or an ormap field
	maxValue  int // bytes of one compacted JSON value
	maxTxnOps int // operations of one transaction
}

// requestDefaults are what a request says outside its body: metadata.* query parameters and the
// consistency and concurrency options of the query string or, failing that, the headers.
type requestDefaults struct {
	meta        map[string]string
	consistency string
	concurrency string
}

// defaultsOf reads the requestDefaults of r. A query parameter wins over the header of the same
// name, so ?consistency=eventual overrides a consistency: strong header.
func defaultsOf(r *http.Request) requestDefaults {
	q := r.URL.Query()
	return requestDefaults{
		meta:        queryMetadata(q),
		consistency: optionValue(r, q, "consistency"),
		concurrency: optionValue(r, q, "concurrency"),
	}
}

// optionValue is the query parameter name if present (even empty), else the header name.
func optionValue(r *http.Request, q url.Values, name string) string {
	if v, ok := q[name]; ok {
		return v[0]
	}
	return r.Header.Get(name)
}

// queryMetadata collects the metadata.<k> query parameters (first value of each); nil if none.
func queryMetadata(q url.Values) map[string]string {
	var meta map[string]string
	for name, vals := range q {
		k, ok := strings.CutPrefix(name, metadataPrefix)
		if !ok || k == "" {
			continue
		}
		if meta == nil {
			meta = make(map[string]string)
		}
		meta[k] = vals[0]
	}
	return meta
}

// mergeMetadata returns body overlaid with query (the query wins, as in Dapr); nil when both are
// empty. It never modifies its arguments.
func mergeMetadata(body, query map[string]string) map[string]string {
	if len(body) == 0 && len(query) == 0 {
		return nil
	}
	out := make(map[string]string, len(body)+len(query))
	for k, v := range body {
		out[k] = v
	}
	for k, v := range query {
		out[k] = v
	}
	return out
}

// parseConsistency parses a consistency option; the empty string means eventual.
func parseConsistency(s string) (lattice.Consistency, error) {
	c, err := lattice.ParseConsistency(s)
	if err != nil {
		return c, malformed("unrecognized consistency model '%s': use eventual or strong", s)
	}
	return c, nil
}

// parseConcurrency parses a concurrency option; the empty string means last-write.
func parseConcurrency(s string) (lattice.Concurrency, error) {
	c, err := lattice.ParseConcurrency(s)
	if err != nil {
		return c, malformed("unrecognized concurrency model '%s': use first-write or last-write", s)
	}
	return c, nil
}

// checkKey validates a user key: present, within the size limit, without "||", valid UTF-8.
func (l limits) checkKey(key string) error {
	switch {
	case key == "":
		return malformed(`"key" is a required field`)
	case len(key) > l.maxKey: // before the "||" check, whose error quotes the key
		return malformed("key of %d bytes is over the limit of %d bytes", len(key), l.maxKey)
	case strings.Contains(key, keySeparator):
		return &illegalKeyError{key: key}
	case !utf8.ValidString(key):
		return malformed("key %q is not valid UTF-8", key)
	}
	return nil
}

// value compacts a JSON value (a missing one is null) and checks its size.
func (l limits) value(key string, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return []byte("null"), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, malformed("value of key %q is not valid JSON: %v", key, err)
	}
	if buf.Len() > l.maxValue {
		return nil, malformed("value of key %q is %d bytes, over the limit of %d bytes", key, buf.Len(), l.maxValue)
	}
	return buf.Bytes(), nil
}

// parseTTL reads metadata ttlInSeconds: an integer from -1 to 2^31-1, Dapr's range. -1 and 0
// mean no expiry.
func parseTTL(meta map[string]string) (time.Duration, error) {
	s, ok := meta[ttlKey]
	if !ok || s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < -1 || n > math.MaxInt32 {
		return 0, malformed("incorrect value for metadata '%s': %q is not an integer from -1 to %d", ttlKey, s, math.MaxInt32)
	}
	if n <= 0 {
		return 0, nil
	}
	return time.Duration(n) * time.Second, nil
}

// readBody reads the request body, bounded by the limitBody middleware.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, mbe
		}
		return nil, malformed("failed reading HTTP body: %v", err)
	}
	return b, nil
}

// unmarshalBody decodes body into v like json.Unmarshal, describing failures for clients; shape
// says what the body should be, e.g. "a JSON array of state items".
func unmarshalBody(body []byte, v any, shape string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return malformed("failed deserializing HTTP body: the body is empty; expected %s", shape)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return describeJSONError(err, shape)
	}
	return nil
}

// describeJSONError turns an encoding/json error into a client-facing errMalformed.
func describeJSONError(err error, shape string) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return malformed("failed deserializing HTTP body: expected %s, got %s", shape, te.Value)
	case errors.As(err, &te):
		return malformed("failed deserializing HTTP body: field %s: expected %s, got %s", te.Field, kindOf(te.Type), te.Value)
	case errors.As(err, &se):
		return malformed("failed deserializing HTTP body: %v (at byte %d)", err, se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("failed deserializing HTTP body: unexpected end of JSON input")
	}
	return malformed("failed deserializing HTTP body: %v", err)
}

// kindOf names the JSON kind a Go type decodes from.
func kindOf(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return kindOf(t.Elem())
	}
	return t.String()
}
