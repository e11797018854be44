package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lattice-state/lattice/bench"
	"github.com/lattice-state/lattice/internal/procenv"
)

// devEnv is what runDev takes from the process: the binary to re-execute, the
// children's environment, the output and the signals.
type devEnv struct {
	exe            string
	env            []string
	stdout, stderr io.Writer
	sigs           <-chan os.Signal
}

// devPollInterval is how often readiness is probed.
const devPollInterval = 250 * time.Millisecond

// runDev runs the dev cluster until the first signal, then stops it; a second
// signal kills the nodes at once and returns a signalExit.
func runDev(cfg devConfig, e devEnv) error {
	dataDir := cfg.DataDir
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "lattice-dev-")
		if err != nil {
			return fmt.Errorf("lattice dev: %w", err)
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	} else if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("lattice dev: data-dir: %w", err)
	}
	env, err := clusterTokenEnv(e.env)
	if err != nil {
		return err
	}
	env = procenv.WithSysmonPolling(bench.CPUShareEnv(env, devNodes))
	d := &devCluster{
		cfg:      cfg,
		apiToken: envValue(env, envName("api-token")),
		nodes:    cfg.nodes(dataDir),
		con:      &console{out: e.stdout, errOut: e.stderr},
		exited:   make(chan *child, devNodes),
		alive:    map[*child]bool{},
		client:   &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: time.Second},
	}
	defer d.client.CloseIdleConnections()
	for _, n := range d.nodes {
		c, err := startChild(n, e.exe, n.serveArgs(d.nodes), env, d.con, d.exited)
		if err != nil {
			if stopErr := d.stop(e.sigs); stopErr != nil {
				return stopErr
			}
			return err
		}
		d.alive[c] = true
	}
	d.con.printf("lattice dev: started %d nodes; waiting up to %v for them to agree on a leader\n", devNodes, cfg.ReadyTimeout)
	err = d.supervise(e.sigs, dataDir, cfg.DataDir == "")
	if stopErr := d.stop(e.sigs); stopErr != nil {
		return stopErr
	}
	return err
}

// devCluster supervises the children. Only the goroutine of runDev uses it.
type devCluster struct {
	cfg devConfig
	// apiToken is the nodes' API token, sent with the readiness probes.
	apiToken string
	nodes    []devNode
	con      *console
	exited   chan *child
	alive    map[*child]bool
	client   *http.Client
}

// supervise waits for readiness, prints how to use the cluster, and returns
// at the first signal (nil) or when the cluster cannot become or stay ready.
func (d *devCluster) supervise(sigs <-chan os.Signal, dataDir string, tempDir bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tick := time.NewTicker(devPollInterval)
	defer tick.Stop()
	deadline := time.NewTimer(d.cfg.ReadyTimeout)
	defer deadline.Stop()
	type probeResult struct {
		leader string
		err    error
	}
	probed := make(chan probeResult, 1)
	probing, ready := false, false
	var lastProbe error
	for {
		select {
		case sig := <-sigs:
			d.con.printf("lattice dev: %v received\n", sig)
			return nil
		case c := <-d.exited:
			delete(d.alive, c)
			if !ready {
				return fmt.Errorf("lattice dev: %s %s before the cluster was ready (its output above says why)", c.node.Name, c.describeExit())
			}
			d.con.printf("lattice dev: %s %s; %d nodes left\n", c.node.Name, c.describeExit(), len(d.alive))
			if len(d.alive) == 0 {
				return fmt.Errorf("lattice dev: every node has exited")
			}
		case <-tick.C:
			if !ready && !probing {
				probing = true
				go func() {
					leader, err := d.probe(ctx)
					probed <- probeResult{leader, err}
				}()
			}
		case r := <-probed:
			probing = false
			if lastProbe = r.err; r.err == nil && !ready {
				ready = true
				deadline.Stop()
				tick.Stop()
				d.printBanner(r.leader, dataDir, tempDir)
			}
		case <-deadline.C:
			return fmt.Errorf("lattice dev: cluster not ready within %v: %v", d.cfg.ReadyTimeout, lastProbe)
		}
	}
}

// probe returns the leader when every node is healthy and all report the same one.
func (d *devCluster) probe(ctx context.Context) (string, error) {
	leader := ""
	for _, n := range d.nodes {
		if err := d.get(ctx, n, "/v1.0/healthz", nil); err != nil {
			return "", err
		}
		var st struct {
			Leader struct {
				ID string `json:"id"`
			} `json:"leader"`
		}
		if err := d.get(ctx, n, "/v1.0/cluster/status", &st); err != nil {
			return "", err
		}
		switch {
		case st.Leader.ID == "":
			return "", fmt.Errorf("%s: no leader yet", n.Name)
		case leader != "" && st.Leader.ID != leader:
			return "", fmt.Errorf("%s: leader %s, another node says %s", n.Name, st.Leader.ID, leader)
		}
		leader = st.Leader.ID
	}
	return leader, nil
}

// get fetches a node's path, wants 2xx, and decodes the JSON body into out when not nil.
func (d *devCluster) get(ctx context.Context, n devNode, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTPAddr+path, nil)
	if err != nil {
		return err
	}
	if d.apiToken != "" {
		req.Header.Set("dapr-api-token", d.apiToken)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: GET %s: %s", n.Name, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: GET %s: %w", n.Name, path, err)
	}
	return nil
}

// stop terminates the live children, kills those still running after the
// stop timeout, and waits for all. A signal meanwhile kills them at once and
// is returned as a signalExit.
func (d *devCluster) stop(sigs <-chan os.Signal) error {
	if len(d.alive) == 0 {
		return nil
	}
	d.con.printf("lattice dev: stopping %d nodes (up to %v; Ctrl-C again to kill them at once)\n", len(d.alive), d.cfg.StopTimeout)
	for c := range d.alive {
		terminate(c.cmd.Process)
	}
	timer := time.NewTimer(d.cfg.StopTimeout)
	defer timer.Stop()
	var forced error
	for len(d.alive) > 0 {
		select {
		case c := <-d.exited:
			delete(d.alive, c)
			d.con.printf("lattice dev: %s %s\n", c.node.Name, c.describeExit())
		case <-timer.C:
			d.con.printf("lattice dev: %s still running after %v; killing\n", d.aliveNames(), d.cfg.StopTimeout)
			d.killAll()
		case sig := <-sigs:
			d.con.printf("lattice dev: second %v; killing %s\n", sig, d.aliveNames())
			d.killAll()
			forced = signalExit(sig)
		}
	}
	return forced
}

func (d *devCluster) killAll() {
	for c := range d.alive {
		kill(c.cmd.Process)
	}
}

func (d *devCluster) aliveNames() string {
	var names []string
	for _, n := range d.nodes {
		for c := range d.alive {
			if c.node.Name == n.Name {
				names = append(names, n.Name)
			}
		}
	}
	return strings.Join(names, ", ")
}
