package jepsen

import (
	"testing"
	"time"
)

func incr(node, consistency string, amount int64, typ OpType, inv, comp int64) Op {
	return Op{Workload: WorkloadCounter, F: "incr", Key: "c", Node: node, Consistency: consistency,
		Amount: amount, Type: typ, Invoke: inv, Complete: comp}
}

func ctrRead(value int64, inv, comp int64) Op {
	return Op{Workload: WorkloadCounter, F: "read", Key: "c", Consistency: "strong", Count: value, Found: true,
		Type: OK, Invoke: inv, Complete: comp}
}

// counterFinals returns final reads of value v on every node (eventual and strong).
func counterFinals(at int64, values map[string][2]int64) []Op {
	var out []Op
	for _, n := range []string{"n1", "n2", "n3"} {
		v := values[n]
		for i, c := range []string{"eventual", "strong"} {
			out = append(out, Op{Workload: WorkloadCounter, F: "final-read", Key: "c", Node: n, Consistency: c,
				Count: v[i], Found: true, Type: OK, Invoke: at, Complete: at + 1})
		}
	}
	return out
}

func same(v int64) map[string][2]int64 {
	return map[string][2]int64{"n1": {v, v}, "n2": {v, v}, "n3": {v, v}}
}

func TestCheckCounter(t *testing.T) {
	base := []Op{
		incr("n1", "eventual", 2, OK, 0, 10),
		incr("n2", "strong", 3, OK, 5, 20),
		incr("n3", "eventual", 4, Info, 25, 40), // may or may not have applied
		incr("n1", "strong", 7, Fail, 30, 35),   // definitely not applied
		ctrRead(5, 30, 38),
		ctrRead(5, 50, 60),
	}
	kill := func(node string, start int64) Op {
		return Op{Process: -1, Workload: workloadNemesis, F: string(FaultKill), Nodes: []string{node}, Type: OK,
			Invoke: start, Complete: start + 100}
	}
	for _, tc := range []struct {
		name    string
		h       []Op
		want    Validity
		anomaly string
	}{
		{"acknowledged sum", append(append([]Op{}, base...), counterFinals(100, same(5))...), Valid, ""},
		{"attempted sum", append(append([]Op{}, base...), counterFinals(100, same(9))...), Valid, ""},
		{"lost increment", append(append([]Op{}, base...), counterFinals(100, same(3))...), Invalid, "lost-increments"},
		{"phantom increment", append(append([]Op{}, base...), counterFinals(100, same(10))...), Invalid, "phantom-increments"},
		{"nodes disagree", append(append([]Op{}, base...), counterFinals(100,
			map[string][2]int64{"n1": {5, 5}, "n2": {2, 5}, "n3": {5, 5}})...), Invalid, "divergent"},
		{"strong read goes backwards", append(append([]Op{}, base...), ctrRead(4, 70, 80)), Invalid, "nonmonotonic-read"},
		{"strong read misses an acknowledged strong increment", []Op{
			incr("n2", "strong", 3, OK, 0, 10), ctrRead(0, 20, 30)}, Invalid, "stale-read"},
		{"strong read of more than was attempted", []Op{
			incr("n2", "eventual", 3, OK, 0, 10), ctrRead(4, 20, 30)}, Invalid, "phantom-read"},
		{"eventual increment lost with its killed node", append([]Op{
			incr("n1", "eventual", 2, OK, 0, 10), incr("n2", "strong", 3, OK, 5, 20), kill("n1", 12)},
			counterFinals(200, same(3))...), Valid, ""},
		{"eventual increment lost though its node was killed much later", append([]Op{
			incr("n1", "eventual", 2, OK, 0, 10), incr("n2", "strong", 3, OK, 5, 20),
			kill("n1", 10+int64(time.Minute))}, counterFinals(int64(2*time.Minute), same(3))...), Invalid, "lost-increments"},
		{"final reads missing", base, Unknown, ""},
		{"no operations", nil, Unknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := checkCounter(indexed(tc.h), int64(time.Second))
			if res.Valid != tc.want {
				t.Fatalf("valid = %s, want %s: %s %+v", res.Valid, tc.want, res.Summary, res.Anomalies)
			}
			if tc.anomaly != "" && !hasAnomaly(res, tc.anomaly) {
				t.Fatalf("anomalies %+v, want %s", res.Anomalies, tc.anomaly)
			}
		})
	}
}

func TestAtRisk(t *testing.T) {
	op := Op{Node: "n1", Invoke: 100, Complete: 110}
	bound := int64(50)
	for _, tc := range []struct {
		name string
		ws   []faultWindow
		want bool
	}{
		{"no faults", nil, false},
		{"kill of another node", []faultWindow{{Kind: FaultKill, Nodes: []string{"n2"}, Start: 120, End: 130}}, false},
		{"kill within the bound", []faultWindow{{Kind: FaultKill, Nodes: []string{"n1"}, Start: 150, End: 200}}, true},
		{"kill after the bound", []faultWindow{{Kind: FaultKill, Nodes: []string{"n1"}, Start: 161, End: 200}}, false},
		{"kill before the write", []faultWindow{{Kind: FaultKill, Nodes: []string{"n1"}, Start: 10, End: 90}}, false},
		{"pause is not a kill", []faultWindow{{Kind: FaultPause, Nodes: []string{"n1"}, Start: 150, End: 200}}, false},
		{"kill after a partition that held the write back", []faultWindow{
			{Kind: FaultPartitionOne, Nodes: []string{"n1"}, Start: 50, End: 500},
			{Kind: FaultKill, Nodes: []string{"n1"}, Start: 520, End: 600}}, true},
	} {
		if got := atRisk(op, tc.ws, bound); got != tc.want {
			t.Errorf("%s: atRisk = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func hasAnomaly(res CheckResult, kind string) bool {
	for _, a := range res.Anomalies {
		if a.Kind == kind {
			return true
		}
	}
	return false
}
