package jepsen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lattice-state/lattice/internal/procenv"
)

// procState is what the suite believes a node process is doing.
type procState int

const (
	procStopped procState = iota
	procRunning
	procPaused
)

// stopGrace bounds a graceful stop (SIGTERM) before the suite kills the node; above `lattice
// serve`'s own default shutdown timeout (15 s), so a stop that drains, folds in and leaves is not cut short.
const stopGrace = 20 * time.Second

// nodeProc is one `lattice serve` process inside its namespace. Methods are safe for concurrent use.
type nodeProc struct {
	idx     int
	id      string
	ns      string
	addr    string // node IP
	dir     string // results/nodes/nX
	onCrash func(idx int, err error)
	log     *slog.Logger

	mu       sync.Mutex
	state    procState
	cmd      *exec.Cmd
	done     chan struct{}
	expected bool     // the next exit was caused by the suite
	extra    []string // test flags of the current incarnation (clock offset)
}

// serveConfig is what every node's command line is built from.
type serveConfig struct {
	Binary                         string
	Addrs                          []string // node IPs, by index
	HTTPPort, GossipPort, RaftPort int
	ClusterToken                   string
	ServeArgs                      []string
}

// serveArgs builds the `lattice serve` arguments of node i.
func (c serveConfig) serveArgs(i int, dataDir string, extra []string) []string {
	ip := c.Addrs[i]
	var join []string
	for j, a := range c.Addrs {
		if j != i {
			join = append(join, a+":"+strconv.Itoa(c.GossipPort))
		}
	}
	args := []string{"serve",
		"--node-id", nodeName(i),
		"--http-addr", ip + ":" + strconv.Itoa(c.HTTPPort),
		"--gossip-addr", ip + ":" + strconv.Itoa(c.GossipPort),
		"--raft-addr", ip + ":" + strconv.Itoa(c.RaftPort),
		"--advertise-addr", ip,
		"--data-dir", dataDir,
		"--bootstrap-expect", strconv.Itoa(len(c.Addrs)),
		"--cluster-token", c.ClusterToken,
		"--log-format", "json",
	}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	args = append(args, c.ServeArgs...)
	return append(args, extra...)
}

// nodeEnv is the environment of a node: the suite's own minus LATTICE_* variables, so that an
// operator's settings never leak into the cluster under test, with the Go runtime settings
// `lattice dev` and the image give their nodes.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATTICE_") {
			env = append(env, kv)
		}
	}
	return procenv.WithSysmonPolling(env)
}

// start launches a new incarnation with the given extra flags.
func (p *nodeProc) start(cfg serveConfig, extra []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != procStopped {
		return fmt.Errorf("jepsen: start %s: already running", p.id)
	}
	logf, err := os.OpenFile(filepath.Join(p.dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("jepsen: node log: %w", err)
	}
	args := cfg.serveArgs(p.idx, filepath.Join(p.dir, "data"), extra)
	fmt.Fprintf(logf, "=== jepsen: %s start %s %s\n", time.Now().Format(time.RFC3339Nano), cfg.Binary, strings.Join(args, " "))
	cmd := exec.Command("ip", append([]string{"netns", "exec", p.ns, cfg.Binary}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = nodeEnv()
	// Own process group: a Ctrl-C of the suite does not reach the nodes (the suite stops them);
	// the parent-death signal kills them if the suite dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("jepsen: start %s: %w", p.id, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.state, p.expected, p.extra = cmd, done, procRunning, false, extra
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "=== jepsen: %s exit: %v\n", time.Now().Format(time.RFC3339Nano), err)
		logf.Close()
		p.mu.Lock()
		crashed := !p.expected
		p.state, p.cmd = procStopped, nil
		p.mu.Unlock()
		close(done)
		if crashed && p.onCrash != nil {
			p.onCrash(p.idx, err)
		}
	}()
	return nil
}

// signal sends sig to the current incarnation; expectExit marks the exit as caused by the suite.
func (p *nodeProc) signal(sig syscall.Signal, expectExit bool) (chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == procStopped {
		return nil, fmt.Errorf("jepsen: signal %s: not running", p.id)
	}
	if expectExit {
		p.expected = true
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return nil, fmt.Errorf("jepsen: signal %s: %w", p.id, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.state = procPaused
	case syscall.SIGCONT:
		p.state = procRunning
	}
	return p.done, nil
}

// kill sends SIGKILL and waits for the exit.
func (p *nodeProc) kill(ctx context.Context) error {
	done, err := p.signal(syscall.SIGKILL, true)
	if err != nil {
		return err
	}
	return waitDone(ctx, done, 10*time.Second, p.id)
}

// stop sends SIGCONT (a paused process cannot exit) and SIGTERM, waits up to grace, then kills.
func (p *nodeProc) stop(ctx context.Context, grace time.Duration) error {
	if _, err := p.signal(syscall.SIGCONT, true); err != nil {
		return err
	}
	done, err := p.signal(syscall.SIGTERM, true)
	if err != nil {
		return err
	}
	if waitDone(ctx, done, grace, p.id) == nil {
		return nil
	}
	p.log.Warn("node did not stop gracefully; killing", "node", p.id, "grace", grace)
	return p.kill(ctx)
}

// pause sends SIGSTOP; resume sends SIGCONT.
func (p *nodeProc) pause() error {
	_, err := p.signal(syscall.SIGSTOP, false)
	return err
}

func (p *nodeProc) resume() error {
	_, err := p.signal(syscall.SIGCONT, false)
	return err
}

// current returns the state and the extra flags of the current incarnation.
func (p *nodeProc) current() (procState, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.extra
}

func waitDone(ctx context.Context, done chan struct{}, d time.Duration, id string) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("jepsen: %s did not exit within %s", id, d)
	case <-ctx.Done():
		return errors.Join(fmt.Errorf("jepsen: waiting for %s", id), ctx.Err())
	}
}
