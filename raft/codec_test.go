package raft

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lattice-state/lattice/crdt"
)

func sampleCommands(t testing.TB) []*Command {
	reg := newHarness(t)
	reg.one(set("x", "merged", now))
	e, _ := reg.get("x")
	merges := []crdt.KV{{Key: "x", Entry: e}, {Key: "c", Entry: counterEntry(t, 3)}}
	return []*Command{
		{Op: OpSet, RequestID: "r1", Now: now, Merges: merges, Set: &SetCmd{Key: "k", Value: []byte(`{"a":1}`), TTLSeconds: 30, ETag: "e1", HasETag: true, FirstWrite: true, Proposed: stamp(now, "n1")}},
		{Op: OpDelete, Now: -5, Delete: &DeleteCmd{Key: "k", ETag: "e2", HasETag: true, Proposed: stamp(now, "n2")}},
		{Op: OpTxn, RequestID: "t", Now: now, Txn: []TxnItem{
			{Set: &SetCmd{Key: "a", Value: []byte("1"), Proposed: stamp(now, "n1")}},
			{Delete: &DeleteCmd{Key: "b", FirstWrite: true, Proposed: stamp(now, "n3")}},
		}},
		{Op: OpMerge, Merges: merges, Keys: []string{"x"}},
		{Op: OpRead, Merges: merges[:1], Keys: []string{"x", "y"}},
		{Op: OpExpire, Now: now},
		{Op: OpCollect, Horizon: crdt.MakeTimestamp(now, 7)},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	cmds := sampleCommands(t)
	var enc [][]byte
	for _, c := range cmds {
		if err := c.validate(); err != nil {
			t.Fatalf("%v: %v", c.Op, err)
		}
		enc = append(enc, encodeCommand(nil, c))
	}
	got, err := decodeEntry(encodeEntry(enc))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cmds) {
		t.Fatalf("decoded %d commands", len(got))
	}
	for i := range got {
		// Encoding is canonical: re-encoding the decoded command gives the same bytes.
		if re := encodeCommand(nil, &got[i]); !bytes.Equal(re, enc[i]) {
			t.Fatalf("command %d (%v) does not round-trip", i, cmds[i].Op)
		}
	}
	if got[0].Set.TTLSeconds != 30 || !got[0].Set.FirstWrite || got[0].Set.Proposed != stamp(now, "n1") || len(got[0].Merges) != 2 {
		t.Fatalf("set decoded as %+v", got[0].Set)
	}
	if got[1].Now != -5 || got[2].Txn[1].Delete == nil || !got[2].Txn[1].Delete.FirstWrite {
		t.Fatalf("decoded %+v / %+v", got[1], got[2])
	}
	if got[6].Horizon != crdt.MakeTimestamp(now, 7) || got[4].Keys[1] != "y" {
		t.Fatal("collect/read fields lost")
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	cmds := sampleCommands(t)
	var enc [][]byte
	for _, c := range cmds {
		enc = append(enc, encodeCommand(nil, c))
	}
	entry := encodeEntry(enc)
	// Every strict prefix is rejected, never a panic.
	for n := range len(entry) {
		if _, err := decodeEntry(entry[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes decoded", n, len(entry))
		}
	}
	bad := [][]byte{
		nil,
		{2, 0},                           // unknown version
		{entryVersion, 0xff, 0xff, 0x7f}, // count larger than the input
		{entryVersion, 1, 1, byte(OpInvalid)},
		{entryVersion, 1, 1, byte(opEnd)},
		append(bytes.Clone(entry), 0), // trailing byte
	}
	for i, b := range bad {
		if _, err := decodeEntry(b); !errors.Is(err, errCorrupt) {
			t.Fatalf("case %d: err = %v", i, err)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []*Command{
		{},
		{Op: opEnd},
		{Op: OpSet},
		{Op: OpSet, Set: &SetCmd{}},
		{Op: OpSet, Set: &SetCmd{Key: "k", TTLSeconds: -1}},
		{Op: OpSet, Set: &SetCmd{Key: "k", TTLSeconds: maxTTLSeconds + 1}},
		{Op: OpDelete},
		{Op: OpTxn, Txn: []TxnItem{{}}},
		{Op: OpTxn, Txn: []TxnItem{{Set: &SetCmd{Key: "a"}, Delete: &DeleteCmd{Key: "a"}}}},
		{Op: OpTxn, Txn: []TxnItem{{Delete: &DeleteCmd{Proposed: stamp(now, "n1")}}}},
		{Op: OpSet, Set: &SetCmd{Key: "k"}}, // no replica in the stamp
		{Op: OpDelete, Set: &SetCmd{Key: "k", Proposed: stamp(now, "n1")}},
		{Op: OpRead, Keys: []string{""}},
		{Op: OpMerge, Merges: []crdt.KV{{}}},
	}
	for i, c := range bad {
		if err := c.validate(); err == nil {
			t.Fatalf("case %d (%v) validated", i, c.Op)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for _, c := range sampleCommands(f) {
		f.Add(encodeEntry([][]byte{encodeCommand(nil, c)}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := decodeEntry(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a canonical form that decodes to the same thing, and
		// applies without panicking (invalid commands get StatusInvalid).
		canon := reencode(cmds)
		again, err := decodeEntry(canon)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !bytes.Equal(reencode(again), canon) {
			t.Fatal("encoding is not canonical")
		}
		h := newHarness(t)
		h.f.applyEntry(1, cmds)
	})
}

func reencode(cmds []Command) []byte {
	enc := make([][]byte, len(cmds))
	for i := range cmds {
		enc[i] = encodeCommand(nil, &cmds[i])
	}
	return encodeEntry(enc)
}
