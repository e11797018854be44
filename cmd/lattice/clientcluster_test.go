package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lattice-state/lattice/bench"
	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/test/cluster"
)

// TestClientCommandsAgainstCluster runs the state, crdt, cluster and bench
// commands against a real three-node cluster, writing through one node and
// reading through the others.
func TestClientCommandsAgainstCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster: skipped in -short mode: runs three real nodes")
	}
	c := cluster.Start(t, 3)
	c.WaitLeader(30 * time.Second)
	urls := make([]string, len(c.Members))
	for i, m := range c.Members {
		urls[i] = m.URL()
	}
	// on runs a client command line against the node i.
	on := func(t *testing.T, i int, args ...string) cliResult {
		t.Helper()
		return runCLI(t, nil, append(args, "--endpoints", urls[i])...)
	}
	ok := func(t *testing.T, r cliResult) cliResult {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		return r
	}
	fails := func(t *testing.T, r cliResult, want string) {
		t.Helper()
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Fatalf("exit %d, want 1 with %q; stderr:\n%s", r.code, want, r.stderr)
		}
	}

	t.Run("state", func(t *testing.T) {
		ok(t, on(t, 0, "state", "save", "k1", `{"n":1}`, "--consistency", "strong"))
		r := ok(t, on(t, 1, "state", "get", "k1", "--consistency", "strong"))
		if r.stdout != "{\"n\":1}\n" {
			t.Fatalf("strong get on node 2: %q", r.stdout)
		}
		etag := regexp.MustCompile(`etag: (\S+)`).FindStringSubmatch(r.stderr)
		if etag == nil {
			t.Fatalf("no etag in %q", r.stderr)
		}
		fails(t, on(t, 2, "state", "save", "k1", `{"n":2}`, "--etag", etag[1]+"0"), "etag mismatch")
		ok(t, on(t, 2, "state", "save", "k1", `{"n":2}`, "--etag", etag[1]))
		var item stateItem
		r = ok(t, on(t, 0, "state", "get", "k1", "--consistency", "strong", "--json"))
		if err := json.Unmarshal([]byte(r.stdout), &item); err != nil || !jsonEqual(t, string(item.Value), `{"n":2}`) || item.ETag == etag[1] || item.ETag == "" {
			t.Fatalf("after CAS: %v %+v", err, item)
		}

		ok(t, on(t, 2, "state", "save", "k2", "hello"))
		waitFor(t, 10*time.Second, "the eventual write on node 1", func() bool {
			return on(t, 0, "state", "get", "k2").stdout == "\"hello\"\n"
		})
		ok(t, on(t, 0, "state", "save", "k3", "1", "--concurrency", "first-write"))
		fails(t, on(t, 1, "state", "save", "k3", "2", "--concurrency", "first-write"), "etag mismatch")
		ok(t, on(t, 1, "state", "save", "tk", "v", "--ttl", "1h", "--consistency", "strong"))
		if r := ok(t, on(t, 2, "state", "get", "tk", "--consistency", "strong")); !strings.Contains(r.stderr, "expires: ") {
			t.Errorf("no expiry for a value with a TTL: %q", r.stderr)
		}

		var items []client.BulkItem
		r = ok(t, on(t, 0, "state", "bulk", "k1", "k2", "nope", "--consistency", "strong", "--json"))
		if err := json.Unmarshal([]byte(r.stdout), &items); err != nil || len(items) != 3 {
			t.Fatalf("bulk: %v %s", err, r.stdout)
		}
		if !jsonEqual(t, string(items[0].Value), `{"n":2}`) || string(items[1].Value) != `"hello"` || items[2].Found() {
			t.Errorf("bulk items: %+v", items)
		}
		r = ok(t, on(t, 1, "state", "bulk", "k2", "nope", "--consistency", "strong"))
		if !regexp.MustCompile(`(?m)^k2\s+\S+\s+"hello"$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^nope\s+-\s+\(not found\)$`).MatchString(r.stdout) {
			t.Errorf("bulk table:\n%s", r.stdout)
		}

		ok(t, on(t, 2, "state", "txn", "--upsert", "t1=1", "--upsert", "t2=two", "--delete", "k3"))
		fails(t, on(t, 0, "state", "txn", "--upsert", "t1=100", "--delete", "t2", "--etag", "t1=999999"), "etag mismatch")
		r = ok(t, on(t, 0, "state", "bulk", "t1", "t2", "k3", "--consistency", "strong", "--json"))
		if err := json.Unmarshal([]byte(r.stdout), &items); err != nil || len(items) != 3 ||
			string(items[0].Value) != "1" || string(items[1].Value) != `"two"` || items[2].Found() {
			t.Errorf("after the transactions (the second must not apply): %v %s", err, r.stdout)
		}

		ok(t, on(t, 1, "state", "delete", "k1", "--consistency", "strong"))
		r = on(t, 2, "state", "get", "k1", "--consistency", "strong")
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "not found") {
			t.Errorf("get after delete: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("crdt", func(t *testing.T) {
		strong := []string{"--consistency", "strong"}
		if r := ok(t, on(t, 0, append([]string{"crdt", "incr", "hits", "3"}, strong...)...)); r.stdout != "3\n" {
			t.Errorf("incr: %q", r.stdout)
		}
		if r := ok(t, on(t, 1, append([]string{"crdt", "decr", "hits"}, strong...)...)); r.stdout != "2\n" {
			t.Errorf("decr: %q", r.stdout)
		}
		r := ok(t, on(t, 2, append([]string{"crdt", "get", "hits"}, strong...)...))
		if r.stdout != "2\n" || !strings.Contains(r.stderr, "type: pncounter") {
			t.Errorf("get: %q %q", r.stdout, r.stderr)
		}
		fails(t, on(t, 0, append([]string{"crdt", "add", "hits", "x"}, strong...)...), "wrong type")
		ok(t, on(t, 0, append([]string{"crdt", "add", "tags", "red", "green", "blue"}, strong...)...))
		// A remove takes away the additions the serving node has seen: this
		// one has seen them all.
		if r := ok(t, on(t, 0, append([]string{"crdt", "remove", "tags", "red"}, strong...)...)); r.stdout != "[\"blue\",\"green\"]\n" {
			t.Errorf("orset: %q", r.stdout)
		}
		if r := ok(t, on(t, 2, append([]string{"crdt", "enable", "feature"}, strong...)...)); r.stdout != "true\n" {
			t.Errorf("enable: %q", r.stdout)
		}
		if r := ok(t, on(t, 0, append([]string{"crdt", "disable", "feature"}, strong...)...)); r.stdout != "false\n" {
			t.Errorf("disable: %q", r.stdout)
		}
		if r := ok(t, on(t, 1, append([]string{"crdt", "assign", "reg", `{"x":1}`}, strong...)...)); r.stdout != "[{\"x\":1}]\n" {
			t.Errorf("assign: %q", r.stdout)
		}
		var v crdtView
		r = ok(t, on(t, 2, append([]string{"crdt", "incr", "views", "--type", "gcounter", "--json"}, strong...)...))
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Key != "views" || v.Type != client.GCounter || string(v.Value) != "1" || v.ETag == "" {
			t.Errorf("--json: %v %s", err, r.stdout)
		}
		ok(t, on(t, 0, append([]string{"crdt", "delete", "hits"}, strong...)...))
		r = on(t, 1, append([]string{"crdt", "get", "hits"}, strong...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "not found") {
			t.Errorf("get after delete: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("bench", func(t *testing.T) {
		r := ok(t, runCLI(t, nil, "bench", "--url", strings.Join(urls, ","), "--ops", "200", "--connections", "4",
			"--keys", "50", "--workload", "mixed", "--consistency", "strong", "--json", "--progress-interval", "100ms"))
		var res bench.Result
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%v: %s", err, r.stdout)
		}
		if res.Target != bench.TargetLattice || res.Ops != 200 || res.Errors != 0 || res.Throughput <= 0 || res.Lags == nil {
			t.Errorf("result: %+v", res)
		}
		if !strings.Contains(r.stderr, "[lattice mixed]") {
			t.Errorf("no progress line on stderr:\n%s", r.stderr)
		}
	})

	t.Run("cluster", func(t *testing.T) {
		r := ok(t, runCLI(t, nil, "cluster", "status", "--endpoints", strings.Join(urls, ",")))
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "ENDPOINT") {
			t.Fatalf("status table:\n%s", r.stdout)
		}
		var rows []nodeStatus
		r = ok(t, on(t, 0, "cluster", "status", "--all", "--json"))
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 3 {
			t.Fatalf("status --all: %v\n%s", err, r.stdout)
		}
		var leader string
		for i, row := range rows {
			if row.Status == nil || row.Endpoint != urls[i] || row.Status.NodeID != c.Members[i].ID {
				t.Fatalf("row %d: %+v, want %s at %s", i, row, c.Members[i].ID, urls[i])
			}
			if leader == "" {
				leader = row.Status.Leader.ID
			}
			if row.Status.Leader.ID != leader || leader == "" {
				t.Errorf("row %+v: want leader %q", row, leader)
			}
		}
		fails(t, runCLI(t, nil, "cluster", "status", "--endpoints", urls[0]+",http://127.0.0.1:1"), "1 of 2 nodes did not answer")

		var members []client.Member
		r = ok(t, on(t, 1, "cluster", "members", "--json"))
		if err := json.Unmarshal([]byte(r.stdout), &members); err != nil || len(members) != 3 {
			t.Fatalf("members: %v\n%s", err, r.stdout)
		}
		var other string
		for _, m := range members {
			if m.ID != leader {
				other = m.ID
			}
		}
		r = ok(t, on(t, 2, "cluster", "transfer-leader", other))
		if r.stdout != "leader: "+other+"\n" {
			t.Fatalf("transfer-leader %s: %q", other, r.stdout)
		}
		r = ok(t, on(t, 0, "cluster", "transfer-leader", "--json"))
		var moved map[string]string
		if err := json.Unmarshal([]byte(r.stdout), &moved); err != nil || moved["leader"] == "" || moved["leader"] == other {
			t.Fatalf("transfer-leader to anyone after %s: %v %s", other, err, r.stdout)
		}

		var gone int
		for i, m := range c.Members {
			if m.ID != moved["leader"] {
				gone = i
			}
		}
		r = ok(t, on(t, (gone+1)%3, "cluster", "remove", c.Members[gone].ID))
		if r.stdout != "removed "+c.Members[gone].ID+"\n" {
			t.Errorf("remove: %q", r.stdout)
		}
		waitFor(t, 20*time.Second, "the removed member to lose its vote", func() bool {
			r := on(t, (gone+1)%3, "cluster", "members", "--json")
			var ms []client.Member
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ms) != nil {
				return false
			}
			for _, m := range ms {
				if m.ID == c.Members[gone].ID && m.Voter {
					return false
				}
			}
			return true
		})
		r = ok(t, on(t, (gone+1)%3, "cluster", "members"))
		if !regexp.MustCompile(`(?m)^ID\s+STATE\s+VOTER\s+LEADER\s+HTTP\s+GOSSIP\s+RAFT$`).MatchString(r.stdout) {
			t.Errorf("members table:\n%s", r.stdout)
		}
	})
}
