package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// portOwner names the process holding a local port, e.g. "pid 42 (lattice)",
// from /proc; "" when it cannot tell (another user's process, no /proc).
func portOwner(network string, port int) string {
	inodes := map[string]bool{}
	for _, table := range []string{network, network + "6"} {
		for _, ino := range socketInodes("/proc/net/"+table, network, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if !inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			continue
		}
		pid := strings.Split(fd, "/")[2]
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		return fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm)))
	}
	return ""
}

// socketInodes returns the inodes of the listening (TCP) or bound (UDP)
// sockets on port in a /proc/net table.
func socketInodes(path, network string, port int) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	want := "0A" // TCP_LISTEN
	if network == "udp" {
		want = "07" // TCP_CLOSE: an unconnected UDP socket
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != want {
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
		if err == nil && int(p) == port && f[9] != "0" {
			out = append(out, f[9])
		}
	}
	return out
}
