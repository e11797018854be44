package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/node"
	"github.com/lattice-state/lattice/test/cluster"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func save(t *testing.T, n *node.Node, key, value string, c lattice.Consistency) string {
	t.Helper()
	etag, err := n.Save(ctxT(t, 10*time.Second), node.SaveRequest{Key: key, Value: []byte(value), Consistency: c})
	if err != nil {
		t.Fatalf("save %s on %s: %v", key, n.ID(), err)
	}
	return etag
}

// value reads key on n and returns its JSON view ("" when absent).
func value(t *testing.T, n *node.Node, key string, c lattice.Consistency) string {
	t.Helper()
	e, ok, err := n.Get(ctxT(t, 10*time.Second), key, c)
	if err != nil {
		t.Fatalf("get %s on %s: %v", key, n.ID(), err)
	}
	if !ok || !e.Live(time.Now().UnixMilli()) {
		return ""
	}
	return string(e.JSON(time.Now().UnixMilli()))
}

func TestEventualWriteVisibleEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3)
	save(t, c.Members[0].Node(), "k", `"v1"`, lattice.Eventual)
	if got := value(t, c.Members[0].Node(), "k", lattice.Eventual); got != `"v1"` {
		t.Fatalf("own eventual read = %q", got)
	}
	for i := 1; i < 3; i++ {
		n := c.Members[i].Node()
		c.Eventually(5*time.Second, "eventual write on "+n.ID(), func() bool { return value(t, n, "k", lattice.Eventual) == `"v1"` })
	}
	c.WaitConverged(10 * time.Second)
}

func TestStrongWriteReadableStronglyEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3)
	for i := range 3 {
		key := fmt.Sprintf("s%d", i)
		save(t, c.Members[i].Node(), key, fmt.Sprintf(`{"n":%d}`, i), lattice.Strong)
		for j := range 3 {
			if got, want := value(t, c.Members[j].Node(), key, lattice.Strong), fmt.Sprintf(`{"n":%d}`, i); got != want {
				t.Fatalf("strong read of %s on %s right after the write = %q, want %q", key, c.Members[j].ID, got, want)
			}
		}
	}
}

// The Dapr flow: read eventually (ETag), then save with that ETag; and a
// client that stays on one node reads its eventual writes strongly.
func TestReadYourWritesAcrossPlanes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3, func(cfg *node.Config) { cfg.FoldInterval = time.Hour })
	n := c.Members[1].Node()
	save(t, n, "order", `"new"`, lattice.Eventual)
	if got := value(t, n, "order", lattice.Strong); got != `"new"` {
		t.Fatalf("strong read after own eventual write = %q", got)
	}
	e, _, err := n.Get(ctxT(t, 5*time.Second), "order", lattice.Eventual)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Save(ctxT(t, 5*time.Second), node.SaveRequest{Key: "order", Value: []byte(`"paid"`), ETag: e.ETag(), HasETag: true}); err != nil {
		t.Fatalf("save with the etag just read: %v", err)
	}
	_, err = n.Save(ctxT(t, 5*time.Second), node.SaveRequest{Key: "order", Value: []byte(`"lost"`), ETag: e.ETag(), HasETag: true})
	if !errors.Is(err, lattice.ErrETagMismatch) {
		t.Fatalf("save with a stale etag: %v, want an etag mismatch", err)
	}
	_, err = n.Save(ctxT(t, 5*time.Second), node.SaveRequest{Key: "order", Value: []byte(`"x"`), Concurrency: lattice.FirstWrite})
	if !errors.Is(err, lattice.ErrETagMismatch) {
		t.Fatalf("first-write on an existing key: %v, want an etag mismatch", err)
	}
	if got := value(t, c.Members[2].Node(), "order", lattice.Strong); got != `"paid"` {
		t.Fatalf("strong read elsewhere = %q", got)
	}
}

