package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
)

// Status describes this node for the cluster API.
type Status struct {
	NodeID         string
	LeaderID       string
	LeaderHTTPAddr string
	Raft           RaftStats
	FoldPending    int
	FoldBytes      int64
	FoldLag        time.Duration
	ReplicaKeys    int
	ReplicaBytes   int64
}

// RaftStats is this node's Raft state and indexes.
type RaftStats struct {
	State        string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
}

// Member is one member as gossip and Raft know it.
type Member struct {
	ID, HTTPAddr, GossipAddr, RaftAddr string
	State                              string // alive, suspect, dead, left
	Voter, Leader                      bool
}

// Health reports whether the node serves requests: it is not shutting down
// and knows a Raft leader or belongs to a cluster still forming.
func (n *Node) Health(context.Context) error {
	if err := n.accepting(); err != nil {
		return err
	}
	return nil
}

// Status reports this node's view of the cluster.
func (n *Node) Status(context.Context) Status {
	st := n.store.Stats()
	keys, bytes, lag := n.fold.stats()
	s := Status{
		NodeID:   n.cfg.NodeID,
		LeaderID: st.LeaderID,
		Raft: RaftStats{State: st.State, Term: st.Term, CommitIndex: st.CommitIndex,
			AppliedIndex: st.AppliedIndex, LastIndex: st.LastIndex},
		FoldPending: keys, FoldBytes: bytes, FoldLag: lag,
		ReplicaKeys: n.replica.Len(), ReplicaBytes: n.replica.MemoryBytes(),
	}
	if st.LeaderID == n.cfg.NodeID {
		s.LeaderHTTPAddr = n.cfg.HTTPAddr
	} else if p, ok := n.peers.get(st.LeaderID); ok {
		s.LeaderHTTPAddr = p.HTTPAddr
	}
	return s
}

// Members lists the members gossip knows, with their Raft role; servers in
// the Raft configuration that gossip has never seen are listed as dead.
func (n *Node) Members(context.Context) ([]Member, error) {
	servers, err := n.store.Servers()
	if err != nil {
		return nil, err
	}
	leaderID, _ := n.store.Leader()
	voter := make(map[string]bool, len(servers))
	for _, s := range servers {
		voter[s.ID] = s.Voter
	}
	seen := map[string]bool{}
	out := []Member{{ID: n.cfg.NodeID, HTTPAddr: n.cfg.HTTPAddr, GossipAddr: n.gossipAddr, RaftAddr: n.raftAdvertise,
		State: "alive", Voter: voter[n.cfg.NodeID], Leader: leaderID == n.cfg.NodeID}}
	seen[n.cfg.NodeID] = true
	for _, p := range n.peers.all() {
		if seen[p.ID] {
			continue
		}
		seen[p.ID] = true
		out = append(out, Member{ID: p.ID, HTTPAddr: p.HTTPAddr, GossipAddr: p.GossipAddr, RaftAddr: p.RaftAddr,
			State: p.State, Voter: voter[p.ID], Leader: leaderID == p.ID})
	}
	for _, s := range servers {
		if !seen[s.ID] {
			out = append(out, Member{ID: s.ID, RaftAddr: s.Address, State: "dead", Voter: s.Voter, Leader: leaderID == s.ID})
		}
	}
	return out, nil
}

// RemoveMember removes a member from the Raft configuration (through the
// leader). Gossip forgets it once it is gone for good.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	servers, err := n.store.Servers()
	if err != nil {
		return err
	}
	found := false
	for _, s := range servers {
		found = found || s.ID == id
	}
	if !found {
		return fmt.Errorf("node: %q is not a member of the raft configuration: %w", id, lattice.ErrInvalidArgument)
	}
	return n.withLeader(ctx, func(ctx context.Context, local bool, leaderHTTP string) error {
		if local {
			return n.removeServer(ctx, id)
		}
		return n.postInternal(ctx, leaderHTTP, pathRemove, appendStrings(nil, []string{id}), nil)
	})
}

// TransferLeadership moves leadership to id (any up-to-date voter when id is
// empty) and returns the new leader's id. Only the leader can hand it over,
// so a follower asks the caller to go to the leader.
func (n *Node) TransferLeadership(ctx context.Context, id string) (string, error) {
	if leaderID, _ := n.store.Leader(); leaderID == id && id != "" {
		return id, nil
	}
	if !n.store.IsLeader() {
		var body []byte
		err := n.withLeader(ctx, func(ctx context.Context, local bool, leaderHTTP string) error {
			if local {
				return errRemoteNotLeader // leadership moved here meanwhile: try again
			}
			return n.postInternal(ctx, leaderHTTP, pathTransfer, appendStrings(nil, []string{id}), &body)
		})
		if err != nil {
			return "", err
		}
		ids, err := decodeStrings(body)
		if err != nil || len(ids) != 1 {
			return "", fmt.Errorf("%w: transfer answer", errBadMessage)
		}
		return ids[0], nil
	}
	if err := n.store.TransferLeadership(ctx, id); err != nil {
		return "", err
	}
	for {
		if leaderID, _ := n.store.Leader(); leaderID != "" && leaderID != n.cfg.NodeID {
			return leaderID, nil
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return "", fmt.Errorf("node: no new leader after transfer: %w", lattice.ErrNoQuorum)
		}
	}
}

// isDialError reports whether err failed before the request left this node.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// ReplicaEntry returns this node's replica entry of key (diagnostics).
func (n *Node) ReplicaEntry(key string) (crdt.Entry, bool) { return n.replica.Get(key) }

// ReplicaDigest returns the bucket digest of this node's replica; two
// replicas with equal digests hold the same entries.
func (n *Node) ReplicaDigest() []uint64 { return n.replica.Digest() }

// CommittedDigest returns the bucket digest of this node's committed state.
func (n *Node) CommittedDigest() []uint64 { return n.store.Keyspace().Digest() }

// CommittedEntry returns this node's committed entry of key (diagnostics).
func (n *Node) CommittedEntry(key string) (crdt.Entry, bool) { return n.store.Get(key) }
