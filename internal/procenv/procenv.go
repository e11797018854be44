// Package procenv holds the Go runtime settings Lattice starts its node processes with.
package procenv

import "strings"

// SysmonPolling is the GODEBUG setting that keeps the Go runtime's system monitor polling
// instead of parking whenever every P is idle. A parked monitor is woken with a futex by the
// next system call, so a server that idles between requests, as a node does thousands of times
// a second when it shares its cores, pays a thread wake-up and sleep for almost every request:
// on a 2-core machine that was about a fifth of a node's CPU and halved the rate of strong
// operations (docs/performance.md). schedtrace is the only switch the runtime offers for it
// (runtime/proc.go: "sysmon should not enter deep sleep if schedtrace is enabled"); its period,
// the largest it takes (2^31-1 ms, 24.8 days of the monotonic clock, which counts from boot),
// keeps the trace itself nearly silent: one line on standard error at start on a machine up for
// longer than that, and one per period after. A fatal runtime error also prints the scheduler's
// state before the goroutine dump.
const SysmonPolling = "schedtrace=2147483647"

// WithSysmonPolling returns env with SysmonPolling added to GODEBUG, unless GODEBUG already
// sets schedtrace. Other GODEBUG settings are kept.
func WithSysmonPolling(env []string) []string {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok || found {
			out = append(out, kv)
			continue
		}
		found = true
		switch {
		case hasSetting(v, "schedtrace"):
			out = append(out, kv)
		case v == "":
			out = append(out, "GODEBUG="+SysmonPolling)
		default:
			out = append(out, "GODEBUG="+v+","+SysmonPolling)
		}
	}
	if !found {
		out = append(out, "GODEBUG="+SysmonPolling)
	}
	return out
}

// hasSetting reports whether the comma-separated GODEBUG value v sets name.
func hasSetting(v, name string) bool {
	for _, s := range strings.Split(v, ",") {
		if k, _, _ := strings.Cut(strings.TrimSpace(s), "="); k == name {
			return true
		}
	}
	return false
}