func TestMinorityServesEventualRefusesStrong(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3, func(cfg *node.Config) { cfg.StrongTimeout = time.Second })
	leader := c.WaitLeader(10 * time.Second)
	minority := (leader + 1) % 3
	var majority []int
	for i := range 3 {
		if i != minority {
			majority = append(majority, i)
		}
	}
	c.Net.Partition(c.IDs(minority), c.IDs(majority...))

	mn := c.Members[minority].Node()
	acked := map[string]string{}
	for i := range 20 {
		k := fmt.Sprintf("m%d", i)
		save(t, mn, k, fmt.Sprintf("%d", i), lattice.Eventual)
		acked[k] = fmt.Sprintf("%d", i)
	}
	for i := range 20 {
		k := fmt.Sprintf("M%d", i)
		save(t, c.Members[majority[i%2]].Node(), k, fmt.Sprintf("%d", i), lattice.Eventual)
		acked[k] = fmt.Sprintf("%d", i)
	}
	start := time.Now()
	_, err := mn.Save(ctxT(t, 10*time.Second), node.SaveRequest{Key: "strong", Value: []byte("1"), Consistency: lattice.Strong})
	if !errors.Is(err, lattice.ErrNoQuorum) && !errors.Is(err, lattice.ErrIndeterminate) {
		t.Fatalf("strong write on the minority: %v, want no quorum", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("strong write on the minority took %v, want about the 1s strong timeout", took)
	}
	if _, _, err := mn.Get(ctxT(t, 10*time.Second), "m0", lattice.Strong); !errors.Is(err, lattice.ErrNoQuorum) {
		t.Fatalf("strong read on the minority: %v, want no quorum", err)
	}

	c.Net.Heal()
	c.WaitConverged(20 * time.Second)
	for i := range 3 {
		n := c.Members[i].Node()
		for k, v := range acked {
			if got := value(t, n, k, lattice.Eventual); got != v {
				t.Fatalf("after heal %s has %s = %q, want %q", n.ID(), k, got, v)
			}
		}
	}
	for k, v := range acked {
		if got := value(t, c.Members[0].Node(), k, lattice.Strong); got != v {
			t.Fatalf("after heal the committed %s = %q, want %q", k, got, v)
		}
	}
}

func TestCountersDuringPartitionLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3)
	c.Net.Partition(c.IDs(0), c.IDs(1, 2))
	var acked atomic.Int64
	var wg sync.WaitGroup
	for i := range 3 {
		n := c.Members[i].Node()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				op := crdt.Op{Kind: crdt.OpIncrement, Type: crdt.TypePNCounter, Amount: 1}
				if _, err := n.CRDT(context.Background(), "hits", op, lattice.Eventual); err == nil {
					acked.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	c.Net.Heal()
	c.WaitConverged(20 * time.Second)
	want := fmt.Sprint(acked.Load())
	if want != "150" {
		t.Fatalf("eventual increments acknowledged = %s, want all 150", want)
	}
	for i := range 3 {
		n := c.Members[i].Node()
		if got := value(t, n, "hits", lattice.Eventual); got != want {
			t.Fatalf("%s counter = %s, want %s", n.ID(), got, want)
		}
	}
	if got := value(t, c.Members[1].Node(), "hits", lattice.Strong); got != want {
		t.Fatalf("committed counter = %s, want %s", got, want)
	}
}

// A node that acknowledged eventual writes and died before folding them in:
// a peer that received them by gossip folds them in (repair).
func TestRepairFoldsInWritesOfADeadNode(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3, func(cfg *node.Config) {
		cfg.RepairInterval = 100 * time.Millisecond
		cfg.RepairGrace = 300 * time.Millisecond
	})
	leader := c.WaitLeader(10 * time.Second)
	victim := (leader + 1) % 3
	// The victim never folds in by itself: only repair can commit its writes.
	c.Kill(victim)
	c.Members[victim].SetOption(func(cfg *node.Config) { cfg.FoldInterval = time.Hour })
	c.Restart(victim)
	vn := c.Members[victim].Node()
	c.Eventually(10*time.Second, "victim rejoined", func() bool { return vn.Status(context.Background()).LeaderID != "" })
	for i := range 10 {
		save(t, vn, fmt.Sprintf("r%d", i), fmt.Sprint(i), lattice.Eventual)
	}
	other := c.Members[leader].Node()
	c.Eventually(5*time.Second, "gossip reached the leader", func() bool { return value(t, other, "r9", lattice.Eventual) == "9" })
	c.Kill(victim)
	for i := range 10 {
		k := fmt.Sprintf("r%d", i)
		c.Eventually(10*time.Second, "repair of "+k, func() bool {
			e, ok := other.CommittedEntry(k)
			return ok && string(e.JSON(time.Now().UnixMilli())) == fmt.Sprint(i)
		})
	}
}

func TestRestartKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3)
	for i := range 5 {
		save(t, c.Members[i%3].Node(), fmt.Sprintf("d%d", i), fmt.Sprint(i), lattice.Strong)
	}
	save(t, c.Members[0].Node(), "ev", `"e"`, lattice.Eventual)
	c.WaitConverged(10 * time.Second)

	// One node.
	c.Kill(2)
	save(t, c.Members[0].Node(), "while-down", `"w"`, lattice.Strong)
	c.Restart(2)
	c.Eventually(10*time.Second, "restarted node catches up", func() bool {
		return value(t, c.Members[2].Node(), "while-down", lattice.Eventual) == `"w"`
	})

	// The whole cluster.
	for i := range 3 {
		c.Kill(i)
	}
	for i := range 3 {
		c.Restart(i)
	}
	c.WaitLeader(20 * time.Second)
	for i := range 5 {
		if got := value(t, c.Members[(i+1)%3].Node(), fmt.Sprintf("d%d", i), lattice.Strong); got != fmt.Sprint(i) {
			t.Fatalf("after full restart d%d = %q", i, got)
		}
	}
	if got := value(t, c.Members[1].Node(), "ev", lattice.Strong); got != `"e"` {
		t.Fatalf("after full restart the folded eventual write = %q", got)
	}
}

// A restarted node rebuilds its replica from the committed state, which may
// miss increments it made before (still only in a peer's replica). Its new
// increments must add to those, not overwrite them (per-boot replica ids).
func TestRestartedNodeDoesNotReuseItsCounterShare(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3, func(cfg *node.Config) { cfg.RepairGrace = time.Hour })
	victim := 2
	c.Kill(victim)
	c.Members[victim].SetOption(func(cfg *node.Config) { cfg.FoldInterval = time.Hour })
	c.Restart(victim)
	incr := func(n *node.Node, times int) {
		for range times {
			op := crdt.Op{Kind: crdt.OpIncrement, Type: crdt.TypeGCounter, Amount: 1}
			if _, err := n.CRDT(ctxT(t, 5*time.Second), "c", op, lattice.Eventual); err != nil {
				t.Fatal(err)
			}
		}
	}
	incr(c.Members[victim].Node(), 5)
	c.Eventually(5*time.Second, "increments gossiped", func() bool { return value(t, c.Members[0].Node(), "c", lattice.Eventual) == "5" })
	// Nothing folded them: the victim never folds, repair waits an hour.
	c.Kill(victim)
	c.Net.Partition(c.IDs(victim), c.IDs(0, 1))
	c.Restart(victim)
	incr(c.Members[victim].Node(), 3)
	c.Net.Heal()
	for i := range 3 {
		c.Eventually(10*time.Second, "8 increments everywhere", func() bool { return value(t, c.Members[i].Node(), "c", lattice.Eventual) == "8" })
	}
}

