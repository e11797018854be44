//go:build !unix

package procenv

// Reexec does nothing where exec cannot replace the running process.
func Reexec() error { return nil }
