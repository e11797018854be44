package jepsen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// regOp builds a register op on key k. For reads, val "" means absent.
func regOp(client int, f, val string, typ OpType, inv, comp int64) Op {
	op := Op{Workload: WorkloadRegister, Client: client, F: f, Key: "k", Type: typ, Invoke: inv, Complete: comp}
	if f == "read" {
		op.Found, op.Value = val != "", val
	} else {
		op.Value = val
	}
	return op
}

func casOp(client int, expect, val string, typ OpType, status int, inv, comp int64) Op {
	op := regOp(client, "cas", val, typ, inv, comp)
	op.Expect, op.Status = expect, status
	return op
}

func indexed(h []Op) []Op {
	for i := range h {
		h[i].Index = i
	}
	return h
}

func TestRegisterModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    []Op
		want Validity
	}{
		{"sequential write then read", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(0, "read", "a", OK, 20, 30),
		}, Valid},
		{"read of absent key", []Op{
			regOp(0, "read", "", OK, 0, 10),
		}, Valid},
		{"stale read after a completed write", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(0, "write", "b", OK, 20, 30),
			regOp(1, "read", "a", OK, 40, 50),
		}, Invalid},
		{"concurrent read may see either value", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(0, "write", "b", OK, 20, 60),
			regOp(1, "read", "a", OK, 30, 40),
			regOp(2, "read", "b", OK, 35, 45),
		}, Valid},
		{"read goes back in time", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(0, "write", "b", OK, 20, 100),
			regOp(1, "read", "b", OK, 30, 40),
			regOp(2, "read", "a", OK, 50, 60),
		}, Invalid},
		{"read of a value never written", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "read", "z", OK, 20, 30),
		}, Invalid},
		{"indeterminate write seen long after it timed out", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "write", "b", Info, 20, 30),
			regOp(2, "read", "a", OK, 40, 50),
			regOp(2, "read", "b", OK, 60, 70),
		}, Valid},
		{"indeterminate write never applied", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "write", "b", Info, 20, 30),
			regOp(2, "read", "a", OK, 40, 50),
		}, Valid},
		{"indeterminate write cannot be undone", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "write", "b", Info, 20, 30),
			regOp(2, "read", "b", OK, 40, 50),
			regOp(2, "read", "a", OK, 60, 70),
		}, Invalid},
		{"failed write is ignored", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "write", "b", Fail, 20, 30),
			regOp(2, "read", "a", OK, 40, 50),
		}, Valid},
		{"eventual write takes effect later", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "ewrite", "e", OK, 20, 25),
			regOp(2, "read", "a", OK, 30, 40),
			regOp(2, "read", "e", OK, 50, 60),
		}, Valid},
		{"eventual write seen before it was invoked", []Op{
			regOp(2, "read", "e", OK, 0, 10),
			regOp(1, "ewrite", "e", OK, 20, 25),
		}, Invalid},
		{"cas succeeds on the expected value", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			casOp(0, "a", "b", OK, 0, 20, 30),
			regOp(1, "read", "b", OK, 40, 50),
		}, Valid},
		{"cas succeeds although the value changed", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "write", "c", OK, 20, 30),
			casOp(0, "a", "b", OK, 0, 40, 50),
		}, Invalid},
		{"cas conflict is justified", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "write", "c", OK, 20, 30),
			casOp(0, "a", "b", Fail, http.StatusConflict, 40, 50),
			regOp(1, "read", "c", OK, 60, 70),
		}, Valid},
		{"cas conflict without a reason", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			casOp(0, "a", "b", Fail, http.StatusConflict, 20, 30),
		}, Invalid},
		{"cas failing for another reason says nothing", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			casOp(0, "a", "b", Fail, http.StatusServiceUnavailable, 20, 30),
			regOp(1, "read", "a", OK, 40, 50),
		}, Valid},
		{"unknown cas may apply", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			casOp(0, "a", "b", Info, 0, 20, 30),
			regOp(1, "read", "b", OK, 40, 50),
		}, Valid},
		{"two creates both succeed", []Op{
			regOp(0, "create", "a", OK, 0, 10),
			regOp(1, "create", "b", OK, 20, 30),
		}, Invalid},
		{"create after delete", []Op{
			regOp(0, "create", "a", OK, 0, 10),
			regOp(1, "delete", "", OK, 20, 30),
			regOp(1, "create", "b", OK, 40, 50),
			regOp(0, "read", "b", OK, 60, 70),
		}, Valid},
		{"read after delete sees a value", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "delete", "", OK, 20, 30),
			regOp(0, "read", "a", OK, 40, 50),
		}, Invalid},
		{"create conflict on an existing key", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			func() Op { op := regOp(1, "create", "b", Fail, 20, 30); op.Status = http.StatusConflict; return op }(),
		}, Valid},
		{"failed reads are ignored", []Op{
			regOp(0, "write", "a", OK, 0, 10),
			regOp(1, "read", "zzz", Info, 20, 30),
			regOp(1, "read", "yyy", Fail, 40, 50),
		}, Valid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, info := checkRegister(indexed(tc.h), 10*time.Second)
			if res.Valid != tc.want {
				t.Fatalf("valid = %s, want %s (%s)", res.Valid, tc.want, res.Summary)
			}
			if (info != nil) != (tc.want == Invalid) {
				t.Fatalf("linearization info returned = %v for %s", info != nil, tc.want)
			}
			if tc.want == Invalid && (len(res.Anomalies) != 1 || res.Anomalies[0].Key != "k") {
				t.Fatalf("anomalies %+v, want key k", res.Anomalies)
			}
		})
	}
}

