package node

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/raft"
)

// The internal endpoints carry node-to-node traffic over HTTP/1.1 kept-alive
// connections: delta streams, leader forwarding, anti-entropy and cluster
// housekeeping. They are authenticated by the cluster token.
const (
	// InternalPrefix is where Handler's routes live; the HTTP server mounts it.
	InternalPrefix = "/internal/v1/"

	pathDeltas   = InternalPrefix + "deltas"
	pathPropose  = InternalPrefix + "propose"
	pathRead     = InternalPrefix + "read"
	pathDigest   = InternalPrefix + "ae/digest"
	pathSync     = InternalPrefix + "ae/sync"
	pathStatus   = InternalPrefix + "status"
	pathRemove   = InternalPrefix + "remove"
	pathBarrier  = InternalPrefix + "barrier"
	pathTransfer = InternalPrefix + "transfer"

	headerClusterToken = "X-Lattice-Cluster-Token"
	headerFrom         = "X-Lattice-From"

	maxInternalBody = 64 << 20
)

// Error codes carried in internal error responses.
const (
	codeNotLeader     = "not_leader"
	codeNoQuorum      = "no_quorum"
	codeIndeterminate = "indeterminate"
	codeShutdown      = "shutting_down"
	codeBadRequest    = "bad_request"
	codeUnauthorized  = "unauthorized"
	codeInternal      = "internal"
)

// errRemoteNotLeader: the peer we forwarded to is not (or no longer) the leader.
var errRemoteNotLeader = fmt.Errorf("node: forwarded to a node that is not the leader: %w", lattice.ErrNotLeader)

func (n *Node) newInternalClient() *http.Client {
	dial := (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	if n.cfg.Network != nil {
		dial = n.cfg.Network.Dial
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:         dial,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// Handler serves the internal endpoints under InternalPrefix.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pathDeltas, n.internalHandler(n.serveDeltas))
	mux.HandleFunc(pathPropose, n.internalHandler(n.servePropose))
	mux.HandleFunc(pathDigest, n.internalHandler(n.serveDigest))
	mux.HandleFunc(pathSync, n.internalHandler(n.serveSync))
	mux.HandleFunc(pathStatus, n.internalHandler(n.serveStatus))
	mux.HandleFunc(pathRemove, n.internalHandler(n.serveRemove))
	mux.HandleFunc(pathBarrier, n.internalHandler(n.serveBarrier))
	mux.HandleFunc(pathTransfer, n.internalHandler(n.serveTransfer))
	return mux
}

// internalHandler authenticates, reads the body and writes the answer.
func (n *Node) internalHandler(h func(ctx context.Context, body []byte) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeInternalError(w, http.StatusMethodNotAllowed, codeBadRequest, "POST only")
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(headerClusterToken)), []byte(n.cfg.ClusterToken)) != 1 {
			writeInternalError(w, http.StatusUnauthorized, codeUnauthorized, "bad cluster token")
			return
		}
		body, err := readLimited(r.Body, maxInternalBody)
		if err != nil {
			writeInternalError(w, http.StatusBadRequest, codeBadRequest, err.Error())
			return
		}
		out, err := h(r.Context(), body)
		if err != nil {
			status, code := internalErrorCode(err)
			writeInternalError(w, status, code, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
	}
}

func internalErrorCode(err error) (int, string) {
	switch {
	case errors.Is(err, errBadMessage), errors.Is(err, lattice.ErrInvalidArgument):
		return http.StatusBadRequest, codeBadRequest
	case errors.Is(err, lattice.ErrNotLeader):
		return http.StatusServiceUnavailable, codeNotLeader
	case errors.Is(err, lattice.ErrNoQuorum):
		return http.StatusServiceUnavailable, codeNoQuorum
	case errors.Is(err, lattice.ErrIndeterminate):
		return http.StatusServiceUnavailable, codeIndeterminate
	case errors.Is(err, lattice.ErrShuttingDown):
		return http.StatusServiceUnavailable, codeShutdown
	}
	return http.StatusInternalServerError, codeInternal
}

func writeInternalError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, code+" "+msg)
}

