// Package raft is Lattice's strong plane: a hashicorp/raft group whose FSM is the committed CRDT
// keyspace, with batched proposals, ReadIndex-style linearizable reads and cluster operations.
package raft
