package raft

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
}

func TestClusterBasics(t *testing.T) {
	skipShort(t)
	var leaderChanges atomic.Int32
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.OnLeaderChange = func(id, addr string) {
			if id != "" {
				leaderChanges.Add(1)
			}
		}
	})
	ctx := context.Background()
	l := c.leader()
	ls := l.store()
	r, err := ls.Propose(ctx, setCmd("k", "v1"))
	if err != nil || r.Status != StatusApplied || r.ETag == "" || r.Index == 0 {
		t.Fatalf("propose: %+v %v", r, err)
	}
	if err := ls.LinearizableRead(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := registerValue(ls, "k"); v != "v1" {
		t.Fatalf("leader reads %q", v)
	}
	c.waitApplied(r.Index)
	for _, n := range c.nodes {
		if v, _ := registerValue(n.store(), "k"); v != "v1" {
			t.Fatalf("%s has %q", n.id, v)
		}
	}
	waitFor(t, 5*time.Second, "leader observations", func() bool { return leaderChanges.Load() >= 3 })

	// Followers refuse with the leader's identity; reads too.
	for _, n := range c.nodes {
		if n == l {
			continue
		}
		_, err := n.store().Propose(ctx, setCmd("k", "x"))
		var nl *NotLeaderError
		if !errors.As(err, &nl) || !errors.Is(err, lattice.ErrNotLeader) || nl.LeaderID != l.id || nl.LeaderAddr != l.addr {
			t.Fatalf("propose on follower: %v", err)
		}
		if err := n.store().LinearizableRead(ctx); !errors.Is(err, lattice.ErrNotLeader) {
			t.Fatalf("read on follower: %v", err)
		}
		st := n.store().Stats()
		if st.State != "Follower" || st.LeaderID != l.id || st.AppliedIndex < r.Index {
			t.Fatalf("follower stats %+v", st)
		}
	}
	st := ls.Stats()
	if st.State != "Leader" || st.Term == 0 || st.CommitIndex < r.Index || st.LastIndex < st.CommitIndex {
		t.Fatalf("leader stats %+v", st)
	}
	servers, err := ls.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("servers %v %v", servers, err)
	}
	// Invalid commands are refused before reaching the log.
	if _, err := ls.Propose(ctx, &Command{Op: OpSet}); !errors.Is(err, lattice.ErrInvalidArgument) {
		t.Fatalf("invalid command: %v", err)
	}
}

// TestClusterFailoverWhileWriting crashes the leader under write load: every acknowledged
// write survives, writing resumes on the new leader, and the old leader catches up from the
// log when it returns.
func TestClusterFailoverWhileWriting(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	old := c.leader()

	const writers = 6
	var (
		mu       sync.Mutex
		acked    = map[string]int{} // key -> last acknowledged sequence number
		maybe    = map[string]int{} // key -> highest indeterminate sequence number
		total    atomic.Int64
		stopping atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("w%d", w)
			for seq := 1; !stopping.Load(); seq++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r, err := c.propose(ctx, setCmd(key, strconv.Itoa(seq)))
				cancel()
				mu.Lock()
				switch {
				case err == nil && r.Status == StatusApplied:
					acked[key] = seq
					total.Add(1)
				case errors.Is(err, lattice.ErrIndeterminate):
					maybe[key] = seq
				case err != nil && !stopping.Load():
					t.Errorf("writer %d: %v", w, err)
				}
				mu.Unlock()
			}
		}()
	}
	waitFor(t, 10*time.Second, "writes before the crash", func() bool { return total.Load() >= 200 })
	c.stop(old, false)
	before := total.Load()
	waitFor(t, 15*time.Second, "writes after the failover", func() bool { return total.Load() >= before+200 })
	stopping.Store(true)
	wg.Wait()

	ls := c.readLeader(context.Background())
	if ls.ID() == old.id {
		t.Fatal("the crashed node still leads")
	}
	mu.Lock()
	defer mu.Unlock()
	for key, seq := range acked {
		v, _ := registerValue(ls, key)
		got, _ := strconv.Atoi(v)
		if got < seq || (got > seq && got > maybe[key]) {
			t.Fatalf("%s = %d, acknowledged %d, indeterminate up to %d", key, got, seq, maybe[key])
		}
	}

	// The old leader restarts and catches up from the log (no snapshot at these thresholds).
	c.start(old)
	c.waitApplied(ls.raft.CommitIndex())
	if n := old.restores.Load(); n != 0 {
		t.Fatalf("old leader restored %d snapshots; it should catch up from the log", n)
	}
	for key := range acked {
		want, _ := registerValue(ls, key)
		if got, _ := registerValue(old.store(), key); got != want {
			t.Fatalf("restarted node has %s=%q, leader %q", key, got, want)
		}
	}
}

