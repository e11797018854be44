package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/raft"
)

// bootstrapLoop forms the cluster: once BootstrapExpect members see each
// other and no Raft state exists, the member with the smallest id among the
// first BootstrapExpect (by id) bootstraps Raft with all of them as voters.
// The others wait to hear from the leader.
func (n *Node) bootstrapLoop(ctx context.Context) {
	if n.store.HasState() {
		return
	}
	for {
		if n.tryBootstrap() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-n.peers.changed:
		case <-time.After(500 * time.Millisecond):
		}
		if n.store.HasState() {
			return
		}
	}
}

// tryBootstrap bootstraps when this node is the chosen one; it reports
// whether bootstrapping is settled (done here, or not this node's job).
func (n *Node) tryBootstrap() bool {
	members := []peer{{ID: n.cfg.NodeID, RaftAddr: n.raftAdvertise, State: "alive"}}
	members = append(members, n.peers.alive()...)
	sortPeers(members)
	if len(members) < n.cfg.BootstrapExpect {
		return false
	}
	first := members[:n.cfg.BootstrapExpect]
	if first[0].ID != n.cfg.NodeID {
		// The chosen member bootstraps, with us among its voters if we are in first;
		// otherwise the leader adds us.
		n.bootstrapVoter.Store(slices.ContainsFunc(first, func(m peer) bool { return m.ID == n.cfg.NodeID }))
		return true
	}
	servers := make([]raft.Server, len(first))
	for i, m := range first {
		if m.RaftAddr == "" {
			return false
		}
		servers[i] = raft.Server{ID: m.ID, Address: m.RaftAddr, Voter: true}
	}
	if err := n.store.Bootstrap(servers); err != nil {
		n.log.Error("raft bootstrap failed", "err", err)
		return false
	}
	n.log.Info("bootstrapped raft", "voters", len(servers))
	return true
}

func sortPeers(ps []peer) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].ID < ps[j-1].ID; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// leaderLoop runs the leader's housekeeping: members that gossip knows but
// Raft does not are added as non-voters and promoted once caught up; expired
// TTL values become tombstones; old tombstones are collected.
func (n *Node) leaderLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.ExpireInterval)
	defer t.Stop()
	lastCollect := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.store.IsLeader() {
			continue
		}
		n.reconcileMembers(ctx)
		n.expire(ctx)
		if time.Since(lastCollect) >= n.cfg.TombstoneTTL/4 {
			n.collect(ctx)
			lastCollect = time.Now()
		}
	}
}

// reconcileMembers adds live gossip members missing from the Raft
// configuration and promotes caught-up non-voters. A failed member stays a
// voter until an operator removes it.
func (n *Node) reconcileMembers(ctx context.Context) {
	servers, err := n.store.Servers()
	if err != nil {
		return
	}
	known := make(map[string]raft.Server, len(servers))
	for _, s := range servers {
		known[s.ID] = s
	}
	for _, p := range n.peers.alive() {
		if p.RaftAddr == "" || n.removals.recent(p.ID, p.Boot) {
			continue
		}
		s, ok := known[p.ID]
		if ok && s.Address != p.RaftAddr {
			// A member that came back under a new address: replace it.
			if err := n.store.RemoveServer(ctx, p.ID); err != nil {
				n.log.Warn("removing stale raft address failed", "member", p.ID, "err", err)
				continue
			}
			ok = false
		}
		if !ok {
			n.log.Info("adding member to raft as non-voter", "member", p.ID, "addr", p.RaftAddr)
			if err := n.store.AddNonvoter(ctx, p.ID, p.RaftAddr); err != nil {
				n.log.Warn("add non-voter failed", "member", p.ID, "err", err)
				continue
			}
		} else if s.Voter {
			continue
		}
		n.promote(ctx, p)
	}
}

// promote makes p a voter once its applied index reaches the leader's.
func (n *Node) promote(ctx context.Context, p peer) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	progress := func(ctx context.Context) (uint64, error) {
		var body []byte
		if err := n.postInternal(ctx, p.HTTPAddr, pathStatus, nil, &body); err != nil {
			return 0, err
		}
		v, k := binary.Uvarint(body)
		if k <= 0 {
			return 0, fmt.Errorf("%w: status", errBadMessage)
		}
		return v, nil
	}
	if err := n.store.Promote(ctx, p.ID, progress); err != nil {
		n.log.Info("member not promoted yet", "member", p.ID, "err", err)
		return
	}
	n.log.Info("promoted member to voter", "member", p.ID)
}

// expire proposes the expiry of TTL'd values, with the leader's time in the
// command: replicas and the FSM never decide expiry with their own clocks.
func (n *Node) expire(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.StrongTimeout)
	defer cancel()
	if _, err := n.store.Propose(ctx, &raft.Command{Op: raft.OpExpire, Now: time.Now().UnixMilli()}); err != nil {
		n.log.Debug("expire proposal failed", "err", err)
	}
}

