package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"
)

// resolveTimeout bounds the name lookups of Advertise.
const resolveTimeout = 5 * time.Second

// Advertise returns the host:port at which peers reach the bind address addr
// (one of the listen addresses): the host is advertise-addr when set, else the
// bind host when it names one interface, else the address the machine's
// hostname resolves to (in a container or a pod, its own IP). Names are
// resolved to an IP address, as memberlist and Raft advertise IPs.
func (c ServeConfig) Advertise(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	var ip string
	switch {
	case c.AdvertiseAddr != "":
		if ip, err = resolveIP(ctx, c.AdvertiseAddr); err != nil {
			return "", fmt.Errorf("advertise-addr %q: %w", c.AdvertiseAddr, err)
		}
	case host != "" && !net.ParseIP(host).IsUnspecified():
		if ip, err = resolveIP(ctx, host); err != nil {
			return "", fmt.Errorf("%q: %w", host, err)
		}
	default:
		if ip, err = hostnameIP(ctx); err != nil {
			return "", fmt.Errorf("%s binds every interface and %w; set --advertise-addr", addr, err)
		}
	}
	return net.JoinHostPort(ip, port), nil
}

// advertisedAddrs are the addresses peers use to reach this node.
type advertisedAddrs struct{ HTTP, Gossip, Raft string }

// advertised computes the advertised address of every listen address.
func (c ServeConfig) advertised(ctx context.Context) (advertisedAddrs, error) {
	var a advertisedAddrs
	var err error
	if a.HTTP, err = c.Advertise(ctx, c.HTTPAddr); err != nil {
		return a, err
	}
	if a.Gossip, err = c.Advertise(ctx, c.GossipAddr); err != nil {
		return a, err
	}
	a.Raft, err = c.Advertise(ctx, c.RaftAddr)
	return a, err
}

// resolveIP returns host if it is an IP address, else its first address,
// IPv4 preferred.
func resolveIP(ctx context.Context, host string) (string, error) {
	if net.ParseIP(host) != nil {
		return host, nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", fmt.Errorf("does not resolve: %w", err)
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP.String(), nil
		}
	}
	return addrs[0].IP.String(), nil
}

// hostnameIP is the first non-loopback address of the machine's hostname.
func hostnameIP(ctx context.Context) (string, error) {
	name, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("the hostname is unknown: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, name)
	if err != nil {
		return "", fmt.Errorf("the hostname %q does not resolve: %w", name, err)
	}
	var found string
	for _, a := range addrs {
		switch {
		case a.IP.IsLoopback():
		case a.IP.To4() != nil:
			return a.IP.String(), nil
		case found == "":
			found = a.IP.String()
		}
	}
	if found == "" {
		return "", fmt.Errorf("the hostname %q resolves only to loopback addresses", name)
	}
	return found, nil
}
