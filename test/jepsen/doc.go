// Package jepsen is Lattice's Jepsen-style fault-injection suite: it runs real `lattice serve`
// processes in Linux network namespaces, injects partitions, packet loss, crashes, pauses and clock
// skew, records client histories and checks them (linearizability with porcupine, CRDT and bank
// invariants, convergence). Run is the entry point; docs/jepsen.md describes the suite.
package jepsen
