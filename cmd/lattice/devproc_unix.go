//go:build unix

package main

import (
	"os"
	"syscall"
)

// terminate asks a child's process group to stop gracefully.
func terminate(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGTERM) }

// kill ends a child's process group at once.
func kill(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGKILL) }
