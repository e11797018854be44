package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// crdtOpJSON is the body of POST /v1.0/crdt/{store}/{key}. Unknown fields are rejected: this is
// Lattice's own API, and a misspelt "amount" should not silently become 1.
type crdtOpJSON struct {
	Type     string          `json:"type"`
	Op       string          `json:"op"`
	Amount   json.RawMessage `json:"amount"`
	Elements []string        `json:"elements"`
	Value    json.RawMessage `json:"value"`
	Field    *string         `json:"field"`
	Update   *crdtOpJSON     `json:"update"`
}

// crdtKinds lists the operations each type accepts.
var crdtKinds = map[CRDTType][]CRDTOpKind{
	TypeGCounter:   {OpIncrement},
	TypePNCounter:  {OpIncrement, OpDecrement},
	TypeORSet:      {OpAdd, OpRemove},
	TypeFlag:       {OpEnable, OpDisable},
	TypeMVRegister: {OpAssign},
	TypeORMap:      {OpUpdate, OpRemove},
}

// maxCRDTDepth bounds how deeply ormap updates nest.
const maxCRDTDepth = 8

// decodeCRDTOp decodes and validates one CRDT operation.
func decodeCRDTOp(body []byte, lim limits) (CRDTOp, error) {
	const shape = `a CRDT operation object such as {"type":"pncounter","op":"increment","amount":1}`
	if len(bytes.TrimSpace(body)) == 0 {
		return CRDTOp{}, malformed("failed deserializing HTTP body: the body is empty; expected %s", shape)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var j crdtOpJSON
	if err := dec.Decode(&j); err != nil {
		return CRDTOp{}, describeJSONError(err, shape)
	}
	if _, err := dec.Token(); err != io.EOF {
		return CRDTOp{}, malformed("failed deserializing HTTP body: unexpected data after %s", shape)
	}
	return buildCRDTOp(&j, lim, 1)
}

// buildCRDTOp validates a decoded operation: a known type, an operation of that type, the fields
// the operation needs and no others.
func buildCRDTOp(j *crdtOpJSON, lim limits, depth int) (CRDTOp, error) {
	if depth > maxCRDTDepth {
		return CRDTOp{}, malformed("crdt: ormap updates nest deeper than %d levels", maxCRDTDepth)
	}
	typ := CRDTType(j.Type)
	kinds, ok := crdtKinds[typ]
	if !ok {
		return CRDTOp{}, malformed("crdt: unknown type %q: use gcounter, pncounter, orset, flag, mvregister or ormap"+
			" (registers are written with the state API)", j.Type)
	}
	kind := CRDTOpKind(j.Op)
	if !slices.Contains(kinds, kind) {
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = string(k)
		}
		return CRDTOp{}, malformed("crdt: operation %q does not apply to a %s: use %s", j.Op, typ, strings.Join(names, " or "))
	}
	op := CRDTOp{Type: typ, Kind: kind}
	var uses []string // the optional fields this operation takes
	switch {
	case typ == TypeGCounter || typ == TypePNCounter:
		uses = []string{"amount"}
	case typ == TypeORSet:
		uses = []string{"elements"}
	case typ == TypeMVRegister:
		uses = []string{"value"}
	case kind == OpUpdate:
		uses = []string{"field", "update"}
	case typ == TypeORMap: // remove
		uses = []string{"field"}
	}
	for _, f := range presentFields(j) {
		if !slices.Contains(uses, f) {
			return CRDTOp{}, malformed("crdt: field %q does not apply to %s %s", f, typ, kind)
		}
	}
	var err error
	switch {
	case slices.Contains(uses, "amount"):
		op.Amount, err = parseAmount(j.Amount)
	case typ == TypeORSet:
		op.Elements, err = checkElements(j.Elements, lim)
	case typ == TypeMVRegister:
		if j.Value == nil {
			return CRDTOp{}, malformed("crdt: mvregister assign needs a value")
		}
		op.Value, err = lim.value("(mvregister value)", j.Value)
	case typ == TypeORMap:
		if j.Field == nil || *j.Field == "" || len(*j.Field) > lim.maxKey {
			return CRDTOp{}, malformed("crdt: ormap %s needs a field of 1 to %d bytes", kind, lim.maxKey)
		}
		op.Field = *j.Field
		if kind == OpUpdate {
			if j.Update == nil {
				return CRDTOp{}, malformed("crdt: ormap update needs an update operation")
			}
			var nested CRDTOp
			nested, err = buildCRDTOp(j.Update, lim, depth+1)
			op.Nested = &nested
		}
	}
	if err != nil {
		return CRDTOp{}, err
	}
	return op, nil
}

