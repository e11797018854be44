// Package client is the Go client of Lattice's Dapr-compatible HTTP API: typed state, CRDT and
// cluster calls over several endpoints with health-aware failover, and Dapr-shaped resiliency
// policies (timeouts, retries, circuit breakers) built in code or loaded from a resiliency.yaml.
package client