func TestRegisterOperationsOpenEnded(t *testing.T) {
	h := indexed([]Op{
		regOp(0, "write", "a", Info, 0, 10),
		regOp(1, "ewrite", "b", OK, 0, 10),
		regOp(2, "write", "c", OK, 0, 10),
		regOp(3, "read", "c", Info, 0, 10),
		{Workload: WorkloadCounter, F: "read", Type: OK},
	})
	ops := registerOperations(h)
	if len(ops) != 3 {
		t.Fatalf("got %d operations, want 3", len(ops))
	}
	if ops[0].Return != math.MaxInt64 || !ops[0].Output.(regOutput).Unknown {
		t.Errorf("info write not open-ended: %+v", ops[0])
	}
	if ops[1].Return != math.MaxInt64 {
		t.Errorf("eventual write not open-ended: %+v", ops[1])
	}
	if ops[2].Return != 10 {
		t.Errorf("ok write return %d", ops[2].Return)
	}
}

func TestRegisterPartitionsByKeyAndNamesIllegalKeys(t *testing.T) {
	var h []Op
	for i, key := range []string{"good", "bad", "also-good"} {
		w := regOp(i, "write", key+"1", OK, 0, 10)
		r := regOp(i, "read", key+"1", OK, 20, 30)
		if key == "bad" {
			r.Value = "other"
		}
		w.Key, r.Key = key, key
		h = append(h, w, r)
	}
	res, info := checkRegister(indexed(h), 10*time.Second)
	if res.Valid != Invalid || info == nil {
		t.Fatalf("valid %s", res.Valid)
	}
	if len(res.Anomalies) != 1 || res.Anomalies[0].Key != "bad" || res.Figures["keys"] != 3 {
		t.Fatalf("anomalies %+v figures %v", res.Anomalies, res.Figures)
	}
	path := filepath.Join(t.TempDir(), "register.html")
	faults := []faultWindow{{Kind: FaultPartitionHalves, Nodes: []string{"n1"}, Start: 5, End: 25}}
	if err := visualizeRegister(path, info, faults); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "partition-halves") || !strings.Contains(string(b), "<html") {
		t.Fatalf("visualisation lacks the annotation or html: %v (%d bytes)", err, len(b))
	}
}

func TestRegisterNoOpsIsUnknown(t *testing.T) {
	if res, _ := checkRegister(nil, time.Second); res.Valid != Unknown {
		t.Fatalf("valid %s", res.Valid)
	}
}

// simulateRegister produces a linearizable history of one key shaped like the register workload:
// every op gets a linearization point inside its interval (eventual writes up to lag after their
// invocation, or never), outputs are computed in linearization order, some writes end
// indeterminate, and a CAS expects the value its client read just before (else it is a create).
// It also returns each op's rank in the linearization (-1: never applied).
func simulateRegister(rng *rand.Rand, key string, n, clients int, lag int64) ([]Op, []int64) {
	type planned struct {
		op    Op
		point int64 // linearization point; -1: never takes effect
		prev  int   // the client's previous op, -1 for none
	}
	var ps []planned
	clock := make([]int64, clients)
	last := make([]int, clients)
	for c := range last {
		last[c] = -1
	}
	for i := 0; i < n; i++ {
		c := rng.IntN(clients)
		inv := clock[c] + 1 + rng.Int64N(20)
		dur := 1 + rng.Int64N(60)
		op := Op{Workload: WorkloadRegister, Key: key, Client: c, Invoke: inv, Complete: inv + dur, Type: OK}
		point := inv + rng.Int64N(dur)
		switch x := rng.IntN(100); {
		case x < 35:
			op.F = "read"
		case x < 55:
			op.F = "write"
		case x < 75:
			op.F = "cas"
		case x < 80:
			op.F = "create"
		case x < 85:
			op.F = "delete"
		default:
			op.F = "ewrite"
			point = inv + rng.Int64N(lag)
			if rng.IntN(3) == 0 {
				point = -1
			}
		}
		if op.F != "read" && op.F != "delete" {
			op.Value = fmt.Sprintf("%s-%d", key, i)
		}
		if op.F != "read" && op.F != "ewrite" && rng.IntN(10) == 0 {
			op.Type = Info
			if rng.IntN(2) == 0 {
				point = -1
			}
		}
		clock[c] = op.Complete
		ps = append(ps, planned{op, point, last[c]})
		last[c] = i
	}
	// The expectation of a CAS: the value its client's previous op read.
	expect := func(p *planned) {
		if p.op.F != "cas" {
			return
		}
		if p.prev < 0 || ps[p.prev].op.F != "read" || !ps[p.prev].op.Found {
			p.op.F = "create"
			return
		}
		p.op.Expect = ps[p.prev].op.Value
	}
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ps[order[a]].point < ps[order[b]].point })
	var st regState
	rank := make([]int64, len(ps))
	for r, i := range order {
		p := &ps[i]
		rank[i] = int64(r)
		if p.point < 0 {
			rank[i] = -1
			continue
		}
		expect(p)
		switch p.op.F {
		case "read":
			p.op.Found, p.op.Value = st.Exists, st.Value
		case "write", "ewrite":
			st = regState{Exists: true, Value: p.op.Value}
		case "delete":
			st = regState{}
		case "cas", "create":
			match := !st.Exists
			if p.op.F == "cas" {
				match = st.Exists && st.Value == p.op.Expect
			}
			if match {
				st = regState{Exists: true, Value: p.op.Value}
			} else if p.op.Type == OK {
				p.op.Type, p.op.Status = Fail, http.StatusConflict
			}
		}
	}
	out := make([]Op, len(ps))
	for i := range ps {
		if ps[i].point < 0 {
			expect(&ps[i])
			if ps[i].op.F == "cas" || ps[i].op.F == "create" {
				ps[i].op.Type = Info
			}
		}
		out[i] = ps[i].op
	}
	return out, rank
}

