package clientint

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/test/cluster"
)

// Every typed call of the client, end to end against a 3-node cluster.
func TestTypedAPI(t *testing.T) {
	skipShort(t)
	c := cluster.Start(t, 3)
	cl, cnt, _ := newClient(t, c)
	eps := endpoints(c)

	t.Run("state", func(t *testing.T) { testState(t, c, cl, eps) })
	t.Run("ttl", func(t *testing.T) { testTTL(t, cl) })
	t.Run("bulk", func(t *testing.T) { testBulk(t, cl) })
	t.Run("transaction", func(t *testing.T) { testTransaction(t, cl) })
	t.Run("query", func(t *testing.T) { testQuery(t, c, cl) })
	t.Run("crdt-eventual", func(t *testing.T) { testCRDTEventual(t, c, cl, eps) })
	t.Run("crdt-strong", func(t *testing.T) { testCRDTStrong(t, cl, eps) })
	t.Run("cluster", func(t *testing.T) { testCluster(t, c, cl, cnt) })
}

// mustGet reads key and checks its raw JSON value; it returns the item.
func mustGet(t *testing.T, cl *client.Client, key, want string, opts ...client.Option) client.Item {
	t.Helper()
	item, found, err := cl.Get(ctxFor(t, 10*time.Second), key, opts...)
	if err != nil || !found || string(item.Value) != want || item.ETag == "" {
		t.Fatalf("get %s = %q (etag %q) found=%v err=%v, want %s", key, item.Value, item.ETag, found, err, want)
	}
	return item
}

// mustMiss checks that key has no value.
func mustMiss(t *testing.T, cl *client.Client, key string, opts ...client.Option) {
	t.Helper()
	item, found, err := cl.Get(ctxFor(t, 10*time.Second), key, opts...)
	if err != nil || found {
		t.Fatalf("get %s = %q found=%v err=%v, want absent", key, item.Value, found, err)
	}
}

// isConflict checks that err is a 409 etag mismatch with Dapr's errorCode code.
func isConflict(t *testing.T, err error, code string) {
	t.Helper()
	var api *client.APIError
	if !errors.Is(err, lattice.ErrETagMismatch) || !errors.As(err, &api) || api.ErrorCode != code {
		t.Fatalf("err = %v, want an etag mismatch with code %s", err, code)
	}
}

var strong = client.WithConsistency(lattice.Strong)

