package main

import (
	"io"

	"github.com/lattice-state/lattice/bench"
	"github.com/spf13/cobra"
)

// referenceServerCmd is the name `lattice bench --reference` runs itself under to serve the
// reference server in a process of its own.
const referenceServerCmd = "reference-server"

// newReferenceServerCmd is the hidden `lattice reference-server`: bench's trivial reference
// server, which prints its URL and serves until its standard input closes or a signal arrives.
// lattice bench starts it in a process group of its own, so a Ctrl-C of the bench does not
// reach it; the bench closes its input when the run has ended.
func newReferenceServerCmd(a *app) *cobra.Command {
	addr := "127.0.0.1:0"
	cmd := &cobra.Command{
		Use:    referenceServerCmd,
		Short:  "Serve lattice bench's reference server (run by lattice bench --reference)",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(_ *cobra.Command, _ []string) error {
			logger, err := newLogger(a.stderr, "text", "warn")
			if err != nil {
				return err
			}
			stop := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, a.stdin) // until the parent closes it or exits
				close(stop)
			}()
			sigs, unwatch := a.notify()
			defer unwatch()
			done := make(chan struct{})
			go func() {
				defer close(done)
				select {
				case <-stop:
				case <-sigs:
				}
			}()
			return bench.ServeReference(addr, a.stdout, done, logger)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", addr, "address to listen on")
	return cmd
}
