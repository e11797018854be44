package jepsen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cluster is the set of node processes of a run, their network and a harness client per node.
type cluster struct {
	net     *network
	cfg     serveConfig
	procs   []*nodeProc
	clients []*apiClient // harness clients (readiness, leader, final reads)
	log     *slog.Logger
}

// newCluster plans the processes; nothing is started.
func newCluster(o Options, nw *network, dir, token string, onCrash func(int, error), log *slog.Logger) (*cluster, error) {
	c := &cluster{net: nw, log: log}
	c.cfg = serveConfig{Binary: o.Binary, HTTPPort: o.HTTPPort, GossipPort: o.GossipPort,
		RaftPort: o.RaftPort, ClusterToken: token, ServeArgs: o.ServeArgs}
	for i, a := range nw.addrs {
		c.cfg.Addrs = append(c.cfg.Addrs, a.String())
		nd := filepath.Join(dir, "nodes", nodeName(i))
		if err := os.MkdirAll(filepath.Join(nd, "data"), 0o755); err != nil {
			return nil, fmt.Errorf("jepsen: %w", err)
		}
		c.procs = append(c.procs, &nodeProc{idx: i, id: nodeName(i), ns: nw.nodeNS(i), addr: a.String(),
			dir: nd, onCrash: onCrash, log: log})
		c.clients = append(c.clients, newAPIClient(c.httpAddr(i), o.RequestTimeout))
	}
	return c, nil
}

func (c *cluster) size() int { return len(c.procs) }

func (c *cluster) httpAddr(i int) string {
	return netip.AddrPortFrom(c.net.addrs[i], uint16(c.cfg.HTTPPort)).String()
}

// startAll starts every node without test flags.
func (c *cluster) startAll() error {
	for _, p := range c.procs {
		if err := p.start(c.cfg, nil); err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops every running node (gracefully, then by force).
func (c *cluster) stopAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range c.procs {
		if st, _ := p.current(); st == procStopped {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(ctx, stopGrace); err != nil {
				c.log.Warn("stop node", "node", p.id, "err", err)
			}
		}()
	}
	wg.Wait()
	for _, cl := range c.clients {
		cl.close()
	}
}

// awaitReady polls until every node answers healthz and serves a strong read, or the timeout.
func (c *cluster) awaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		last = c.readyOnce(ctx)
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jepsen: cluster not ready after %s: %w", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *cluster) readyOnce(ctx context.Context) error {
	errs := make([]error, c.size())
	var wg sync.WaitGroup
	for i, cl := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cl.healthy(ctx); err != nil {
				errs[i] = fmt.Errorf("%s healthz: %w", nodeName(i), err)
				return
			}
			if _, err := cl.getState(ctx, "jepsen-probe", true); err != nil {
				errs[i] = fmt.Errorf("%s strong read: %w", nodeName(i), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// leader returns the index of the current leader, or -1 when no node names one. A node that
// says it is the leader wins (highest term first); otherwise the most common answer.
func (c *cluster) leader(ctx context.Context) int {
	type answer struct {
		st  clusterStatus
		err error
	}
	answers := make([]answer, c.size())
	var wg sync.WaitGroup
	for i, cl := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			st, err := cl.status(ctx)
			answers[i] = answer{st, err}
		}()
	}
	wg.Wait()
	best, bestTerm := -1, uint64(0)
	votes := map[int]int{}
	for i, a := range answers {
		if a.err != nil {
			continue
		}
		if strings.EqualFold(a.st.Raft.State, "leader") && (best < 0 || a.st.Raft.Term > bestTerm) {
			best, bestTerm = i, a.st.Raft.Term
		}
		if idx := nodeIndex(a.st.Leader.ID, c.size()); idx >= 0 {
			votes[idx]++
		}
	}
	if best >= 0 {
		return best
	}
	most := -1
	for idx, v := range votes {
		if most < 0 || v > votes[most] || (v == votes[most] && idx < most) {
			most = idx
		}
	}
	return most
}

// nodeIndex parses "n3" into 2; -1 if id is not a node of an n-node cluster.
func nodeIndex(id string, n int) int {
	if !strings.HasPrefix(id, "n") {
		return -1
	}
	i, err := strconv.Atoi(id[1:])
	if err != nil || i < 1 || i > n {
		return -1
	}
	return i - 1
}

// The methods below make the cluster a faultTarget.

func (c *cluster) setNet(ctx context.Context, f netFaults) error { return c.net.apply(ctx, f) }
func (c *cluster) leaderIndex(ctx context.Context) int           { return c.leader(ctx) }
func (c *cluster) kill(ctx context.Context, i int) error         { return c.procs[i].kill(ctx) }
func (c *cluster) stop(ctx context.Context, i int) error {
	return c.procs[i].stop(ctx, stopGrace)
}
func (c *cluster) start(_ context.Context, i int, extra []string) error {
	return c.procs[i].start(c.cfg, extra)
}
func (c *cluster) pause(_ context.Context, i int) error  { return c.procs[i].pause() }
func (c *cluster) resume(_ context.Context, i int) error { return c.procs[i].resume() }

// healAll undoes every fault: rules removed, paused nodes continued, stopped nodes started, nodes
// running with test flags restarted without them.
func (c *cluster) healAll(ctx context.Context) error {
	errs := []error{c.net.heal(ctx)}
	for i, p := range c.procs {
		st, extra := p.current()
		switch {
		case st == procPaused:
			errs = append(errs, p.resume())
		case st == procStopped:
			errs = append(errs, p.start(c.cfg, nil))
		case len(extra) > 0:
			errs = append(errs, c.stop(ctx, i), p.start(c.cfg, nil))
		}
	}
	return errors.Join(errs...)
}

// compile-time check: the cluster is what the nemesis drives.
var _ faultTarget = (*cluster)(nil)
