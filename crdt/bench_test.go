package crdt

import (
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Benchmarks of the hot paths. Targets on one core (go test -run x -bench .
// -benchtime 200000x -cpu 1 ./crdt/): LWW apply and join under 300 ns,
// OR-set add under 1 µs, 1M LWW keys of 100-byte values under 250 MiB, a
// digest after writes all over 1M keys under 1 ms (BenchmarkDigestAfterWrites:
// run it alone with -benchtime 20x).

func benchValue() []byte {
	v := make([]byte, 100)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}

func benchKeyNames(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	return keys
}

// newBenchRegisters returns a keyspace holding a register under each key.
func newBenchRegisters(b *testing.B, keys []string, op Op) *Keyspace {
	k := NewKeyspace(KeyspaceConfig{})
	for _, key := range keys {
		if _, err := k.Apply(key, op, Stamp{TS: 1, Replica: "n0"}); err != nil {
			b.Fatal(err)
		}
	}
	return k
}

// The LWW benchmarks overwrite existing keys round-robin: 1k keys stay in
// the CPU caches; with 100k keys most lookups miss them.

func BenchmarkLWWApply(b *testing.B)     { benchLWWApply(b, 1_000) }
func BenchmarkLWWApply100k(b *testing.B) { benchLWWApply(b, 100_000) }
func BenchmarkLWWJoin(b *testing.B)      { benchLWWJoin(b, 1_000) }
func BenchmarkLWWJoin100k(b *testing.B)  { benchLWWJoin(b, 100_000) }

func benchLWWApply(b *testing.B, n int) {
	keys := benchKeyNames(n)
	op := Op{Kind: OpSet, Type: TypeRegister, Value: benchValue()}
	k := newBenchRegisters(b, keys, op)
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := range b.N {
		if _, err := k.Apply(keys[i%n], op, Stamp{TS: Timestamp(i + 2), Replica: "n1"}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// benchLWWJoin joins remote register deltas (as decoded from gossip) that
// each win over the current value.
func benchLWWJoin(b *testing.B, n int) {
	keys := benchKeyNames(n)
	v := benchValue()
	k := newBenchRegisters(b, keys, Op{Kind: OpSet, Value: v})
	deltas := make([]Entry, b.N)
	for i := range deltas {
		ts := Timestamp(i + 2)
		deltas[i] = Entry{Mod: ts, State: &Register{Value: v, TS: ts, Replica: "n2"}}
	}
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := range b.N {
		if ch, _ := k.Join(keys[i%n], deltas[i]); !ch {
			b.Fatal("delta did not change the register")
		}
	}
	cpu.report(b)
}

// BenchmarkDigestAfterWrites measures Digest on 1M register keys after
// writes to every one of the 4096 buckets (one key each), what a busy
// node's anti-entropy and fold-in repair see every second. The writes are
// not timed; cpu-ns/op is the Digest's alone. Each op writes 4096 keys, so
// run it with a small -benchtime (20x).
func BenchmarkDigestAfterWrites(b *testing.B) {
	const n = 1_000_000
	keys := benchKeyNames(n)
	op := Op{Kind: OpSet, Value: benchValue()}
	k := newBenchRegisters(b, keys, op)
	perBucket := make([]string, len(k.Digest()))
	for _, key := range keys {
		if bk := k.Bucket(key); perBucket[bk] == "" {
			perBucket[bk] = key
		}
	}
	if slices.Contains(perBucket, "") {
		b.Fatal("a bucket has no key")
	}
	runtime.GC() // no collection of the setup's garbage during the timed digests
	ts := Timestamp(1)
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for _, key := range perBucket {
			ts++
			if _, err := k.Apply(key, op, Stamp{TS: ts, Replica: "n1"}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := cpuNow()
		k.Digest()
		cpu += cpuNow() - start
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkLWWEncode(b *testing.B) {
	e := Entry{Mod: 12345, State: &Register{Value: benchValue(), TS: 12345, Replica: "node-1"}}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	cpu := startCPU(b)
	for range b.N {
		buf = AppendEntry(buf[:0], e)
	}
	b.SetBytes(int64(len(buf)))
	cpu.report(b)
}

func BenchmarkLWWDecode(b *testing.B) {
	enc := AppendEntry(nil, Entry{Mod: 12345, State: &Register{Value: benchValue(), TS: 12345, Replica: "node-1"}})
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for range b.N {
		if _, _, err := DecodeEntry(enc); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

const setSize = 10_000

func benchElems() []string {
	el := make([]string, setSize)
	for i := range el {
		el[i] = "element-" + strconv.Itoa(i)
	}
	return el
}

// newBenchSet returns keyspaces a and b holding the same 10k-element set under "s".
func newBenchSet(b *testing.B, elems []string) (*Keyspace, *Keyspace) {
	ka, kb := NewKeyspace(KeyspaceConfig{}), NewKeyspace(KeyspaceConfig{})
	for i, e := range elems {
		d, err := ka.Apply("s", Op{Kind: OpAdd, Elements: []string{e}}, Stamp{TS: Timestamp(i + 1), Replica: "n1"})
		if err != nil {
			b.Fatal(err)
		}
		kb.Join("s", d)
	}
	return ka, kb
}

func BenchmarkORSetAdd(b *testing.B) {
	elems := benchElems()
	k, _ := newBenchSet(b, elems)
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := range b.N {
		// Re-adding keeps the set at 10k elements; each add creates a dot.
		op := Op{Kind: OpAdd, Elements: elems[i%setSize : i%setSize+1]}
		if _, err := k.Apply("s", op, Stamp{TS: Timestamp(setSize + i + 1), Replica: "n1"}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

func BenchmarkORSetJoin(b *testing.B) {
	elems := benchElems()
	ka, kb := newBenchSet(b, elems)
	deltas := make([]Entry, b.N)
	for i := range deltas {
		op := Op{Kind: OpAdd, Elements: elems[i%setSize : i%setSize+1]}
		if i%4 == 3 {
			op.Kind = OpRemove
		}
		d, err := kb.Apply("s", op, Stamp{TS: Timestamp(setSize + i + 1), Replica: "n2"})
		if err != nil {
			b.Fatal(err)
		}
		deltas[i] = d
	}
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := range b.N {
		ka.Join("s", deltas[i])
	}
	cpu.report(b)
}

func benchSetEntry(b *testing.B) Entry {
	k, _ := newBenchSet(b, benchElems())
	e, _ := k.Get("s")
	return e
}

// BenchmarkORSetEncodeFull encodes the whole 10k-element set; one op is one
// element's share (b.N elements are encoded, in whole sets).
func BenchmarkORSetEncodeFull(b *testing.B) {
	e := benchSetEntry(b)
	buf := AppendEntry(nil, e)
	b.SetBytes(int64(len(buf) / setSize))
	b.ReportAllocs()
	cpu := startCPU(b)
	for done := 0; done < b.N; done += setSize {
		buf = AppendEntry(buf[:0], e)
	}
	cpu.report(b)
}

// BenchmarkORSetDecodeFull decodes the whole 10k-element set; one op is one
// element's share.
func BenchmarkORSetDecodeFull(b *testing.B) {
	enc := AppendEntry(nil, benchSetEntry(b))
	b.SetBytes(int64(len(enc) / setSize))
	b.ReportAllocs()
	cpu := startCPU(b)
	for done := 0; done < b.N; done += setSize {
		if _, _, err := DecodeEntry(enc); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkORSetDeltaCodec encodes and decodes the delta of one add to the 10k set.
func BenchmarkORSetDeltaCodec(b *testing.B) {
	elems := benchElems()
	k, _ := newBenchSet(b, elems)
	d, _ := k.Apply("s", Op{Kind: OpAdd, Elements: elems[:1]}, Stamp{TS: setSize + 1, Replica: "n1"})
	var buf []byte
	b.ReportAllocs()
	cpu := startCPU(b)
	for range b.N {
		buf = AppendEntry(buf[:0], d)
		if _, _, err := DecodeEntry(buf); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkHeap1MLWW reports the heap held by a keyspace of 1M register
// keys with 100-byte values (the loop only reads them back).
func BenchmarkHeap1MLWW(b *testing.B) {
	const n = 1_000_000
	keys := benchKeyNames(n)
	v := benchValue()
	before := heapInUse()
	k := NewKeyspace(KeyspaceConfig{})
	for i, key := range keys {
		if _, err := k.Apply(key, Op{Kind: OpSet, Value: v}, Stamp{TS: Timestamp(i + 1), Replica: "n1"}); err != nil {
			b.Fatal(err)
		}
	}
	heap := heapInUse() - before
	b.ResetTimer()
	for i := range b.N {
		if _, ok := k.Get(keys[i%n]); !ok {
			b.Fatal("missing key")
		}
	}
	b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(heap)/n, "B/key")
	b.ReportMetric(float64(k.MemoryBytes())/(1<<20), "MiB-accounted")
	runtime.KeepAlive(k)
}

// BenchmarkHeap1MLWWNode reports the heap of a node's two keyspaces holding
// 1M register keys of 100-byte values: the replica written locally (Apply),
// the committed state decoded entry by entry (as from the Raft log), and the
// committed entries joined back into the replica (raft OnApply).
func BenchmarkHeap1MLWWNode(b *testing.B) {
	const n = 1_000_000
	const rep = ReplicaID("node-1.1804b2f3c4d5e6f7") // node id + boot epoch
	keys := benchKeyNames(n)
	v := benchValue()
	before := heapInUse()
	replica, committed := NewKeyspace(KeyspaceConfig{}), NewKeyspace(KeyspaceConfig{})
	var buf []byte
	for i, key := range keys {
		d, err := replica.Apply(key, Op{Kind: OpSet, Value: v}, Stamp{TS: Timestamp(i + 1), Replica: rep})
		if err != nil {
			b.Fatal(err)
		}
		buf = AppendEntry(buf[:0], d)
		e, _, err := DecodeEntry(buf)
		if err != nil {
			b.Fatal(err)
		}
		committed.Join(key, e)
		ce, _ := committed.Get(key)
		replica.Join(key, ce)
	}
	heap := heapInUse() - before
	b.ResetTimer()
	for i := range b.N {
		if _, ok := replica.Get(keys[i%n]); !ok {
			b.Fatal("missing key")
		}
	}
	b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(heap)/n, "B/key")
	runtime.KeepAlive(replica)
	runtime.KeepAlive(committed)
}

// cpuTimer reports the process CPU time per op ("cpu-ns/op"): with -cpu 1
// it is the benchmark's own work plus its GC, and unlike ns/op it does not
// grow when other processes share the machine.
type cpuTimer struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuTimer {
	b.ResetTimer()
	return &cpuTimer{start: cpuNow()}
}

func (c *cpuTimer) report(b *testing.B) {
	b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
}
