package main

import (
	"context"
	"log/slog"
	"net"

	"github.com/lattice-state/lattice/httpapi"
	"github.com/lattice-state/lattice/node"
	"github.com/lattice-state/lattice/server"
)

var _ Node = (*server.Server)(nil)

// wireNode is the production NodeFactory: a server.Server (package node behind
// package httpapi) configured from cfg.
func wireNode(cfg ServeConfig, logger *slog.Logger) (Node, error) {
	adv, err := cfg.advertised(context.Background())
	if err != nil {
		return nil, err
	}
	nc := node.DefaultConfig()
	nc.NodeID = cfg.NodeID
	nc.HTTPAddr = fixedPort(adv.HTTP)
	nc.GossipAddr = cfg.GossipAddr
	nc.GossipAdvertise = fixedPort(adv.Gossip)
	nc.RaftAddr = cfg.RaftAddr
	nc.RaftAdvertise = fixedPort(adv.Raft)
	nc.DataDir = cfg.DataDir
	nc.Join = cfg.Join
	nc.BootstrapExpect = cfg.BootstrapExpect
	nc.ClusterToken = cfg.ClusterToken
	nc.ClockOffset = cfg.TestClockOffset
	nc.UnsafeLocalStrongReads = cfg.TestUnsafeLocalStrongReads
	nc.UnsafeSkipTxnETagCheck = cfg.TestUnsafeSkipTxnETagCheck
	nc.UnsafeNoApply = cfg.TestUnsafeNoApply

	hc := httpapi.DefaultConfig()
	hc.Stores = cfg.Stores
	hc.APIToken = cfg.APIToken
	hc.MaxBodyBytes = cfg.MaxBodyBytes
	hc.ShutdownTimeout = cfg.ShutdownTimeout
	hc.EnablePprof = cfg.EnablePprof

	s, err := server.New(server.Config{HTTPListen: cfg.HTTPAddr, Node: nc, HTTP: hc, Logger: logger})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// fixedPort returns an advertised host:port, or "" when the port is 0: the
// node then advertises the port it was given.
func fixedPort(hostPort string) string {
	if _, port, _ := net.SplitHostPort(hostPort); port == "0" {
		return ""
	}
	return hostPort
}
