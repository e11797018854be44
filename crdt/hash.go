package crdt

import (
	"math/bits"
	"sync"
)

// A fixed-seed wyhash-style hash: deterministic across processes (unlike
// hash/maphash), fast on short keys, good enough for digests and sharding.
const (
	hp0 = 0xa0761d6478bd642f
	hp1 = 0xe7037ed1a0b428db
	hp2 = 0x8ebc6af09c88c6e3
	hp3 = 0x589965cc75374cc3

	seedKey   = 0x2d358dccaa6c78a5
	seedEntry = 0x8bb84b93962eacc9
)

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// le64 and le32 slice first so the compiler checks bounds once per load
// (and combines the byte loads into one).
func le64[T ~string | ~[]byte](b T, i int) uint64 {
	x := b[i : i+8]
	return uint64(x[0]) | uint64(x[1])<<8 | uint64(x[2])<<16 | uint64(x[3])<<24 |
		uint64(x[4])<<32 | uint64(x[5])<<40 | uint64(x[6])<<48 | uint64(x[7])<<56
}

func le32[T ~string | ~[]byte](b T, i int) uint64 {
	x := b[i : i+4]
	return uint64(x[0]) | uint64(x[1])<<8 | uint64(x[2])<<16 | uint64(x[3])<<24
}

func hashOf[T ~string | ~[]byte](seed uint64, b T) uint64 {
	n := len(b)
	seed ^= hp0
	var a, c uint64
	switch {
	case n == 0:
	case n < 4:
		a = uint64(b[0])<<16 | uint64(b[n>>1])<<8 | uint64(b[n-1])
	case n <= 16:
		a = le32(b, 0)<<32 | le32(b, (n>>3)<<2)
		c = le32(b, n-4)<<32 | le32(b, n-4-((n>>3)<<2))
	default:
		i := 0
		for ; n-i > 16; i += 16 {
			seed = mum(le64(b, i)^hp1, le64(b, i+8)^seed)
		}
		a = le64(b, n-16)
		c = le64(b, n-8)
	}
	return mum(hp1^uint64(n), mum(a^hp1, c^seed^hp2)^hp3)
}

func hashBytes(seed uint64, b []byte) uint64  { return hashOf(seed, b) }
func hashString(seed uint64, s string) uint64 { return hashOf(seed, s) }

// mix64 combines two hashes non-linearly.
func mix64(a, b uint64) uint64 { return mum(a^hp0, b^hp3) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		bufPool.Put(b)
	}
}
