package crdt

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestCodecRoundTrip(t *testing.T) {
	forEachType(t, func(t *rapid.T, typ Type) {
		s := genValues(t, typ, 1)[0]
		e := Entry{
			Inc:   Stamp{TS: Timestamp(rapid.Uint64().Draw(t, "incTS")), Replica: genReplica.Draw(t, "incR")},
			Mod:   Timestamp(rapid.Uint64().Draw(t, "mod")),
			State: s,
		}
		b := AppendEntry([]byte("prefix"), e)[len("prefix"):]
		got, rest, err := DecodeEntry(append(b, "rest"...))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if string(rest) != "rest" {
			t.Fatalf("rest = %q", rest)
		}
		if !Equal(got, e) {
			t.Fatalf("round trip: %s != %s", dump(got.State), dump(e.State))
		}
		checkInvariants(t, got.State)
		if b2 := AppendEntry(nil, got); !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs")
		}
		if got.Hash() != e.Hash() || got.ETag() != e.ETag() {
			t.Fatalf("hash or etag changed by a round trip")
		}
	})
}

func TestCodecEntriesAndChunks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		es := genEntries(t, 3)
		kvs := []KV{{Key: "k1", Entry: es[0]}, {Key: "", Entry: es[1]}, {Key: "k\x00\xff", Entry: es[2]}}
		b := AppendChunk(nil, kvs)
		got, err := DecodeChunk(b)
		if err != nil {
			t.Fatalf("decode chunk: %v", err)
		}
		if len(got) != len(kvs) {
			t.Fatalf("got %d kvs", len(got))
		}
		for i := range kvs {
			if got[i].Key != kvs[i].Key || !Equal(got[i].Entry, kvs[i].Entry) {
				t.Fatalf("kv %d differs", i)
			}
		}
		if !bytes.Equal(AppendChunk(nil, got), b) {
			t.Fatalf("re-encoding differs")
		}
		// Every strict prefix is rejected, never a panic.
		for n := range len(b) {
			if _, err := DecodeChunk(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("prefix %d/%d: err %v", n, len(b), err)
			}
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	valid := AppendEntry(nil, Entry{State: &Register{Value: []byte("v"), TS: 5, Replica: "a"}})
	cases := map[string][]byte{
		"empty":           nil,
		"version":         append([]byte{9}, valid[1:]...),
		"unknown type":    {1, 0, 0, 0, 99},
		"huge count":      {1, 0, 0, 0, byte(TypeGCounter), 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":      {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"long string":     {1, 0, 50, 'a'},
		"register flags":  {1, 0, 0, 0, byte(TypeRegister), 0x80, 0, 0, 0},
		"zero count":      {1, 0, 0, 0, byte(TypeGCounter), 1, 1, 'a', 0},
		"unsorted counts": {1, 0, 0, 0, byte(TypeGCounter), 2, 1, 'b', 1, 1, 'a', 1},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := DecodeEntry(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
	if _, err := DecodeChunk(append(AppendChunk(nil, nil), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing bytes accepted: %v", err)
	}
}

// TestDecodeContextChecks: dots outside the context, a non-canonical
// cloud and maps nested too deep are corrupt.
func TestDecodeContextChecks(t *testing.T) {
	s := NewORSet()
	s.join(s.AddDelta("a", "x"))
	good := AppendEntry(nil, Entry{State: s})
	if _, _, err := DecodeEntry(good); err != nil {
		t.Fatal(err)
	}
	// Entry header (version, inc ts, inc replica, mod, type) is 5 bytes; then
	// the replica table {1, "a"}, vv {1, idx 0, max 1}, cloud {0}, flags, store.
	bad := bytes.Clone(good)
	bad[5+3+2] = 0 // vv max 0
	if _, _, err := DecodeEntry(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("vv max 0 accepted: %v", err)
	}
	var inner store = dotFun[Dot]{{Replica: "a", Counter: 1}}
	innerType := TypeFlag
	for range maxNesting + 2 {
		ms := newMapStore()
		ms.put(fieldKey{Name: "f", Type: innerType}, inner, false)
		inner, innerType = ms, TypeORMap
	}
	m := &ORMap{causal[*mapStore]{st: inner.(*mapStore), ctx: CausalContext{vv: []vvEntry{{Replica: "a", Max: 1}}}}}
	deep := AppendEntry(nil, Entry{State: m})
	if _, _, err := DecodeEntry(deep); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "too deep") {
		t.Fatalf("deep nesting: %v", err)
	}
}
