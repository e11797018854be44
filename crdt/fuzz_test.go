package crdt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sampleEntries returns entries of every type, full states and deltas,
// nested maps and tombstones: the seeds of the fuzz corpus.
func sampleEntries() []KV {
	k := NewKeyspace(KeyspaceConfig{Shards: 1, Buckets: 1})
	var out []KV
	apply := func(key string, op Op, ms int64, r string) {
		d, err := k.Apply(key, op, stamp(ms, r))
		if err != nil {
			panic(err)
		}
		out = append(out, KV{key + "-delta", d})
	}
	apply("reg", Op{Kind: OpSet, Value: []byte(`{"a":1}`), ExpireAt: 99_000}, 10, "n1")
	apply("tomb", Op{Kind: OpSet, Value: []byte(`1`)}, 10, "n1")
	apply("tomb", Op{Kind: OpDelete}, 11, "n2")
	apply("g", Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 7}, 12, "n1")
	apply("g", Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 1 << 40}, 13, "n2")
	apply("pn", Op{Kind: OpDecrement, Amount: 3}, 14, "n3")
	apply("set", Op{Kind: OpAdd, Elements: []string{"a", "b", "c"}}, 15, "n1")
	apply("set", Op{Kind: OpRemove, Elements: []string{"b"}}, 16, "n2")
	apply("set", Op{Kind: OpAdd, Elements: []string{"a"}}, 17, "n3")
	apply("flag", Op{Kind: OpEnable}, 18, "n1")
	apply("flag", Op{Kind: OpDisable}, 19, "n2")
	apply("mv", Op{Kind: OpAssign, Value: []byte(`"x"`)}, 20, "n1")
	apply("map", Op{Kind: OpMapUpdate, Field: "c", Nested: &Op{Kind: OpIncrement, Type: TypePNCounter, Amount: 2}}, 21, "n1")
	apply("map", Op{Kind: OpMapUpdate, Field: "r", Nested: &Op{Kind: OpSet, Value: []byte(`"v"`)}}, 22, "n2")
	apply("map", Op{Kind: OpMapUpdate, Field: "m", Nested: &Op{Kind: OpMapUpdate, Field: "s",
		Nested: &Op{Kind: OpAdd, Elements: []string{"e"}}}}, 23, "n3")
	apply("map", Op{Kind: OpMapUpdate, Field: "f", Nested: &Op{Kind: OpEnable}}, 24, "n1")
	apply("map", Op{Kind: OpMapUpdate, Field: "g", Nested: &Op{Kind: OpIncrement, Type: TypeGCounter, Amount: 1}}, 24, "n2")
	apply("map", Op{Kind: OpMapUpdate, Field: "v", Nested: &Op{Kind: OpAssign, Value: []byte(`2`)}}, 25, "n1")
	apply("map", Op{Kind: OpMapRemove, Field: "c"}, 26, "n2")
	apply("dead", Op{Kind: OpAdd, Elements: []string{"x"}}, 27, "n1")
	apply("dead", Op{Kind: OpDelete}, 28, "n1")
	sn := k.Snapshot()
	defer sn.Release()
	sn.Range(func(key string, e Entry) bool {
		out = append(out, KV{key, e})
		return true
	})
	return out
}

// checkSeedDecodes checks that a committed seed is a valid encoding.
func checkSeedDecodes(t *testing.T, name, path string, file []byte) {
	lines := strings.Split(strings.TrimSpace(string(file)), "\n")
	for _, l := range lines[1:] {
		arg, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(l, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if name == "FuzzDecodeChunk" {
			_, err = DecodeChunk([]byte(arg))
		} else {
			_, _, err = DecodeEntry([]byte(arg))
		}
		if err != nil {
			t.Fatalf("%s does not decode: %v", path, err)
		}
	}
}

// checkDecoded exercises a decoded entry: it re-encodes to an equal entry,
// joins with itself idempotently, and survives views and keyspace use.
func checkDecoded(t *testing.T, key string, e Entry) {
	re := AppendEntry(nil, e)
	e2, rest, err := DecodeEntry(re)
	if err != nil || len(rest) != 0 || !Equal(e, e2) {
		t.Fatalf("re-decode: %v, rest %d, equal %v", err, len(rest), Equal(e, e2))
	}
	if j, changed := JoinEntries(e, e); changed || !Equal(j, e) {
		t.Fatalf("join with itself changed the entry")
	}
	_ = e.JSON(0)
	_ = e.ETag()
	k := NewKeyspace(KeyspaceConfig{Shards: 1, Buckets: 4})
	k.Join(key, e)
	k.Join(key, e2)
	got, _ := k.Get(key)
	if !Leq(e, got) {
		t.Fatalf("joined entry not below the keyspace's")
	}
	if typ := e.Type(); typ != TypeNone {
		op := Op{Kind: OpDelete}
		if typ == TypeORSet {
			op = Op{Kind: OpAdd, Elements: []string{"fz"}}
		}
		_, _ = k.Apply(key, op, stamp(1<<40, "fuzz"))
	}
	k.Digest()
}

func FuzzDecodeEntry(f *testing.F) {
	for _, kv := range sampleEntries() {
		f.Add(AppendEntry(nil, kv.Entry))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, rest, err := DecodeEntry(b)
		if err != nil {
			return
		}
		if len(rest) > len(b) {
			t.Fatal("rest longer than input")
		}
		checkDecoded(t, "k", e)
	})
}

