package crdt

import (
	"encoding/binary"
	"fmt"
)

// Decoders never panic on garbage and never allocate more than the input
// justifies: every count is checked against the bytes left before anything
// is allocated for it, and nesting is bounded.

// maxCounter bounds dot counters and version vector entries on decode, far
// above anything a replica generates, so counter arithmetic cannot wrap.
const maxCounter = 1 << 62

// DecodeEntry decodes one entry written by AppendEntry and returns the bytes
// after it. Errors wrap ErrCorrupt.
func DecodeEntry(b []byte) (Entry, []byte, error) {
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != codecVersion {
		r.fail(fmt.Sprintf("entry version %d", v))
	}
	e := r.entryBody()
	if r.err != nil {
		return Entry{}, nil, r.err
	}
	return e, r.b, nil
}

// DecodeChunk decodes a snapshot chunk written by AppendChunk. Errors wrap ErrCorrupt.
func DecodeChunk(b []byte) ([]KV, error) {
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != codecVersion {
		r.fail(fmt.Sprintf("chunk version %d", v))
	}
	n := r.count(6) // key length + the smallest entry body
	kvs := make([]KV, 0, n)
	for range n {
		k := r.str()
		e := r.entryBody()
		if r.err != nil {
			return nil, r.err
		}
		kvs = append(kvs, KV{Key: k, Entry: e})
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes after chunk")
	}
	if r.err != nil {
		return nil, r.err
	}
	return kvs, nil
}

type reader struct {
	b       []byte
	err     error
	lastRep ReplicaID // the last replica id read, reused to save lookups
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	r.b = nil
}

func (r *reader) u8() byte {
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items each encoded in at least minSize bytes.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/minSize) {
		r.fail("count exceeds input")
		return 0
	}
	return int(n)
}

func (r *reader) raw() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length exceeds input")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.raw()) }

// replica reads a replica id; consecutive entries of a chunk usually name
// the same few replicas, which then share one string.
func (r *reader) replica() ReplicaID {
	v := r.raw()
	if string(v) != string(r.lastRep) {
		r.lastRep = internReplica(v)
	}
	return r.lastRep
}

