package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
}

func checkRequest(t *testing.T, got captured, method, path string, query map[string]string) {
	t.Helper()
	if got.Method != method || got.Path != path {
		t.Errorf("request %s %s, want %s %s", got.Method, got.Path, method, path)
	}
	if len(got.Query) != len(query) {
		t.Errorf("query %v, want %v", got.Query, query)
	}
	for k, v := range query {
		if got.Query[k] == nil || got.Query[k][0] != v {
			t.Errorf("query %s = %v, want %q", k, got.Query[k], v)
		}
	}
}

func TestStateWire(t *testing.T) {
	srv := newServer(t, noContent)
	c, _ := newTestClient(t, Config{APIToken: "secret"}, srv.URL)
	ctx := context.Background()

	if err := c.Set(ctx, "order_1", map[string]int{"orderId": 1}); err != nil {
		t.Fatal(err)
	}
	got := srv.last()
	checkRequest(t, got, "POST", "/v1.0/state/statestore", nil)
	jsonEqual(t, got.Body, `[{"key":"order_1","value":{"orderId":1}}]`)
	if got.Header.Get("dapr-api-token") != "secret" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", got.Header)
	}

	err := c.Set(ctx, "a/b", json.RawMessage(`"raw"`), WithETag("7"), WithConsistency(lattice.Strong),
		WithConcurrency(lattice.FirstWrite), WithTTL(1500*time.Millisecond), WithMetadata("contentType", "application/json"),
		WithStore("orders"))
	if err != nil {
		t.Fatal(err)
	}
	got = srv.last()
	checkRequest(t, got, "POST", "/v1.0/state/orders", nil)
	jsonEqual(t, got.Body, `[{"key":"a/b","value":"raw","etag":"7","metadata":{"ttlInSeconds":"2","contentType":"application/json"},
		"options":{"concurrency":"first-write","consistency":"strong"}}]`)

	err = c.Save(ctx, []SetItem{{Key: "x", Value: 1}, {Key: "y", TTL: -1, Concurrency: lattice.FirstWrite}},
		WithMetadata("partitionKey", "p"))
	if err != nil {
		t.Fatal(err)
	}
	got = srv.last()
	checkRequest(t, got, "POST", "/v1.0/state/statestore", map[string]string{"metadata.partitionKey": "p"})
	jsonEqual(t, got.Body, `[{"key":"x","value":1},{"key":"y","value":null,"metadata":{"ttlInSeconds":"-1"},
		"options":{"concurrency":"first-write","consistency":"eventual"}}]`)

	if err := c.Delete(ctx, "a/b", WithETag("9"), WithConsistency(lattice.Strong), WithConcurrency(lattice.FirstWrite)); err != nil {
		t.Fatal(err)
	}
	got = srv.last()
	checkRequest(t, got, "DELETE", "/v1.0/state/statestore/a%2Fb", map[string]string{"consistency": "strong", "concurrency": "first-write"})
	if got.Header.Get("If-Match") != "9" {
		t.Errorf("If-Match = %q", got.Header.Get("If-Match"))
	}

	for _, bad := range []func() error{
		func() error { return c.Set(ctx, "", 1) },
		func() error { return c.Set(ctx, "k", json.RawMessage(`{`)) },
		func() error { return c.Set(ctx, "k", func() {}) },
		func() error { return c.Transaction(ctx, []TxOperation{{Type: "merge", Item: SetItem{Key: "k"}}}) },
	} {
		if err := bad(); !errors.Is(err, lattice.ErrInvalidArgument) {
			t.Errorf("err = %v, want ErrInvalidArgument", err)
		}
	}
}

func TestGetWire(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1.0/state/statestore/missing" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("ETag", `"quoted"etag`)
		w.Header().Set("metadata.ttlExpireTime", "2026-05-01T12:00:00Z")
		w.Header().Set("metadata.partitionKey", "p")
		_, _ = io.WriteString(w, `{"orderId":1}`)
	})
	c, _ := newTestClient(t, Config{}, srv.URL)
	item, found, err := c.Get(context.Background(), "order 1", WithConsistency(lattice.Eventual), WithMetadata("partitionKey", "p"))
	if err != nil || !found {
		t.Fatal(err, found)
	}
	checkRequest(t, srv.last(), "GET", "/v1.0/state/statestore/order%201", map[string]string{"consistency": "eventual", "metadata.partitionKey": "p"})
	var v struct{ OrderID int }
	if err := item.Decode(&v); err != nil || v.OrderID != 1 || item.ETag != `"quoted"etag` || item.Key != "order 1" {
		t.Errorf("item %+v (%v)", item, err)
	}
	if exp, ok := item.ExpireTime(); !ok || !exp.Equal(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("expire time %v %v; metadata %v", exp, ok, item.Metadata)
	}
	if item.Metadata["partitionkey"] != "p" {
		t.Errorf("metadata %v", item.Metadata)
	}
	item, found, err = c.Get(context.Background(), "missing")
	if err != nil || found || item.Value != nil {
		t.Errorf("missing key: %+v %v %v", item, found, err)
	}
}