func TestRegisterSimulatedHistories(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var h []Op
		for k := 0; k < 3; k++ {
			ops, _ := simulateRegister(rng, fmt.Sprintf("k%d", k), 100, 6, 300)
			h = append(h, ops...)
		}
		h = indexed(h)
		start := time.Now()
		res, _ := checkRegister(h, 8*time.Second)
		if res.Valid != Valid {
			t.Fatalf("seed %d: linearizable simulation judged %s: %s", seed, res.Valid, res.Summary)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("seed %d: check took %s", seed, d)
		}
		// A stale read: the last read that saw a value sees the first value anyone read instead.
		stale := slices.Clone(h)
		first, last := -1, -1
		for i, op := range stale {
			if op.Key == "k0" && op.F == "read" && op.Type == OK && op.Found {
				if first < 0 {
					first = i
				}
				if op.Value != stale[first].Value {
					last = i
				}
			}
		}
		stale[last].Value = stale[first].Value
		res, info := checkRegister(stale, 4*time.Second)
		if res.Valid != Invalid || info == nil || len(res.Anomalies) == 0 || res.Anomalies[0].Key != "k0" {
			t.Fatalf("seed %d: stale read judged %s (%s) %+v", seed, res.Valid, res.Summary, res.Anomalies)
		}
		// A phantom: a read sees a value nobody wrote.
		phantom := slices.Clone(h)
		phantom[first].Value = "never-written"
		if res, _ := checkRegister(phantom, 4*time.Second); res.Valid != Invalid || res.Anomalies[0].Kind != "phantom-read" {
			t.Fatalf("seed %d: phantom read judged %s %+v", seed, res.Valid, res.Anomalies)
		}
	}
}

// TestRegisterReductionKeepsWitness checks reduceOpen against the simulation's own linearization:
// after the reduction (tightened returns, dropped and ordered unseen writes) the simulated order,
// with unseen writes reassigned by invocation, must still be a valid linearization.
func TestRegisterReductionKeepsWitness(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		h, rank := simulateRegister(rng, "k", 120, 6, 1000)
		h = indexed(h)
		for name, ops := range map[string][]porcupine.Operation{
			"full": registerOperations(h), "reduced": reduceOpen(registerOperations(h))} {
			if err := replayWitness(ops, rank); err != nil {
				t.Fatalf("seed %d %s: %v", seed, name, err)
			}
		}
	}
}

// replayWitness orders ops by rank (never-applied ops last), gives the unseen-write positions to
// the unseen writes in Seq order, and checks real-time order and the model along it.
func replayWitness(ops []porcupine.Operation, rank []int64) error {
	at := func(op porcupine.Operation) int64 {
		if r := rank[op.Metadata.(int)]; r >= 0 {
			return r
		}
		return math.MaxInt64
	}
	order := slices.Clone(ops)
	sort.SliceStable(order, func(a, b int) bool { return at(order[a]) < at(order[b]) })
	var unseen []porcupine.Operation
	for _, op := range order {
		if op.Input.(regInput).F == "unseen" {
			unseen = append(unseen, op)
		}
	}
	sort.Slice(unseen, func(a, b int) bool { return unseen[a].Input.(regInput).Seq < unseen[b].Input.(regInput).Seq })
	for i, k := 0, 0; i < len(order); i++ {
		if order[i].Input.(regInput).F == "unseen" {
			order[i] = unseen[k]
			k++
		}
	}
	state := registerModel.Init()
	for i, op := range order {
		for _, later := range order[i+1:] {
			if later.Return < op.Call {
				return fmt.Errorf("%v placed before %v, which returned before it was called", op.Input, later.Input)
			}
		}
		ok, next := registerModel.Step(state, op.Input, op.Output)
		if !ok {
			return fmt.Errorf("step %v %v illegal in state %v", op.Input, op.Output, state)
		}
		state = next
	}
	return nil
}
