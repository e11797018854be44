// Command lattice is the single Lattice binary: `lattice serve` runs one node,
// `lattice dev` a three-node cluster on this machine, `lattice state`, `crdt`
// and `cluster` talk to a cluster through the Go client, `lattice bench`
// measures it, and `lattice healthcheck` probes a node for container health checks.
package main
