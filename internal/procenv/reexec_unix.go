//go:build unix

package procenv

import (
	"os"
	"syscall"
)

// Reexec replaces the process with a fresh start of its own executable, same arguments, with
// SysmonPolling added to GODEBUG, unless GODEBUG already sets schedtrace (so
// GODEBUG=schedtrace=0 opts out, and the new process does not exec again). GODEBUG is read once
// when the runtime starts, so setting it for the process itself takes this exec. Reexec returns
// only when it did not exec: nil when the setting was already there, otherwise the error, and
// the process then runs on without it.
func Reexec() error {
	if hasSetting(os.Getenv("GODEBUG"), "schedtrace") {
		return nil
	}
	// Linux names the running binary itself, even if a package upgrade has replaced the file
	// since; os.Executable would name the file, and so start a different version.
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	return syscall.Exec(exe, os.Args, WithSysmonPolling(os.Environ()))
}
