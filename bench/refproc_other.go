//go:build !unix

package bench

import "os/exec"

// ownProcessGroup leaves cmd in this process's group where groups are not Unix ones.
func ownProcessGroup(*exec.Cmd) {}
