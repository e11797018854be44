package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// loadConfig runs the loading path of `lattice serve`: flags, then the
// environment and the config file for what the flags left unset.
func loadConfig(t *testing.T, args []string, env map[string]string) (ServeConfig, error) {
	t.Helper()
	cfg := DefaultServeConfig()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	bindServeFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	err := applyEnvAndFile(fs, lookup)
	return cfg, err
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lattice.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultServeConfig()
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want defaults %+v", cfg, want)
	}
	if cfg.HTTPAddr != "127.0.0.1:3500" || cfg.GossipAddr != "127.0.0.1:7946" || cfg.RaftAddr != "127.0.0.1:7000" ||
		cfg.BootstrapExpect != 1 || cfg.MaxBodyBytes != 4<<20 || !reflect.DeepEqual(cfg.Stores, []string{"statestore"}) ||
		cfg.LogFormat != "text" || cfg.NodeID == "" {
		t.Fatalf("defaults differ from the contract: %+v", cfg)
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, `
node-id: from-file
http-addr: 10.0.0.1:3500
gossip-addr: 10.0.0.1:7946
raft-addr: 10.0.0.1:7000
join: [a.example:7946, b.example:7946]
bootstrap-expect: 3
store: orders
max-body-bytes: 1024
shutdown-timeout: 5s
test-unsafe-local-strong-reads: true
test-unsafe-no-apply: true
log-format: json
`)
	env := map[string]string{
		"LATTICE_CONFIG":                          file,
		"LATTICE_HTTP_ADDR":                       "10.0.0.2:3500",
		"LATTICE_GOSSIP_ADDR":                     "10.0.0.2:7946",
		"LATTICE_JOIN":                            "c.example:7946, d.example:7946",
		"LATTICE_BOOTSTRAP_EXPECT":                "5",
		"LATTICE_LOG_FORMAT":                      "", // empty: unset, the file applies
		"LATTICE_TEST_UNSAFE_SKIP_TXN_ETAG_CHECK": "true",
	}
	args := []string{"--http-addr", "10.0.0.3:3500", "--store", "a", "--store", "b"}
	cfg, err := loadConfig(t, args, env)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag over env and file", cfg.HTTPAddr, "10.0.0.3:3500"},
		{"env over file", cfg.GossipAddr, "10.0.0.2:7946"},
		{"env list over file list", cfg.Join, []string{"c.example:7946", "d.example:7946"}},
		{"env int over file", cfg.BootstrapExpect, 5},
		{"file over default", cfg.RaftAddr, "10.0.0.1:7000"},
		{"file string", cfg.NodeID, "from-file"},
		{"file int64", cfg.MaxBodyBytes, int64(1024)},
		{"file duration", cfg.ShutdownTimeout, 5 * time.Second},
		{"file bool", cfg.TestUnsafeLocalStrongReads, true},
		{"file bool no-apply", cfg.TestUnsafeNoApply, true},
		{"env bool", cfg.TestUnsafeSkipTxnETagCheck, true},
		{"empty env counts as unset", cfg.LogFormat, "json"},
		{"repeated flag", cfg.Stores, []string{"a", "b"}},
		{"default", cfg.LogLevel, "info"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestConfigFileFlagBeatsEnv(t *testing.T) {
	fromEnv := writeFile(t, "node-id: env-file\n")
	fromFlag := writeFile(t, "node-id: flag-file\n")
	cfg, err := loadConfig(t, []string{"--config", fromFlag}, map[string]string{"LATTICE_CONFIG": fromEnv})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "flag-file" {
		t.Fatalf("node-id %q: --config should win over LATTICE_CONFIG", cfg.NodeID)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		file string // YAML; empty: no file
		env  map[string]string
		want []string
	}{
		{"unknown key", "http-adr: x:1\n", nil, []string{"unknown key \"http-adr\"", "line 1"}},
		{"config is not a key", "config: other.yaml\n", nil, []string{"unknown key \"config\""}},
		{"bad int", "bootstrap-expect: three\n", nil, []string{"bootstrap-expect", "three"}},
		{"list for a scalar", "node-id: [a, b]\n", nil, []string{"node-id", "want one value"}},
		{"mapping value", "join: {a: b}\n", nil, []string{"join", "want a value or a list"}},
		{"not a mapping", "- a\n- b\n", nil, []string{"want a mapping"}},
		{"duplicate key", "node-id: a\nnode-id: b\n", nil, []string{"given twice"}},
		{"bad yaml", "node-id: [\n", nil, []string{"config file"}},
		{"bad env", "", map[string]string{"LATTICE_MAX_BODY_BYTES": "lots"}, []string{"LATTICE_MAX_BODY_BYTES", "lots"}},
		{"missing file", "", map[string]string{"LATTICE_CONFIG": "/nonexistent/lattice.yaml"}, []string{"/nonexistent/lattice.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range c.env {
				env[k] = v
			}
			if c.file != "" {
				env["LATTICE_CONFIG"] = writeFile(t, c.file)
			}
			_, err := loadConfig(t, nil, env)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigEmptyFile(t *testing.T) {
	cfg, err := loadConfig(t, nil, map[string]string{"LATTICE_CONFIG": writeFile(t, "# nothing\n")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, DefaultServeConfig()) {
		t.Fatalf("empty file changed the config: %+v", cfg)
	}
}

func TestEnvName(t *testing.T) {
	if got := envName("test-unsafe-local-strong-reads"); got != "LATTICE_TEST_UNSAFE_LOCAL_STRONG_READS" {
		t.Fatal(got)
	}
}