// TestClusterCASNoLostUpdate runs read-CAS loops from many goroutines on one key: the final
// value equals the number of successful CAS operations.
func TestClusterCASNoLostUpdate(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, nil)
	ctx := context.Background()
	c.mustPropose(ctx, setCmd("ctr", "0"))
	const (
		workers = 8
		each    = 15
	)
	var (
		successes  atomic.Int64
		mismatches atomic.Int64
		wg         sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				s := c.anyLeader()
				if s == nil {
					continue
				}
				if err := s.LinearizableRead(ctx); err != nil {
					continue
				}
				e, _ := s.Get("ctr")
				v, _ := registerValue(s, "ctr")
				n, _ := strconv.Atoi(v)
				cmd := setCmd("ctr", strconv.Itoa(n+1))
				cmd.RequestID = fmt.Sprintf("w%d-%d", w, i)
				cmd.Set.ETag, cmd.Set.HasETag = e.ETag(), true
				for {
					// Retries keep the request id, so a CAS that did apply answers AlreadyApplied
					// instead of applying twice or failing on its own write's etag.
					r, err := c.propose(ctx, cmd)
					if errors.Is(err, lattice.ErrIndeterminate) {
						continue
					}
					if err != nil {
						t.Errorf("CAS: %v", err)
						return
					}
					switch r.Status {
					case StatusApplied, StatusAlreadyApplied:
						successes.Add(1)
						i++
					case StatusETagMismatch:
						mismatches.Add(1)
					default:
						t.Errorf("CAS status %v", r.Status)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	s := c.readLeader(ctx)
	v, _ := registerValue(s, "ctr")
	if got := successes.Load(); v != strconv.FormatInt(got, 10) || got != workers*each {
		t.Fatalf("final value %s, successful CAS %d (want %d)", v, got, workers*each)
	}
	if mismatches.Load() == 0 {
		t.Log("no CAS conflicted: the test ran without contention")
	}
}

// TestClusterSnapshotCatchUpAndFullRestart: a follower that missed more than the trailing logs
// is caught up by a snapshot install; then the whole cluster restarts and keeps every write.
func TestClusterSnapshotCatchUpAndFullRestart(t *testing.T) {
	skipShort(t)
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold = 64
		cfg.SnapshotInterval = 50 * time.Millisecond
		cfg.TrailingLogs = 16
	})
	ctx := context.Background()
	l := c.leader()
	var lagger *testNode
	for _, n := range c.nodes {
		if n != l {
			lagger = n
			break
		}
	}
	c.stop(lagger, true)
	const keys = 400
	for i := range keys {
		c.mustPropose(ctx, setCmd(fmt.Sprintf("k%03d", i), strconv.Itoa(i)))
	}
	ls := c.leader().store()
	waitFor(t, 10*time.Second, "a leader snapshot", func() bool {
		idx, _ := strconv.ParseUint(ls.raft.Stats()["last_snapshot_index"], 10, 64)
		return idx > 200
	})
	restoresBefore := lagger.restores.Load()
	c.start(lagger)
	c.waitApplied(ls.raft.CommitIndex())
	if lagger.restores.Load() == restoresBefore {
		t.Fatal("the lagging node caught up without a snapshot install")
	}
	for i := range keys {
		if v, _ := registerValue(lagger.store(), fmt.Sprintf("k%03d", i)); v != strconv.Itoa(i) {
			t.Fatalf("k%03d = %q on the caught-up node", i, v)
		}
	}

	// Full restart: stop everyone, start everyone, every key is still there.
	for _, n := range c.nodes {
		c.stop(n, true)
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	s := c.readLeader(ctx)
	for i := range keys {
		if v, _ := registerValue(s, fmt.Sprintf("k%03d", i)); v != strconv.Itoa(i) {
			t.Fatalf("after full restart k%03d = %q", i, v)
		}
	}
	// And it keeps working.
	if r := c.mustPropose(ctx, setCmd("after", "restart")); r.Status != StatusApplied {
		t.Fatalf("write after restart: %+v", r)
	}
}
