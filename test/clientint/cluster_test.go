package clientint

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/test/cluster"
)

// leaderOf asks every node for the leader and returns its id when they agree.
func leaderOf(t *testing.T, cl *client.Client, eps []string) string {
	t.Helper()
	var leader string
	for _, ep := range eps {
		st, err := cl.Status(ctxFor(t, 5*time.Second), client.WithEndpoint(ep))
		if err != nil {
			t.Fatalf("status of %s: %v", ep, err)
		}
		if st.Leader.ID == "" || (leader != "" && st.Leader.ID != leader) {
			return ""
		}
		leader = st.Leader.ID
	}
	return leader
}

func testCluster(t *testing.T, c *cluster.Cluster, cl *client.Client, cnt *counter) {
	ctx := ctxFor(t, 20*time.Second)
	eps := endpoints(c)
	byID := map[string]string{}
	for _, m := range c.Members {
		byID[m.ID] = m.URL()
	}
	leader := c.Members[c.WaitLeader(10*time.Second)].ID
	for i, ep := range eps {
		st, err := cl.Status(ctx, client.WithEndpoint(ep))
		if err != nil {
			t.Fatal(err)
		}
		if st.NodeID != c.Members[i].ID || st.Leader.ID != leader || "http://"+st.Leader.HTTPAddr != byID[leader] ||
			st.Raft.Term == 0 || st.Raft.CommitIndex == 0 || st.Raft.AppliedIndex == 0 || st.Replica.Keys == 0 {
			t.Fatalf("status of %s = %+v, leader %s", ep, st, leader)
		}
		if isLeader := strings.EqualFold(st.Raft.State, "leader"); isLeader != (st.NodeID == leader) {
			t.Fatalf("status of %s: raft state %q, leader %s", ep, st.Raft.State, leader)
		}
		md, err := cl.Metadata(ctx, client.WithEndpoint(ep))
		if err != nil || md.ID != c.Members[i].ID || len(md.Components) == 0 || md.Components[0].Name != client.DefaultStore ||
			!slices.Contains(md.Components[0].Capabilities, "ETAG") {
			t.Fatalf("metadata of %s = %+v (%v)", ep, md, err)
		}
		if err := cl.Healthz(ctx, client.WithEndpoint(ep)); err != nil {
			t.Fatalf("healthz of %s: %v", ep, err)
		}
	}
	members, err := cl.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids, leaders []string
	for _, m := range members {
		ids = append(ids, m.ID)
		if m.Leader {
			leaders = append(leaders, m.ID)
		}
		if m.State != "alive" || !m.Voter || "http://"+m.HTTPAddr != byID[m.ID] || m.RaftAddr == "" || m.GossipAddr == "" {
			t.Fatalf("member %+v", m)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, c.IDs(0, 1, 2)) || !slices.Equal(leaders, []string{leader}) {
		t.Fatalf("members %v, leaders %v, want %v led by %s", ids, leaders, c.IDs(0, 1, 2), leader)
	}

	// Hand leadership to a named follower: strong requests follow it.
	var to string
	for _, m := range c.Members {
		if m.ID != leader {
			to = m.ID
		}
	}
	got, err := cl.TransferLeadership(ctx, to)
	if err != nil || got != to {
		t.Fatalf("transfer leadership to %s = %q, %v", to, got, err)
	}
	eventually(t, 10*time.Second, "every node to follow "+to, func() bool { return leaderOf(t, cl, eps) == to })
	_, before := cnt.hostCounts(byID[to])
	for i := range 5 {
		if err := cl.Set(ctx, "after-transfer", i, strong); err != nil {
			t.Fatal(err)
		}
	}
	if _, after := cnt.hostCounts(byID[to]); after-before < 5 {
		t.Fatalf("the new leader %s answered %d of 5 strong writes", to, after-before)
	}
	// Without a target Raft picks one.
	got, err = cl.TransferLeadership(ctx, "")
	if err != nil || got == to || byID[got] == "" {
		t.Fatalf("transfer leadership to anyone = %q, %v (leader was %s)", got, err, to)
	}
	eventually(t, 10*time.Second, "every node to follow "+got, func() bool { return leaderOf(t, cl, eps) == got })
}
