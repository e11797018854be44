package lattice

import (
	"errors"
	"testing"
)

func TestParseConsistency(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Consistency
		wantErr bool
	}{
		{"", Eventual, false},
		{"eventual", Eventual, false},
		{"strong", Strong, false},
		{"Strong", Eventual, true},
		{"linearizable", Eventual, true},
	} {
		got, err := ParseConsistency(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseConsistency(%q) = %v, %v; want %v, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseConsistency(%q) error %v does not wrap ErrInvalidArgument", tc.in, err)
		}
		if err == nil && got.String() != map[string]string{"": "eventual"}[tc.in]+tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func TestParseConcurrency(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Concurrency
		wantErr bool
	}{
		{"", LastWrite, false},
		{"last-write", LastWrite, false},
		{"first-write", FirstWrite, false},
		{"firstwrite", LastWrite, true},
	} {
		got, err := ParseConcurrency(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseConcurrency(%q) = %v, %v; want %v, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil && tc.in != "" && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func TestRetryAfterErrorUnwraps(t *testing.T) {
	err := error(&RetryAfterError{Err: ErrNoQuorum})
	if !errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrBackpressure) {
		t.Fatalf("errors.Is mismatch for %v", err)
	}
	if err.Error() != ErrNoQuorum.Error() {
		t.Fatalf("Error() = %q", err.Error())
	}
}
