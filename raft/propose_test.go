package raft

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lattice-state/lattice"
)

// TestProposeAllReportsEachCommand queues many commands in one call: each gets its own outcome in
// order (every third is a first-write of a key that exists, which fails), an invalid one fails
// alone, and the valid ones share log entries.
func TestProposeAllReportsEachCommand(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	l := c.leader()
	const n = 64
	const invalid = 10
	c.mustPropose(ctx, setCmd("taken", "x"))
	cmds := make([]*Command, n)
	for i := range cmds {
		cmds[i] = setCmd(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
		if i%3 == 2 {
			cmds[i] = setCmd("taken", fmt.Sprintf("v%d", i))
			cmds[i].Set.FirstWrite = true
		}
	}
	cmds[invalid] = &Command{Op: OpSet}
	out := l.store().ProposeAll(ctx, cmds)
	if len(out) != n {
		t.Fatalf("%d outcomes for %d commands", len(out), n)
	}
	entries, applied := map[uint64]bool{}, 0
	for i, p := range out {
		if i == invalid {
			if p.Result.Status != StatusInvalid || !errors.Is(p.Err, lattice.ErrInvalidArgument) {
				t.Fatalf("invalid command %d: %+v %v", i, p.Result, p.Err)
			}
			continue
		}
		if i%3 == 2 {
			if p.Err != nil || p.Result.Status != StatusETagMismatch {
				t.Fatalf("first-write of an existing key, command %d: %+v %v", i, p.Result, p.Err)
			}
			continue
		}
		if p.Err != nil || p.Result.Status != StatusApplied || p.Result.Index == 0 {
			t.Fatalf("command %d: %+v %v", i, p.Result, p.Err)
		}
		entries[p.Result.Index] = true
		applied++
		if v, _ := registerValue(l.store(), fmt.Sprintf("k%d", i)); v != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d holds %q", i, v)
		}
	}
	if len(entries) > applied/2 {
		t.Fatalf("%d applied commands took %d log entries; queued together they should share entries", applied, len(entries))
	}
	if v, _ := registerValue(l.store(), "taken"); v != "x" {
		t.Fatalf("a failed first-write changed the value to %q", v)
	}

	// On a follower every command is refused with the leader's identity.
	for _, f := range c.nodes {
		if f == l {
			continue
		}
		for i, p := range f.store().ProposeAll(ctx, cmds[:3]) {
			var nl *NotLeaderError
			if !errors.As(p.Err, &nl) || nl.LeaderID != l.id {
				t.Fatalf("follower %s, command %d: %v", f.id, i, p.Err)
			}
		}
	}
}

// TestAwaitPrefersDeliveredOutcome: an outcome already delivered is returned even when the context
// has ended by the time it is awaited (ProposeAll awaits one proposal after another).
func TestAwaitPrefersDeliveredOutcome(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Store{}
	for i := range 200 { // the old select chose between the two ready cases at random
		p := &proposal{done: make(chan proposalResult, 1)}
		p.state.Store(proposalTaken)
		p.done <- proposalResult{res: Result{Status: StatusApplied, Index: uint64(i + 1)}}
		r, err := s.await(ctx, p)
		if err != nil || r.Index != uint64(i+1) {
			t.Fatalf("try %d: %+v %v; want the delivered result", i, r, err)
		}
	}
}

// TestProposeAllQueuesNothingAfterTheDeadline: with the context already ended no command is
// queued, so none can commit behind the caller's back.
func TestProposeAllQueuesNothingAfterTheDeadline(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 1, nil)
	s := c.leader().store()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i, p := range s.ProposeAll(ctx, []*Command{setCmd("late1", "x"), setCmd("late2", "x")}) {
		if !errors.Is(p.Err, lattice.ErrNoQuorum) {
			t.Fatalf("command %d: %+v %v; want not submitted", i, p.Result, p.Err)
		}
	}
	// A later command commits after anything queued before it: the two must not have been.
	c.mustPropose(context.Background(), setCmd("after", "y"))
	for _, k := range []string{"late1", "late2"} {
		if v, ok := registerValue(s, k); ok {
			t.Fatalf("%s was written (%q) after its deadline", k, v)
		}
	}
}
