package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
	"github.com/spf13/cobra"
)

// crdtGroup is the crdt command's shared state: the client flags and --consistency.
type crdtGroup struct {
	*clientGroup
	consistency lattice.Consistency
}

func newCRDTCmd(a *app) *cobra.Command {
	cmd, cg := newClientGroup(a, "crdt", "Update and read conflict-free replicated data types",
		`Update and read conflict-free replicated data types through the CRDT API:
counters (gcounter, pncounter), sets of strings (orset), flags and multi-value
registers (mvregister). Updates made on different nodes at the same time all
count; there is no lost update.

An update creates the key with its type when the key does not exist; an update
of another type than the key's fails with "wrong type" (exit 1). Each command
prints the value after the update as the serving node sees it: a number, an
array of strings, true or false, an array of values.`,
		`  lattice crdt incr page-views
  lattice crdt decr stock 3
  lattice crdt add tags red green
  lattice crdt enable feature-x
  lattice crdt get tags --consistency strong`)
	g := &crdtGroup{clientGroup: cg}
	cmd.PersistentFlags().Var(consistencyFlag(&g.consistency), "consistency", "eventual is served by one node; strong goes through Raft")
	cmd.AddCommand(
		g.getCmd(),
		g.counterCmd("incr", "Increment a counter"),
		g.counterCmd("decr", "Decrement a counter (pncounter)"),
		g.setCmd("add", "Add elements to a set (orset)"),
		g.setCmd("remove", "Remove elements from a set (orset)"),
		g.opCmd("enable", "Set a flag", client.FlagEnable()),
		g.opCmd("disable", "Clear a flag", client.FlagDisable()),
		g.assignCmd(),
		g.deleteCmd(),
	)
	return cmd
}

// crdtView is the --json form of a CRDT value.
type crdtView struct {
	Key   string          `json:"key"`
	Type  client.CRDTType `json:"type"`
	Value json.RawMessage `json:"value"`
	ETag  string          `json:"etag,omitempty"`
}

// print writes v: its JSON view alone, or with --json the key, type and etag too.
func (g *crdtGroup) print(v client.CRDTValue) error {
	if g.json {
		return printJSON(g.a.stdout, crdtView{Key: v.Key, Type: v.Type, Value: v.Value, ETag: v.ETag})
	}
	fmt.Fprintf(g.a.stdout, "%s\n", oneLine(v.Value))
	return nil
}

// apply runs op on key and prints the value after it.
func (g *crdtGroup) apply(ctx context.Context, c *client.Client, name, key string, op client.CRDTOp) error {
	v, err := c.CRDTApply(ctx, key, op, client.WithConsistency(g.consistency))
	if err != nil {
		return writeErr("crdt "+name, err)
	}
	return g.print(v)
}

func (g *crdtGroup) getCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of a CRDT key",
		Long: `Print the JSON view of KEY on stdout, and its type and etag on stderr. With
--json, print {"key","type","value","etag"} on stdout.

A key that does not exist prints nothing on stdout, "not found" on stderr, and
exits with code 1.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, args []string) error {
			v, found, err := c.CRDTGet(ctx, args[0], client.WithConsistency(g.consistency))
			if err != nil {
				return fmt.Errorf("crdt get: %w", err)
			}
			if !found {
				return fmt.Errorf("crdt get: key %q not found in store %s", args[0], g.store)
			}
			if err := g.print(v); err != nil {
				return err
			}
			if !g.json {
				fmt.Fprintf(g.a.stderr, "type: %s\netag: %s\n", v.Type, v.ETag)
			}
			return nil
		}),
	}
}

func (g *crdtGroup) counterCmd(name, short string) *cobra.Command {
	typ := client.PNCounter
	typeFlag := &flagValue[client.CRDTType]{p: &typ, typ: "gcounter|pncounter",
		str: func(t client.CRDTType) string { return string(t) },
		parse: func(s string) (client.CRDTType, error) {
			if t := client.CRDTType(s); t == client.GCounter || t == client.PNCounter {
				return t, nil
			}
			return "", fmt.Errorf("want gcounter or pncounter")
		}}
	cmd := &cobra.Command{
		Use:   name + " KEY [N]",
		Short: short,
		Long: short + ` by N (default 1). A pncounter (the default --type) goes up
and down; a gcounter only grows, and so cannot be decremented. Counters are
unsigned 64-bit on each side: an update that would overflow fails.

Unlike the other updates, an increment is not retried after a failure that may
have applied it, so that it never counts twice: such a failure exits 1 and says
"outcome unknown".`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: g.run(func(ctx context.Context, cmd *cobra.Command, c *client.Client, args []string) error {
			n := uint64(1)
			if len(args) == 2 {
				var err error
				if n, err = strconv.ParseUint(args[1], 10, 64); err != nil || n == 0 {
					return usagef(cmd, "N %q: want a whole number from 1 to %d", args[1], uint64(math.MaxUint64))
				}
			}
			var op client.CRDTOp
			switch {
			case name == "incr" && typ == client.GCounter:
				op = client.GCounterIncrement(n)
			case name == "incr":
				op = client.PNCounterIncrement(n)
			case typ == client.GCounter:
				return usagef(cmd, "a gcounter only grows: decrement a pncounter")
			default:
				op = client.PNCounterDecrement(n)
			}
			return g.apply(ctx, c, name, args[0], op)
		}),
	}
	cmd.Flags().Var(typeFlag, "type", "counter type: pncounter or gcounter (grow-only)")
	return cmd
}

func (g *crdtGroup) setCmd(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name + " KEY ELEM...",
		Short: short,
		Long: short + `. An element added on one node while another removes
it stays in the set: a remove takes away only the additions the serving node
has seen.`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, args []string) error {
			op := client.ORSetAdd(args[1:]...)
			if name == "remove" {
				op = client.ORSetRemove(args[1:]...)
			}
			return g.apply(ctx, c, name, args[0], op)
		}),
	}
}

// opCmd is a command applying one fixed operation to KEY.
func (g *crdtGroup) opCmd(name, short string, op client.CRDTOp) *cobra.Command {
	return &cobra.Command{
		Use:   name + " KEY",
		Short: short,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, args []string) error {
			return g.apply(ctx, c, name, args[0], op)
		}),
	}
}

func (g *crdtGroup) assignCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "assign KEY VALUE",
		Short: "Assign a multi-value register (mvregister)",
		Long: `Assign VALUE to the multi-value register KEY. Assignments made concurrently on
different nodes are all kept, until an assignment that has seen them replaces
them: the value is the array of the concurrent values. VALUE is JSON; a bare
word is taken as a JSON string.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: g.run(func(ctx context.Context, cmd *cobra.Command, c *client.Client, args []string) error {
			value, err := jsonArg(args[1])
			if err != nil {
				return asUsage(cmd, err)
			}
			return g.apply(ctx, c, "assign", args[0], client.MVRegisterAssign(value))
		}),
	}
}

func (g *crdtGroup) deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a CRDT key",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, args []string) error {
			if err := c.CRDTDelete(ctx, args[0], client.WithConsistency(g.consistency)); err != nil {
				return writeErr("crdt delete", err)
			}
			if g.json {
				return printJSON(g.a.stdout, map[string]any{"key": args[0], "deleted": true})
			}
			fmt.Fprintf(g.a.stdout, "deleted %s\n", args[0])
			return nil
		}),
	}
}
