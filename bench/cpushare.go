package bench

import (
	"runtime"
	"strconv"
	"strings"
)

// CPUShareEnv returns env for one of procs Go processes that share this machine's CPUs (the
// nodes of a local cluster): GOMAXPROCS is set to an equal share, NumCPU/procs and at least 1,
// unless env already sets it. Each process then runs as many threads as it has CPUs, as it would
// on a machine or container of its own, instead of procs processes each scheduling NumCPU
// threads onto the same cores. `lattice dev` starts its nodes this way and so does the local etcd
// cluster, so the two are compared alike.
func CPUShareEnv(env []string, procs int) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	share := max(1, runtime.NumCPU()/max(1, procs))
	return append(env[:len(env):len(env)], "GOMAXPROCS="+strconv.Itoa(share))
}
