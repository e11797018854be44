package jepsen

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Validity is a checker's verdict: true, false or unknown (Jepsen's :valid?).
type Validity int8

const (
	// Unknown: the checker could not decide (no data, search timed out, cluster unreachable).
	Unknown Validity = iota
	// Valid: the history satisfies the property.
	Valid
	// Invalid: the history violates the property.
	Invalid
)

// String returns "true", "false" or "unknown".
func (v Validity) String() string {
	switch v {
	case Valid:
		return "true"
	case Invalid:
		return "false"
	}
	return "unknown"
}

// MarshalJSON encodes true, false or "unknown", as Jepsen's results do.
func (v Validity) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON accepts what MarshalJSON writes.
func (v *Validity) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("jepsen: bad validity %s", b)
	}
	return nil
}

// Merge combines verdicts with priority false > unknown > true; no verdicts at all is unknown.
func Merge(vs ...Validity) Validity {
	if len(vs) == 0 {
		return Unknown
	}
	out := Valid
	for _, v := range vs {
		switch {
		case v == Invalid:
			return Invalid
		case v == Unknown:
			out = Unknown
		}
	}
	return out
}

// Anomaly is one violation (or reason for unknown) found by a checker.
type Anomaly struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Key     string `json:"key,omitempty"`
	Ops     []int  `json:"ops,omitempty"` // indexes into the history
}

// CheckResult is what a checker reports.
type CheckResult struct {
	Name      string             `json:"name"`
	Valid     Validity           `json:"valid"`
	Summary   string             `json:"summary"`
	Anomalies []Anomaly          `json:"anomalies,omitempty"`
	Figures   map[string]float64 `json:"figures,omitempty"`   // counts, sums, times
	Artifacts []string           `json:"artifacts,omitempty"` // files in the run folder
}

// maxAnomalies caps how many anomalies a checker lists (the count is in Figures).
const maxAnomalies = 50

// addAnomaly counts a (figure "anomalies") and appends it unless the list is full.
func (c *CheckResult) addAnomaly(a Anomaly) {
	c.figure("anomalies", c.Figures["anomalies"]+1)
	if len(c.Anomalies) < maxAnomalies {
		c.Anomalies = append(c.Anomalies, a)
	}
}

// anomalySummary is "N anomalies (kinds)": N counts every anomaly, not only the listed ones; the
// kinds are those of the listed ones.
func (c *CheckResult) anomalySummary() string {
	var kinds []string
	for _, a := range c.Anomalies {
		if !slices.Contains(kinds, a.Kind) {
			kinds = append(kinds, a.Kind)
		}
	}
	slices.Sort(kinds)
	return fmt.Sprintf("%d anomalies (%s)", int(c.Figures["anomalies"]), strings.Join(kinds, ", "))
}

// figure sets one figure.
func (c *CheckResult) figure(name string, v float64) {
	if c.Figures == nil {
		c.Figures = map[string]float64{}
	}
	c.Figures[name] = v
}

// String is a one-line rendering for progress output.
func (c CheckResult) String() string {
	return fmt.Sprintf("%s: valid=%s %s", c.Name, c.Valid, c.Summary)
}

var _ json.Marshaler = Validity(0)
