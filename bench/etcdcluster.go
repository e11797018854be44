package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrEtcdNotInstalled means the etcd binary was not found (Debian: apt-get install -y etcd-server).
var ErrEtcdNotInstalled = errors.New("bench: etcd binary not found (Debian: apt-get install -y etcd-server)")

// EtcdConfig configures a local etcd cluster for side-by-side runs.
type EtcdConfig struct {
	// Binary is the etcd executable; a bare name is looked up in PATH.
	Binary string
	// Members is the cluster size.
	Members int
	// Dir holds one data directory and one log file per member; "" makes a temporary directory
	// that Stop removes.
	Dir string
	// StartTimeout bounds the wait for every member to report healthy.
	StartTimeout time.Duration
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

// DefaultEtcdConfig is three members of Debian's etcd-server in a temporary directory.
func DefaultEtcdConfig() EtcdConfig {
	return EtcdConfig{Binary: "etcd", Members: 3, StartTimeout: 30 * time.Second}
}

// Validate reports an unusable configuration.
func (c EtcdConfig) Validate() error {
	if c.Binary == "" || c.Members < 1 || c.StartTimeout <= 0 {
		return errors.New("bench: etcd config needs a binary, at least one member and a start timeout")
	}
	return nil
}

// EtcdCluster is a running local etcd cluster on loopback ports. Stop it when done; Stop is not
// safe to call concurrently with itself.
type EtcdCluster struct {
	log        *slog.Logger
	dir        string
	ownDir     bool
	clientURLs []string
	members    []*etcdMember
}

// etcdMember is one etcd process; exited is closed once it has been reaped.
type etcdMember struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error // the process's exit status, valid after exited is closed
}

// ClientURLs are the members' client URLs, which also serve the v3 JSON gateway.
func (c *EtcdCluster) ClientURLs() []string { return append([]string(nil), c.clientURLs...) }

// StartEtcdCluster starts cfg.Members etcd processes on free 127.0.0.1 ports and waits until each
// reports healthy. It returns ErrEtcdNotInstalled when the binary is missing.
func StartEtcdCluster(ctx context.Context, cfg EtcdConfig) (*EtcdCluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEtcdNotInstalled, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &EtcdCluster{log: log.With("component", "bench", "etcd", true), dir: cfg.Dir}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "lattice-bench-etcd-"); err != nil {
			return nil, fmt.Errorf("bench: etcd: %w", err)
		}
		c.ownDir = true
	}
	ports, err := freePorts(2 * cfg.Members)
	if err != nil {
		c.cleanup()
		return nil, err
	}
	var initial []string
	peerURLs := make([]string, cfg.Members)
	for i := range cfg.Members {
		c.clientURLs = append(c.clientURLs, "http://127.0.0.1:"+strconv.Itoa(ports[2*i]))
		peerURLs[i] = "http://127.0.0.1:" + strconv.Itoa(ports[2*i+1])
		initial = append(initial, fmt.Sprintf("m%d=%s", i, peerURLs[i]))
	}
	token := "lattice-bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range cfg.Members {
		name := "m" + strconv.Itoa(i)
		args := []string{
			"--name", name,
			"--data-dir", filepath.Join(c.dir, name),
			"--listen-client-urls", c.clientURLs[i],
			"--advertise-client-urls", c.clientURLs[i],
			"--listen-peer-urls", peerURLs[i],
			"--initial-advertise-peer-urls", peerURLs[i],
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", token,
			"--initial-cluster-state", "new",
			"--logger", "zap",
		}
		if err := c.startMember(bin, name, args, cfg.Members); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.waitHealthy(ctx, cfg.StartTimeout); err != nil {
		c.Stop()
		return nil, err
	}
	c.log.Info("etcd cluster ready", "clients", c.clientURLs, "dir", c.dir)
	return c, nil
}

// freePorts reserves n distinct loopback ports by listening on port 0, then releases them.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("bench: etcd: reserve port: %w", err)
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// startMember launches one member with its output in <dir>/<name>.log.
func (c *EtcdCluster) startMember(bin, name string, args []string, members int) error {
	logPath := filepath.Join(c.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("bench: etcd: %w", err)
	}
	defer f.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = CPUShareEnv(os.Environ(), members)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bench: etcd: start %s: %w", name, err)
	}
	m := &etcdMember{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		m.err = cmd.Wait()
		close(m.exited)
	}()
	c.members = append(c.members, m)
	return nil
}

// waitHealthy polls each member's /health until it answers {"health":"true"}.
func (c *EtcdCluster) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for i, u := range c.clientURLs {
		m := c.members[i]
		for !healthy(ctx, hc, u) {
			select {
			case <-m.exited:
				return fmt.Errorf("bench: etcd member %d exited (%v): %s", i, m.err, tail(m.logPath))
			default:
			}
			if !pause(ctx, 100*time.Millisecond) {
				return fmt.Errorf("bench: etcd member %d not healthy within %v: %s", i, timeout, tail(m.logPath))
			}
		}
	}
	return nil
}

// healthy asks one member for its health.
func healthy(ctx context.Context, hc *http.Client, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return false
	}
	res, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4096))
	return err == nil && res.StatusCode == http.StatusOK && strings.Contains(string(b), `"health":"true"`)
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const n = 800
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// Stop terminates the members it started (SIGTERM, then SIGKILL after 10 s), reaps them and removes
// the temporary directory it made.
func (c *EtcdCluster) Stop() error {
	var errs []error
	for _, m := range c.members {
		select {
		case <-m.exited:
			continue
		default:
		}
		if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, err)
		}
	}
	for _, m := range c.members {
		t := time.NewTimer(10 * time.Second)
		select {
		case <-m.exited:
		case <-t.C:
			if err := m.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, err)
			}
			<-m.exited
		}
		t.Stop()
	}
	c.members = nil
	if err := c.cleanup(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench: etcd stop: %w", err)
	}
	return nil
}

// cleanup removes the directory if this cluster created it.
func (c *EtcdCluster) cleanup() error {
	if !c.ownDir {
		return nil
	}
	c.ownDir = false
	return os.RemoveAll(c.dir)
}
