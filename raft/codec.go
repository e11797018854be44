package raft

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lattice-state/lattice/crdt"
)

// Log entry envelope (all integers are varints):
//
//	entry   = version:byte(1) count:uvarint { len:uvarint command:bytes }
//	command = op:byte requestID:str now:varint merges:kvs payload
//	kvs     = count:uvarint { key:str crdt.AppendEntry }
//	str     = len:uvarint bytes
//
// The payload depends on the op (see appendPayload). A new op gets a new Op value and its own
// payload; existing payloads never change shape without a new envelope version.
const entryVersion = 1

// errCorrupt reports bytes that are not a valid entry or command.
var errCorrupt = errors.New("raft: corrupt command")

// encodeCommand returns c's encoding (one element of an entry).
func encodeCommand(dst []byte, c *Command) []byte {
	dst = append(dst, byte(c.Op))
	dst = appendStr(dst, c.RequestID)
	dst = binary.AppendVarint(dst, c.Now)
	dst = appendKVs(dst, c.Merges)
	switch c.Op {
	case OpSet:
		dst = appendSet(dst, c.Set)
	case OpDelete:
		dst = appendDelete(dst, c.Delete)
	case OpTxn:
		dst = binary.AppendUvarint(dst, uint64(len(c.Txn)))
		for _, it := range c.Txn {
			if it.Set != nil {
				dst = append(dst, byte(OpSet))
				dst = appendSet(dst, it.Set)
			} else {
				dst = append(dst, byte(OpDelete))
				dst = appendDelete(dst, it.Delete)
			}
		}
	case OpMerge, OpRead:
		dst = binary.AppendUvarint(dst, uint64(len(c.Keys)))
		for _, k := range c.Keys {
			dst = appendStr(dst, k)
		}
	case OpCollect:
		dst = binary.AppendUvarint(dst, uint64(c.Horizon))
	}
	return dst
}

// encodeEntry builds one log entry from already encoded commands.
func encodeEntry(cmds [][]byte) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, c := range cmds {
		n += binary.MaxVarintLen64 + len(c)
	}
	dst := make([]byte, 0, n)
	dst = append(dst, entryVersion)
	dst = binary.AppendUvarint(dst, uint64(len(cmds)))
	for _, c := range cmds {
		dst = binary.AppendUvarint(dst, uint64(len(c)))
		dst = append(dst, c...)
	}
	return dst
}

// decodeEntry decodes a log entry into its commands.
func decodeEntry(b []byte) ([]Command, error) {
	if len(b) == 0 || b[0] != entryVersion {
		return nil, fmt.Errorf("%w: unknown entry version", errCorrupt)
	}
	d := decoder{b: b[1:]}
	n := d.count()
	cmds := make([]Command, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		body := d.bytes()
		if d.err != nil {
			break
		}
		c, err := decodeCommand(body)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return cmds, nil
}

// decodeCommand decodes one command produced by encodeCommand.
func decodeCommand(b []byte) (Command, error) {
	d := decoder{b: b}
	var c Command
	c.Op = Op(d.byte())
	c.RequestID = d.str()
	c.Now = d.varint()
	c.Merges = d.kvs()
	switch c.Op {
	case OpSet:
		c.Set = d.set()
	case OpDelete:
		c.Delete = d.delete()
	case OpTxn:
		n := d.count()
		c.Txn = make([]TxnItem, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			switch Op(d.byte()) {
			case OpSet:
				c.Txn = append(c.Txn, TxnItem{Set: d.set()})
			case OpDelete:
				c.Txn = append(c.Txn, TxnItem{Delete: d.delete()})
			default:
				d.fail("bad txn item")
			}
		}
	case OpMerge, OpRead:
		n := d.count()
		c.Keys = make([]string, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			c.Keys = append(c.Keys, d.str())
		}
	case OpCollect:
		c.Horizon = crdt.Timestamp(d.uvarint())
	case OpExpire:
	default:
		d.fail("unknown op " + c.Op.String())
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return c, d.err
}

const (
	flagHasETag    = 1 << 0
	flagFirstWrite = 1 << 1
)

func appendSet(dst []byte, s *SetCmd) []byte {
	dst = appendStr(dst, s.Key)
	dst = appendStr(dst, string(s.Value))
	dst = binary.AppendVarint(dst, s.TTLSeconds)
	dst = appendChecks(dst, s.ETag, s.HasETag, s.FirstWrite)
	return appendStamp(dst, s.Proposed)
}

func appendDelete(dst []byte, s *DeleteCmd) []byte {
	dst = appendStr(dst, s.Key)
	dst = appendChecks(dst, s.ETag, s.HasETag, s.FirstWrite)
	return appendStamp(dst, s.Proposed)
}

func appendChecks(dst []byte, etag string, hasETag, firstWrite bool) []byte {
	var flags byte
	if hasETag {
		flags |= flagHasETag
	}
	if firstWrite {
		flags |= flagFirstWrite
	}
	dst = append(dst, flags)
	return appendStr(dst, etag)
}

func appendStamp(dst []byte, s crdt.Stamp) []byte {
	dst = binary.AppendUvarint(dst, uint64(s.TS))
	return appendStr(dst, string(s.Replica))
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendKVs(dst []byte, kvs []crdt.KV) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(kvs)))
	for _, kv := range kvs {
		dst = appendStr(dst, kv.Key)
		dst = crdt.AppendEntry(dst, kv.Entry)
	}
	return dst
}

// decoder reads the envelope with a sticky error; it never allocates more than the input holds.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCorrupt, why)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an element count, refusing counts the remaining bytes cannot hold (every element
// takes at least one byte).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count exceeds input")
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length exceeds input")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) stamp() crdt.Stamp {
	ts := crdt.Timestamp(d.uvarint())
	return crdt.Stamp{TS: ts, Replica: crdt.ReplicaID(d.str())}
}

func (d *decoder) checks() (etag string, hasETag, firstWrite bool) {
	flags := d.byte()
	if flags&^(flagHasETag|flagFirstWrite) != 0 {
		d.fail("unknown flags")
	}
	return d.str(), flags&flagHasETag != 0, flags&flagFirstWrite != 0
}

func (d *decoder) set() *SetCmd {
	// Value aliases the entry: the keyspace copies values it keeps.
	s := &SetCmd{Key: d.str(), Value: d.bytes()}
	s.TTLSeconds = d.varint()
	s.ETag, s.HasETag, s.FirstWrite = d.checks()
	s.Proposed = d.stamp()
	return s
}

func (d *decoder) delete() *DeleteCmd {
	s := &DeleteCmd{Key: d.str()}
	s.ETag, s.HasETag, s.FirstWrite = d.checks()
	s.Proposed = d.stamp()
	return s
}

func (d *decoder) kvs() []crdt.KV {
	n := d.count()
	if n == 0 {
		return nil
	}
	kvs := make([]crdt.KV, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		key := d.str()
		if d.err != nil {
			break
		}
		e, rest, err := crdt.DecodeEntry(d.b)
		if err != nil {
			d.fail("merge entry: " + err.Error())
			break
		}
		d.b = rest
		kvs = append(kvs, crdt.KV{Key: key, Entry: e})
	}
	return kvs
}
