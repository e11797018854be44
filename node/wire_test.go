package node

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lattice-state/lattice/crdt"
	"github.com/lattice-state/lattice/raft"
)

func sampleBatch(t testing.TB) deltaBatch {
	ks := crdt.NewKeyspace(crdt.KeyspaceConfig{})
	at := crdt.Stamp{TS: crdt.MakeTimestamp(1_700_000_000_000, 1), Replica: "n1"}
	reg, err := ks.Apply("k1", crdt.Op{Kind: crdt.OpSet, Type: crdt.TypeRegister, Value: []byte(`"v"`)}, at)
	if err != nil {
		t.Fatal(err)
	}
	set, err := ks.Apply("k2", crdt.Op{Kind: crdt.OpAdd, Type: crdt.TypeORSet, Elements: []string{"a", "b"}}, at)
	if err != nil {
		t.Fatal(err)
	}
	return deltaBatch{From: "n1", SentAt: at.TS, Items: []crdt.KV{{Key: "k1", Entry: reg}, {Key: "k2", Entry: set}}}
}

func TestDeltaBatchRoundTrip(t *testing.T) {
	b := sampleBatch(t)
	msg := appendDeltaBatch(nil, b)
	got, err := decodeDeltaBatch(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.From != b.From || got.SentAt != b.SentAt || len(got.Items) != 2 {
		t.Fatalf("decoded %+v", got)
	}
	for i := range b.Items {
		if got.Items[i].Key != b.Items[i].Key || got.Items[i].Entry.Hash() != b.Items[i].Entry.Hash() {
			t.Fatalf("item %d differs: %+v vs %+v", i, got.Items[i], b.Items[i])
		}
	}
	// Re-encoding is byte-identical.
	if again := appendDeltaBatch(nil, got); !bytes.Equal(again, msg) {
		t.Fatal("re-encoding differs")
	}
}

func TestDeltaBatchRejectsGarbage(t *testing.T) {
	msg := appendDeltaBatch(nil, sampleBatch(t))
	cases := map[string][]byte{
		"empty":          {},
		"type only":      {byte(msgDeltas)},
		"wrong version":  {byte(msgDeltas), 99, 0},
		"wrong type":     append([]byte{byte(msgInvalid)}, msg[1:]...),
		"huge count":     {byte(msgDeltas), wireVersion, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"trailing bytes": append(append([]byte{}, msg...), 1, 2, 3),
	}
	for cut := 1; cut < len(msg); cut += 3 {
		cases["truncated"+string(rune('a'+cut%26))] = msg[:cut]
	}
	for name, p := range cases {
		if _, err := decodeDeltaBatch(p); !errors.Is(err, errBadMessage) {
			t.Errorf("%s: err = %v, want errBadMessage", name, err)
		}
	}
}

func TestOtherCodecsRejectGarbage(t *testing.T) {
	if _, err := decodeDigest([]byte{3, 1, 2}); !errors.Is(err, errBadMessage) {
		t.Errorf("digest: %v", err)
	}
	if _, err := decodeKeyHashes([]byte{0xff, 0xff, 0x03}); !errors.Is(err, errBadMessage) {
		t.Errorf("key hashes: %v", err)
	}
	if _, err := decodeStrings([]byte{2, 5, 'a'}); !errors.Is(err, errBadMessage) {
		t.Errorf("strings: %v", err)
	}
	if _, _, err := decodeDigestReply([]byte{9}); !errors.Is(err, errBadMessage) {
		t.Errorf("digest reply: %v", err)
	}
	if _, err := decodeResult([]byte{wireVersion}); !errors.Is(err, errBadMessage) {
		t.Errorf("result: %v", err)
	}
	if _, err := decodeMeta([]byte{wireVersion, 200}); !errors.Is(err, errBadMessage) {
		t.Errorf("meta: %v", err)
	}
	d := []uint64{1, 2, 3}
	got, err := decodeDigest(appendDigest(nil, d))
	if err != nil || len(got) != 3 || got[2] != 3 {
		t.Errorf("digest round trip: %v %v", got, err)
	}
}

func FuzzDecodeDeltaBatch(f *testing.F) {
	f.Add(appendDeltaBatch(nil, sampleBatch(f)))
	f.Add([]byte{byte(msgDeltas), wireVersion})
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := decodeDeltaBatch(p)
		if err != nil {
			return
		}
		// What decodes re-encodes to an equal batch.
		again, err := decodeDeltaBatch(appendDeltaBatch(nil, b))
		if err != nil || len(again.Items) != len(b.Items) || again.From != b.From {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzDecodeInternal(f *testing.F) {
	f.Add(appendDigestReply(nil, []int{1, 5}, []crdt.KeyHash{{Key: "a", Hash: 7}}))
	f.Add(appendResult(nil, sampleResult()))
	f.Fuzz(func(t *testing.T, p []byte) {
		_, _, _ = decodeDigestReply(p)
		_, _ = decodeResult(p)
		_, _ = decodeKeyHashes(p)
		_, _ = decodeStrings(p)
		_, _ = decodeDigest(p)
		_, _ = decodeMeta(p)
	})
}

func sampleResult() raft.Result {
	return raft.Result{Status: raft.StatusETagMismatch, ETag: "e1", Key: "k", Index: 42,
		Entries: sampleBatch(nopTB{}).Items}
}

func TestResultRoundTrip(t *testing.T) {
	r := sampleResult()
	got, err := decodeResult(appendResult(nil, r))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != r.Status || got.ETag != r.ETag || got.Key != r.Key || got.Index != r.Index || len(got.Entries) != 2 {
		t.Fatalf("got %+v", got)
	}
}

// nopTB lets sampleBatch build seeds outside a test.
type nopTB struct{ testing.TB }

func (nopTB) Fatal(args ...any) { panic(args) }
