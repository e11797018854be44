package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/lattice-state/lattice/server"
)

// TestWireNodeMapsConfig builds a real single node from a ServeConfig and
// checks what the HTTP API reports of the configuration.
func TestWireNodeMapsConfig(t *testing.T) {
	cfg := DefaultServeConfig()
	cfg.NodeID = "wired"
	cfg.HTTPAddr, cfg.GossipAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Stores = []string{"orders", "carts"}
	cfg.APIToken = "tok"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := wireNode(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	base := "http://" + n.(*server.Server).Addr()
	waitFor(t, 20*time.Second, "healthz", func() bool { return checkHealth(context.Background(), base+"/v1.0/healthz") == nil })

	get := func(token string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1.0/metadata", nil)
		if token != "" {
			req.Header.Set("dapr-api-token", token)
		}
		return http.DefaultClient.Do(req)
	}
	resp, err := get("")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("metadata without the api token: %s, want 401", resp.Status)
	}
	resp, err = get("tok")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		ID         string `json:"id"`
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	if md.ID != "wired" || len(md.Components) != 2 || md.Components[0].Name != "orders" || md.Components[1].Name != "carts" {
		t.Fatalf("metadata %+v: want id wired and stores orders, carts", md)
	}
}
