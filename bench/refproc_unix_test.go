//go:build unix

package bench

import (
	"os"
	"syscall"
	"testing"
)

func TestReferenceProcessHasItsOwnProcessGroup(t *testing.T) {
	t.Setenv(referenceChildEnv, "1")
	p, err := startReferenceProcess([]string{os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	pgid, err := syscall.Getpgid(p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.cmd.Process.Pid || pgid == syscall.Getpgrp() {
		t.Fatalf("child %d in process group %d (ours %d): a terminal's Ctrl-C would reach it", p.cmd.Process.Pid, pgid, syscall.Getpgrp())
	}
}
