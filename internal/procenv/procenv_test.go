package procenv

import (
	"slices"
	"testing"
)

func TestWithSysmonPolling(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"absent", []string{"A=1"}, []string{"A=1", "GODEBUG=" + SysmonPolling}},
		{"empty", []string{"GODEBUG=", "B=2"}, []string{"GODEBUG=" + SysmonPolling, "B=2"}},
		{"other settings kept", []string{"GODEBUG=gctrace=1,x509sha1=1"}, []string{"GODEBUG=gctrace=1,x509sha1=1," + SysmonPolling}},
		{"user's schedtrace wins", []string{"GODEBUG=gctrace=1, schedtrace=1000"}, []string{"GODEBUG=gctrace=1, schedtrace=1000"}},
		{"scheddetail is not schedtrace", []string{"GODEBUG=scheddetail=1"}, []string{"GODEBUG=scheddetail=1," + SysmonPolling}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.env)
			got := WithSysmonPolling(in)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if !slices.Equal(in, tc.env) {
				t.Fatalf("input changed to %q", in)
			}
		})
	}
}