func TestBulkTransactionQueryWire(t *testing.T) {
	srv := newServer(t, nil)
	c, _ := newTestClient(t, Config{}, srv.URL)
	ctx := context.Background()

	srv.set(value(`[{"key":"a","data":{"x":1},"etag":"1","metadata":{"ttlExpireTime":"2026-01-01T00:00:00Z"}},{"key":"b"},{"key":"c","error":"boom"},{"key":"n","data":null}]`))
	items, err := c.BulkGet(ctx, []string{"a", "b", "c", "n"}, WithParallelism(4), WithMetadata("partitionKey", "p"))
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, srv.last(), "POST", "/v1.0/state/statestore/bulk", nil)
	jsonEqual(t, srv.last().Body, `{"keys":["a","b","c","n"],"parallelism":4,"metadata":{"partitionKey":"p"}}`)
	if len(items) != 4 || !items[0].Found() || string(items[0].Value) != `{"x":1}` || items[0].ETag != "1" ||
		items[0].Metadata["ttlExpireTime"] == "" || items[1].Found() || items[2].Error != "boom" || !items[3].Found() {
		t.Errorf("items %+v", items)
	}

	srv.set(noContent)
	err = c.Transaction(ctx, []TxOperation{
		{Type: TxUpsert, Item: SetItem{Key: "a", Value: "v", ETag: "1", Consistency: lattice.Strong}},
		{Type: TxDelete, Item: SetItem{Key: "b", Value: "ignored"}},
	}, WithMetadata("partitionKey", "planet"))
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, srv.last(), "POST", "/v1.0/state/statestore/transaction", nil)
	jsonEqual(t, srv.last().Body, `{"operations":[
		{"operation":"upsert","request":{"key":"a","value":"v","etag":"1","options":{"concurrency":"last-write","consistency":"strong"}}},
		{"operation":"delete","request":{"key":"b"}}],"metadata":{"partitionKey":"planet"}}`)

	srv.set(value(`{"results":[{"key":"1","data":{"state":"CA"},"etag":"e"}],"token":"3"}`))
	res, err := c.Query(ctx, Query{Filter: map[string]any{"EQ": map[string]any{"state": "CA"}},
		Sort: []QuerySort{{Key: "state", Order: "DESC"}}, Page: QueryPage{Limit: 3}})
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, srv.last(), "POST", "/v1.0-alpha1/state/statestore/query", nil)
	jsonEqual(t, srv.last().Body, `{"filter":{"EQ":{"state":"CA"}},"sort":[{"key":"state","order":"DESC"}],"page":{"limit":3}}`)
	if len(res.Results) != 1 || res.Results[0].Key != "1" || string(res.Results[0].Value) != `{"state":"CA"}` || res.Token != "3" {
		t.Errorf("query response %+v", res)
	}
	srv.set(noContent)
	if res, err := c.Query(ctx, Query{}); err != nil || len(res.Results) != 0 {
		t.Errorf("empty query: %+v %v", res, err)
	}
	jsonEqual(t, srv.last().Body, `{}`)
}

func TestCRDTWire(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("ETag", "c1")
		_, _ = io.WriteString(w, `{"key":"cart","type":"ormap","value":{"items":["a","b"],"n":3}}`)
	})
	c, _ := newTestClient(t, Config{}, srv.URL)
	ctx := context.Background()
	for _, tc := range []struct {
		op   CRDTOp
		body string
	}{
		{GCounterIncrement(2), `{"type":"gcounter","op":"increment","amount":2}`},
		{PNCounterIncrement(3), `{"type":"pncounter","op":"increment","amount":3}`},
		{PNCounterDecrement(1), `{"type":"pncounter","op":"decrement","amount":1}`},
		{ORSetAdd("a", "b"), `{"type":"orset","op":"add","elements":["a","b"]}`},
		{ORSetRemove("a"), `{"type":"orset","op":"remove","elements":["a"]}`},
		{FlagEnable(), `{"type":"flag","op":"enable"}`},
		{FlagDisable(), `{"type":"flag","op":"disable"}`},
		{MVRegisterAssign(map[string]int{"x": 1}), `{"type":"mvregister","op":"assign","value":{"x":1}}`},
		{ORMapUpdate("items", ORSetAdd("a")), `{"type":"ormap","op":"update","field":"items","update":{"type":"orset","op":"add","elements":["a"]}}`},
		{ORMapRemove("n"), `{"type":"ormap","op":"remove","field":"n"}`},
	} {
		v, err := c.CRDTApply(ctx, "cart", tc.op, WithConsistency(lattice.Strong))
		if err != nil {
			t.Fatal(err)
		}
		checkRequest(t, srv.last(), "POST", "/v1.0/crdt/statestore/cart", map[string]string{"consistency": "strong"})
		jsonEqual(t, srv.last().Body, tc.body)
		if v.Type != ORMap || v.ETag != "c1" || v.Key != "cart" {
			t.Errorf("value %+v", v)
		}
	}
	v, found, err := c.CRDTGet(ctx, "cart")
	if err != nil || !found {
		t.Fatal(err)
	}
	checkRequest(t, srv.last(), "GET", "/v1.0/crdt/statestore/cart", nil)
	var view struct {
		Items []string
		N     uint64
	}
	if err := v.Decode(&view); err != nil || view.N != 3 || len(view.Items) != 2 {
		t.Errorf("view %+v %v", view, err)
	}
	if err := c.CRDTDelete(ctx, "cart", WithConsistency(lattice.Eventual)); err != nil {
		t.Fatal(err)
	}
	checkRequest(t, srv.last(), "DELETE", "/v1.0/crdt/statestore/cart", map[string]string{"consistency": "eventual"})
	srv.set(noContent)
	if _, found, err := c.CRDTGet(ctx, "gone"); err != nil || found {
		t.Errorf("absent key: found %v err %v", found, err)
	}
	if (ORMapUpdate("n", PNCounterIncrement(1))).idempotent() || !(ORMapUpdate("s", ORSetAdd("x"))).idempotent() {
		t.Error("idempotence of nested operations")
	}
}

