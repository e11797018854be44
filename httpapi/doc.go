// Package httpapi serves Lattice over HTTP: the Dapr v1.0 state API, the CRDT API, the cluster
// API, health, metadata and Prometheus metrics, on top of the small Backend and Cluster interfaces
// it declares and the node package implements.
package httpapi
