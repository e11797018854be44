//go:build unix && !linux

package main

import (
	"os/exec"
	"syscall"
)

// setChildAttrs puts a child in its own process group, so that the terminal's
// Ctrl-C reaches only the dev command, which stops the children in order.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
