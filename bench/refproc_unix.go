//go:build unix

package bench

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts cmd in a process group of its own, so that a Ctrl-C at the terminal,
// which lattice bench answers by printing the figures so far, does not also stop the child.
func ownProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
