// Package cluster starts in-process Lattice clusters for tests: N real nodes
// on 127.0.0.1 with port 0 and temporary data directories, with waits that
// poll with deadlines and partitions injected through a network wrapper that
// drops traffic between chosen nodes for memberlist, Raft and the internal
// HTTP endpoints alike.
package cluster
