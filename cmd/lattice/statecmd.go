package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
	"github.com/spf13/cobra"
)

func newStateCmd(a *app) *cobra.Command {
	cmd, g := newClientGroup(a, "state", "Read and write state through the Dapr state API",
		`Read and write the values of a state store, as a Dapr application would.

Values are JSON. A VALUE argument that is not valid JSON and does not start
like JSON ({, [ or ") is saved as a JSON string, so "lattice state save
greeting hello" stores "hello"; "-" reads the value from stdin.

Writes are eventual by default (acknowledged by one node, replicated in the
background); --consistency strong, --etag and --concurrency first-write go
through Raft and are acknowledged once committed.`,
		`  lattice state save order-1 '{"item":"book","qty":2}'
  lattice state get order-1 --consistency strong
  lattice state save order-1 '{"item":"book","qty":3}' --etag 7
  lattice state bulk order-1 order-2 --json
  lattice state txn --upsert a=1 --upsert b=2 --delete c`)
	cmd.AddCommand(newStateGetCmd(g), newStateSaveCmd(g), newStateDeleteCmd(g), newStateBulkCmd(g), newStateTxnCmd(g))
	return cmd
}

// stateItem is the --json form of a value read with get.
type stateItem struct {
	Key      string            `json:"key"`
	Value    json.RawMessage   `json:"value"`
	ETag     string            `json:"etag,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func newStateGetCmd(g *clientGroup) *cobra.Command {
	consistency := lattice.Eventual
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of a key",
		Long: `Print the value of KEY on stdout, and its etag (and expiry time, if it has a
TTL) on stderr. With --json, print {"key","value","etag","metadata"} on stdout.

A key that does not exist prints nothing on stdout, "not found" on stderr, and
exits with code 1.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, args []string) error {
			item, found, err := c.Get(ctx, args[0], client.WithConsistency(consistency))
			if err != nil {
				return fmt.Errorf("state get: %w", err)
			}
			if !found {
				return fmt.Errorf("state get: key %q not found in store %s", args[0], g.store)
			}
			if g.json {
				return printJSON(g.a.stdout, stateItem{Key: item.Key, Value: item.Value, ETag: item.ETag, Metadata: item.Metadata})
			}
			fmt.Fprintf(g.a.stdout, "%s\n", item.Value)
			fmt.Fprintf(g.a.stderr, "etag: %s\n", item.ETag)
			if t, ok := item.ExpireTime(); ok {
				fmt.Fprintf(g.a.stderr, "expires: %s\n", t.Format(time.RFC3339))
			}
			return nil
		}),
	}
	cmd.Flags().Var(consistencyFlag(&consistency), "consistency", "eventual reads this node's replica; strong is linearizable")
	return cmd
}

// writeOpts are the options of a single-key write.
type writeOpts struct {
	etag        string
	consistency lattice.Consistency
	concurrency lattice.Concurrency
	ttl         time.Duration
}

// bind registers the flags of the options; ttl only for saves.
func (w *writeOpts) bind(cmd *cobra.Command, withTTL bool) {
	f := cmd.Flags()
	f.StringVar(&w.etag, "etag", "", "write only if the key's current etag is `ETAG` (compare-and-set)")
	f.Var(consistencyFlag(&w.consistency), "consistency", "eventual is acknowledged by one node; strong once committed through Raft")
	f.Var(concurrencyFlag(&w.concurrency), "concurrency", "first-write without --etag creates the key only if it does not exist")
	if withTTL {
		f.DurationVar(&w.ttl, "ttl", 0, "expire the value after this long (rounded up to whole seconds)")
	}
}

func (w *writeOpts) options(cmd *cobra.Command) ([]client.Option, error) {
	if w.ttl < 0 {
		return nil, usagef(cmd, "--ttl %v: want a positive duration", w.ttl)
	}
	opts := []client.Option{client.WithConsistency(w.consistency), client.WithConcurrency(w.concurrency)}
	if w.etag != "" {
		opts = append(opts, client.WithETag(w.etag))
	}
	if w.ttl > 0 {
		opts = append(opts, client.WithTTL(w.ttl))
	}
	return opts, nil
}