// presentFields names the optional fields set in j.
func presentFields(j *crdtOpJSON) []string {
	var fs []string
	if j.Amount != nil {
		fs = append(fs, "amount")
	}
	if j.Elements != nil {
		fs = append(fs, "elements")
	}
	if j.Value != nil {
		fs = append(fs, "value")
	}
	if j.Field != nil {
		fs = append(fs, "field")
	}
	if j.Update != nil {
		fs = append(fs, "update")
	}
	return fs
}

// parseAmount reads an increment or decrement amount, a JSON integer; it defaults to 1.
func parseAmount(raw json.RawMessage) (uint64, error) {
	if raw == nil {
		return 1, nil
	}
	a, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || a == 0 {
		return 0, malformed("crdt: amount must be an integer from 1 to %d, got %s", uint64(math.MaxUint64), raw)
	}
	return a, nil
}

// checkElements validates the elements of an orset add or remove.
func checkElements(elems []string, lim limits) ([]string, error) {
	if len(elems) == 0 {
		return nil, malformed("crdt: orset add and remove need a non-empty elements array")
	}
	for _, e := range elems {
		if len(e) > lim.maxKey {
			return nil, malformed("crdt: orset element of %d bytes is over the limit of %d bytes", len(e), lim.maxKey)
		}
	}
	return elems, nil
}

// crdtView is the body of a CRDT read: the key, its type and its JSON view.
type crdtView struct {
	Key   string          `json:"key"`
	Type  CRDTType        `json:"type"`
	Value json.RawMessage `json:"value"`
}

// crdtGet serves GET /v1.0/crdt/{store}/{key}: the key's view with its ETag, 204 when absent.
func (s *Server) crdtGet(c *gin.Context) {
	store, key := c.Param("store"), c.Param("key")
	op := operation{code: codeCRDTGet, what: fmt.Sprintf("failed reading crdt key %s from state store %s", key, store), store: store}
	it, ok := s.readOne(c, op, store, key)
	if !ok {
		return
	}
	if !it.Found {
		c.Status(http.StatusNoContent)
		return
	}
	setItemHeaders(c, it)
	s.writeJSON(c, http.StatusOK, crdtView{Key: key, Type: it.Type, Value: it.Value})
}

// crdtApply serves POST /v1.0/crdt/{store}/{key}: applies one operation and answers the key's
// view after it, as GET does.
func (s *Server) crdtApply(c *gin.Context) {
	store, key := c.Param("store"), c.Param("key")
	op := operation{code: codeCRDTApply, what: fmt.Sprintf("failed applying crdt operation to key %s in state store %s", key, store), store: store}
	if err := s.lim.checkKey(key); err != nil {
		s.fail(c, op, err)
		return
	}
	body, err := readBody(c.Request)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	cop, err := decodeCRDTOp(body, s.lim)
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
	it, err := s.backend.Apply(ctx, BackendKey(store, key), cop, cons)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	setItemHeaders(c, it)
	s.writeJSON(c, http.StatusOK, crdtView{Key: key, Type: it.Type, Value: it.Value})
}

// crdtDelete serves DELETE /v1.0/crdt/{store}/{key}; 204.
func (s *Server) crdtDelete(c *gin.Context) {
	store, key := c.Param("store"), c.Param("key")
	op := operation{code: codeCRDTDelete, what: fmt.Sprintf("failed deleting crdt key %s from state store %s", key, store), store: store}
	s.deleteKey(c, op, store, key)
}