func testState(t *testing.T, c *cluster.Cluster, cl *client.Client, eps []string) {
	ctx := ctxFor(t, 20*time.Second)
	// Eventual save and read-your-write on the sticky node.
	if err := cl.Set(ctx, "s1", "v1"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, cl, "s1", `"v1"`)
	// Strong save: every node's strong read sees it, with one etag.
	if err := cl.Set(ctx, "s2", map[string]int{"a": 1}, strong); err != nil {
		t.Fatal(err)
	}
	var etag string
	for _, ep := range eps {
		it := mustGet(t, cl, "s2", `{"a":1}`, strong, client.WithEndpoint(ep))
		if etag != "" && it.ETag != etag {
			t.Fatalf("etag on %s = %q, another node said %q", ep, it.ETag, etag)
		}
		etag = it.ETag
	}
	var decoded struct{ A int }
	if it := mustGet(t, cl, "s2", `{"a":1}`, strong); it.Decode(&decoded) != nil || decoded.A != 1 {
		t.Fatalf("decode s2 = %+v", decoded)
	}
	// Raw JSON goes byte for byte; a multi-item save mixes options.
	err := cl.Save(ctx, []client.SetItem{
		{Key: "s3", Value: json.RawMessage(`[1,2]`)},
		{Key: "s4", Value: 4, Consistency: lattice.Strong},
		{Key: "s5", Value: nil, Metadata: map[string]string{"contentType": "application/json"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, cl, "s3", `[1,2]`, strong)
	mustGet(t, cl, "s4", `4`, strong)
	mustGet(t, cl, "s5", `null`, strong)

	// Compare-and-set: the current etag wins once; the same etag is stale afterwards.
	if err := cl.Set(ctx, "s2", map[string]int{"a": 2}, client.WithETag(etag)); err != nil {
		t.Fatalf("CAS with the current etag: %v", err)
	}
	isConflict(t, cl.Set(ctx, "s2", map[string]int{"a": 3}, client.WithETag(etag)), "ERR_STATE_SAVE")
	cur := mustGet(t, cl, "s2", `{"a":2}`, strong)
	if cur.ETag == etag {
		t.Fatalf("etag did not change with the write: %q", etag)
	}
	// First-write creates only.
	fw := client.WithConcurrency(lattice.FirstWrite)
	isConflict(t, cl.Set(ctx, "s2", 0, fw), "ERR_STATE_SAVE")
	if err := cl.Set(ctx, "s6", "first", fw); err != nil {
		t.Fatalf("first-write of a new key: %v", err)
	}
	isConflict(t, cl.Set(ctx, "s6", "second", fw), "ERR_STATE_SAVE")
	mustGet(t, cl, "s6", `"first"`, strong)
	// First-write with the current etag (Dapr's flow) is a CAS.
	s6 := mustGet(t, cl, "s6", `"first"`, strong)
	if err := cl.Set(ctx, "s6", "second", fw, client.WithETag(s6.ETag)); err != nil {
		t.Fatalf("first-write with the current etag: %v", err)
	}

	// Delete: a stale etag is refused and deletes nothing; the current one deletes.
	isConflict(t, cl.Delete(ctx, "s2", client.WithETag(etag)), "ERR_STATE_DELETE")
	mustGet(t, cl, "s2", `{"a":2}`, strong)
	if err := cl.Delete(ctx, "s2", client.WithETag(cur.ETag)); err != nil {
		t.Fatalf("delete with the current etag: %v", err)
	}
	for _, ep := range eps {
		mustMiss(t, cl, "s2", strong, client.WithEndpoint(ep))
	}
	// Eventual delete: gone on the sticky node at once, everywhere once converged.
	if err := cl.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, cl, "s1")
	// Strong delete, and deleting what does not exist is no error.
	if err := cl.Delete(ctx, "s3", strong); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, cl, "s3", strong)
	if err := cl.Delete(ctx, "never-written", strong); err != nil {
		t.Fatalf("delete of an absent key: %v", err)
	}
	c.WaitConverged(10 * time.Second)
	for _, ep := range eps {
		mustMiss(t, cl, "s1", client.WithEndpoint(ep))
		mustGet(t, cl, "s4", `4`, client.WithEndpoint(ep))
	}
	// A malformed call is a 400 that matches ErrInvalidArgument.
	var api *client.APIError
	err = cl.Set(ctx, "bad||key", 1)
	if !errors.Is(err, lattice.ErrInvalidArgument) || !errors.As(err, &api) || api.StatusCode != http.StatusBadRequest {
		t.Fatalf("save of an illegal key: %v, want 400", err)
	}
}

func testTTL(t *testing.T, cl *client.Client) {
	ctx := ctxFor(t, 20*time.Second)
	before := time.Now()
	if err := cl.Set(ctx, "ttl1", "short", client.WithTTL(time.Second), strong); err != nil {
		t.Fatal(err)
	}
	if err := cl.Set(ctx, "ttl2", "kept", client.WithTTL(-1)); err != nil {
		t.Fatal(err)
	}
	it := mustGet(t, cl, "ttl1", `"short"`, strong)
	exp, ok := it.ExpireTime()
	if !ok || exp.Before(before.Truncate(time.Second)) || exp.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("ttlExpireTime = %v (%v), want about a second after %v; metadata %v", exp, ok, before, it.Metadata)
	}
	if it := mustGet(t, cl, "ttl2", `"kept"`); it.Metadata["ttlExpireTime"] != "" {
		t.Fatalf("persisted value has ttlExpireTime %q", it.Metadata["ttlExpireTime"])
	}
	eventually(t, 10*time.Second, "expiry of ttl1", func() bool {
		_, found, err := cl.Get(ctx, "ttl1", strong)
		return err == nil && !found
	})
	mustGet(t, cl, "ttl2", `"kept"`, strong)
}

func testBulk(t *testing.T, cl *client.Client) {
	ctx := ctxFor(t, 20*time.Second)
	if err := cl.Save(ctx, []client.SetItem{{Key: "b1", Value: 1}, {Key: "b2", Value: "two", Consistency: lattice.Strong}}); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]client.Option{
		nil,
		{strong, client.WithParallelism(2)},
	} {
		items, err := cl.BulkGet(ctx, []string{"b2", "b-missing", "b1"}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, len(items))
		for i, it := range items {
			keys[i] = it.Key
		}
		if !slices.Equal(keys, []string{"b2", "b-missing", "b1"}) {
			t.Fatalf("bulk keys = %v", keys)
		}
		if !items[0].Found() || string(items[0].Value) != `"two"` || items[0].ETag == "" ||
			items[1].Found() || !items[2].Found() || string(items[2].Value) != `1` {
			t.Fatalf("bulk get = %+v", items)
		}
		if e := mustGet(t, cl, "b2", `"two"`, strong).ETag; items[0].ETag != e {
			t.Fatalf("bulk etag %q, get etag %q", items[0].ETag, e)
		}
	}
}

