package main

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version string

// versionString is the version reported by --version and the startup line: the
// link-time version, else the module version of the build, else "dev".
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "lattice",
		Short: "Lattice: a replicated state store with a Dapr-style HTTP API",
		Long: `Lattice keeps application state in memory on a cluster of nodes and serves it
through the Dapr v1.0 state API, with eventual or strong consistency per request
and conflict-free replicated data types.

Start a local three-node cluster:   lattice dev
Run one node:                       lattice serve --help`,
		Version:       versionString() + " (" + runtime.Version() + ")",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetVersionTemplate("lattice {{.Version}}\n")
	// Mistakes in the command line exit with exitUsage, not 1: bad flags here
	// (inherited by every subcommand), unknown commands in Args.
	root.SetFlagErrorFunc(asUsage)
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	// Commands that only group others (root, state, crdt, cluster) run only to
	// report a missing or unknown subcommand: their usage shows no
	// "lattice state [flags]" line.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "Usage:{{if .Runnable}}",
		"Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.AddCommand(
		newServeCmd(a),
		newDevCmd(a),
		newHealthcheckCmd(a),
		newStateCmd(a),
		newCRDTCmd(a),
		newClusterCmd(a),
		newBenchCmd(a),
		newJepsenCmd(a),
		newReferenceServerCmd(a),
	)
	return root
}
