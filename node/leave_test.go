package node

import (
	"context"
	"testing"
	"time"
)

// A node that only guesses it is a voter (another member was to bootstrap Raft with it, but no
// configuration and no leader ever reached it) asks once and then stops, instead of retrying
// for as long as the shutdown allows.
func TestLeaveOnAGuessTriesOnce(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeID = "n9"
	cfg.HTTPAddr, cfg.GossipAddr, cfg.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.BootstrapExpect = 3 // never reached: no other member exists
	cfg.ClusterToken = "test-token"
	cfg.StrongTimeout = 200 * time.Millisecond
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	n.bootstrapVoter.Store(true)
	if known, voter := n.voterStatus(); known || !voter {
		t.Fatalf("voterStatus = known %v, voter %v; want a guessed voter", known, voter)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("shutdown waited out its whole context: the guessed voter kept retrying")
	}
}
