package jepsen

import (
	"testing"
	"time"
)

func setOp(f, node, consistency, elem string, typ OpType, inv, comp int64) Op {
	return Op{Workload: WorkloadSet, F: f, Key: "s", Node: node, Consistency: consistency, Value: elem,
		Type: typ, Invoke: inv, Complete: comp}
}

func setRead(els []string, inv, comp int64) Op {
	return Op{Workload: WorkloadSet, F: "read", Key: "s", Consistency: "strong", Elements: els, Found: true,
		Type: OK, Invoke: inv, Complete: comp}
}

func setFinals(at int64, per map[string][]string) []Op {
	var out []Op
	for _, n := range []string{"n1", "n2", "n3"} {
		for _, c := range []string{"eventual", "strong"} {
			els, ok := per[n+"/"+c]
			if !ok {
				els = per["*"]
			}
			out = append(out, Op{Workload: WorkloadSet, F: "final-read", Key: "s", Node: n, Consistency: c,
				Elements: els, Found: true, Type: OK, Invoke: at, Complete: at + 1})
		}
	}
	return out
}

func TestCheckSet(t *testing.T) {
	base := []Op{
		setOp("add", "n1", "eventual", "a", OK, 0, 10),
		setOp("add", "n2", "strong", "b", OK, 5, 15),
		setOp("add", "n3", "eventual", "c", Info, 20, 30), // may be present
		setOp("add", "n3", "eventual", "d", Fail, 20, 30), // definitely absent
		setOp("remove", "n2", "eventual", "a", OK, 40, 50),
		setRead([]string{"a", "b"}, 35, 39),
	}
	with := func(extra ...Op) []Op { return append(append([]Op{}, base...), extra...) }
	kill := Op{Process: -1, Workload: workloadNemesis, F: string(FaultKill), Nodes: []string{"n1"}, Type: OK, Invoke: 11, Complete: 90}
	for _, tc := range []struct {
		name    string
		h       []Op
		want    Validity
		anomaly string
	}{
		{"removed element gone, info add absent", with(setFinals(100, map[string][]string{"*": {"b"}})...), Valid, ""},
		{"info add present", with(setFinals(100, map[string][]string{"*": {"b", "c"}})...), Valid, ""},
		{"concurrent remove may miss the add", with(setFinals(100, map[string][]string{"*": {"a", "b"}})...), Valid, ""},
		{"acknowledged add lost", with(setFinals(100, map[string][]string{"*": {}})...), Invalid, "lost-add"},
		{"failed add appears", with(setFinals(100, map[string][]string{"*": {"b", "d"}})...), Invalid, "phantom-element"},
		{"never-added element appears", with(setFinals(100, map[string][]string{"*": {"b", "zz"}})...), Invalid, "phantom-element"},
		{"nodes disagree", with(setFinals(100, map[string][]string{"*": {"b"}, "n3/eventual": {"b", "c"}})...), Invalid, "divergent"},
		{"strong read misses a strong add", with(setRead([]string{"a"}, 60, 70)), Invalid, "stale-read"},
		{"read sees an element before its add", []Op{
			setRead([]string{"x"}, 0, 5), setOp("add", "n1", "strong", "x", OK, 10, 20)}, Invalid, "phantom-element"},
		{"eventual add lost with its killed node", []Op{
			setOp("add", "n1", "eventual", "a", OK, 0, 10), kill,
			setOp("add", "n2", "strong", "b", OK, 5, 15)},
			Valid, ""},
		{"final reads missing", base, Unknown, ""},
	} {
		if tc.name == "eventual add lost with its killed node" {
			tc.h = append(tc.h, setFinals(100, map[string][]string{"*": {"b"}})...)
		}
		t.Run(tc.name, func(t *testing.T) {
			res := checkSet(indexed(tc.h), int64(time.Second))
			if res.Valid != tc.want {
				t.Fatalf("valid = %s, want %s: %s %+v", res.Valid, tc.want, res.Summary, res.Anomalies)
			}
			if tc.anomaly != "" && !hasAnomaly(res, tc.anomaly) {
				t.Fatalf("anomalies %+v, want %s", res.Anomalies, tc.anomaly)
			}
		})
	}
}

