package jepsen

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"net/http"
	"slices"

	"github.com/anishathalye/porcupine"
)

// regInput is a register operation as the model sees it. F is read, write (strong), ewrite
// (eventual), cas (etag read with value Expect), create (first-write without etag), delete, or
// unseen: an open-ended unconditional write whose value nobody observed (see reduceOpen); Seq
// orders the unseen writes of a key.
type regInput struct {
	F      string
	Key    string
	Value  string
	Expect string
	Seq    int
}

// regOutput is its outcome: OK for writes that succeeded (false: a definite conflict), Found and
// Value for reads, Unknown for writes whose outcome is not known.
type regOutput struct {
	OK      bool
	Found   bool
	Value   string
	Unknown bool
}

// regState is one key's register: absent, or holding Value; Unseen counts the unseen writes
// linearized so far (they must be linearized in Seq order).
type regState struct {
	Exists bool
	Value  string
	Unseen int
}

// unseenValue is the value an unseen write leaves: no read or CAS refers to it.
const unseenValue = "\x00unseen"

// registerModel is a per-key register with delete, create-only writes and compare-and-set by
// value. Indeterminate and eventual writes have an open-ended return, so porcupine may place them
// anywhere after their invocation, including after everything else (never applied).
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(regInput).Key
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(byKey))
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return regState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(regState), input.(regInput), output.(regOutput)
		set := func(exists bool, v string) regState { return regState{Exists: exists, Value: v, Unseen: st.Unseen} }
		switch in.F {
		case "read":
			return out.Found == st.Exists && (!out.Found || out.Value == st.Value), st
		case "write", "ewrite":
			return true, set(true, in.Value)
		case "unseen":
			if in.Seq != st.Unseen {
				return false, st
			}
			return true, regState{Exists: true, Value: unseenValue, Unseen: st.Unseen + 1}
		case "delete":
			return true, set(false, "")
		case "cas", "create":
			match := !st.Exists
			if in.F == "cas" {
				match = st.Exists && st.Value == in.Expect
			}
			next := st
			if match {
				next = set(true, in.Value)
			}
			if out.Unknown {
				return true, next
			}
			return out.OK == match, next
		}
		return false, st
	},
	Equal: func(a, b any) bool { return a.(regState) == b.(regState) },
	Hash: func(s any) uint64 {
		st := s.(regState)
		h := fnv.New64a()
		if st.Exists {
			h.Write([]byte{1})
		}
		h.Write([]byte(st.Value))
		h.Write([]byte{byte(st.Unseen), byte(st.Unseen >> 8)})
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		res := "ok"
		switch {
		case in.F == "unseen":
			return fmt.Sprintf("unseen write #%d (%s)", in.Seq, in.Value)
		case out.Unknown:
			res = "unknown"
		case in.F == "read" && !out.Found:
			return "read() -> absent"
		case in.F == "read":
			return fmt.Sprintf("read() -> %s", out.Value)
		case !out.OK:
			res = "conflict"
		}
		switch in.F {
		case "cas":
			return fmt.Sprintf("cas(%s -> %s) -> %s", in.Expect, in.Value, res)
		case "delete":
			return "delete() -> " + res
		}
		return fmt.Sprintf("%s(%s) -> %s", in.F, in.Value, res)
	},
	DescribeState: func(s any) string {
		st := s.(regState)
		switch {
		case !st.Exists:
			return "absent"
		case st.Value == unseenValue:
			return "(an unseen write)"
		}
		return st.Value
	},
}

// registerOperations converts the register ops of a history into porcupine operations:
// successful reads; writes that succeeded (eventual ones open-ended); definite conflicts of CAS and
// create; indeterminate writes open-ended. Reads that did not succeed and writes that definitely
// failed for another reason carry no information and are left out.
func registerOperations(h []Op) []porcupine.Operation {
	var out []porcupine.Operation
	for _, op := range h {
		if op.Workload != WorkloadRegister {
			continue
		}
		in := regInput{F: op.F, Key: op.Key, Value: op.Value, Expect: op.Expect}
		var o regOutput
		ret := op.Complete
		switch {
		case op.F == "read":
			if op.Type != OK {
				continue
			}
			o = regOutput{OK: true, Found: op.Found, Value: op.Value}
		case op.Type == Info:
			o, ret = regOutput{Unknown: true}, math.MaxInt64
		case op.Type == OK:
			o = regOutput{OK: true}
			if op.F == "ewrite" {
				ret = math.MaxInt64
			}
		case (op.F == "cas" || op.F == "create") && op.Status == http.StatusConflict:
			o = regOutput{OK: false}
		default:
			continue
		}
		out = append(out, porcupine.Operation{ClientId: op.Client, Input: in, Output: o,
			Call: op.Invoke, Return: ret, Metadata: op.Index})
	}
	return out
}
