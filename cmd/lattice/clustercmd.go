package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/lattice-state/lattice/client"
	"github.com/spf13/cobra"
)

func newClusterCmd(a *app) *cobra.Command {
	cmd, g := newClientGroup(a, "cluster", "Inspect and administer the cluster",
		`Inspect the cluster (each node's Raft and replication status, the members)
and administer it (remove a member, move the Raft leadership).`,
		`  lattice cluster status --all
  lattice cluster members --endpoints http://10.0.0.5:3500
  lattice cluster transfer-leader node2
  lattice cluster remove node3`)
	cmd.AddCommand(newClusterStatusCmd(g), newClusterMembersCmd(g), newClusterRemoveCmd(g), newClusterTransferCmd(g))
	return cmd
}

// nodeStatus is one node's status or the error of asking for it; it is also
// the --json form of a row of `cluster status`.
type nodeStatus struct {
	Endpoint string                `json:"endpoint"`
	Status   *client.ClusterStatus `json:"status,omitempty"`
	Error    string                `json:"error,omitempty"`
}

func newClusterStatusCmd(g *clientGroup) *cobra.Command {
	all := false
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each node's Raft and replication status",
		Long: `Show the status of each node in --endpoints (or, with --all, of every member
of the cluster): its Raft state, term and indexes, the leader it knows, its
backlog of eventual writes not yet folded into Raft, and its replica's size.
With --json, print [{"endpoint","status"|"error"}].

A node that does not answer gets an error row and makes the command exit with
code 1 after printing the others.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, _ []string) error {
			endpoints := c.Endpoints()
			if all {
				members, err := c.Members(ctx)
				if err != nil {
					return fmt.Errorf("cluster status: listing members: %w", err)
				}
				endpoints = endpoints[:0]
				for _, m := range sortedMembers(members) {
					ep := m.HTTPAddr
					if ep != "" && !strings.Contains(ep, "://") {
						ep = "http://" + ep // members advertise host:port
					}
					endpoints = append(endpoints, ep)
				}
			}
			rows := statusOf(ctx, c, endpoints)
			var err error
			if g.json {
				err = printJSON(g.a.stdout, rows)
			} else {
				err = writeStatusTable(g.a.stdout, rows)
			}
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range rows {
				if r.Error != "" {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("cluster status: %d of %d nodes did not answer", failed, len(rows))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&all, "all", all, "show every member of the cluster, found through the first node that answers")
	return cmd
}

// statusOf asks each endpoint for its status, all at once.
func statusOf(ctx context.Context, c *client.Client, endpoints []string) []nodeStatus {
	rows := make([]nodeStatus, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		rows[i].Endpoint = ep
		if ep == "" {
			rows[i].Error = "member has no HTTP address"
			continue
		}
		wg.Go(func() {
			st, err := c.Status(ctx, client.WithEndpoint(ep))
			if err != nil {
				rows[i].Error = err.Error()
				return
			}
			rows[i].Status = &st
		})
	}
	wg.Wait()
	return rows
}

// writeStatusTable writes one aligned row per node.
func writeStatusTable(w io.Writer, rows []nodeStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tNODE\tRAFT\tTERM\tCOMMIT\tAPPLIED\tLEADER\tFOLD-IN\tKEYS\tMEMORY")
	for _, r := range rows {
		if r.Status == nil {
			fmt.Fprintf(tw, "%s\terror: %s\n", r.Endpoint, r.Error)
			continue
		}
		s := r.Status
		leader := s.Leader.ID
		if leader == "" {
			leader = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d keys, %d ms\t%d\t%s\n",
			r.Endpoint, s.NodeID, s.Raft.State, s.Raft.Term, s.Raft.CommitIndex, s.Raft.AppliedIndex,
			leader, s.FoldIn.PendingKeys, s.FoldIn.LagMs, s.Replica.Keys, byteSize(s.Replica.MemoryBytes))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("lattice: writing output: %w", err)
	}
	return nil
}

// byteSize formats n bytes with a binary unit: 512 B, 1.5 KiB, 3.2 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

func sortedMembers(ms []client.Member) []client.Member {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b client.Member) int { return strings.Compare(a.ID, b.ID) })
	return ms
}

func newClusterMembersCmd(g *clientGroup) *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the members of the cluster",
		Long: `List the members of the cluster as one node sees them: gossip state (alive,
suspect, dead, left), whether it votes in Raft and which one leads, and its
addresses. With --json, print the list.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, _ []string) error {
			members, err := c.Members(ctx)
			if err != nil {
				return fmt.Errorf("cluster members: %w", err)
			}
			members = sortedMembers(members)
			if g.json {
				return printJSON(g.a.stdout, members)
			}
			tw := tabwriter.NewWriter(g.a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tVOTER\tLEADER\tHTTP\tGOSSIP\tRAFT")
			for _, m := range members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.State, yesNo(m.Voter), yesNo(m.Leader), m.HTTPAddr, m.GossipAddr, m.RaftAddr)
			}
			if err := tw.Flush(); err != nil {
				return fmt.Errorf("lattice: writing output: %w", err)
			}
			return nil
		}),
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newClusterRemoveCmd(g *clientGroup) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a member from the cluster",
		Long: `Remove the member ID from the Raft configuration and the gossip membership, for
a node that is gone for good. A node removed while running leaves the cluster.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, args []string) error {
			if err := c.RemoveMember(ctx, args[0]); err != nil {
				return writeErr("cluster remove", err)
			}
			if g.json {
				return printJSON(g.a.stdout, map[string]string{"removed": args[0]})
			}
			fmt.Fprintf(g.a.stdout, "removed %s\n", args[0])
			return nil
		}),
	}
}

func newClusterTransferCmd(g *clientGroup) *cobra.Command {
	return &cobra.Command{
		Use:   "transfer-leader [ID]",
		Short: "Move the Raft leadership to another node",
		Long: `Ask the leader to hand the Raft leadership over to node ID, or to any
up-to-date voter when no ID is given, and print the new leader. The request
goes to the leader that the first node to answer reports, so --endpoints need
not name it.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: g.run(func(ctx context.Context, _ *cobra.Command, c *client.Client, args []string) error {
			to := ""
			if len(args) == 1 {
				to = args[0]
			}
			// Only the leader hands leadership over, and a node does not
			// forward the request: send it to the leader the cluster reports,
			// which need not be in --endpoints.
			var opts []client.Option
			if st, err := c.Status(ctx); err == nil && st.Leader.HTTPAddr != "" {
				opts = append(opts, client.WithEndpoint(st.Leader.HTTPAddr))
			}
			leader, err := c.TransferLeadership(ctx, to, opts...)
			if err != nil {
				return writeErr("cluster transfer-leader", err)
			}
			if g.json {
				return printJSON(g.a.stdout, map[string]string{"leader": leader})
			}
			fmt.Fprintf(g.a.stdout, "leader: %s\n", leader)
			return nil
		}),
	}
}
