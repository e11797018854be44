package httpapi

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/lattice-state/lattice"
)

func crdtPath(key string) string { return "/v1.0/crdt/statestore/" + key }

func TestCRDTOperations(t *testing.T) {
	tests := []struct {
		name string
		ops  []string
		want string // body after the last op
	}{
		{"gcounter", []string{`{"type":"gcounter","op":"increment","amount":5}`, `{"type":"gcounter","op":"increment"}`},
			`{"key":"k","type":"gcounter","value":6}`},
		{"pncounter", []string{`{"type":"pncounter","op":"increment","amount":2}`, `{"type":"pncounter","op":"decrement","amount":5}`},
			`{"key":"k","type":"pncounter","value":-3}`},
		{"orset", []string{`{"type":"orset","op":"add","elements":["b","a","c"]}`, `{"type":"orset","op":"remove","elements":["c"]}`},
			`{"key":"k","type":"orset","value":["a","b"]}`},
		{"flag", []string{`{"type":"flag","op":"enable"}`, `{"type":"flag","op":"disable"}`},
			`{"key":"k","type":"flag","value":false}`},
		{"mvregister", []string{`{"type":"mvregister","op":"assign","value":{ "x" : [1, "<y>"] }}`},
			`{"key":"k","type":"mvregister","value":[{"x":[1,"<y>"]}]}`},
		{"ormap", []string{
			`{"type":"ormap","op":"update","field":"votes","update":{"type":"pncounter","op":"increment","amount":2}}`,
			`{"type":"ormap","op":"update","field":"tags","update":{"type":"orset","op":"add","elements":["x"]}}`,
			`{"type":"ormap","op":"update","field":"inner","update":{"type":"ormap","op":"update","field":"on","update":{"type":"flag","op":"enable"}}}`,
			`{"type":"ormap","op":"update","field":"gone","update":{"type":"flag","op":"enable"}}`,
			`{"type":"ormap","op":"remove","field":"gone"}`},
			`{"key":"k","type":"ormap","value":{"inner":{"on":true},"tags":["x"],"votes":2}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			wantStatus(t, h.do(http.MethodGet, crdtPath("k"), ""), http.StatusNoContent)
			var last string
			for _, op := range tc.ops {
				rr := h.do(http.MethodPost, crdtPath("k"), op)
				wantStatus(t, rr, http.StatusOK)
				if rr.Header().Get("Etag") == "" {
					t.Fatal("no ETag on an operation's answer")
				}
				last = rr.Body.String()
			}
			if last != tc.want {
				t.Fatalf("after the ops %s\nwant %s", last, tc.want)
			}
			rr := h.do(http.MethodGet, crdtPath("k"), "")
			wantStatus(t, rr, http.StatusOK)
			if rr.Body.String() != tc.want || rr.Header().Get("Etag") == "" {
				t.Fatalf("GET %s etag %q, want %s", rr.Body.String(), rr.Header().Get("Etag"), tc.want)
			}
		})
	}
}

func TestCRDTOpReachesTheBackendValidated(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(http.MethodPost, crdtPath("m")+"?consistency=strong",
		`{"type":"ormap","op":"update","field":"f","update":{"type":"orset","op":"add","elements":["a"]}}`), http.StatusOK)
	want := CRDTOp{Type: TypeORMap, Kind: OpUpdate, Field: "f",
		Nested: &CRDTOp{Type: TypeORSet, Kind: OpAdd, Elements: []string{"a"}}}
	if got := h.b.applies[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("op %+v, want %+v", got, want)
	}
	if _, ok := h.b.state()["statestore||m"]; !ok {
		t.Fatal("backend key is not namespaced")
	}
}

func TestCRDTWrongTypeAndOverflow(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(http.MethodPost, crdtPath("c"), `{"type":"gcounter","op":"increment","amount":18446744073709551615}`), http.StatusOK)
	h.save(`[{"key":"reg","value":1}]`)
	h.unchanged(func() {
		wantError(t, h.do(http.MethodPost, crdtPath("c"), `{"type":"pncounter","op":"increment"}`), http.StatusConflict, "ERR_CRDT_WRONG_TYPE")
		wantError(t, h.do(http.MethodPost, crdtPath("reg"), `{"type":"orset","op":"add","elements":["a"]}`), http.StatusConflict, "ERR_CRDT_WRONG_TYPE")
		body := wantError(t, h.do(http.MethodPost, crdtPath("c"), `{"type":"gcounter","op":"increment"}`), http.StatusBadRequest, "ERR_CRDT_OVERFLOW")
		if !strings.Contains(body.Message, "failed applying crdt operation to key c in state store statestore") {
			t.Fatalf("message %q", body.Message)
		}
	})
	// A register read through the CRDT API is a register.
	rr := h.do(http.MethodGet, crdtPath("reg"), "")
	if rr.Body.String() != `{"key":"reg","type":"register","value":1}` {
		t.Fatalf("GET of a register %s", rr.Body.String())
	}
}

func TestCRDTDelete(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(http.MethodPost, crdtPath("s"), `{"type":"orset","op":"add","elements":["a"]}`), http.StatusOK)
	wantStatus(t, h.do(http.MethodDelete, crdtPath("s")+"?consistency=strong", ""), http.StatusNoContent)
	wantStatus(t, h.do(http.MethodGet, crdtPath("s"), ""), http.StatusNoContent)
	if d := h.b.deletes[0]; d.Key != "statestore||s" || d.Consistency != lattice.Strong {
		t.Fatalf("delete %+v", d)
	}
	// After a delete the key can take another type.
	wantStatus(t, h.do(http.MethodPost, crdtPath("s"), `{"type":"flag","op":"enable"}`), http.StatusOK)
	wantError(t, h.do(http.MethodDelete, crdtPath("s"), "", "If-Match", "stale"), http.StatusConflict, "ERR_CRDT_DELETE")
	wantError(t, h.do(http.MethodDelete, crdtPath("s")+"?consistency=both", ""), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
}

func TestCRDTRejectsBadOperations(t *testing.T) {
	tests := []struct{ name, body, msg string }{
		{"empty body", ``, "body is empty"},
		{"array", `[]`, "expected a CRDT operation object"},
		{"truncated", `{"type":"flag"`, "unexpected end"},
		{"trailing data", `{"type":"flag","op":"enable"} x`, "unexpected data"},
		{"unknown field", `{"type":"gcounter","op":"increment","amout":3}`, `unknown field "amout"`},
		{"unknown type", `{"type":"counter","op":"increment"}`, `unknown type "counter"`},
		{"register type", `{"type":"register","op":"set"}`, "state API"},
		{"missing type", `{"op":"increment"}`, `unknown type ""`},
		{"op of another type", `{"type":"gcounter","op":"decrement"}`, `operation "decrement" does not apply to a gcounter`},
		{"missing op", `{"type":"flag"}`, `operation "" does not apply`},
		{"amount zero", `{"type":"gcounter","op":"increment","amount":0}`, "amount must be an integer from 1"},
		{"amount negative", `{"type":"pncounter","op":"decrement","amount":-1}`, "amount must be"},
		{"amount fractional", `{"type":"pncounter","op":"increment","amount":1.5}`, "amount must be"},
		{"amount too big", `{"type":"gcounter","op":"increment","amount":18446744073709551616}`, "amount must be"},
		{"amount a string", `{"type":"gcounter","op":"increment","amount":"x"}`, "amount"},
		{"amount on a flag", `{"type":"flag","op":"enable","amount":1}`, `field "amount" does not apply to flag enable`},
		{"elements missing", `{"type":"orset","op":"add"}`, "non-empty elements"},
		{"elements empty", `{"type":"orset","op":"remove","elements":[]}`, "non-empty elements"},
		{"elements not strings", `{"type":"orset","op":"add","elements":[1]}`, "expected a string"},
		{"element too long", `{"type":"orset","op":"add","elements":["` + strings.Repeat("e", 65) + `"]}`, "over the limit"},
		{"assign without value", `{"type":"mvregister","op":"assign"}`, "needs a value"},
		{"assign value too big", `{"type":"mvregister","op":"assign","value":"` + strings.Repeat("v", 100) + `"}`, "over the limit"},
		{"update without field", `{"type":"ormap","op":"update","update":{"type":"flag","op":"enable"}}`, "needs a field"},
		{"update with empty field", `{"type":"ormap","op":"update","field":"","update":{"type":"flag","op":"enable"}}`, "needs a field"},
		{"update without update", `{"type":"ormap","op":"update","field":"f"}`, "needs an update operation"},
		{"remove with update", `{"type":"ormap","op":"remove","field":"f","update":{"type":"flag","op":"enable"}}`, `field "update" does not apply`},
		{"bad nested op", `{"type":"ormap","op":"update","field":"f","update":{"type":"flag","op":"increment"}}`, "does not apply to a flag"},
		{"nested too deep", strings.Repeat(`{"type":"ormap","op":"update","field":"f","update":`, 9) + `{"type":"flag","op":"enable"}` + strings.Repeat("}", 9), "deeper than 8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxKeyBytes = 64; c.MaxValueBytes = 50 })
			h.neverReached(func() {
				body := wantError(t, h.do(http.MethodPost, crdtPath("k"), tc.body), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
				if !strings.Contains(body.Message, tc.msg) {
					t.Fatalf("message %q does not contain %q", body.Message, tc.msg)
				}
			})
		})
	}
	h := newHarness(t)
	h.neverReached(func() {
		wantError(t, h.do(http.MethodPost, crdtPath("a%7C%7Cb"), `{"type":"flag","op":"enable"}`), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
		wantError(t, h.do(http.MethodPost, crdtPath("k")+"?consistency=x", `{"type":"flag","op":"enable"}`), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
	})
	wantError(t, h.do(http.MethodGet, crdtPath("k")+"?consistency=x", ""), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
}

func TestCRDTNestingAtTheLimitIsAccepted(t *testing.T) {
	h := newHarness(t)
	body := strings.Repeat(`{"type":"ormap","op":"update","field":"f","update":`, 7) + `{"type":"flag","op":"enable"}` + strings.Repeat("}", 7)
	rr := h.do(http.MethodPost, crdtPath("deep"), body)
	wantStatus(t, rr, http.StatusOK)
	if want := strings.Repeat(`{"f":`, 7) + "true" + strings.Repeat("}", 7); !strings.Contains(rr.Body.String(), want) {
		t.Fatalf("body %s", rr.Body.String())
	}
}