func FuzzDecodeChunk(f *testing.F) {
	kvs := sampleEntries()
	f.Add(AppendChunk(nil, kvs))
	f.Add(AppendChunk(nil, kvs[:3]))
	f.Add(AppendChunk(nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		kvs, err := DecodeChunk(b)
		if err != nil {
			return
		}
		got, err := DecodeChunk(AppendChunk(nil, kvs))
		if err != nil || len(got) != len(kvs) {
			t.Fatalf("re-decode: %v", err)
		}
		for i, kv := range kvs {
			if got[i].Key != kv.Key || !Equal(got[i].Entry, kv.Entry) {
				t.Fatalf("kv %d differs after a round trip", i)
			}
			checkDecoded(t, kv.Key, kv.Entry)
		}
	})
}

// FuzzJoinDecoded joins two decoded entries both ways and in a keyspace:
// no panics, and the join is above both operands.
func FuzzJoinDecoded(f *testing.F) {
	kvs := sampleEntries()
	for i := range kvs {
		j := (i*7 + 3) % len(kvs)
		f.Add(AppendEntry(nil, kvs[i].Entry), AppendEntry(nil, kvs[j].Entry))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ea, _, err := DecodeEntry(a)
		if err != nil {
			return
		}
		eb, _, err := DecodeEntry(b)
		if err != nil {
			return
		}
		ab, _ := JoinEntries(ea, eb)
		ba, _ := JoinEntries(eb, ea)
		if !Leq(ea, ab) || !Leq(eb, ab) || !Leq(ea, ba) {
			t.Fatal("join not above an operand")
		}
		k := NewKeyspace(KeyspaceConfig{Shards: 1, Buckets: 4})
		k.Join("k", ea)
		k.Join("k", eb)
		_ = ab.JSON(0)
		_ = AppendEntry(nil, ab)
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from sampleEntries when
// CRDT_WRITE_FUZZ_CORPUS=1; otherwise it checks the committed seeds decode.
func TestWriteFuzzCorpus(t *testing.T) {
	kvs := sampleEntries()
	corpus := map[string][][][]byte{}
	for i, kv := range kvs {
		corpus["FuzzDecodeEntry"] = append(corpus["FuzzDecodeEntry"], [][]byte{AppendEntry(nil, kv.Entry)})
		j := (i*7 + 3) % len(kvs)
		corpus["FuzzJoinDecoded"] = append(corpus["FuzzJoinDecoded"], [][]byte{AppendEntry(nil, kv.Entry), AppendEntry(nil, kvs[j].Entry)})
	}
	for i := 0; i < len(kvs); i += 6 {
		corpus["FuzzDecodeChunk"] = append(corpus["FuzzDecodeChunk"], [][]byte{AppendChunk(nil, kvs[i:min(i+6, len(kvs))])})
	}
	write := os.Getenv("CRDT_WRITE_FUZZ_CORPUS") == "1"
	for name, seeds := range corpus {
		dir := filepath.Join("testdata", "fuzz", name)
		for i, args := range seeds {
			var buf bytes.Buffer
			buf.WriteString("go test fuzz v1\n")
			for _, a := range args {
				fmt.Fprintf(&buf, "[]byte(%q)\n", a)
			}
			path := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
			if write {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v (regenerate with CRDT_WRITE_FUZZ_CORPUS=1)", path, err)
			}
			checkSeedDecodes(t, name, path, got)
		}
	}
}
