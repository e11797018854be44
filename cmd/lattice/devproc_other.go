//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// setChildAttrs has nothing to set without process groups.
func setChildAttrs(cmd *exec.Cmd) {}

// terminate stops a child; without signals it cannot be graceful.
func terminate(p *os.Process) error { return p.Kill() }

// kill ends a child at once.
func kill(p *os.Process) error { return p.Kill() }
