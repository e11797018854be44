package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// exitUsage is the exit code of a command line that cannot be run as written:
// an unknown command or flag, a wrong number of arguments, a bad flag value.
const exitUsage = 2

// usageError is a mistake in the command line. run prints it with a pointer to
// the command's help and exits with exitUsage.
type usageError struct {
	cmd string // the command path, e.g. "lattice state get"
	err error
}

func (e *usageError) Error() string { return e.err.Error() }

func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError of cmd.
func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf(format, args...)}
}

// asUsage marks err, a command line mistake of cmd, as a usageError.
func asUsage(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	return &usageError{cmd: cmd.CommandPath(), err: err}
}

// usageArgs makes the errors of an argument validator usageErrors.
func usageArgs(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return asUsage(cmd, validate(cmd, args))
	}
}

// runGroup is the RunE of a command that only groups subcommands: an argument
// is an unknown subcommand, no argument a missing one. Without it cobra would
// print the help and exit 0 for both.
func runGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		var names []string
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() && c.Name() != "help" {
				names = append(names, c.Name())
			}
		}
		return usagef(cmd, "missing command: one of %s", strings.Join(names, ", "))
	}
	return unknownCommand(cmd, args[0])
}

// unknownCommand reports arg as an unknown subcommand of cmd, with cobra's
// suggestions of close names.
func unknownCommand(cmd *cobra.Command, arg string) error {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	msg := fmt.Sprintf("unknown command %q for %q", arg, cmd.CommandPath())
	if s := cmd.SuggestionsFor(arg); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return &usageError{cmd: cmd.CommandPath(), err: errors.New(msg)}
}
