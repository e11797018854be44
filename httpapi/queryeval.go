package httpapi

import (
	"cmp"
	"encoding/json"
	"strconv"
)

// Query operators, spelled as in Dapr's query language.
const (
	opEQ  = "EQ"
	opNEQ = "NEQ"
	opGT  = "GT"
	opGTE = "GTE"
	opLT  = "LT"
	opLTE = "LTE"
	opIN  = "IN"
	opAND = "AND"
	opOR  = "OR"
)

// filter decides whether a decoded JSON document matches. A path that does not exist in the
// document matches no comparison, NEQ included (SQL's rule for NULL).
type filter interface {
	match(doc any) bool
}

// compareFilter is EQ, NEQ, GT, GTE, LT or LTE on the value at path.
type compareFilter struct {
	op   string
	path []string
	val  any
}

func (f *compareFilter) match(doc any) bool {
	v, ok := lookup(doc, f.path)
	if !ok {
		return false
	}
	switch f.op {
	case opEQ:
		return jsonEqual(v, f.val)
	case opNEQ:
		return !jsonEqual(v, f.val)
	}
	r, ok := compareOrderable(v, f.val)
	if !ok {
		return false
	}
	switch f.op {
	case opGT:
		return r > 0
	case opGTE:
		return r >= 0
	case opLT:
		return r < 0
	}
	return r <= 0 // opLTE
}

// inFilter matches when the value at path equals one of vals.
type inFilter struct {
	path []string
	vals []any
}

func (f *inFilter) match(doc any) bool {
	v, ok := lookup(doc, f.path)
	if !ok {
		return false
	}
	for _, want := range f.vals {
		if jsonEqual(v, want) {
			return true
		}
	}
	return false
}

// boolFilter is AND (every sub-filter matches) or OR (at least one does).
type boolFilter struct {
	and  bool
	subs []filter
}

func (f *boolFilter) match(doc any) bool {
	for _, sub := range f.subs {
		if sub.match(doc) != f.and {
			return !f.and
		}
	}
	return f.and
}

// lookup follows a dot-path through JSON objects.
func lookup(doc any, path []string) (any, bool) {
	v := doc
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// jsonEqual compares decoded JSON values; numbers compare by value (1 equals 1.0).
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && compareNumbers(a, bn) == 0
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], ba[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !jsonEqual(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}

// orderable reports whether v can be ordered by GT, GTE, LT, LTE, and its kind.
func orderable(v any) (kind int, ok bool) {
	switch v.(type) {
	case json.Number:
		return 1, true
	case string:
		return 2, true
	}
	return 0, false
}

// compareOrderable orders two numbers or two strings; other pairs are not comparable.
func compareOrderable(a, b any) (int, bool) {
	ka, oka := orderable(a)
	kb, okb := orderable(b)
	if !oka || !okb || ka != kb {
		return 0, false
	}
	if ka == 1 {
		return compareNumbers(a.(json.Number), b.(json.Number)), true
	}
	return cmp.Compare(a.(string), b.(string)), true
}

// compareNumbers compares exactly when both are 64-bit integers, as float64 otherwise.
func compareNumbers(a, b json.Number) int {
	if ai, err := a.Int64(); err == nil {
		if bi, err := b.Int64(); err == nil {
			return cmp.Compare(ai, bi)
		}
	}
	af, _ := strconv.ParseFloat(string(a), 64) // out of range gives ±Inf, which still orders
	bf, _ := strconv.ParseFloat(string(b), 64)
	return cmp.Compare(af, bf)
}

// sortValue is the value a result sorts by; found is false when the path does not exist.
type sortValue struct {
	v     any
	found bool
}

// sortRank orders values of different JSON types: booleans, numbers, strings, arrays and objects,
// then null and missing values last (ascending).
func sortRank(s sortValue) int {
	if !s.found {
		return 5
	}
	switch s.v.(type) {
	case bool:
		return 0
	case json.Number:
		return 1
	case string:
		return 2
	case []any, map[string]any:
		return 3
	}
	return 4 // null
}

// compareSort orders two sort values ascending; arrays and objects compare equal to each other.
func compareSort(a, b sortValue) int {
	ra, rb := sortRank(a), sortRank(b)
	if ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch av := a.v.(type) {
	case bool:
		bv := b.v.(bool)
		switch {
		case av == bv:
			return 0
		case !av:
			return -1
		}
		return 1
	case json.Number, string:
		r, _ := compareOrderable(a.v, b.v)
		return r
	}
	return 0
}
