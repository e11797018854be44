// Package clientint tests the Go client (package client) and the order-processor flow
// against real in-process Lattice clusters, with nodes killed and restarted under load.
package clientint
