package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/gin-gonic/gin"
	"github.com/lattice-state/lattice/internal/procenv"
	"github.com/lattice-state/lattice/test/jepsen"
)

func main() {
	// The HTTP API is built on gin, whose process-wide default is a debug mode
	// that prints every route; the product runs in release mode.
	gin.SetMode(gin.ReleaseMode)
	if len(os.Args) > 1 && slices.Contains(longRunning, os.Args[1]) {
		if err := procenv.Reexec(); err != nil {
			fmt.Fprintf(os.Stderr, "lattice: running without GODEBUG=%s: %v\n", procenv.SysmonPolling, err)
		}
	}
	os.Exit(run(os.Args[1:], newApp(os.Stdout, os.Stderr, wireNode)))
}

// longRunning are the commands that serve or load a server for a long time: they start over
// with the Go runtime setting of internal/procenv (the sysmon kept polling), unless GODEBUG
// already sets schedtrace. The processes they start inherit it: etcd members, the reference
// server, so every Go process of a comparison runs alike.
var longRunning = []string{"serve", "bench", referenceServerCmd}

// app is what the commands take from the outside world. Tests build their own
// with fake writers, environment, signals and node factory.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// lookupEnv reads one environment variable (os.LookupEnv in production).
	lookupEnv func(string) (string, bool)
	// notify returns a channel receiving SIGINT and SIGTERM, and a function
	// that stops the delivery.
	notify func() (<-chan os.Signal, func())
	// newNode builds the node `lattice serve` runs.
	newNode NodeFactory
	// runJepsen runs the fault-injection suite of `lattice jepsen`.
	runJepsen JepsenRunner
}

func newApp(stdout, stderr io.Writer, newNode NodeFactory) *app {
	return &app{
		stdin:     os.Stdin,
		stdout:    stdout,
		stderr:    stderr,
		lookupEnv: os.LookupEnv,
		notify:    notifySignals,
		newNode:   newNode,
		runJepsen: jepsen.Run,
	}
}

func notifySignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// exitError ends the process with a given code; an empty message prints nothing.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// signalExit is the error of a process ended at once by a second signal: the
// shell convention 128 + signal number (130 for SIGINT, 143 for SIGTERM).
func signalExit(sig os.Signal) error {
	return &exitError{code: signalCode(sig), msg: fmt.Sprintf("lattice: second %v: exiting at once", sig)}
}

// signalCode is the exit code of a process ended by sig: 128 + its number.
func signalCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// run executes the command line and returns the process exit code: 0 on
// success, exitUsage (2) for a command line that cannot run as written, the
// code of an exitError, 1 for any other error.
func run(args []string, a *app) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "Error: %v\nRun '%s --help' for usage.\n", ue.err, ue.cmd)
		return exitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(a.stderr, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(a.stderr, "Error:", err)
	return 1
}