func bankRead(accounts map[string]int64, inv int64) Op {
	return Op{Workload: WorkloadBank, F: "read", Accounts: accounts, Type: OK, Invoke: inv, Complete: inv + 5}
}

func TestCheckBank(t *testing.T) {
	init := Op{Workload: WorkloadBank, F: "init", Process: -1, Amount: 30,
		Accounts: map[string]int64{"a": 10, "b": 10, "c": 10}, Type: OK}
	transfer := Op{Workload: WorkloadBank, F: "transfer", From: "a", To: "b", Amount: 4, Type: OK, Invoke: 10, Complete: 20}
	for _, tc := range []struct {
		name    string
		h       []Op
		want    Validity
		anomaly string
	}{
		{"totals hold", []Op{init, transfer, bankRead(map[string]int64{"a": 10, "b": 10, "c": 10}, 0),
			bankRead(map[string]int64{"a": 6, "b": 14, "c": 10}, 30)}, Valid, ""},
		{"money created", []Op{init, bankRead(map[string]int64{"a": 10, "b": 14, "c": 10}, 30)}, Invalid, "wrong-total"},
		{"negative balance", []Op{init, bankRead(map[string]int64{"a": -2, "b": 22, "c": 10}, 30)}, Invalid, "negative-balance"},
		{"account missing", []Op{init, bankRead(map[string]int64{"a": 10, "b": 20}, 30)}, Invalid, "missing-account"},
		{"failed reads only", []Op{init, {Workload: WorkloadBank, F: "read", Type: Fail}}, Unknown, ""},
		{"never opened", []Op{bankRead(map[string]int64{"a": 1}, 0)}, Unknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := checkBank(indexed(tc.h))
			if res.Valid != tc.want {
				t.Fatalf("valid = %s, want %s: %s", res.Valid, tc.want, res.Summary)
			}
			if tc.anomaly != "" && !hasAnomaly(res, tc.anomaly) {
				t.Fatalf("anomalies %+v, want %s", res.Anomalies, tc.anomaly)
			}
		})
	}
}

func TestCheckConvergence(t *testing.T) {
	heal := Op{Process: -1, Workload: workloadHarness, F: "final-heal", Type: OK, Invoke: 0, Complete: int64(time.Second)}
	round := func(typ OpType, end time.Duration, msgs ...string) Op {
		return Op{Process: -1, Workload: WorkloadConvergence, F: "round", Count: 12, Type: typ,
			Invoke: int64(end - 100*time.Millisecond), Complete: int64(end), Elements: msgs, Value: "summary"}
	}
	for _, tc := range []struct {
		name string
		h    []Op
		want Validity
		secs float64
	}{
		{"converges in the second round", []Op{heal, round(Fail, 2*time.Second, "n1 k: eventual=1 strong=2"),
			round(OK, 3*time.Second)}, Valid, 2},
		{"never converges", []Op{heal, round(Fail, 2*time.Second, "n1 k"), round(Fail, 3*time.Second, "n1 k")}, Invalid, 0},
		{"cannot read", []Op{heal, round(Info, 2*time.Second, "n1 k strong: timeout")}, Unknown, 0},
		{"no rounds", []Op{heal}, Unknown, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := checkConvergence(indexed(tc.h), 10*time.Second)
			if res.Valid != tc.want {
				t.Fatalf("valid = %s, want %s: %s", res.Valid, tc.want, res.Summary)
			}
			if tc.want == Valid && res.Figures["convergeSeconds"] != tc.secs {
				t.Fatalf("converge seconds %v, want %v", res.Figures["convergeSeconds"], tc.secs)
			}
			if tc.want == Invalid && !hasAnomaly(res, "divergent") {
				t.Fatalf("anomalies %+v", res.Anomalies)
			}
		})
	}
}

func TestCheckCrashes(t *testing.T) {
	h := []Op{{Workload: WorkloadRegister, F: "read", Type: OK}}
	if res := checkCrashes(h); res.Valid != Valid {
		t.Fatalf("no crash: %s", res.Valid)
	}
	h = append(h, Op{Process: -1, Workload: workloadHarness, F: "crash", Node: "n2", Error: "exit status 2", Type: Info})
	if res := checkCrashes(indexed(h)); res.Valid != Invalid || !hasAnomaly(res, "crash") {
		t.Fatalf("crash: %s %+v", res.Valid, res.Anomalies)
	}
}