// decodeRemoteError turns an internal error response back into the sentinel
// the peer reported.
func decodeRemoteError(status int, body []byte) error {
	code, msg := string(body), ""
	for i, c := range body {
		if c == ' ' {
			code, msg = string(body[:i]), string(body[i+1:])
			break
		}
	}
	switch code {
	case codeNotLeader:
		return errRemoteNotLeader
	case codeNoQuorum:
		return fmt.Errorf("node: leader: %s: %w", msg, lattice.ErrNoQuorum)
	case codeIndeterminate:
		return fmt.Errorf("node: leader: %s: %w", msg, lattice.ErrIndeterminate)
	case codeShutdown:
		return fmt.Errorf("node: peer: %s: %w", msg, lattice.ErrShuttingDown)
	case codeBadRequest:
		return fmt.Errorf("node: peer rejected request: %s: %w", msg, lattice.ErrInvalidArgument)
	}
	return fmt.Errorf("node: peer answered %d: %s", status, body)
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: body over %d bytes", errBadMessage, limit)
	}
	return data, nil
}

func (n *Node) serveDeltas(_ context.Context, body []byte) ([]byte, error) {
	b, err := decodeDeltaBatch(body)
	if err != nil {
		n.dropMessage(err)
		return nil, err
	}
	n.receiveDeltas(b)
	return nil, nil
}

// serveStatus reports this node's applied index (the leader promotes
// non-voters once they are caught up).
func (n *Node) serveStatus(_ context.Context, _ []byte) ([]byte, error) {
	return binary.AppendUvarint(nil, n.store.Stats().AppliedIndex), nil
}

// serveRemove removes a member from the Raft configuration (leader only).
func (n *Node) serveRemove(ctx context.Context, body []byte) ([]byte, error) {
	ids, err := decodeStrings(body)
	if err != nil || len(ids) != 1 {
		return nil, fmt.Errorf("%w: remove needs one id", errBadMessage)
	}
	if !n.store.IsLeader() {
		return nil, errRemoteNotLeader
	}
	return nil, n.removeServer(ctx, ids[0])
}

// appendResult encodes a Raft result for forwarding.
func appendResult(dst []byte, r raft.Result) []byte {
	dst = append(dst, wireVersion, byte(r.Status))
	dst = appendString(dst, r.ETag)
	dst = appendString(dst, r.Key)
	dst = binary.AppendUvarint(dst, r.Index)
	dst = binary.AppendUvarint(dst, uint64(r.Count))
	return appendKVs(dst, r.Entries)
}

// decodeResult decodes what appendResult wrote.
func decodeResult(p []byte) (raft.Result, error) {
	var res raft.Result
	if len(p) < 2 || p[0] != wireVersion {
		return res, fmt.Errorf("%w: result version", errBadMessage)
	}
	res.Status = raft.Status(p[1])
	r := reader{buf: p[2:]}
	res.ETag = r.string()
	res.Key = r.string()
	res.Index = r.uvarint()
	res.Count = int(r.uvarint())
	if r.err != nil {
		return res, r.err
	}
	kvs, err := decodeKVs(r.buf)
	if err != nil {
		return res, err
	}
	res.Entries = kvs
	return res, nil
}

// serveBarrier confirms leadership for a follower's strong scan and returns
// the applied index the follower must reach.
func (n *Node) serveBarrier(ctx context.Context, _ []byte) ([]byte, error) {
	if !n.store.IsLeader() {
		return nil, errRemoteNotLeader
	}
	if err := n.store.LinearizableRead(ctx); err != nil {
		return nil, err
	}
	return binary.AppendUvarint(nil, n.store.Stats().AppliedIndex), nil
}

// serveTransfer hands leadership over on a follower's behalf.
func (n *Node) serveTransfer(ctx context.Context, body []byte) ([]byte, error) {
	ids, err := decodeStrings(body)
	if err != nil || len(ids) != 1 {
		return nil, fmt.Errorf("%w: transfer needs one id (empty for any)", errBadMessage)
	}
	if !n.store.IsLeader() {
		return nil, errRemoteNotLeader
	}
	to, err := n.TransferLeadership(ctx, ids[0])
	if err != nil {
		return nil, err
	}
	return appendStrings(nil, []string{to}), nil
}