func testTransaction(t *testing.T, cl *client.Client) {
	ctx := ctxFor(t, 20*time.Second)
	if err := cl.Set(ctx, "t0", "doomed", strong); err != nil {
		t.Fatal(err)
	}
	err := cl.Transaction(ctx, []client.TxOperation{
		{Type: client.TxUpsert, Item: client.SetItem{Key: "t1", Value: "one"}},
		{Type: client.TxUpsert, Item: client.SetItem{Key: "t2", Value: 2, TTL: time.Hour}},
		{Type: client.TxDelete, Item: client.SetItem{Key: "t0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t1 := mustGet(t, cl, "t1", `"one"`, strong)
	if _, ok := mustGet(t, cl, "t2", `2`, strong).ExpireTime(); !ok {
		t.Fatal("t2 saved with a TTL in a transaction has no ttlExpireTime")
	}
	mustMiss(t, cl, "t0", strong)
	// With the current etag the transaction applies; with a stale one nothing does.
	err = cl.Transaction(ctx, []client.TxOperation{
		{Type: client.TxUpsert, Item: client.SetItem{Key: "t1", Value: "uno", ETag: t1.ETag}},
		{Type: client.TxUpsert, Item: client.SetItem{Key: "t3", Value: 3}},
	})
	if err != nil {
		t.Fatalf("transaction with the current etag: %v", err)
	}
	err = cl.Transaction(ctx, []client.TxOperation{
		{Type: client.TxUpsert, Item: client.SetItem{Key: "t4", Value: 4}},
		{Type: client.TxDelete, Item: client.SetItem{Key: "t3"}},
		{Type: client.TxUpsert, Item: client.SetItem{Key: "t1", Value: "eins", ETag: t1.ETag}},
	})
	var api *client.APIError
	if !errors.Is(err, lattice.ErrETagMismatch) || !errors.As(err, &api) || api.ErrorCode != "ERR_STATE_TRANSACTION" {
		t.Fatalf("transaction with a stale etag: %v, want an etag mismatch", err)
	}
	mustGet(t, cl, "t1", `"uno"`, strong)
	mustGet(t, cl, "t3", `3`, strong)
	mustMiss(t, cl, "t4", strong)
}

func testQuery(t *testing.T, c *cluster.Cluster, cl *client.Client) {
	ctx := ctxFor(t, 20*time.Second)
	type person struct {
		ID    int    `json:"id"`
		State string `json:"state"`
	}
	var items []client.SetItem
	for i := 1; i <= 5; i++ {
		st := "CA"
		if i%2 == 0 {
			st = "WA"
		}
		items = append(items, client.SetItem{Key: "q" + string(rune('0'+i)), Value: person{ID: i, State: st}})
	}
	if err := cl.Save(ctx, items); err != nil {
		t.Fatal(err)
	}
	q := client.Query{
		Filter: map[string]any{"EQ": map[string]any{"state": "CA"}},
		Sort:   []client.QuerySort{{Key: "id", Order: "DESC"}},
		Page:   client.QueryPage{Limit: 2},
	}
	for _, opts := range [][]client.Option{nil, {strong}} {
		if len(opts) > 0 {
			// A strong query reads the committed state: wait for fold-in (see
			// TestStrongQuerySeesOwnEventualWrites).
			c.WaitConverged(10 * time.Second)
		}
		var ids []int
		page := q
		for range 5 {
			resp, err := cl.Query(ctx, page, opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range resp.Results {
				var p person
				if err := json.Unmarshal(r.Value, &p); err != nil || p.State != "CA" || r.Key != "q"+string(rune('0'+p.ID)) {
					t.Fatalf("query result %+v: %v", r, err)
				}
				ids = append(ids, p.ID)
			}
			if resp.Token == "" || len(resp.Results) == 0 {
				break
			}
			page.Page.Token = resp.Token
		}
		if !slices.Equal(ids, []int{5, 3, 1}) {
			t.Fatalf("query ids (opts %d) = %v, want [5 3 1]", len(opts), ids)
		}
	}
}
