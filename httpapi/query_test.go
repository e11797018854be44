package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lattice-state/lattice"
)

const queryPath = "/v1.0-alpha1/state/statestore/query"

// people are the documents of Dapr's query API example, plus odd ones.
var people = map[string]string{
	"1": `{"person":{"org":"Dev Ops","id":1036},"city":"Seattle","state":"WA"}`,
	"2": `{"person":{"org":"Hardware","id":1028},"city":"Portland","state":"OR"}`,
	"3": `{"person":{"org":"Finance","id":1071},"city":"Sacramento","state":"CA"}`,
	"4": `{"person":{"org":"Dev Ops","id":1042},"city":"Spokane","state":"WA"}`,
	"5": `{"person":{"org":"Hardware","id":1007},"city":"Los Angeles","state":"CA"}`,
	"6": `{"person":{"org":"Finance","id":1094.5},"city":"San Diego","state":"CA"}`,
	"7": `{"person":{"org":"Dev Ops","id":1015},"city":"San Francisco","state":"CA"}`,
	"8": `{"person":{"org":"Hardware","id":1077},"city":"Redmond","state":"WA"}`,
	"x": `"just a string"`,
	"y": `{"person":null,"state":["CA"]}`,
}

func newQueryHarness(t *testing.T) *harness {
	h := newHarness(t)
	for k, v := range people {
		h.b.put("statestore||"+k, v)
	}
	h.b.put("other||1", `{"state":"CA"}`) // another store: never in results
	return h
}

