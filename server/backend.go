package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/httpapi"
	"github.com/lattice-state/lattice/node"
)

// backend adapts a node to the httpapi.Backend interface.
type backend struct{ n *node.Node }

var _ httpapi.Backend = backend{}

// item converts an entry to the API's view of it at now.
func item(key string, e crdt.Entry, now time.Time) httpapi.Item {
	ms := now.UnixMilli()
	if e.State == nil || !e.Live(ms) {
		return httpapi.Item{Key: key}
	}
	it := httpapi.Item{Key: key, Found: true, Value: e.JSON(ms), ETag: e.ETag(), Type: httpapi.CRDTType(e.Type().String())}
	if r, ok := e.State.(*crdt.Register); ok && r.ExpireAt > 0 {
		it.ExpireAt = time.UnixMilli(r.ExpireAt).UTC()
	}
	return it
}

func (b backend) Get(ctx context.Context, key string, c lattice.Consistency) (httpapi.Item, error) {
	e, _, err := b.n.Get(ctx, key, c)
	if err != nil {
		return httpapi.Item{}, err
	}
	return item(key, e, time.Now()), nil
}

func (b backend) BulkGet(ctx context.Context, keys []string, c lattice.Consistency) ([]httpapi.Item, error) {
	kvs, err := b.n.GetMany(ctx, keys, c)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]httpapi.Item, len(kvs))
	for i, kv := range kvs {
		out[i] = item(kv.Key, kv.Entry, now)
	}
	return out, nil
}

func ttlSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func (b backend) Save(ctx context.Context, r httpapi.SaveRequest) error {
	_, err := b.n.Save(ctx, node.SaveRequest{
		Key: r.Key, Value: r.Value, ETag: r.ETag, HasETag: r.ETag != "", TTLSeconds: ttlSeconds(r.TTL),
		Consistency: r.Consistency, Concurrency: r.Concurrency,
	})
	return err
}

func (b backend) Delete(ctx context.Context, r httpapi.DeleteRequest) error {
	return b.n.Delete(ctx, node.DeleteRequest{
		Key: r.Key, ETag: r.ETag, HasETag: r.ETag != "", Consistency: r.Consistency, Concurrency: r.Concurrency,
	})
}

func (b backend) Transact(ctx context.Context, r httpapi.TransactRequest) error {
	ops := make([]node.TxnOp, len(r.Ops))
	for i, op := range r.Ops {
		ops[i] = node.TxnOp{
			Delete: op.Kind == httpapi.TxnDelete,
			Save: node.SaveRequest{Key: op.Key, Value: op.Value, ETag: op.ETag, HasETag: op.ETag != "",
				TTLSeconds: ttlSeconds(op.TTL), Consistency: lattice.Strong, Concurrency: op.Concurrency},
		}
	}
	return b.n.Transact(ctx, ops)
}

func (b backend) Scan(ctx context.Context, prefix string, c lattice.Consistency, fn func(httpapi.Item) bool) error {
	now := time.Now()
	return b.n.Scan(ctx, prefix, c, func(key string, e crdt.Entry) bool {
		it := item(key, e, now)
		if !it.Found {
			return true
		}
		return fn(it)
	})
}

func (b backend) Apply(ctx context.Context, key string, op httpapi.CRDTOp, c lattice.Consistency) (httpapi.Item, error) {
	cop, err := crdtOp(op)
	if err != nil {
		return httpapi.Item{}, err
	}
	e, err := b.n.CRDT(ctx, key, cop, c)
	if err != nil {
		return httpapi.Item{}, err
	}
	return item(key, e, time.Now()), nil
}

// crdtOp converts an API operation to the crdt package's.
func crdtOp(op httpapi.CRDTOp) (crdt.Op, error) {
	t, err := crdt.ParseType(string(op.Type))
	if err != nil {
		return crdt.Op{}, fmt.Errorf("server: %w: %v", lattice.ErrInvalidArgument, err)
	}
	out := crdt.Op{Type: t, Amount: op.Amount, Elements: op.Elements, Value: op.Value, Field: op.Field}
	switch op.Kind {
	case httpapi.OpIncrement:
		out.Kind = crdt.OpIncrement
	case httpapi.OpDecrement:
		out.Kind = crdt.OpDecrement
	case httpapi.OpAdd:
		out.Kind = crdt.OpAdd
	case httpapi.OpRemove:
		out.Kind = crdt.OpRemove
		if t == crdt.TypeORMap {
			out.Kind = crdt.OpMapRemove
		}
	case httpapi.OpEnable:
		out.Kind = crdt.OpEnable
	case httpapi.OpDisable:
		out.Kind = crdt.OpDisable
	case httpapi.OpAssign:
		out.Kind = crdt.OpAssign
	case httpapi.OpUpdate:
		out.Kind = crdt.OpMapUpdate
		if op.Nested == nil {
			return crdt.Op{}, fmt.Errorf("server: ormap update without a nested operation: %w", lattice.ErrInvalidArgument)
		}
		nested, err := crdtOp(*op.Nested)
		if err != nil {
			return crdt.Op{}, err
		}
		out.Nested = &nested
	default:
		return crdt.Op{}, fmt.Errorf("server: unknown operation %q: %w", op.Kind, lattice.ErrInvalidArgument)
	}
	return out, nil
}

// cluster adapts a node to the httpapi.Cluster interface.
type cluster struct{ n *node.Node }

var _ httpapi.Cluster = cluster{}

func (c cluster) Health(ctx context.Context) error { return c.n.Health(ctx) }

func (c cluster) Status(ctx context.Context) (httpapi.ClusterStatus, error) {
	s := c.n.Status(ctx)
	return httpapi.ClusterStatus{
		NodeID: s.NodeID,
		Leader: httpapi.LeaderInfo{ID: s.LeaderID, HTTPAddr: s.LeaderHTTPAddr},
		Raft: httpapi.RaftStatus{State: strings.ToLower(s.Raft.State), Term: s.Raft.Term, CommitIndex: s.Raft.CommitIndex,
			AppliedIndex: s.Raft.AppliedIndex, LastIndex: s.Raft.LastIndex},
		FoldIn:  httpapi.FoldInStatus{PendingKeys: s.FoldPending, PendingBytes: s.FoldBytes, LagMs: s.FoldLag.Milliseconds()},
		Replica: httpapi.ReplicaStatus{Keys: s.ReplicaKeys, MemoryBytes: s.ReplicaBytes},
	}, nil
}

func (c cluster) Members(ctx context.Context) ([]httpapi.Member, error) {
	ms, err := c.n.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]httpapi.Member, len(ms))
	for i, m := range ms {
		out[i] = httpapi.Member{ID: m.ID, HTTPAddr: m.HTTPAddr, GossipAddr: m.GossipAddr, RaftAddr: m.RaftAddr,
			State: m.State, Voter: m.Voter, Leader: m.Leader}
	}
	return out, nil
}

func (c cluster) RemoveMember(ctx context.Context, id string) error { return c.n.RemoveMember(ctx, id) }

func (c cluster) TransferLeadership(ctx context.Context, to string) (string, error) {
	return c.n.TransferLeadership(ctx, to)
}
