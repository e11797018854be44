package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// ClusterStatus is one node's view of the cluster (GET /v1.0/cluster/status).
type ClusterStatus struct {
	NodeID  string        `json:"nodeId"`
	Leader  LeaderInfo    `json:"leader"`
	Raft    RaftStatus    `json:"raft"`
	FoldIn  FoldInStatus  `json:"foldIn"`
	Replica ReplicaStatus `json:"replica"`
}

// LeaderInfo names the Raft leader as the node knows it; empty during an election.
type LeaderInfo struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"httpAddr"`
}

// RaftStatus is the node's Raft state.
type RaftStatus struct {
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commitIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
	LastIndex    uint64 `json:"lastIndex"`
}

// FoldInStatus is the backlog of eventual writes not yet folded into the Raft log.
type FoldInStatus struct {
	PendingKeys  int64 `json:"pendingKeys"`
	PendingBytes int64 `json:"pendingBytes"`
	LagMs        int64 `json:"lagMs"`
}

// ReplicaStatus is the size of the node's replica.
type ReplicaStatus struct {
	Keys        int64 `json:"keys"`
	MemoryBytes int64 `json:"memoryBytes"`
}

// Member is one node of the cluster (GET /v1.0/cluster/members).
type Member struct {
	ID         string `json:"id"`
	HTTPAddr   string `json:"httpAddr"`
	GossipAddr string `json:"gossipAddr"`
	RaftAddr   string `json:"raftAddr"`
	// State is alive, suspect, dead or left.
	State  string `json:"state"`
	Voter  bool   `json:"voter"`
	Leader bool   `json:"leader"`
}

// Metadata is a node's Dapr metadata (GET /v1.0/metadata).
type Metadata struct {
	ID         string              `json:"id"`
	Components []ComponentMetadata `json:"components"`
}

// ComponentMetadata describes one state store component.
type ComponentMetadata struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Version      string   `json:"version"`
	Capabilities []string `json:"capabilities"`
}

// Cluster calls apply no resiliency policies (they have no component); they fail over
// between endpoints unless pinned with WithEndpoint.

// Status returns the status of a node (any serving node, or the one WithEndpoint names) and
// remembers the leader it reports.
func (c *Client) Status(ctx context.Context, opts ...Option) (ClusterStatus, error) {
	var st ClusterStatus
	if err := c.getJSON(ctx, pathClusterStatus, opts, &st); err != nil {
		return ClusterStatus{}, err
	}
	c.pool.setLeader(st.Leader.HTTPAddr)
	return st, nil
}

// Members lists the cluster's members as a node sees them.
func (c *Client) Members(ctx context.Context, opts ...Option) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	if err := c.getJSON(ctx, pathClusterMembers, opts, &out); err != nil {
		return nil, err
	}
	return out.Members, nil
}

// Metadata returns a node's Dapr metadata: its id and state store components.
func (c *Client) Metadata(ctx context.Context, opts ...Option) (Metadata, error) {
	var md Metadata
	err := c.getJSON(ctx, pathMetadata, opts, &md)
	return md, err
}

// RemoveMember removes node id from Raft and the membership.
func (c *Client) RemoveMember(ctx context.Context, id string, opts ...Option) error {
	o, err := c.collect(opts)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &request{method: http.MethodDelete, path: pathClusterMembers + "/" + url.PathEscape(id),
		strong: true, idempotent: true, endpoint: o.endpoint})
	return err
}

// TransferLeadership asks the leader to hand over to node to ("" lets Raft choose) and
// returns the new leader's id.
func (c *Client) TransferLeadership(ctx context.Context, to string, opts ...Option) (string, error) {
	o, err := c.collect(opts)
	if err != nil {
		return "", err
	}
	req := &request{method: http.MethodPost, path: pathTransfer, strong: true, idempotent: to != "", endpoint: o.endpoint}
	if to != "" {
		if req.body, err = json.Marshal(map[string]string{"to": to}); err != nil {
			return "", fmt.Errorf("client: %w", err)
		}
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return "", err
	}
	c.pool.forgetLeader()
	var out struct {
		Leader string `json:"leader"`
	}
	if err := decode(resp, &out); err != nil {
		return "", err
	}
	return out.Leader, nil
}

// Healthz checks that a node serves (204): any node, or the one WithEndpoint names.
func (c *Client) Healthz(ctx context.Context, opts ...Option) error {
	o, err := c.collect(opts)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &request{method: http.MethodGet, path: pathHealthz, idempotent: true, endpoint: o.endpoint})
	return err
}

func (c *Client) getJSON(ctx context.Context, path string, opts []Option, out any) error {
	o, err := c.collect(opts)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: path, idempotent: true, endpoint: o.endpoint})
	if err != nil {
		return err
	}
	return decode(resp, out)
}