// bytes returns a copy (nil when empty), so decoded values never pin the input.
func (r *reader) bytes() []byte {
	v := r.raw()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (r *reader) entryBody() Entry {
	var e Entry
	e.Inc.TS = Timestamp(r.uvarint())
	e.Inc.Replica = r.replica()
	e.Mod = Timestamp(r.uvarint())
	t := Type(r.u8())
	if r.err != nil {
		return Entry{}
	}
	switch t {
	case TypeNone:
	case TypeRegister:
		e.State = r.register()
	case TypeGCounter:
		e.State = &GCounter{p: r.counts()}
	case TypePNCounter:
		p := r.counts()
		e.State = &PNCounter{p: p, n: r.counts()}
	case TypeORSet:
		e.State = &ORSet{decodeCausal[*setStore](r, TypeORSet)}
	case TypeFlag:
		e.State = &Flag{decodeCausal[dotFun[Dot]](r, TypeFlag)}
	case TypeMVRegister:
		e.State = &MVRegister{decodeCausal[dotFun[mvDot]](r, TypeMVRegister)}
	case TypeORMap:
		e.State = &ORMap{decodeCausal[*mapStore](r, TypeORMap)}
	default:
		r.fail(fmt.Sprintf("unknown type %d", t))
	}
	if r.err != nil {
		return Entry{}
	}
	return e
}

func (r *reader) register() *Register {
	f := r.u8()
	if f&^(regDeleted|regHasExpiry) != 0 {
		r.fail("register flags")
	}
	ts := Timestamp(r.uvarint())
	rep := r.replica()
	var exp int64
	if f&regHasExpiry != 0 {
		if exp = r.varint(); exp == 0 {
			r.fail("register expiry 0")
		}
	}
	reg := newRegisterValue(r.raw())
	reg.TS, reg.Replica, reg.ExpireAt, reg.Deleted = ts, rep, exp, f&regDeleted != 0
	return reg
}

func (r *reader) counts() []repCount {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	p := make([]repCount, 0, n)
	for range n {
		e := repCount{Replica: r.replica(), N: r.uvarint()}
		if r.err != nil {
			return nil
		}
		if e.N == 0 || (len(p) > 0 && p[len(p)-1].Replica >= e.Replica) {
			r.fail("counter entries not canonical")
			return nil
		}
		p = append(p, e)
	}
	return p
}

// causalReader carries what the store decoders of one causal value share.
type causalReader struct {
	*reader
	rt      replicaTable
	ctx     *CausalContext
	partial bool
}

func decodeCausal[S store](r *reader, t Type) causal[S] {
	var c causal[S]
	cr := causalReader{reader: r, ctx: &c.ctx}
	nr := r.count(1)
	cr.rt.ids = make([]ReplicaID, 0, nr)
	for range nr {
		id := r.replica()
		if n := len(cr.rt.ids); n > 0 && cr.rt.ids[n-1] >= id {
			r.fail("replica table not sorted")
		}
		if r.err != nil {
			return c
		}
		cr.rt.ids = append(cr.rt.ids, id)
	}
	nvv := r.count(2)
	if nvv > 0 {
		c.ctx.vv = make([]vvEntry, 0, nvv)
	}
	for range nvv {
		i := cr.index()
		m := r.uvarint()
		if r.err != nil {
			return c
		}
		e := vvEntry{Replica: cr.rt.ids[i], Max: m}
		if m == 0 || m >= maxCounter || (len(c.ctx.vv) > 0 && c.ctx.vv[len(c.ctx.vv)-1].Replica >= e.Replica) {
			r.fail("version vector not canonical")
			return c
		}
		c.ctx.vv = append(c.ctx.vv, e)
	}
	nc := r.count(2)
	if nc > 0 {
		c.ctx.cloud = make([]Dot, 0, nc)
	}
	for range nc {
		d := cr.dot()
		if r.err != nil {
			return c
		}
		if d.Counter <= c.ctx.vvMax(d.Replica)+1 || (len(c.ctx.cloud) > 0 && c.ctx.cloud[len(c.ctx.cloud)-1].Compare(d) >= 0) {
			r.fail("dot cloud not canonical")
			return c
		}
		c.ctx.cloud = append(c.ctx.cloud, d)
	}
	if r.err == nil && len(c.ctx.Replicas()) != nr {
		r.fail("unused replica in table")
	}
	f := r.u8()
	if f&^flagPartial != 0 || (f&flagPartial != 0 && t != TypeORSet && t != TypeORMap) {
		r.fail("causal flags")
	}
	cr.partial = f&flagPartial != 0
	c.partial = cr.partial
	st := cr.store(t, 0)
	if r.err != nil {
		return c
	}
	c.st = st.(S)
	return c
}

func (cr *causalReader) index() int {
	i := cr.uvarint()
	if i >= uint64(len(cr.rt.ids)) {
		cr.fail("replica index out of range")
		return 0
	}
	return int(i)
}

func (cr *causalReader) dot() Dot {
	i := cr.index()
	n := cr.uvarint()
	if cr.err != nil {
		return Dot{}
	}
	if n == 0 || n >= maxCounter {
		cr.fail("dot counter out of range")
	}
	return Dot{Replica: cr.rt.ids[i], Counter: n}
}

// storeDot reads a dot of a store: it must be in the context and above prev.
func (cr *causalReader) storeDot(prev *Dot) Dot {
	d := cr.dot()
	if cr.err != nil {
		return Dot{}
	}
	if !cr.ctx.Contains(d) || (prev != nil && prev.Compare(d) >= 0) {
		cr.fail("store dot not canonical or not in context")
	}
	return d
}

func (cr *causalReader) store(t Type, depth int) store {
	switch t {
	case TypeRegister:
		return decodeFun[regDot](cr)
	case TypeGCounter:
		return decodeFun[cntDot](cr)
	case TypePNCounter:
		return decodeFun[pnDot](cr)
	case TypeORSet:
		return cr.setStore()
	case TypeFlag:
		return decodeFun[Dot](cr)
	case TypeMVRegister:
		return decodeFun[mvDot](cr)
	case TypeORMap:
		return cr.mapStore(depth)
	}
	cr.fail(fmt.Sprintf("unknown field type %d", t))
	return nil
}

func decodeFun[E dotted[E]](cr *causalReader) store {
	n := cr.count(2)
	if n == 0 {
		return dotFun[E](nil)
	}
	s := make(dotFun[E], 0, n)
	var z E
	for i := range n {
		var prev *Dot
		if i > 0 {
			p := s[i-1].dotOf()
			prev = &p
		}
		d := cr.storeDot(prev)
		e := z.decodeElem(cr.reader, d)
		if cr.err != nil {
			return dotFun[E](nil)
		}
		s = append(s, e)
	}
	return s
}

func (Dot) decodeElem(_ *reader, d Dot) Dot { return d }

func (regDot) decodeElem(r *reader, d Dot) regDot {
	return regDot{Dot: d, TS: Timestamp(r.uvarint()), Value: r.bytes()}
}

func (cntDot) decodeElem(r *reader, d Dot) cntDot { return cntDot{Dot: d, N: r.uvarint()} }

func (pnDot) decodeElem(r *reader, d Dot) pnDot {
	p := r.uvarint()
	return pnDot{Dot: d, P: p, N: r.uvarint()}
}

func (mvDot) decodeElem(r *reader, d Dot) mvDot { return mvDot{Dot: d, Value: r.bytes()} }

func (cr *causalReader) setStore() store {
	s := newSetStore()
	n := cr.count(2)
	prevKey := ""
	for i := range n {
		k := cr.str()
		nd := cr.count(2)
		if cr.err != nil {
			return s
		}
		if (i > 0 && k <= prevKey) || (nd == 0 && !cr.partial) {
			cr.fail("set elements not canonical")
			return s
		}
		prevKey = k
		var dots []Dot
		if nd > 0 {
			dots = make([]Dot, 0, nd)
		}
		for j := range nd {
			var prev *Dot
			if j > 0 {
				prev = &dots[j-1]
			}
			d := cr.storeDot(prev)
			if cr.err != nil {
				return s
			}
			dots = append(dots, d)
		}
		s.put(k, nil, false, dots, true)
	}
	return s
}

func (cr *causalReader) mapStore(depth int) store {
	s := newMapStore()
	if depth >= maxNesting {
		cr.fail("maps nested too deep")
		return s
	}
	n := cr.count(3)
	var prev fieldKey
	for i := range n {
		k := fieldKey{Name: cr.str(), Type: Type(cr.u8())}
		if cr.err != nil {
			return s
		}
		if k.Type == TypeNone || !k.Type.valid() || (i > 0 && prev.compare(k) >= 0) {
			cr.fail("map fields not canonical")
			return s
		}
		prev = k
		f := cr.store(k.Type, depth+1)
		if cr.err != nil {
			return s
		}
		if f.empty() && !cr.partial {
			cr.fail("empty map field in a full state")
			return s
		}
		s.put(k, f, true)
	}
	return s
}
