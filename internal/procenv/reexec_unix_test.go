//go:build unix

package procenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// reexecChildEnv makes the test binary call Reexec and print the GODEBUG it then runs with.
const reexecChildEnv = "PROCENV_TEST_REEXEC_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(reexecChildEnv) != "" {
		if err := Reexec(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Printf("GODEBUG=%s args=%s\n", os.Getenv("GODEBUG"), strings.Join(os.Args[1:], " "))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestReexecStartsOverWithTheSetting(t *testing.T) {
	for _, tc := range []struct{ godebug, want string }{
		{"gctrace=0", "GODEBUG=gctrace=0," + SysmonPolling},
		{"", "GODEBUG=" + SysmonPolling},
		{"schedtrace=0", "GODEBUG=schedtrace=0"}, // the opt-out: no exec
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "extra-arg")
		cmd.Env = append(os.Environ(), reexecChildEnv+"=1", "GODEBUG="+tc.godebug)
		// Standard output only: the runtime may print a SCHED line on standard error (a
		// machine up for longer than the trace's period).
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GODEBUG=%q: %v: %s", tc.godebug, err, out)
		}
		if want := tc.want + " args=-test.run=^$ extra-arg\n"; string(out) != want {
			t.Errorf("GODEBUG=%q: child printed %q, want %q", tc.godebug, out, want)
		}
	}
}
