package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/lattice-state/lattice"
)

// query is a decoded request of the query API (Dapr's alpha1 query language).
type query struct {
	filter filter // nil matches every item
	sort   []sortKey
	limit  int // 0: no limit
	offset int // where the page starts, from the page token
}

// sortKey orders results by the value at path.
type sortKey struct {
	path []string
	desc bool
}

// maxFilterDepth bounds the nesting of AND and OR filters.
const maxFilterDepth = 32

// decodeQuery decodes and validates a query body: {"filter":{...},"sort":[...],"page":{...}}.
// Every part is optional; unknown top-level fields are ignored, as in Dapr.
func decodeQuery(body []byte) (query, error) {
	var q query
	obj, err := decodeJSONObject(body, "a query object such as {}")
	if err != nil {
		return q, err
	}
	if f, ok := obj["filter"]; ok {
		if q.filter, err = parseFilter(f, 1); err != nil {
			return q, err
		}
	}
	if s, ok := obj["sort"]; ok {
		if q.sort, err = parseSort(s); err != nil {
			return q, err
		}
	}
	if p, ok := obj["page"]; ok {
		if q.limit, q.offset, err = parsePage(p); err != nil {
			return q, err
		}
	}
	return q, nil
}

// decodeJSONObject decodes body, which must be exactly one JSON object, keeping numbers exact.
func decodeJSONObject(body []byte, shape string) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, malformed("failed deserializing HTTP body: the body is empty; expected %s", shape)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, describeJSONError(err, shape)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("failed deserializing HTTP body: unexpected data after %s", shape)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, malformed("failed deserializing HTTP body: expected %s", shape)
	}
	return obj, nil
}

// parseFilter parses one filter unit: an object with a single operator.
func parseFilter(v any, depth int) (filter, error) {
	if depth > maxFilterDepth {
		return nil, malformed("query: filters nest deeper than %d levels", maxFilterDepth)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, malformed("query: filter unit must be an object")
	}
	if len(m) != 1 {
		return nil, malformed("query: filter unit must have a single element, got %d", len(m))
	}
	name, arg := only(m)
	switch name {
	case opEQ, opNEQ, opGT, opGTE, opLT, opLTE:
		path, val, err := parsePair(name, arg)
		if err != nil {
			return nil, err
		}
		if name != opEQ && name != opNEQ {
			if _, ok := orderable(val); !ok {
				return nil, malformed("query: %s filter value must be a number or a string", name)
			}
		}
		return &compareFilter{op: name, path: path, val: val}, nil
	case opIN:
		path, val, err := parsePair(name, arg)
		if err != nil {
			return nil, err
		}
		vals, ok := val.([]any)
		if !ok {
			return nil, malformed("query: IN filter value must be an array")
		}
		return &inFilter{path: path, vals: vals}, nil
	case opAND, opOR:
		arr, ok := arg.([]any)
		if !ok {
			return nil, malformed("query: %s filter must be an array", name)
		}
		if len(arr) < 2 {
			return nil, malformed("query: %s filter must contain at least two entries", name)
		}
		subs := make([]filter, len(arr))
		for i, a := range arr {
			var err error
			if subs[i], err = parseFilter(a, depth+1); err != nil {
				return nil, err
			}
		}
		return &boolFilter{and: name == opAND, subs: subs}, nil
	default:
		return nil, malformed("query: unsupported filter %q: use EQ, NEQ, GT, GTE, LT, LTE, IN, AND or OR", name)
	}
}

// parsePair parses the {"path": value} argument of a comparison.
func parsePair(name string, arg any) ([]string, any, error) {
	m, ok := arg.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, nil, malformed("query: %s filter must be an object with a single key/value pair", name)
	}
	k, v := only(m)
	path, err := parsePath(k)
	return path, v, err
}

// only returns the entry of a map of length 1.
func only(m map[string]any) (string, any) {
	for k, v := range m {
		return k, v
	}
	return "", nil
}

// parsePath splits a dot-path into the JSON value, such as "person.org".
func parsePath(s string) ([]string, error) {
	path := strings.Split(s, ".")
	if slices.Contains(path, "") {
		return nil, malformed("query: invalid key path %q", s)
	}
	return path, nil
}