// collect proposes the collection of tombstones older than TombstoneTTL.
func (n *Node) collect(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.StrongTimeout)
	defer cancel()
	horizon := crdt.MakeTimestamp(time.Now().Add(-n.cfg.TombstoneTTL).UnixMilli(), 0)
	if _, err := n.store.Propose(ctx, &raft.Command{Op: raft.OpCollect, Horizon: horizon}); err != nil {
		n.log.Debug("collect proposal failed", "err", err)
	}
}

// leave hands leadership over and asks the leader to remove this node from
// the Raft configuration (a graceful leave; a failed node is not removed).
func (n *Node) leave(ctx context.Context) {
	if n.store.IsLeader() && n.otherVoters() {
		if err := n.store.TransferLeadership(ctx, ""); err != nil {
			n.log.Warn("leadership transfer before leaving failed", "err", err)
		}
	}
	// Keep trying for as long as the shutdown allows, not just one strong
	// timeout: an election under load must not leave a departed voter. Stop
	// once this node is out of the configuration or the last voter in it. A
	// node that only guesses it is a voter (no configuration has reached it)
	// tries once: its guess may be wrong, and no leader may ever answer.
	for {
		known, voter := n.voterStatus()
		if !voter {
			return
		}
		err := n.withLeader(ctx, func(ctx context.Context, local bool, leaderHTTP string) error {
			if local {
				return n.removeServer(ctx, n.cfg.NodeID)
			}
			return n.postInternal(ctx, leaderHTTP, pathRemove, appendStrings(nil, []string{n.cfg.NodeID}), nil)
		})
		if err == nil {
			n.log.Info("left the raft configuration")
			return
		}
		if ctx.Err() != nil || !retryable(err) || !known {
			n.log.Warn("could not leave the raft configuration", "err", err)
			return
		}
		n.log.Info("leaving the raft configuration, retrying", "err", err)
	}
}

// voterStatus reports whether the leader's Raft configuration may hold this
// node beside other voters, and whether that is known from this node's copy
// of the configuration (known) or guessed: no copy has reached this node yet
// but another member bootstrapped Raft with it (a node stopped right after
// the cluster formed; the leader lists it before this node hears from it).
func (n *Node) voterStatus() (known, voter bool) {
	servers, err := n.store.Servers()
	if err == nil && len(servers) == 0 {
		return false, n.bootstrapVoter.Load()
	}
	return true, n.otherVoters()
}

// otherVoters reports whether this node is in the Raft configuration
// together with at least one other voter.
func (n *Node) otherVoters() bool {
	servers, err := n.store.Servers()
	if err != nil {
		return false
	}
	member, others := false, false
	for _, s := range servers {
		member = member || s.ID == n.cfg.NodeID
		others = others || (s.ID != n.cfg.NodeID && s.Voter)
	}
	return member && others
}

// applyCommitted joins every committed entry into the replica (raft OnApply,
// on the FSM goroutine). The replica and the FSM use the same join, so the
// committed decision on a key's type is the replica's too.
func (n *Node) applyCommitted(_ uint64, changed []crdt.KV) {
	if n.cfg.UnsafeNoApply {
		return
	}
	for _, kv := range changed {
		n.replica.Join(kv.Key, kv.Entry)
	}
}

// restoreCommitted joins a restored snapshot into the replica.
func (n *Node) restoreCommitted(s *crdt.Snapshot) {
	if n.cfg.UnsafeNoApply {
		return
	}
	s.Range(func(key string, e crdt.Entry) bool {
		n.replica.Join(key, e)
		return true
	})
}

// removalGrace is how long the leader leaves a removed member out of the
// configuration even though gossip still sees it alive (a leaving node is
// removed from Raft before memberlist hears its leave). It applies to the
// process that was removed only: the same node restarted (a new boot) is
// added back at once.
const removalGrace = 30 * time.Second

// removals remembers members removed from Raft recently, by node id and
// boot. Safe for concurrent use.
type removals struct {
	mu sync.Mutex
	at map[string]removal
}

type removal struct {
	boot string
	at   time.Time
}

func (r *removals) add(id, boot string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[string]removal{}
	}
	r.at[id] = removal{boot: boot, at: time.Now()}
}

// recent reports whether this boot of id was removed within the grace.
func (r *removals) recent(id, boot string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm, ok := r.at[id]
	if ok && time.Since(rm.at) > removalGrace {
		delete(r.at, id)
		return false
	}
	return ok && rm.boot == boot
}

// removeServer removes id from the Raft configuration (leader only) and keeps
// reconciliation from adding it back while gossip still reports it.
func (n *Node) removeServer(ctx context.Context, id string) error {
	boot := string(n.replicaID)
	if id != n.cfg.NodeID {
		p, _ := n.peers.get(id)
		boot = p.Boot
	}
	n.removals.add(id, boot)
	return n.store.RemoveServer(ctx, id)
}
