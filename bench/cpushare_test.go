package bench

import (
	"runtime"
	"slices"
	"strconv"
	"testing"
)

func TestCPUShareEnv(t *testing.T) {
	env := []string{"HOME=/root", "PATH=/bin"}
	got := CPUShareEnv(env, 3)
	want := "GOMAXPROCS=" + strconv.Itoa(max(1, runtime.NumCPU()/3))
	if len(got) != 3 || !slices.Equal(got[:2], env) || got[2] != want {
		t.Fatalf("CPUShareEnv = %q, want %q plus %s", got, env, want)
	}
	if len(env) != 2 {
		t.Fatalf("the caller's slice changed: %q", env)
	}
	if got := CPUShareEnv(env, 1); got[2] != "GOMAXPROCS="+strconv.Itoa(runtime.NumCPU()) {
		t.Fatalf("one process gets %q, want every CPU", got[2])
	}
	if got := CPUShareEnv(env, 1000); got[2] != "GOMAXPROCS=1" {
		t.Fatalf("many processes get %q, want at least 1", got[2])
	}
	user := []string{"GOMAXPROCS=7", "PATH=/bin"}
	if got := CPUShareEnv(user, 3); !slices.Equal(got, user) {
		t.Fatalf("a GOMAXPROCS set by the user was overridden: %q", got)
	}
}