// A strong remove observes every add committed before it, wherever it was made.
func TestStrongRemoveSeesCommittedAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3, func(cfg *node.Config) { cfg.DeltaWindow = time.Hour }) // no gossip help
	add := crdt.Op{Kind: crdt.OpAdd, Type: crdt.TypeORSet, Elements: []string{"x", "y"}}
	if _, err := c.Members[0].Node().CRDT(ctxT(t, 5*time.Second), "set", add, lattice.Strong); err != nil {
		t.Fatal(err)
	}
	rm := crdt.Op{Kind: crdt.OpRemove, Type: crdt.TypeORSet, Elements: []string{"x"}}
	e, err := c.Members[1].Node().CRDT(ctxT(t, 5*time.Second), "set", rm, lattice.Strong)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(e.JSON(time.Now().UnixMilli())); got != `["y"]` {
		t.Fatalf("after a strong remove on another node the set is %s, want [\"y\"]", got)
	}
	if got := value(t, c.Members[2].Node(), "set", lattice.Strong); got != `["y"]` {
		t.Fatalf("strong read = %s", got)
	}
}

func TestTransferLeadershipFromAFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	follower := (leader + 1) % 3
	target := c.Members[(leader+2)%3].ID
	got, err := c.Members[follower].Node().TransferLeadership(ctxT(t, 10*time.Second), target)
	if err != nil {
		t.Fatal(err)
	}
	if got != target {
		t.Fatalf("new leader %q, want %q", got, target)
	}
	c.Eventually(5*time.Second, "every node sees the new leader", func() bool {
		for _, m := range c.Members {
			if m.Node().Status(context.Background()).LeaderID != target {
				return false
			}
		}
		return true
	})
}

// A node that leaves gracefully is removed from Raft; restarted, it is a
// voter again as soon as it has caught up (not after the removal grace).
func TestGracefulRestartRejoinsQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	victim := (leader + 1) % 3
	ln := c.Members[leader].Node()
	voter := func(id string) (bool, bool) {
		ms, err := ln.Members(context.Background())
		if err != nil {
			return false, false
		}
		for _, m := range ms {
			if m.ID == id {
				return true, m.Voter
			}
		}
		return false, false
	}
	id := c.Members[victim].ID
	c.Leave(victim)
	c.Eventually(10*time.Second, id+" removed from raft", func() bool { _, v := voter(id); return !v })
	start := time.Now()
	c.Restart(victim)
	c.Eventually(10*time.Second, id+" a voter again", func() bool { _, v := voter(id); return v })
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("rejoin took %v", took)
	}
	save(t, c.Members[victim].Node(), "after-rejoin", `"ok"`, lattice.Strong)
}

// Batches too large for one packet go over the kept-alive HTTP stream to each
// peer without errors, and a burst of them arrives everywhere.
func TestLargeDeltaBatchesGoOverTheStream(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := cluster.Start(t, 3, func(cfg *node.Config) { cfg.AntiEntropyInterval = time.Hour })
	n1 := c.Members[0].Node()
	big := `"` + strings.Repeat("v", 500) + `"`
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < 400; i += 16 {
				req := node.SaveRequest{Key: fmt.Sprintf("big-%03d", i), Value: []byte(big), Consistency: lattice.Eventual}
				if _, err := n1.Save(ctxT(t, 10*time.Second), req); err != nil {
					t.Errorf("save %s: %v", req.Key, err)
				}
			}
		})
	}
	wg.Wait()
	for i := 1; i < 3; i++ {
		n := c.Members[i].Node()
		c.Eventually(10*time.Second, "all 400 keys on "+n.ID(), func() bool {
			for k := range 400 {
				if value(t, n, fmt.Sprintf("big-%03d", k), lattice.Eventual) == "" {
					return false
				}
			}
			return true
		})
	}
	if got := counterSum(t, c, 0, "lattice_gossip_sent_batches_total", "transport", "stream"); got == 0 {
		t.Fatal("no batch went over the stream")
	}
	if got := counterSum(t, c, 0, "lattice_gossip_send_errors_total"); got != 0 {
		t.Fatalf("%v gossip send errors", got)
	}
}
