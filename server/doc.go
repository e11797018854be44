// Package server composes a runnable Lattice node: the node package behind
// the httpapi package's Dapr-compatible API, on one listener.
package server
