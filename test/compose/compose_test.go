package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runEnv gates the test: it builds an image and runs three containers, so it
// runs only when asked (LATTICE_COMPOSE=1, as .ci/run does) and when the Docker
// engine answers.
const runEnv = "LATTICE_COMPOSE"

// services are the nodes of deploy/docker-compose.yml.
var services = []string{"lattice-1", "lattice-2", "lattice-3"}

func TestComposeCluster(t *testing.T) {
	h := setup(t)

	h.waitReady(t, h.urls, 3*time.Minute)

	// Every node takes eventual and strong writes; an eventual write is read
	// back at once on its node and spreads to the others; a strong write is
	// read at once, strongly, from every node.
	for i, base := range h.urls {
		h.checkEventual(t, fmt.Sprintf("ev-%d", i), fmt.Sprintf("eventual via %s", services[i]), base, h.urls)
		h.checkStrong(t, fmt.Sprintf("st-%d", i), fmt.Sprintf("strong via %s", services[i]), base, h.urls)
	}

	// Stop one node: the other two keep serving both planes.
	const down = 1
	h.compose(t, "stop", "-t", "30", services[down])
	alive := []string{h.urls[0], h.urls[2]}
	missed := "while " + services[down] + " is down"
	for i, base := range alive {
		h.checkEventual(t, fmt.Sprintf("ev-down-%d", i), "eventual "+missed, base, alive)
		h.checkStrong(t, fmt.Sprintf("st-down-%d", i), "strong "+missed, base, alive)
	}
	h.checkStrong(t, "st-0", "overwritten "+missed, alive[0], alive)

	// Start it again: it catches up on what it missed, in both planes.
	h.compose(t, "start", services[down])
	h.waitReady(t, h.urls, 2*time.Minute)
	back := h.urls[down]
	for i := range alive {
		h.waitValue(t, back, fmt.Sprintf("ev-down-%d", i), "eventual "+missed, false, time.Minute)
		h.waitValue(t, back, fmt.Sprintf("st-down-%d", i), "strong "+missed, true, time.Minute)
	}
	h.waitValue(t, back, "st-0", "overwritten "+missed, true, time.Minute)
	h.waitValue(t, back, "st-0", "overwritten "+missed, false, time.Minute)
}

// harness is one compose project of deploy/docker-compose.yml on free host ports.
type harness struct {
	composeCmd []string // "docker compose" or "docker-compose"
	file       string   // deploy/docker-compose.yml
	project    string
	env        []string
	urls       []string // http://127.0.0.1:<port> of each service
	client     *http.Client
}

// setup skips unless the test can run, then builds the image, starts the
// project and registers its removal.
func setup(t *testing.T) *harness {
	if os.Getenv(runEnv) == "" {
		t.Skipf("compose: skipped: set %s=1 to run the Docker Compose smoke test (needs a Docker engine)", runEnv)
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("compose: skipped: the Docker engine does not answer (docker info: %v: %s)", err, firstLine(out))
	}
	composeCmd := findCompose()
	if composeCmd == nil {
		t.Skip("compose: skipped: neither `docker compose` nor `docker-compose` is installed")
	}
	root := repoRoot(t)
	unique := strconv.FormatInt(time.Now().UnixNano(), 36)
	h := &harness{
		composeCmd: composeCmd,
		file:       filepath.Join(root, "deploy", "docker-compose.yml"),
		project:    "latticetest" + unique,
		client:     &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second},
	}
	image := "lattice:compose-" + unique
	buildImage(t, root, image)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })

	h.env = append(os.Environ(), "LATTICE_IMAGE="+image, "LATTICE_LOG_FORMAT=text")
	for i, port := range freePorts(t, len(services)) {
		h.env = append(h.env, fmt.Sprintf("LATTICE_HTTP_PORT_%d=%d", i+1, port))
		h.urls = append(h.urls, fmt.Sprintf("http://127.0.0.1:%d", port))
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := h.composeOutput("logs", "--no-color", "--tail", "200")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := h.composeOutput("down", "-v", "--remove-orphans", "-t", "10"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	h.compose(t, "up", "-d")
	return h
}

// findCompose returns the compose command this machine has: the v2 plugin or
// the v1 docker-compose binary.
func findCompose() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if exec.Command("docker-compose", "version").Run() == nil {
		return []string{"docker-compose"}
	}
	return nil
}

func repoRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env GOMOD: %v %s", err, out)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// buildImage builds the static binary and the image the way deploy/deploy.mk
// does, in a temporary build context so the tree stays untouched.
func buildImage(t *testing.T, root, image string) {
	ctxDir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(ctxDir, "lattice"), "./cmd/lattice")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	deploy := filepath.Join(root, "deploy")
	if err := os.CopyFS(filepath.Join(ctxDir, "rootfs"), os.DirFS(filepath.Join(deploy, "rootfs"))); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		data, err := os.ReadFile(filepath.Join(deploy, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", image, ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
}

func (h *harness) composeOutput(args ...string) ([]byte, error) {
	full := append(append([]string{}, h.composeCmd[1:]...), "-f", h.file, "-p", h.project)
	cmd := exec.Command(h.composeCmd[0], append(full, args...)...)
	cmd.Env = h.env
	return cmd.CombinedOutput()
}

func (h *harness) compose(t *testing.T, args ...string) {
	t.Helper()
	if out, err := h.composeOutput(args...); err != nil {
		t.Fatalf("compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitReady waits until every node is healthy and reports a leader.
func (h *harness) waitReady(t *testing.T, urls []string, timeout time.Duration) {
	t.Helper()
	var last error
	poll(t, timeout, func() bool {
		for _, base := range urls {
			if last = h.ready(base); last != nil {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("cluster ready: %v", last) })
}

func (h *harness) ready(base string) error {
	resp, err := h.client.Get(base + "/v1.0/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s healthz: %s", base, resp.Status)
	}
	resp, err = h.client.Get(base + "/v1.0/cluster/status")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var st struct {
		Leader struct {
			ID string `json:"id"`
		} `json:"leader"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("%s cluster status: %w", base, err)
	}
	if st.Leader.ID == "" {
		return fmt.Errorf("%s: no leader", base)
	}
	return nil
}

// checkEventual saves key eventually through base, reads it back there at
// once, and waits until every node in all serves it.
func (h *harness) checkEventual(t *testing.T, key, value, base string, all []string) {
	t.Helper()
	if err := h.save(base, key, value, false); err != nil {
		t.Fatalf("eventual save %s on %s: %v", key, base, err)
	}
	if got, err := h.get(base, key, false); err != nil || got != value {
		t.Fatalf("eventual read of own write %s on %s: %q, %v", key, base, got, err)
	}
	for _, other := range all {
		h.waitValue(t, other, key, value, false, 30*time.Second)
	}
}

// checkStrong saves key strongly through base (retrying while a leader is
// elected) and reads it strongly from every node in all at once.
func (h *harness) checkStrong(t *testing.T, key, value, base string, all []string) {
	t.Helper()
	var last error
	poll(t, 30*time.Second, func() bool {
		last = h.save(base, key, value, true)
		return last == nil
	}, func() string { return fmt.Sprintf("strong save %s on %s: %v", key, base, last) })
	for _, other := range all {
		if got, err := h.get(other, key, true); err != nil || got != value {
			t.Fatalf("strong read %s on %s after a strong write: %q, %v", key, other, got, err)
		}
	}
}

// waitValue polls a read of key on base until it returns value.
func (h *harness) waitValue(t *testing.T, base, key, value string, strong bool, timeout time.Duration) {
	t.Helper()
	var got string
	var err error
	poll(t, timeout, func() bool {
		got, err = h.get(base, key, strong)
		return err == nil && got == value
	}, func() string {
		return fmt.Sprintf("read %s (strong=%v) on %s: got %q, %v; want %q", key, strong, base, got, err, value)
	})
}

func (h *harness) save(base, key, value string, strong bool) error {
	item := map[string]any{"key": key, "value": value}
	if strong {
		item["options"] = map[string]string{"consistency": "strong"}
	}
	body, _ := json.Marshal([]any{item})
	resp, err := h.client.Post(base+"/v1.0/state/statestore", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("status %s: %s", resp.Status, msg)
	}
	return nil
}

// get returns the string value of key, "" when absent.
func (h *harness) get(base, key string, strong bool) (string, error) {
	url := base + "/v1.0/state/statestore/" + key
	if strong {
		url += "?consistency=strong"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := h.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return "", nil
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("status %s: %s", resp.Status, body)
	}
	var v string
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("value %s: %w", body, err)
	}
	return v, nil
}

// poll calls cond until it holds or timeout passes, then fails with describe().
func poll(t *testing.T, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, describe())
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// freePorts returns n TCP ports free on the host right now.
func freePorts(t *testing.T, n int) []int {
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}