func TestClusterWire(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case pathClusterStatus:
			_, _ = io.WriteString(w, `{"nodeId":"node1","leader":{"id":"node2","httpAddr":"127.0.0.1:3501"},
				"raft":{"state":"Follower","term":4,"commitIndex":10,"appliedIndex":10,"lastIndex":11},
				"foldIn":{"pendingKeys":2,"pendingBytes":64,"lagMs":5},"replica":{"keys":7,"memoryBytes":1024}}`)
		case pathClusterMembers:
			_, _ = io.WriteString(w, `{"members":[{"id":"node1","httpAddr":"127.0.0.1:3500","gossipAddr":"127.0.0.1:7946","raftAddr":"127.0.0.1:7000","state":"alive","voter":true,"leader":false}]}`)
		case pathMetadata:
			_, _ = io.WriteString(w, `{"id":"node1","components":[{"name":"statestore","type":"state.lattice","version":"v1","capabilities":["ETAG","TRANSACTIONAL","QUERY_API","TTL"]}]}`)
		case pathTransfer:
			_, _ = io.WriteString(w, `{"leader":"node3"}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c, _ := newTestClient(t, Config{}, srv.URL)
	ctx := context.Background()
	st, err := c.Status(ctx)
	want := ClusterStatus{NodeID: "node1", Leader: LeaderInfo{ID: "node2", HTTPAddr: "127.0.0.1:3501"},
		Raft:   RaftStatus{State: "Follower", Term: 4, CommitIndex: 10, AppliedIndex: 10, LastIndex: 11},
		FoldIn: FoldInStatus{PendingKeys: 2, PendingBytes: 64, LagMs: 5}, Replica: ReplicaStatus{Keys: 7, MemoryBytes: 1024}}
	if err != nil || st != want {
		t.Errorf("status %+v %v", st, err)
	}
	members, err := c.Members(ctx)
	if err != nil || len(members) != 1 || members[0] != (Member{ID: "node1", HTTPAddr: "127.0.0.1:3500",
		GossipAddr: "127.0.0.1:7946", RaftAddr: "127.0.0.1:7000", State: "alive", Voter: true}) {
		t.Errorf("members %+v %v", members, err)
	}
	md, err := c.Metadata(ctx)
	if err != nil || md.ID != "node1" || len(md.Components) != 1 || md.Components[0].Type != "state.lattice" || len(md.Components[0].Capabilities) != 4 {
		t.Errorf("metadata %+v %v", md, err)
	}
	if err := c.RemoveMember(ctx, "node 3"); err != nil {
		t.Fatal(err)
	}
	checkRequest(t, srv.last(), "DELETE", "/v1.0/cluster/members/node%203", nil)
	leader, err := c.TransferLeadership(ctx, "node3")
	if err != nil || leader != "node3" {
		t.Errorf("transfer: %q %v", leader, err)
	}
	checkRequest(t, srv.last(), "POST", pathTransfer, nil)
	jsonEqual(t, srv.last().Body, `{"to":"node3"}`)
	if _, err := c.TransferLeadership(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if srv.last().Body != "" {
		t.Errorf("transfer to anyone sent %q", srv.last().Body)
	}
	if err := c.Healthz(ctx); err != nil {
		t.Fatal(err)
	}
	checkRequest(t, srv.last(), "GET", pathHealthz, nil)
}
