package crdt

import (
	"encoding/binary"
	"slices"
	"sort"
)

// codecVersion is the first byte of every encoded Entry and chunk.
const codecVersion = 1

// AppendEntry appends the canonical, versioned encoding of e to dst. Equal
// entries encode to equal bytes (maps are written in key order).
func AppendEntry(dst []byte, e Entry) []byte {
	return appendEntryBody(append(dst, codecVersion), e)
}

// KV is one key and its entry: the unit of snapshot chunks and merges.
type KV struct {
	Key   string
	Entry Entry
}

// AppendChunk appends a versioned snapshot chunk holding kvs to dst.
func AppendChunk(dst []byte, kvs []KV) []byte {
	dst = append(dst, codecVersion)
	dst = binary.AppendUvarint(dst, uint64(len(kvs)))
	for _, kv := range kvs {
		dst = appendString(dst, kv.Key)
		dst = appendEntryBody(dst, kv.Entry)
	}
	return dst
}

func appendString[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendEntryBody(dst []byte, e Entry) []byte {
	dst = binary.AppendUvarint(dst, uint64(e.Inc.TS))
	dst = appendString(dst, e.Inc.Replica)
	dst = binary.AppendUvarint(dst, uint64(e.Mod))
	if e.State == nil {
		return append(dst, byte(TypeNone))
	}
	dst = append(dst, byte(e.State.Type()))
	return e.State.appendBody(dst)
}

const (
	regDeleted   = 1
	regHasExpiry = 2
)

func (r *Register) appendBody(dst []byte) []byte {
	var f byte
	if r.Deleted {
		f |= regDeleted
	}
	if r.ExpireAt != 0 {
		f |= regHasExpiry
	}
	dst = append(dst, f)
	dst = binary.AppendUvarint(dst, uint64(r.TS))
	dst = appendString(dst, r.Replica)
	if r.ExpireAt != 0 {
		dst = binary.AppendVarint(dst, r.ExpireAt)
	}
	return appendString(dst, r.Value)
}

func appendCounts(dst []byte, p []repCount) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(p)))
	for _, e := range p {
		dst = appendString(dst, e.Replica)
		dst = binary.AppendUvarint(dst, e.N)
	}
	return dst
}

func (g *GCounter) appendBody(dst []byte) []byte { return appendCounts(dst, g.p) }

func (c *PNCounter) appendBody(dst []byte) []byte { return appendCounts(appendCounts(dst, c.p), c.n) }

// replicaTable numbers the replicas of a causal value so dots encode as
// (index, counter) instead of repeating replica ids.
type replicaTable struct{ ids []ReplicaID }

func (t *replicaTable) index(r ReplicaID) int {
	i, _ := slices.BinarySearch(t.ids, r)
	return i
}

func (t *replicaTable) appendDot(dst []byte, d Dot) []byte {
	dst = binary.AppendUvarint(dst, uint64(t.index(d.Replica)))
	return binary.AppendUvarint(dst, d.Counter)
}

const flagPartial = 1

func (c *causal[S]) appendBody(dst []byte) []byte {
	rt := &replicaTable{ids: c.ctx.Replicas()}
	dst = binary.AppendUvarint(dst, uint64(len(rt.ids)))
	for _, r := range rt.ids {
		dst = appendString(dst, r)
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.ctx.vv)))
	for _, e := range c.ctx.vv {
		dst = binary.AppendUvarint(dst, uint64(rt.index(e.Replica)))
		dst = binary.AppendUvarint(dst, e.Max)
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.ctx.cloud)))
	for _, d := range c.ctx.cloud {
		dst = rt.appendDot(dst, d)
	}
	var f byte
	if c.partial {
		f |= flagPartial
	}
	dst = append(dst, f)
	return c.st.appendStore(dst, rt)
}

func (s dotFun[E]) appendStore(dst []byte, rt *replicaTable) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	for _, e := range s {
		dst = rt.appendDot(dst, e.dotOf())
		dst = e.appendElem(dst, rt)
	}
	return dst
}

func (Dot) appendElem(dst []byte, _ *replicaTable) []byte { return dst }

func (e regDot) appendElem(dst []byte, _ *replicaTable) []byte {
	dst = binary.AppendUvarint(dst, uint64(e.TS))
	return appendString(dst, e.Value)
}

func (e cntDot) appendElem(dst []byte, _ *replicaTable) []byte {
	return binary.AppendUvarint(dst, e.N)
}

func (e pnDot) appendElem(dst []byte, _ *replicaTable) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(dst, e.P), e.N)
}

func (e mvDot) appendElem(dst []byte, _ *replicaTable) []byte { return appendString(dst, e.Value) }

func (s *setStore) appendStore(dst []byte, rt *replicaTable) []byte {
	ks := make([]string, 0, s.m.len())
	for k := range s.m.all() {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	dst = binary.AppendUvarint(dst, uint64(len(ks)))
	for _, k := range ks {
		dst = appendString(dst, k)
		dots := s.m.at(k)
		dst = binary.AppendUvarint(dst, uint64(len(dots)))
		for _, d := range dots {
			dst = rt.appendDot(dst, d)
		}
	}
	return dst
}

func (s *mapStore) appendStore(dst []byte, rt *replicaTable) []byte {
	ks := s.sortedKeys(true)
	dst = binary.AppendUvarint(dst, uint64(len(ks)))
	for _, k := range ks {
		dst = appendString(dst, k.Name)
		dst = append(dst, byte(k.Type))
		dst = s.m.at(k).appendStore(dst, rt)
	}
	return dst
}
