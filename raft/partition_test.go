package raft

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice"
)

// inmemCluster runs three Stores over hashicorp/raft's in-memory transport, injected through
// Config.Transport, so tests can cut links.
type inmemCluster struct {
	stores []*Store
	trans  []*hraft.InmemTransport
}

func newInmemCluster(t *testing.T) *inmemCluster {
	t.Helper()
	c := &inmemCluster{}
	var servers []Server
	for i := range 3 {
		addr, tr := hraft.NewInmemTransport("")
		c.trans = append(c.trans, tr)
		servers = append(servers, Server{ID: fmt.Sprintf("m%d", i+1), Address: string(addr)})
	}
	c.connectAll()
	for i, srv := range servers {
		cfg := fastConfig(srv.ID, t.TempDir(), "")
		cfg.Transport = c.trans[i]
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.stores = append(c.stores, s)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, s := range c.stores {
			s.Shutdown(ctx)
		}
	})
	if err := c.stores[0].Bootstrap(servers); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *inmemCluster) connectAll() {
	for _, a := range c.trans {
		for _, b := range c.trans {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
}

// isolate cuts every link of node i.
func (c *inmemCluster) isolate(i int) {
	c.trans[i].DisconnectAll()
	for j, tr := range c.trans {
		if j != i {
			tr.Disconnect(c.trans[i].LocalAddr())
		}
	}
}

// leader waits for a ready leader among the nodes in among.
func (c *inmemCluster) leader(t *testing.T, among ...int) int {
	t.Helper()
	found := -1
	waitFor(t, 10*time.Second, "a ready leader", func() bool {
		for _, i := range among {
			s := c.stores[i]
			if s.IsLeader() && s.lead.get().term == s.raft.CurrentTerm() {
				found = i
				return true
			}
		}
		return false
	})
	return found
}

// TestPartitionedLeaderFailsFast: a leader cut off from its quorum never serves a read, answers
// a write it had submitted as indeterminate, and then refuses with ErrNoQuorum within the
// deadline; the majority elects a new leader; after healing every node converges.
func TestPartitionedLeaderFailsFast(t *testing.T) {
	skipShort(t)
	c := newInmemCluster(t)
	old := c.leader(t, 0, 1, 2)
	ctx := context.Background()
	if _, err := c.stores[old].Propose(ctx, setCmd("k", "before")); err != nil {
		t.Fatal(err)
	}
	c.isolate(old)
	// A write submitted on the cut-off leader is indeterminate (it may yet commit elsewhere),
	// or refused if leadership was already gone.
	writeErr := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := c.stores[old].Propose(wctx, setCmd("k", "maybe"))
		writeErr <- err
	}()
	var others []int
	for i := range 3 {
		if i != old {
			others = append(others, i)
		}
	}

	// Reads keep hitting the cut-off leader while the majority elects a new leader and commits
	// a write. No read that began after that write was acknowledged may succeed: it would be
	// stale. (A read issued right at the cut may still be confirmed by a heartbeat already in
	// flight, which hashicorp/raft counts; such a read is not stale.)
	type readResult struct {
		start time.Time
		err   error
	}
	reads := make(chan readResult, 1<<16)
	stopReads := make(chan struct{})
	readsDone := make(chan struct{})
	go func() {
		defer close(readsDone)
		for {
			select {
			case <-stopReads:
				return
			default:
			}
			rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			start := time.Now()
			err := c.stores[old].LinearizableRead(rctx)
			cancel()
			reads <- readResult{start, err}
		}
	}()
	nl := c.leader(t, others...)
	r, err := c.stores[nl].Propose(ctx, setCmd("k", "after"))
	if err != nil || r.Status != StatusApplied {
		t.Fatalf("majority write: %+v %v", r, err)
	}
	acked := time.Now()
	// Keep reading a little after the acknowledgement, then check.
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	c.stores[old].LinearizableRead(rctx)
	cancel()
	close(stopReads)
	<-readsDone
	close(reads)
	n := 0
	for rr := range reads {
		n++
		if rr.err == nil && rr.start.After(acked) {
			t.Fatal("the old leader served a linearizable read after the new leader acknowledged a write")
		}
	}
	if n == 0 {
		t.Fatal("no reads ran on the old leader")
	}

	if err := <-writeErr; err == nil {
		t.Fatal("an isolated leader committed a write")
	} else if !errors.Is(err, lattice.ErrIndeterminate) && !errors.Is(err, lattice.ErrNoQuorum) {
		t.Fatalf("isolated write: %v", err)
	}

	// Once it has stepped down and knows no leader, it refuses within the deadline.
	waitFor(t, 5*time.Second, "the old leader to step down", func() bool { return !c.stores[old].IsLeader() })
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = c.stores[old].Propose(wctx, setCmd("k", "refused"))
	cancel()
	var ra *lattice.RetryAfterError
	if !errors.Is(err, lattice.ErrNoQuorum) || !errors.As(err, &ra) || ra.After <= 0 {
		t.Fatalf("write on the minority: %v", err)
	}
	rctx, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
	err = c.stores[old].LinearizableRead(rctx)
	cancel()
	if !errors.Is(err, lattice.ErrNoQuorum) {
		t.Fatalf("read on the minority: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("the minority took %v to fail", time.Since(start))
	}

	// Heal: everyone converges on the majority's history.
	c.connectAll()
	waitFor(t, 10*time.Second, "convergence", func() bool {
		for _, s := range c.stores {
			if v, _ := registerValue(s, "k"); v != "after" || s.AppliedIndex() < r.Index {
				return false
			}
		}
		return true
	})
}
