// Package crdt holds Lattice's pure data layer: the hybrid logical clock, dots and causal
// contexts, the delta-state CRDT types, the sharded keyspace that both planes use, and their codecs.
package crdt
