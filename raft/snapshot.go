package raft

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	hraft "github.com/hashicorp/raft"

	"github.com/lattice-state/lattice/crdt"
)

// Snapshot stream (integers are uvarints):
//
//	magic "LTSN" version:byte(1) applied horizon
//	requests:count { id:str etag:str index }
//	{ len chunk:crdt.AppendChunk }  len 0 ends the stream
//
// Keys appear in key order, so equal FSM states give byte-identical snapshots.
const (
	snapshotMagic   = "LTSN"
	snapshotVersion = 1
	// chunkKeys and chunkBytes bound one chunk; maxChunkBytes bounds what Restore will allocate.
	chunkKeys     = 1024
	chunkBytes    = 256 << 10
	maxChunkBytes = 1 << 30
)

// fsmSnapshot is a point-in-time view of the FSM; Persist runs concurrently with Apply.
type fsmSnapshot struct {
	ks       *crdt.Snapshot
	applied  uint64
	horizon  crdt.Timestamp
	requests []appliedRequest
}

var _ hraft.FSMSnapshot = (*fsmSnapshot)(nil)

// Persist implements hraft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	if err := s.writeTo(sink); err != nil {
		return errors.Join(fmt.Errorf("raft: persist snapshot: %w", err), sink.Cancel())
	}
	return sink.Close()
}

// Release implements hraft.FSMSnapshot.
func (s *fsmSnapshot) Release() { s.ks.Release() }

// writeTo streams the snapshot to w.
func (s *fsmSnapshot) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := append([]byte(snapshotMagic), snapshotVersion)
	hdr = binary.AppendUvarint(hdr, s.applied)
	hdr = binary.AppendUvarint(hdr, uint64(s.horizon))
	hdr = binary.AppendUvarint(hdr, uint64(len(s.requests)))
	for _, r := range s.requests {
		hdr = appendStr(hdr, r.ID)
		hdr = appendStr(hdr, r.ETag)
		hdr = binary.AppendUvarint(hdr, r.Index)
	}
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	var (
		kvs  []crdt.KV
		size int
		buf  []byte
		werr error
	)
	flush := func() {
		if len(kvs) == 0 || werr != nil {
			return
		}
		buf = crdt.AppendChunk(buf[:0], kvs)
		var n [binary.MaxVarintLen64]byte
		if _, werr = bw.Write(n[:binary.PutUvarint(n[:], uint64(len(buf)))]); werr == nil {
			_, werr = bw.Write(buf)
		}
		kvs, size = kvs[:0], 0
	}
	s.ks.Range(func(key string, e crdt.Entry) bool {
		kvs = append(kvs, crdt.KV{Key: key, Entry: e})
		size += len(key) + 16
		if e.State != nil {
			size += e.State.Size()
		}
		if len(kvs) >= chunkKeys || size >= chunkBytes {
			flush()
		}
		return werr == nil
	})
	flush()
	if werr != nil {
		return werr
	}
	if err := bw.WriteByte(0); err != nil {
		return err
	}
	return bw.Flush()
}

// restoredState is a decoded snapshot.
type restoredState struct {
	ks       *crdt.Keyspace
	applied  uint64
	horizon  crdt.Timestamp
	requests []appliedRequest
}

// readSnapshot decodes a stream written by writeTo into a fresh keyspace.
func readSnapshot(r io.Reader, cfg crdt.KeyspaceConfig) (*restoredState, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	fail := func(err error) (*restoredState, error) {
		return nil, fmt.Errorf("raft: restore snapshot: %w", err)
	}
	magic := make([]byte, len(snapshotMagic)+1)
	if _, err := io.ReadFull(br, magic); err != nil {
		return fail(err)
	}
	if string(magic[:len(snapshotMagic)]) != snapshotMagic || magic[len(snapshotMagic)] != snapshotVersion {
		return fail(errors.New("not a lattice snapshot or unknown version"))
	}
	st := &restoredState{ks: crdt.NewKeyspace(cfg)}
	var err error
	uv := func() uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		v, err = binary.ReadUvarint(br)
		return v
	}
	str := func() string {
		n := uv()
		if err != nil {
			return ""
		}
		if n > maxChunkBytes {
			err = errors.New("string too long")
			return ""
		}
		b := make([]byte, n)
		_, err = io.ReadFull(br, b)
		return string(b)
	}
	st.applied = uv()
	st.horizon = crdt.Timestamp(uv())
	n := uv()
	if err == nil && n > requestMemorySize {
		err = fmt.Errorf("%d request records exceed the memory size", n)
	}
	for i := uint64(0); i < n && err == nil; i++ {
		r := appliedRequest{ID: str(), ETag: str()}
		r.Index = uv()
		st.requests = append(st.requests, r)
	}
	for err == nil {
		size := uv()
		if err != nil || size == 0 {
			break
		}
		if size > maxChunkBytes {
			err = fmt.Errorf("chunk of %d bytes", size)
			break
		}
		// A fresh buffer per chunk: decoded entries may share its memory.
		buf := make([]byte, size)
		if _, err = io.ReadFull(br, buf); err != nil {
			break
		}
		var kvs []crdt.KV
		if kvs, err = crdt.DecodeChunk(buf); err != nil {
			break
		}
		for _, kv := range kvs {
			st.ks.Join(kv.Key, kv.Entry)
		}
	}
	if err != nil {
		return fail(err)
	}
	return st, nil
}
