package raft

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lattice-state/lattice"
)

func TestForwardCodec(t *testing.T) {
	for _, c := range sampleCommands(t) {
		b := AppendCommand([]byte("prefix"), c)
		got, err := DecodeCommand(b[len("prefix"):])
		if err != nil {
			t.Fatalf("%v: %v", c.Op, err)
		}
		if string(encodeCommand(nil, &got)) != string(encodeCommand(nil, c)) {
			t.Fatalf("%v does not round-trip", c.Op)
		}
	}
	two := encodeEntry([][]byte{encodeCommand(nil, set("a", "1", now)), encodeCommand(nil, set("b", "2", now))})
	if _, err := DecodeCommand(two); err == nil {
		t.Fatal("decoded two commands as one")
	}
	if _, err := DecodeCommand(AppendCommand(nil, &Command{Op: OpSet, Set: &SetCmd{}})); !errors.Is(err, lattice.ErrInvalidArgument) {
		t.Fatalf("invalid command: %v", err)
	}
	if _, err := DecodeCommand([]byte{0xde, 0xad}); err == nil {
		t.Fatal("decoded garbage")
	}
}

func TestHasStateAndWaitApplied(t *testing.T) {
	s, err := Open(fastConfig("solo", t.TempDir(), "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if s.HasState() {
		t.Fatal("a new server claims cluster state")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err = s.WaitApplied(ctx, 1)
	cancel()
	if !errors.Is(err, lattice.ErrNoQuorum) {
		t.Fatalf("WaitApplied on an empty log: %v", err)
	}
	if err := s.Bootstrap([]Server{{ID: "solo", Address: s.Addr()}}); err != nil {
		t.Fatal(err)
	}
	if !s.HasState() {
		t.Fatal("a bootstrapped server has no state")
	}
	r, err := s.Propose(context.Background(), setCmd("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitApplied(context.Background(), r.Index); err != nil {
		t.Fatal(err)
	}
}
