package node

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lattice-state/lattice/crdt"
)

// Gossip and internal messages are one type byte, one version byte, then the
// payload. A message that fails to decode is counted, logged and dropped.

const wireVersion = 1

// msgType is the first byte of every message between nodes.
type msgType byte

const (
	msgInvalid msgType = iota
	// msgDeltas carries a batch of (key, delta entry) from one origin.
	msgDeltas
)

// errBadMessage is wrapped by every decoding error of peer input.
var errBadMessage = errors.New("node: malformed message")

// deltaBatch is what a node ships to its peers: deltas of keys written since
// the last flush, stamped with the sender's clock.
type deltaBatch struct {
	From   string
	SentAt crdt.Timestamp
	Items  []crdt.KV
}

// appendDeltaBatch encodes b as a msgDeltas message.
func appendDeltaBatch(dst []byte, b deltaBatch) []byte {
	dst = append(dst, byte(msgDeltas), wireVersion)
	dst = appendString(dst, b.From)
	dst = binary.AppendUvarint(dst, uint64(b.SentAt))
	return appendKVs(dst, b.Items)
}

// decodeDeltaBatch decodes a msgDeltas message.
func decodeDeltaBatch(p []byte) (deltaBatch, error) {
	var b deltaBatch
	if len(p) < 2 || msgType(p[0]) != msgDeltas {
		return b, fmt.Errorf("%w: not a delta batch", errBadMessage)
	}
	if p[1] != wireVersion {
		return b, fmt.Errorf("%w: version %d", errBadMessage, p[1])
	}
	r := reader{buf: p[2:]}
	b.From = r.string()
	b.SentAt = crdt.Timestamp(r.uvarint())
	if r.err != nil {
		return b, r.err
	}
	items, err := decodeKVs(r.buf)
	if err != nil {
		return b, err
	}
	b.Items = items
	return b, nil
}

// appendKVs encodes a counted list of (key, entry).
func appendKVs(dst []byte, kvs []crdt.KV) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(kvs)))
	for _, kv := range kvs {
		dst = appendString(dst, kv.Key)
		dst = crdt.AppendEntry(dst, kv.Entry)
	}
	return dst
}

// decodeKVs decodes what appendKVs wrote and requires it to fill p exactly.
func decodeKVs(p []byte) ([]crdt.KV, error) {
	r := reader{buf: p}
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	// Every item takes at least two bytes: no count beyond that is honest.
	if n > uint64(len(r.buf))/2 {
		return nil, fmt.Errorf("%w: %d items in %d bytes", errBadMessage, n, len(r.buf))
	}
	kvs := make([]crdt.KV, 0, n)
	for i := uint64(0); i < n; i++ {
		key := r.string()
		if r.err != nil {
			return nil, r.err
		}
		e, rest, err := crdt.DecodeEntry(r.buf)
		if err != nil {
			return nil, fmt.Errorf("%w: entry of %q: %v", errBadMessage, key, err)
		}
		r.buf = rest
		kvs = append(kvs, crdt.KV{Key: key, Entry: e})
	}
	if len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadMessage, len(r.buf))
	}
	return kvs, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// reader decodes varints and strings, remembering the first error.
type reader struct {
	buf []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", errBadMessage)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%w: string of %d bytes in %d", errBadMessage, n, len(r.buf))
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}

// appendDigest encodes bucket hashes.
func appendDigest(dst []byte, d []uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(d)))
	for _, h := range d {
		dst = binary.LittleEndian.AppendUint64(dst, h)
	}
	return dst
}

// decodeDigest decodes bucket hashes.
func decodeDigest(p []byte) ([]uint64, error) {
	r := reader{buf: p}
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	if n != uint64(len(r.buf))/8 || len(r.buf)%8 != 0 {
		return nil, fmt.Errorf("%w: digest of %d buckets in %d bytes", errBadMessage, n, len(r.buf))
	}
	d := make([]uint64, n)
	for i := range d {
		d[i] = binary.LittleEndian.Uint64(r.buf[8*i:])
	}
	return d, nil
}

// appendKeyHashes encodes (key, hash) pairs of the differing buckets.
func appendKeyHashes(dst []byte, khs []crdt.KeyHash) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(khs)))
	for _, kh := range khs {
		dst = appendString(dst, kh.Key)
		dst = binary.LittleEndian.AppendUint64(dst, kh.Hash)
	}
	return dst
}

// decodeKeyHashes decodes what appendKeyHashes wrote.
func decodeKeyHashes(p []byte) ([]crdt.KeyHash, error) {
	r := reader{buf: p}
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	if n > uint64(len(r.buf))/9 {
		return nil, fmt.Errorf("%w: %d key hashes in %d bytes", errBadMessage, n, len(r.buf))
	}
	out := make([]crdt.KeyHash, 0, n)
	for i := uint64(0); i < n; i++ {
		k := r.string()
		if r.err != nil {
			return nil, r.err
		}
		if len(r.buf) < 8 {
			return nil, fmt.Errorf("%w: truncated hash", errBadMessage)
		}
		out = append(out, crdt.KeyHash{Key: k, Hash: binary.LittleEndian.Uint64(r.buf)})
		r.buf = r.buf[8:]
	}
	if len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadMessage, len(r.buf))
	}
	return out, nil
}

// appendStrings encodes a list of keys.
func appendStrings(dst []byte, ss []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ss)))
	for _, s := range ss {
		dst = appendString(dst, s)
	}
	return dst
}

// decodeStrings decodes what appendStrings wrote.
func decodeStrings(p []byte) ([]string, error) {
	r := reader{buf: p}
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	if n > uint64(len(r.buf)) {
		return nil, fmt.Errorf("%w: %d strings in %d bytes", errBadMessage, n, len(r.buf))
	}
	out := make([]string, 0, n)
	for i := uint64(0); i < n; i++ {
		s := r.string()
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, s)
	}
	if len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadMessage, len(r.buf))
	}
	return out, nil
}
