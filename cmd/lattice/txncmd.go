package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
	"github.com/spf13/cobra"
)

// txnFlags are the operations and options of `state txn` given as flags.
type txnFlags struct {
	ops         []client.TxOperation // --upsert and --delete, in command-line order
	etags       map[string]string    // --etag KEY=ETAG
	consistency lattice.Consistency
	concurrency lattice.Concurrency
	ttl         time.Duration
	file        string
}

// txnOpValue is the --upsert or --delete flag: each use appends one operation
// to the shared list, so operations keep their command-line order.
type txnOpValue struct {
	ops *[]client.TxOperation
	typ client.TxType
}

func (v *txnOpValue) Set(s string) error {
	if v.typ == client.TxDelete {
		if s == "" {
			return errors.New("empty key")
		}
		*v.ops = append(*v.ops, client.TxOperation{Type: client.TxDelete, Item: client.SetItem{Key: s}})
		return nil
	}
	key, raw, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return errors.New("want KEY=VALUE")
	}
	value, err := jsonArg(raw)
	if err != nil {
		return err
	}
	*v.ops = append(*v.ops, client.TxOperation{Type: client.TxUpsert, Item: client.SetItem{Key: key, Value: value}})
	return nil
}

func (v *txnOpValue) String() string { return "" }

func (v *txnOpValue) Type() string {
	if v.typ == client.TxDelete {
		return "KEY"
	}
	return "KEY=VALUE"
}

// etagsValue is the repeatable --etag KEY=ETAG flag of `state txn`.
type etagsValue map[string]string

func (v etagsValue) Set(s string) error {
	key, etag, ok := strings.Cut(s, "=")
	if !ok || key == "" || etag == "" {
		return errors.New("want KEY=ETAG")
	}
	v[key] = etag
	return nil
}

func (v etagsValue) String() string { return "" }

func (v etagsValue) Type() string { return "KEY=ETAG" }