// parseSort parses [{"key":"path","order":"ASC"|"DESC"}, ...]; order is case-insensitive.
func parseSort(v any) ([]sortKey, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, malformed(`query: "sort" must be an array`)
	}
	keys := make([]sortKey, 0, len(arr))
	for _, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, malformed(`query: each "sort" entry must be an object {"key":...,"order":...}`)
		}
		k, ok := m["key"].(string)
		if !ok {
			return nil, malformed(`query: each "sort" entry needs a string "key"`)
		}
		path, err := parsePath(k)
		if err != nil {
			return nil, err
		}
		sk := sortKey{path: path}
		if o, present := m["order"]; present {
			order, ok := o.(string)
			switch {
			case ok && (order == "" || strings.EqualFold(order, "ASC")):
			case ok && strings.EqualFold(order, "DESC"):
				sk.desc = true
			default:
				return nil, malformed(`query: sort order must be "ASC" or "DESC", got %v`, o)
			}
		}
		keys = append(keys, sk)
	}
	return keys, nil
}

// parsePage parses {"limit":N,"token":"..."}.
func parsePage(v any) (limit, offset int, err error) {
	m, ok := v.(map[string]any)
	if !ok {
		return 0, 0, malformed(`query: "page" must be an object`)
	}
	if l, present := m["limit"]; present {
		n, ok := l.(json.Number)
		i, perr := strconv.ParseInt(string(n), 10, 32)
		if !ok || perr != nil || i < 0 {
			return 0, 0, malformed("query: page limit must be an integer from 0 to %d, got %v", math.MaxInt32, l)
		}
		limit = int(i)
	}
	if t, present := m["token"]; present {
		tok, ok := t.(string)
		i, perr := strconv.ParseInt(tok, 10, 32)
		switch {
		case ok && tok == "":
		case !ok || perr != nil || i < 0:
			return 0, 0, malformed("query: invalid page token %v: pass back the token of the previous page", t)
		default:
			offset = int(i)
		}
	}
	return limit, offset, nil
}

// queryItem is one result of a query.
type queryItem struct {
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data"`
	ETag string          `json:"etag,omitempty"`
}

// queryResponse is the body of a query with results; Token is set when more pages follow.
type queryResponse struct {
	Results []queryItem `json:"results"`
	Token   string      `json:"token,omitempty"`
}

// query serves POST|PUT /v1.0-alpha1/state/{store}/query over Backend.Scan: 200 with a page of
// results, 204 when the page is empty.
func (s *Server) query(c *gin.Context) {
	store := c.Param("store")
	op := operation{code: codeQuery, what: fmt.Sprintf("state store %s query failed", store), store: store}
	body, err := readBody(c.Request)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	q, err := decodeQuery(body)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	cons, err := parseConsistency(defaultsOf(c.Request).consistency)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	ctx, cancel := s.callContext(c)
	defer cancel()
	matches, err := s.runQuery(ctx, store, q, cons)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	start := min(q.offset, len(matches))
	end := len(matches)
	if q.limit > 0 && start+q.limit < end {
		end = start + q.limit
	}
	if start == end {
		c.Status(http.StatusNoContent)
		return
	}
	resp := queryResponse{Results: make([]queryItem, 0, end-start)}
	for _, m := range matches[start:end] {
		resp.Results = append(resp.Results, queryItem{Key: m.key, Data: m.item.Value, ETag: m.item.ETag})
	}
	if end < len(matches) {
		resp.Token = strconv.Itoa(end)
	}
	s.writeJSON(c, http.StatusOK, resp)
}

// candidate is an item that matched the filter, with the values it sorts by.
type candidate struct {
	key      string // user key
	item     Item
	sortVals []sortValue
}

// runQuery scans the store and returns the matching items in result order: by the sort keys,
// then by key.
func (s *Server) runQuery(ctx context.Context, store string, q query, c lattice.Consistency) ([]candidate, error) {
	prefix := BackendKey(store, "")
	needDoc := q.filter != nil || len(q.sort) > 0
	var matches []candidate
	err := s.backend.Scan(ctx, prefix, c, func(it Item) bool {
		key, ok := strings.CutPrefix(it.Key, prefix)
		if !ok || !it.Found {
			return true
		}
		cand := candidate{key: key, item: it}
		if needDoc {
			doc, err := decodeDocument(it.Value)
			if err != nil || (q.filter != nil && !q.filter.match(doc)) {
				return true
			}
			for _, sk := range q.sort {
				v, found := lookup(doc, sk.path)
				cand.sortVals = append(cand.sortVals, sortValue{v: v, found: found})
			}
		}
		matches = append(matches, cand)
		return ctx.Err() == nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(matches, func(a, b candidate) int {
		for i, sk := range q.sort {
			if r := compareSort(a.sortVals[i], b.sortVals[i]); r != 0 {
				if sk.desc {
					return -r
				}
				return r
			}
		}
		return strings.Compare(a.key, b.key)
	})
	return matches, nil
}

// decodeDocument parses a stored JSON value, keeping numbers exact.
func decodeDocument(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}
