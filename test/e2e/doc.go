// Package e2e holds end-to-end tests of the HTTP API against real in-process
// clusters (see test/cluster).
package e2e