// queryKeys runs a query and returns the keys of its results and its token.
func queryKeys(t *testing.T, h *harness, body string, hdr ...string) ([]string, string) {
	t.Helper()
	rr := h.do(http.MethodPost, queryPath, body, hdr...)
	if rr.Code == http.StatusNoContent {
		return nil, ""
	}
	wantStatus(t, rr, http.StatusOK)
	var resp struct {
		Results []struct {
			Key  string          `json:"key"`
			Data json.RawMessage `json:"data"`
			ETag string          `json:"etag"`
		} `json:"results"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(rr.Body.Bytes(), &resp); err != nil {
		t.Fatalf("body %s: %v", rr.Body.String(), err)
	}
	var keys []string
	for _, r := range resp.Results {
		if want := people[r.Key]; string(r.Data) != want || r.ETag == "" {
			t.Fatalf("result %s: data %s etag %q, want %s", r.Key, r.Data, r.ETag, want)
		}
		keys = append(keys, r.Key)
	}
	return keys, resp.Token
}

func TestQueryFilters(t *testing.T) {
	h := newQueryHarness(t)
	tests := []struct {
		name, filter string
		want         []string
	}{
		{"no filter", ``, []string{"1", "2", "3", "4", "5", "6", "7", "8", "x", "y"}},
		{"EQ string", `"filter":{"EQ":{"state":"CA"}},`, []string{"3", "5", "6", "7"}},
		{"EQ nested", `"filter":{"EQ":{"person.org":"Dev Ops"}},`, []string{"1", "4", "7"}},
		{"EQ number compares by value", `"filter":{"EQ":{"person.id":1036.0}},`, []string{"1"}},
		{"EQ array", `"filter":{"EQ":{"state":["CA"]}},`, []string{"y"}},
		{"EQ null", `"filter":{"EQ":{"person":null}},`, []string{"y"}},
		{"NEQ skips missing paths", `"filter":{"NEQ":{"state":"CA"}},`, []string{"1", "2", "4", "8", "y"}},
		{"GT number", `"filter":{"GT":{"person.id":1071}},`, []string{"6", "8"}},
		{"GTE number", `"filter":{"GTE":{"person.id":1071}},`, []string{"3", "6", "8"}},
		{"LT number", `"filter":{"LT":{"person.id":1028}},`, []string{"5", "7"}},
		{"LTE number", `"filter":{"LTE":{"person.id":1028}},`, []string{"2", "5", "7"}},
		{"GT string", `"filter":{"GT":{"city":"San Diego"}},`, []string{"1", "4", "7"}},
		{"LT string ignores numbers", `"filter":{"LT":{"person.id":"z"}},`, nil},
		{"IN", `"filter":{"IN":{"state":["OR","WA"]}},`, []string{"1", "2", "4", "8"}},
		{"AND", `"filter":{"AND":[{"EQ":{"person.org":"Dev Ops"}},{"IN":{"state":["CA","WA"]}},{"GT":{"person.id":1020}}]},`, []string{"1", "4"}},
		{"OR", `"filter":{"OR":[{"EQ":{"person.org":"Finance"}},{"EQ":{"city":"Redmond"}}]},`, []string{"3", "6", "8"}},
		{"nested AND in OR", `"filter":{"OR":[{"AND":[{"EQ":{"state":"CA"}},{"LT":{"person.id":1010}}]},{"EQ":{"state":"OR"}}]},`, []string{"2", "5"}},
		{"nothing matches", `"filter":{"EQ":{"state":"TX"}},`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := "{" + tc.filter + `"page":{"limit":0}}`
			got, token := queryKeys(t, h, body)
			if !slices.Equal(got, tc.want) || token != "" {
				t.Fatalf("keys %v token %q, want %v", got, token, tc.want)
			}
		})
	}
}

func TestQuerySort(t *testing.T) {
	h := newQueryHarness(t)
	tests := []struct {
		sort string
		want []string
	}{
		{`[{"key":"person.id"}]`, []string{"5", "7", "2", "1", "4", "3", "8", "6", "x", "y"}},
		{`[{"key":"person.id","order":"DESC"}]`, []string{"x", "y", "6", "8", "3", "4", "1", "2", "7", "5"}},
		{`[{"key":"state","order":"desc"},{"key":"person.id","order":"ASC"}]`,
			[]string{"x", "y", "1", "4", "8", "2", "5", "7", "3", "6"}},
		{`[{"key":"person.org"},{"key":"city","order":"DESC"}]`,
			[]string{"4", "1", "7", "6", "3", "8", "2", "5", "x", "y"}},
	}
	for _, tc := range tests {
		t.Run(tc.sort, func(t *testing.T) {
			got, _ := queryKeys(t, h, `{"sort":`+tc.sort+`}`)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("keys %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestQueryPages(t *testing.T) {
	h := newQueryHarness(t)
	base := `{"filter":{"EQ":{"state":"CA"}},"sort":[{"key":"person.id","order":"DESC"}],"page":{"limit":3`
	keys, token := queryKeys(t, h, base+`}}`)
	if !slices.Equal(keys, []string{"6", "3", "7"}) || token == "" {
		t.Fatalf("first page %v token %q, want [6 3 7] and a token", keys, token)
	}
	keys, token2 := queryKeys(t, h, base+`,"token":"`+token+`"}}`)
	if !slices.Equal(keys, []string{"5"}) || token2 != "" {
		t.Fatalf("second page %v token %q, want [5] and no token", keys, token2)
	}
	rr := h.do(http.MethodPost, queryPath, base+`,"token":"100"}}`)
	wantStatus(t, rr, http.StatusNoContent)
}

func TestQueryConsistency(t *testing.T) {
	h := newQueryHarness(t)
	queryKeys(t, h, `{}`)
	queryKeys(t, h, `{}`, "consistency", "strong")
	h.do(http.MethodPut, queryPath+"?consistency=strong&metadata.contentType=application/json", `{}`)
	if !slices.Equal(h.b.reads, []lattice.Consistency{lattice.Eventual, lattice.Strong, lattice.Strong}) {
		t.Fatalf("scan consistencies %v", h.b.reads)
	}
}

func TestQueryEmptyStoreIs204(t *testing.T) {
	h := newHarness(t)
	rr := h.do(http.MethodPost, queryPath, `{"filter":{"EQ":{"a":1}}}`)
	wantStatus(t, rr, http.StatusNoContent)
}

func TestQueryRejectsBadInput(t *testing.T) {
	tests := []struct{ name, body, msg string }{
		{"empty body", ``, "body is empty"},
		{"array", `[]`, "expected a query object"},
		{"not json", `{"filter":`, "unexpected"},
		{"trailing data", `{} {}`, "unexpected data"},
		{"filter not an object", `{"filter":[]}`, "filter unit must be an object"},
		{"null filter", `{"filter":null}`, "filter unit must be an object"},
		{"empty filter", `{"filter":{}}`, "single element"},
		{"two operators", `{"filter":{"EQ":{"a":1},"NEQ":{"b":2}}}`, "single element"},
		{"unknown operator", `{"filter":{"LIKE":{"a":"x%"}}}`, `unsupported filter "LIKE"`},
		{"EQ with two pairs", `{"filter":{"EQ":{"a":1,"b":2}}}`, "single key/value pair"},
		{"EQ not an object", `{"filter":{"EQ":"a"}}`, "single key/value pair"},
		{"empty path", `{"filter":{"EQ":{"":1}}}`, "invalid key path"},
		{"empty path segment", `{"filter":{"EQ":{"a..b":1}}}`, "invalid key path"},
		{"GT with a bool", `{"filter":{"GT":{"a":true}}}`, "number or a string"},
		{"IN not an array", `{"filter":{"IN":{"a":"x"}}}`, "IN filter value must be an array"},
		{"AND with one entry", `{"filter":{"AND":[{"EQ":{"a":1}}]}}`, "at least two entries"},
		{"OR not an array", `{"filter":{"OR":{"EQ":{"a":1}}}}`, "must be an array"},
		{"AND with a bad entry", `{"filter":{"AND":[{"EQ":{"a":1}},{"XX":{}}]}}`, "unsupported filter"},
		{"too deep", `{"filter":` + strings.Repeat(`{"AND":[{"EQ":{"a":1}},`, 40) + `{"EQ":{"a":1}}` + strings.Repeat(`]}`, 40) + `}`, "deeper than"},
		{"sort not an array", `{"sort":{"key":"a"}}`, `"sort" must be an array`},
		{"sort entry not an object", `{"sort":["a"]}`, "each \"sort\" entry"},
		{"sort without key", `{"sort":[{"order":"ASC"}]}`, `needs a string "key"`},
		{"bad order", `{"sort":[{"key":"a","order":"UP"}]}`, "sort order"},
		{"page not an object", `{"page":3}`, `"page" must be an object`},
		{"negative limit", `{"page":{"limit":-1}}`, "page limit"},
		{"fractional limit", `{"page":{"limit":1.5}}`, "page limit"},
		{"string limit", `{"page":{"limit":"3"}}`, "page limit"},
		{"bad token", `{"page":{"limit":3,"token":"abc"}}`, "invalid page token"},
		{"numeric token", `{"page":{"token":3}}`, "invalid page token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			body := wantError(t, h.do(http.MethodPost, queryPath, tc.body), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
			if !strings.Contains(body.Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", body.Message, tc.msg)
			}
			if n := h.b.callCount("Scan"); n != 0 {
				t.Fatalf("Scan called %d times", n)
			}
		})
	}
	h := newHarness(t)
	wantError(t, h.do(http.MethodPost, queryPath+"?consistency=x", `{}`), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
}

func TestQueryBackendFailure(t *testing.T) {
	h := newQueryHarness(t)
	h.b.set(func(f *fakeBackend) { f.failWith["Scan"] = errors.New("snapshot released") })
	body := wantError(t, h.do(http.MethodPost, queryPath, `{}`), http.StatusInternalServerError, "ERR_STATE_QUERY")
	if body.Message != "state store statestore query failed: snapshot released" {
		t.Fatalf("message %q", body.Message)
	}
}

func TestCompareNumbers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"9007199254740993", "9007199254740992", 1}, // beyond float64 precision, still exact
		{"1", "1.0", 0},
		{"-1", "1e400", -1},
		{"1e400", "1e401", 0}, // both +Inf
		{"2.5", "10", -1},
	}
	for _, tc := range tests {
		if got := compareNumbers(json.Number(tc.a), json.Number(tc.b)); got != tc.want {
			t.Errorf("compareNumbers(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
