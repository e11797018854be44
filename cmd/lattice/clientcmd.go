package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// clientEnvFlags are the client flags that also read an environment variable
// (LATTICE_ENDPOINTS, LATTICE_API_TOKEN). The others do not, so that a
// variable meant for `lattice serve` (LATTICE_STORE, a list there) cannot
// change what a client command does.
var clientEnvFlags = []string{"endpoints", "api-token"}

// clientGroup is a command grouping client subcommands (state, crdt, cluster)
// and the flags they share, registered as persistent flags of the group.
type clientGroup struct {
	a         *app
	endpoints []string
	store     string
	apiToken  string
	timeout   time.Duration
	json      bool
}

// clientHelp is the part of a client group's help about the shared flags and
// the exit codes.
const clientHelp = `
Every command talks to the nodes in --endpoints (comma-separated, default
http://127.0.0.1:3500, or LATTICE_ENDPOINTS), failing over from one to the
next; strong requests go to the leader first. --api-token (or
LATTICE_API_TOKEN) is sent as the dapr-api-token header. --timeout bounds the
whole command. Output is for people unless --json is given, which prints one
JSON document on stdout.

Exit codes: 0 success, 1 error (including a key that does not exist on get),
2 a mistake in the command line.`

// newClientGroup returns a group command named by use, with the shared flags
// bound as its persistent flags.
func newClientGroup(a *app, use, short, long, example string) (*cobra.Command, *clientGroup) {
	g := &clientGroup{
		a:         a,
		endpoints: []string{"http://127.0.0.1:3500"},
		store:     client.DefaultStore,
		timeout:   10 * time.Second,
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long + "\n" + clientHelp,
		Example: example,
		Args:    cobra.ArbitraryArgs, // runGroup reports unknown subcommands
		RunE:    runGroup,
	}
	f := cmd.PersistentFlags()
	f.StringSliceVar(&g.endpoints, "endpoints", g.endpoints, "comma-separated base `URLs` of the nodes (env LATTICE_ENDPOINTS)")
	f.StringVar(&g.store, "store", g.store, "name of the state store")
	f.StringVar(&g.apiToken, "api-token", g.apiToken, "`token` sent in the dapr-api-token header (env LATTICE_API_TOKEN)")
	f.DurationVar(&g.timeout, "timeout", g.timeout, "give up on the command after this long")
	f.BoolVar(&g.json, "json", g.json, "print machine-readable JSON on stdout")
	return cmd, g
}

// run adapts fn to a RunE: it reads the environment, connects, bounds the
// call by --timeout and closes the client afterwards.
func (g *clientGroup) run(fn func(ctx context.Context, cmd *cobra.Command, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := g.applyEnv(cmd); err != nil {
			return err
		}
		if g.timeout <= 0 {
			return usagef(cmd, "--timeout %v: want a positive duration", g.timeout)
		}
		c, err := client.New(client.Config{Endpoints: g.endpoints, Store: g.store, APIToken: g.apiToken, TryTimeout: g.timeout})
		if err != nil {
			return asUsage(cmd, err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
		defer cancel()
		return fn(ctx, cmd, c, args)
	}
}

// applyEnv sets the clientEnvFlags the command line left unset from their
// environment variables; an empty variable counts as unset.
func (g *clientGroup) applyEnv(cmd *cobra.Command) error {
	for _, name := range clientEnvFlags {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		if v, ok := g.a.lookupEnv(envName(name)); ok && v != "" {
			if err := setFlag(f, splitList(f, v)); err != nil {
				return asUsage(cmd, fmt.Errorf("environment %s=%q: %w", envName(name), v, err))
			}
		}
	}
	return nil
}

// writeErr reports the failure of the write command name, saying so when the
// write may nevertheless have been applied (the connection broke after the
// request was sent, or leadership was lost after it was submitted).
func writeErr(name string, err error) error {
	if errors.Is(err, lattice.ErrIndeterminate) {
		return fmt.Errorf("%s: outcome unknown, the write may have been applied: %w", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// printJSON writes v as indented JSON and a newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("lattice: writing JSON: %w", err)
	}
	return nil
}

// jsonArg reads a VALUE argument: valid JSON is taken as it is, anything else
// that does not look like broken JSON (a bare word such as hello) is taken as
// a JSON string. Text starting like an object, array or string but not valid
// is an error rather than silently stored as a string.
func jsonArg(s string) (json.RawMessage, error) {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s), nil
	}
	if t := strings.TrimLeft(s, " \t\r\n"); t != "" && strings.ContainsRune(`{["`, rune(t[0])) {
		return nil, fmt.Errorf("value %q is not valid JSON (to store it as a string, quote it: '\"...\"')", s)
	}
	b, _ := json.Marshal(s) // a string always marshals
	return b, nil
}

// flagValue is a pflag.Value whose Set checks its input with parse.
type flagValue[T any] struct {
	p     *T
	typ   string
	parse func(string) (T, error)
	str   func(T) string
}

func (v *flagValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

func (v *flagValue[T]) String() string { return v.str(*v.p) }

func (v *flagValue[T]) Type() string { return v.typ }

// consistencyFlag is a --consistency flag setting *p.
func consistencyFlag(p *lattice.Consistency) pflag.Value {
	return &flagValue[lattice.Consistency]{p: p, typ: "eventual|strong", str: lattice.Consistency.String,
		parse: func(s string) (lattice.Consistency, error) {
			if s != "eventual" && s != "strong" {
				return 0, fmt.Errorf("want eventual or strong")
			}
			return lattice.ParseConsistency(s)
		}}
}

// concurrencyFlag is a --concurrency flag setting *p.
func concurrencyFlag(p *lattice.Concurrency) pflag.Value {
	return &flagValue[lattice.Concurrency]{p: p, typ: "last-write|first-write", str: lattice.Concurrency.String,
		parse: func(s string) (lattice.Concurrency, error) {
			if s != "last-write" && s != "first-write" {
				return 0, fmt.Errorf("want last-write or first-write")
			}
			return lattice.ParseConcurrency(s)
		}}
}
