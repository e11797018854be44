package clientint

import (
	"testing"
	"time"

	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/test/cluster"
)

// Killing the node the client is attached to: requests move to the other nodes with no
// error surfaced; restarted, the node serves the client again.
func TestFailoverStickyNode(t *testing.T) {
	skipShort(t)
	c := cluster.Start(t, 3)
	cl, cnt, log := newClient(t, c) // attached to member 0
	if c.WaitLeader(10*time.Second) == 0 {
		// Keep the leader elsewhere: this test is about the sticky node.
		if _, err := cl.TransferLeadership(ctxFor(t, 10*time.Second), c.Members[1].ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "leader moved off member 0", func() bool { return c.WaitLeader(5*time.Second) != 0 })
	}
	l := startLoad(t, cl, "load", both)
	l.progress(t, 5, 10*time.Second, "before the kill")
	if _, ok := cnt.hostCounts(c.Members[0].URL()); ok == 0 {
		t.Fatalf("member 0 answered nothing: the client is not attached to it")
	}

	killed := time.Now()
	l.kill(func() { crash(c, 0) })
	t.Logf("kill took %v", time.Since(killed))
	_, okBefore := cnt.hostCounts(c.Members[0].URL())
	l.progress(t, 20, 15*time.Second, "with member 0 down")
	l.noErrors(t)
	t.Logf("sticky node killed: slowest round since %v", l.slowest(killed))
	if _, ok := cnt.hostCounts(c.Members[0].URL()); ok != okBefore {
		t.Fatalf("member 0 answered %d requests while down", ok-okBefore)
	}
	if !log.contains("Endpoint " + c.Members[0].URL() + " is unavailable") {
		t.Fatal("the client did not log that member 0 is unavailable")
	}

	usedAgain(t, c, cl, cnt, l, 0)
}

// Killing the leader: eventual requests never notice; strong ones wait for the new leader
// and succeed, with no error surfaced; restarted, the node serves the client again.
func TestFailoverLeader(t *testing.T) {
	skipShort(t)
	c := cluster.Start(t, 3)
	cl, cnt, _ := newClient(t, c)
	leader := c.WaitLeader(10 * time.Second)
	l := startLoad(t, cl, "load", both)
	l.progress(t, 5, 10*time.Second, "before the kill")
	if _, ok := cnt.hostCounts(c.Members[leader].URL()); ok == 0 {
		t.Fatalf("the leader %s answered nothing: strong requests do not prefer it", c.Members[leader].ID)
	}

	term := status(t, cl, c.Members[leader].URL()).Raft.Term
	killed := time.Now()
	l.kill(func() { crash(c, leader) })
	t.Logf("kill took %v", time.Since(killed))
	l.progress(t, 20, 20*time.Second, "with the leader down")
	l.noErrors(t)
	newLeader := c.WaitLeader(10 * time.Second)
	if st := status(t, cl, c.Members[newLeader].URL()); st.Raft.Term <= term {
		t.Fatalf("new leader %s at term %d, the killed one was at %d: no election", st.NodeID, st.Raft.Term, term)
	}
	t.Logf("leader %s crashed: %s elected; slowest round since %v", c.Members[leader].ID, c.Members[newLeader].ID, l.slowest(killed))

	usedAgain(t, c, cl, cnt, l, leader)
}

// usedAgain restarts member i, which the client saw fail, and shows that the client uses
// it again: for strong requests once it leads, and for eventual ones once it is the only
// node left. The load l runs with no error until the others are killed.
//
// Once i restarts, the other nodes must not gossip any more, so the load is strong only
// and is stopped before they are killed. A node gossips an eventual write's delta to each
// peer through the *memberlist.Node kept in its peer table, which memberlist rewrites in
// place, under its own lock, when the restarted member announces itself again: with -race,
// that gossip reports a data race in node (disseminator.ship reading Node.Address).
// Strong writes do not gossip.
func usedAgain(t *testing.T, c *cluster.Cluster, cl *client.Client, cnt *counter, l *load, i int) {
	t.Helper()
	m := c.Members[i]
	l.setMode(t, strongOnly)
	restarted := time.Now()
	c.Restart(i)
	eventually(t, 10*time.Second, m.ID+" serving", func() bool {
		return cl.Healthz(ctxFor(t, time.Second), client.WithEndpoint(m.URL())) == nil
	})
	serving := time.Since(restarted)
	st := status(t, cl, c.Members[c.WaitLeader(10*time.Second)].URL())
	eventually(t, 10*time.Second, m.ID+" catching up", func() bool {
		mst, err := cl.Status(ctxFor(t, time.Second), client.WithEndpoint(m.URL()))
		return err == nil && mst.Raft.AppliedIndex >= st.Raft.CommitIndex
	})
	t.Logf("%s restarted: serving after %v, caught up with the leader after %v", m.ID, serving, time.Since(restarted))

	// Strong requests follow the leader.
	if _, err := cl.TransferLeadership(ctxFor(t, 10*time.Second), m.ID); err != nil {
		t.Fatalf("transfer leadership to %s: %v", m.ID, err)
	}
	_, before := cnt.hostCounts(m.URL())
	eventually(t, 10*time.Second, "strong requests answered by "+m.ID, func() bool {
		_, ok := cnt.hostCounts(m.URL())
		return ok-before >= 20
	})
	l.noErrors(t)

	// Eventual requests go to it once the others are gone (no quorum: strong ones stop).
	// The load stops first: its eventual writes would gossip from the others.
	l.stop()
	l.noErrors(t)
	for j := range c.Members {
		if j != i {
			crash(c, j)
		}
	}
	_, before = cnt.hostCounts(m.URL())
	alone := startLoad(t, cl, "alone", eventualOnly)
	alone.progress(t, 10, 10*time.Second, "with only "+m.ID+" up")
	alone.stop()
	alone.noErrors(t)
	if _, ok := cnt.hostCounts(m.URL()); ok-before < 20 {
		t.Fatalf("%s answered %d of the 20 requests of 10 eventual rounds", m.ID, ok-before)
	}
	t.Logf("%d eventual writes lost with the node that acknowledged them", l.missed.Load())
}

// status returns the status of the node at url.
func status(t *testing.T, cl *client.Client, url string) client.ClusterStatus {
	t.Helper()
	st, err := cl.Status(ctxFor(t, 5*time.Second), client.WithEndpoint(url))
	if err != nil {
		t.Fatalf("status of %s: %v", url, err)
	}
	return st
}