func newStateSaveCmd(g *clientGroup) *cobra.Command {
	var w writeOpts
	cmd := &cobra.Command{
		Use:   "save KEY VALUE",
		Short: "Save a value",
		Long: `Save VALUE under KEY. VALUE is JSON; a bare word that is not JSON is saved as
a JSON string, and "-" reads the value (which must be JSON) from stdin.

--etag makes the write a compare-and-set: it fails with an etag mismatch (exit
1) unless the key's current etag is the one given.`,
		Example: `  lattice state save greeting hello
  lattice state save cart '{"items":[]}' --ttl 1h
  lattice state save cart - < cart.json`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: g.run(func(ctx context.Context, cmd *cobra.Command, c *client.Client, args []string) error {
			value, err := valueArg(cmd, g.a.stdin, args[1])
			if err != nil {
				return err
			}
			opts, err := w.options(cmd)
			if err != nil {
				return err
			}
			if err := c.Set(ctx, args[0], value, opts...); err != nil {
				return writeErr("state save", err)
			}
			if g.json {
				return printJSON(g.a.stdout, map[string]any{"key": args[0], "saved": true})
			}
			fmt.Fprintf(g.a.stdout, "saved %s\n", args[0])
			return nil
		}),
	}
	w.bind(cmd, true)
	return cmd
}

// maxStdinValue bounds a value read from stdin (the server's default body limit).
const maxStdinValue = 4 << 20

// valueArg reads a VALUE argument: "-" is JSON read from stdin, anything else
// goes through jsonArg.
func valueArg(cmd *cobra.Command, stdin io.Reader, arg string) (json.RawMessage, error) {
	if arg != "-" {
		v, err := jsonArg(arg)
		return v, asUsage(cmd, err)
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxStdinValue+1))
	if err != nil {
		return nil, fmt.Errorf("reading the value from stdin: %w", err)
	}
	if len(b) > maxStdinValue {
		return nil, fmt.Errorf("value on stdin larger than %d bytes", maxStdinValue)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("value on stdin is not valid JSON")
	}
	return b, nil
}

func newStateDeleteCmd(g *clientGroup) *cobra.Command {
	var w writeOpts
	cmd := &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a key",
		Long: `Delete KEY. Deleting a key that does not exist succeeds, unless --etag is
given: then the key must exist with that etag.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(ctx context.Context, cmd *cobra.Command, c *client.Client, args []string) error {
			opts, err := w.options(cmd)
			if err != nil {
				return err
			}
			if err := c.Delete(ctx, args[0], opts...); err != nil {
				return writeErr("state delete", err)
			}
			if g.json {
				return printJSON(g.a.stdout, map[string]any{"key": args[0], "deleted": true})
			}
			fmt.Fprintf(g.a.stdout, "deleted %s\n", args[0])
			return nil
		}),
	}
	w.bind(cmd, false)
	return cmd
}

func newStateBulkCmd(g *clientGroup) *cobra.Command {
	consistency := lattice.Eventual
	parallelism := 0
	cmd := &cobra.Command{
		Use:   "bulk KEY...",
		Short: "Print the values of several keys",
		Long: `Print the values of several keys in one request: a table of key, etag and
value, "(not found)" for a key without a value. With --json, print Dapr's bulk
answer: [{"key","data","etag","metadata","error"}].

Missing keys are not an error; a key the server could not read is, and makes
the command exit with code 1 after printing the others.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: g.run(func(ctx context.Context, cmd *cobra.Command, c *client.Client, args []string) error {
			if parallelism < 0 {
				return usagef(cmd, "--parallelism %d: want 0 or more", parallelism)
			}
			items, err := c.BulkGet(ctx, args, client.WithConsistency(consistency), client.WithParallelism(parallelism))
			if err != nil {
				return fmt.Errorf("state bulk: %w", err)
			}
			if g.json {
				if items == nil {
					items = []client.BulkItem{}
				}
				err = printJSON(g.a.stdout, items)
			} else {
				err = writeBulkTable(g.a.stdout, items)
			}
			if err != nil {
				return err
			}
			failed := 0
			for _, it := range items {
				if it.Error != "" {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("state bulk: %d of %d keys could not be read", failed, len(items))
			}
			return nil
		}),
	}
	cmd.Flags().Var(consistencyFlag(&consistency), "consistency", "eventual reads this node's replica; strong is linearizable")
	cmd.Flags().IntVar(&parallelism, "parallelism", parallelism, "keys the server reads at once (0: the server decides)")
	return cmd
}

// writeBulkTable writes one aligned row per key: key, etag, value.
func writeBulkTable(w io.Writer, items []client.BulkItem) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tETAG\tVALUE")
	for _, it := range items {
		switch {
		case it.Error != "":
			fmt.Fprintf(tw, "%s\t-\terror: %s\n", it.Key, it.Error)
		case !it.Found():
			fmt.Fprintf(tw, "%s\t-\t(not found)\n", it.Key)
		default:
			fmt.Fprintf(tw, "%s\t%s\t%s\n", it.Key, it.ETag, oneLine(it.Value))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("lattice: writing output: %w", err)
	}
	return nil
}

// oneLine returns a JSON value without insignificant whitespace, so that it
// fits a table row; bytes that are not JSON come back as they are.
func oneLine(v json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}
