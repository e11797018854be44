package main

import (
	"fmt"
	"strings"
)

// printBanner tells the user the cluster is ready, where it is, and what to try.
func (d *devCluster) printBanner(leader, dataDir string, tempDir bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nLattice dev cluster is ready: %d nodes, leader %s.\n\n", len(d.nodes), leader)
	for _, n := range d.nodes {
		fmt.Fprintf(&b, "  %-6s http://%s   (gossip %s, raft %s)\n", n.Name, n.HTTPAddr, n.GossipAddr, n.RaftAddr)
	}
	keep := "kept on exit"
	if tempDir {
		keep = "removed on exit; keep data with --data-dir"
	}
	fmt.Fprintf(&b, "\nData: %s (%s)\n", dataDir, keep)
	n1, n2, n3 := "http://"+d.nodes[0].HTTPAddr, "http://"+d.nodes[1].HTTPAddr, "http://"+d.nodes[2].HTTPAddr
	auth := ""
	if d.apiToken != "" {
		auth = ` -H "dapr-api-token: $` + envName("api-token") + `"`
	}
	fmt.Fprintf(&b, `
Try:
  # save a value through node1 (Dapr state API)
  curl%[4]s -X POST %[1]s/v1.0/state/statestore -H 'Content-Type: application/json' -d '[{"key":"greeting","value":"hello"}]'
  # read it from node2's replica (eventual, the default)
  curl%[4]s %[2]s/v1.0/state/statestore/greeting
  # read it from node3, linearizable
  curl%[4]s '%[3]s/v1.0/state/statestore/greeting?consistency=strong'
  # increment a CRDT counter on node1, read it on node2
  curl%[4]s -X POST %[1]s/v1.0/crdt/statestore/visits -H 'Content-Type: application/json' -d '{"type":"pncounter","op":"increment","amount":1}'
  curl%[4]s %[2]s/v1.0/crdt/statestore/visits
  # cluster status
  curl%[4]s %[1]s/v1.0/cluster/status

Press Ctrl-C to stop the cluster.

`, n1, n2, n3, auth)
	d.con.printf("%s", b.String())
}