func newStateTxnCmd(g *clientGroup) *cobra.Command {
	t := txnFlags{etags: map[string]string{}}
	cmd := &cobra.Command{
		Use:   "txn",
		Short: "Apply several writes atomically",
		Long: `Apply several upserts and deletes atomically, through Raft: every etag and
first-write condition is checked against the committed state first, then all
operations apply or none does.

Give the operations as flags, applied in the order given: --upsert KEY=VALUE
(VALUE as for "state save") and --delete KEY, both repeatable; --etag KEY=ETAG
makes the operations on KEY conditional, and --consistency, --concurrency and
--ttl (upserts only) apply to every operation. Or give --file with Dapr's
transaction body ("-" reads it from stdin), which allows per-operation options
and keys that contain "=":

  {"operations":[
     {"operation":"upsert","request":{"key":"a","value":{"n":1},"etag":"3"}},
     {"operation":"delete","request":{"key":"b"}}],
   "metadata":{}}`,
		Example: `  lattice state txn --upsert from=90 --upsert to=110 --etag from=12 --etag to=7
  lattice state txn --delete session-1 --delete session-2
  lattice state txn --file txn.json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: g.run(func(ctx context.Context, cmd *cobra.Command, c *client.Client, _ []string) error {
			ops, opts, err := t.operations(cmd, g.a.stdin)
			if err != nil {
				return err
			}
			if err := c.Transaction(ctx, ops, opts...); err != nil {
				return writeErr("state txn", err)
			}
			if g.json {
				return printJSON(g.a.stdout, map[string]any{"operations": len(ops), "committed": true})
			}
			fmt.Fprintf(g.a.stdout, "committed %d operations\n", len(ops))
			return nil
		}),
	}
	f := cmd.Flags()
	f.Var(&txnOpValue{ops: &t.ops, typ: client.TxUpsert}, "upsert", "save VALUE under KEY (repeatable)")
	f.Var(&txnOpValue{ops: &t.ops, typ: client.TxDelete}, "delete", "delete KEY (repeatable)")
	f.Var(etagsValue(t.etags), "etag", "make the operations on KEY conditional on its etag being ETAG (repeatable)")
	f.Var(consistencyFlag(&t.consistency), "consistency", "consistency option of every operation")
	f.Var(concurrencyFlag(&t.concurrency), "concurrency", "concurrency option of every operation; first-write creates only")
	f.DurationVar(&t.ttl, "ttl", 0, "expire every upserted value after this long (rounded up to whole seconds)")
	f.StringVar(&t.file, "file", "", "read Dapr's transaction body from `FILE` (\"-\": stdin) instead of the flags above")
	return cmd
}

// operations returns the transaction the flags or the file describe, and the
// call's options (the body's metadata).
func (t *txnFlags) operations(cmd *cobra.Command, stdin io.Reader) ([]client.TxOperation, []client.Option, error) {
	if t.file != "" {
		for _, name := range []string{"upsert", "delete", "etag", "consistency", "concurrency", "ttl"} {
			if cmd.Flags().Changed(name) {
				return nil, nil, usagef(cmd, "--file and --%s cannot be combined: put the options in the file", name)
			}
		}
		return readTxnFile(t.file, stdin)
	}
	if len(t.ops) == 0 {
		return nil, nil, usagef(cmd, "no operations: give --upsert, --delete or --file")
	}
	if t.ttl < 0 {
		return nil, nil, usagef(cmd, "--ttl %v: want a positive duration", t.ttl)
	}
	used := map[string]bool{}
	ops := make([]client.TxOperation, len(t.ops))
	for i, op := range t.ops {
		op.Item.ETag = t.etags[op.Item.Key]
		op.Item.Consistency, op.Item.Concurrency = t.consistency, t.concurrency
		if op.Type == client.TxUpsert {
			op.Item.TTL = t.ttl
		}
		used[op.Item.Key] = true
		ops[i] = op
	}
	for key := range t.etags {
		if !used[key] {
			return nil, nil, usagef(cmd, "--etag %s=...: no operation on key %q", key, key)
		}
	}
	return ops, nil, nil
}

// txnBody is Dapr's transaction body.
type txnBody struct {
	Operations []struct {
		Operation client.TxType `json:"operation"`
		Request   struct {
			Key      string            `json:"key"`
			Value    json.RawMessage   `json:"value"`
			ETag     string            `json:"etag"`
			Metadata map[string]string `json:"metadata"`
			Options  struct {
				Concurrency string `json:"concurrency"`
				Consistency string `json:"consistency"`
			} `json:"options"`
		} `json:"request"`
	} `json:"operations"`
	Metadata map[string]string `json:"metadata"`
}

// readTxnFile reads Dapr's transaction body from path ("-": stdin). Unknown
// fields are errors, so that a misspelt "etag" does not silently drop a condition.
func readTxnFile(path string, stdin io.Reader) ([]client.TxOperation, []client.Option, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, maxStdinValue+1))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("state txn: %w", err)
	}
	if len(data) > maxStdinValue {
		return nil, nil, fmt.Errorf("state txn: %s: larger than %d bytes", path, maxStdinValue)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var body txnBody
	if err := dec.Decode(&body); err != nil {
		return nil, nil, fmt.Errorf("state txn: %s: not a Dapr transaction body: %w", path, err)
	}
	if len(body.Operations) == 0 {
		return nil, nil, fmt.Errorf("state txn: %s: no operations", path)
	}
	ops := make([]client.TxOperation, len(body.Operations))
	for i, o := range body.Operations {
		r := o.Request
		cons, err := lattice.ParseConsistency(r.Options.Consistency)
		if err != nil {
			return nil, nil, fmt.Errorf("state txn: %s: operation %d: %w", path, i, err)
		}
		conc, err := lattice.ParseConcurrency(r.Options.Concurrency)
		if err != nil {
			return nil, nil, fmt.Errorf("state txn: %s: operation %d: %w", path, i, err)
		}
		item := client.SetItem{Key: r.Key, ETag: r.ETag, Consistency: cons, Concurrency: conc, Metadata: r.Metadata}
		if r.Value != nil {
			item.Value = r.Value
		}
		ops[i] = client.TxOperation{Type: o.Operation, Item: item}
	}
	var opts []client.Option
	for k, v := range body.Metadata {
		opts = append(opts, client.WithMetadata(k, v))
	}
	return ops, opts, nil
}
