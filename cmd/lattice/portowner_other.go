//go:build !linux

package main

import (
	"errors"
	"syscall"
)

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// portOwner cannot tell the owner of a port without /proc.
func portOwner(network string, port int) string { return "" }
