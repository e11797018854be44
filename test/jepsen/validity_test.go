package jepsen

import (
	"encoding/json"
	"log/slog"
	"testing"
)

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		in   []Validity
		want Validity
	}{
		{nil, Unknown},
		{[]Validity{Valid}, Valid},
		{[]Validity{Valid, Valid}, Valid},
		{[]Validity{Valid, Unknown}, Unknown},
		{[]Validity{Unknown, Valid}, Unknown},
		{[]Validity{Valid, Invalid, Unknown}, Invalid},
		{[]Validity{Unknown, Invalid}, Invalid},
		{[]Validity{Invalid}, Invalid},
	} {
		if got := Merge(tc.in...); got != tc.want {
			t.Errorf("Merge(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestValidityJSON(t *testing.T) {
	for v, want := range map[Validity]string{Valid: "true", Invalid: "false", Unknown: `"unknown"`} {
		b, err := json.Marshal(v)
		if err != nil || string(b) != want {
			t.Errorf("Marshal(%s) = %s, %v; want %s", v, b, err, want)
		}
		var back Validity = 42
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Errorf("Unmarshal(%s) = %s, %v", b, back, err)
		}
	}
	var v Validity
	if err := json.Unmarshal([]byte(`"yes"`), &v); err == nil {
		t.Error("Unmarshal accepted a bad validity")
	}
}

func TestAddAnomalyCapsListButCounts(t *testing.T) {
	var c CheckResult
	for i := 0; i < maxAnomalies+7; i++ {
		c.addAnomaly(Anomaly{Kind: "x"})
	}
	c.addAnomaly(Anomaly{Kind: "a"})
	if len(c.Anomalies) != maxAnomalies || c.Figures["anomalies"] != maxAnomalies+8 {
		t.Fatalf("anomalies %d, count %v", len(c.Anomalies), c.Figures["anomalies"])
	}
	if got, want := c.anomalySummary(), "58 anomalies (x)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	c = CheckResult{}
	c.addAnomaly(Anomaly{Kind: "y"})
	c.addAnomaly(Anomaly{Kind: "b"})
	c.addAnomaly(Anomaly{Kind: "y"})
	if got, want := c.anomalySummary(), "3 anomalies (b, y)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
