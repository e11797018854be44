// Command order-processor is Dapr's resiliency quickstart on Lattice: it saves and reads an
// order every second through the Go client, with the retry and circuit breaker policies of
// resiliency.yaml, and keeps going (or waits, retrying) while nodes of the cluster fail.
package main
