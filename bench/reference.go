package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ReferenceServer is the trivial Dapr-compatible server of reference mode: net/http and a
// sync.Map, nothing else, so that a target's figures can be put next to what plain HTTP reaches
// on the same machine at the same moment. It serves the routes the tool uses with the in-memory
// Dapr store's semantics (etags, first-write, 204 on a missing key) and gcounter/pncounter
// operations of the CRDT API. Safe for concurrent use.
type ReferenceServer struct {
	srv   *http.Server
	ln    net.Listener
	state sync.Map // key -> *refEntry
	crdts sync.Map // key -> *refCounter
	etag  atomic.Uint64
	done  chan struct{}
}

// refEntry is an immutable stored value; a write replaces the pointer.
type refEntry struct {
	value []byte
	etag  string
}

// refCounter is a counter of the CRDT API.
type refCounter struct {
	typ string
	n   atomic.Int64
}

// StartReferenceServer listens on addr ("127.0.0.1:0" picks a port) and serves until Close;
// logger (nil discards) receives server errors.
func StartReferenceServer(addr string, logger *slog.Logger) (*ReferenceServer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: reference server: %w", err)
	}
	s := &ReferenceServer{ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("reference server stopped", "component", "bench", "err", err)
		}
	}()
	return s, nil
}

// URL is the server's base URL.
func (s *ReferenceServer) URL() string { return "http://" + s.ln.Addr().String() }

// Close shuts the server down, waiting for requests in flight until ctx ends.
func (s *ReferenceServer) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	if err != nil {
		return fmt.Errorf("bench: reference server: %w", err)
	}
	return nil
}

// Handler returns the server's routes, for use under httptest as well.
func (s *ReferenceServer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.0/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1.0/state/{store}", s.save)
	mux.HandleFunc("PUT /v1.0/state/{store}", s.save)
	mux.HandleFunc("GET /v1.0/state/{store}/{key}", s.get)
	mux.HandleFunc("DELETE /v1.0/state/{store}/{key}", s.delete)
	mux.HandleFunc("GET /v1.0/crdt/{store}/{key}", s.crdtGet)
	mux.HandleFunc("POST /v1.0/crdt/{store}/{key}", s.crdtOp)
	return mux
}

// refError writes a Dapr error body.
func refError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"errorCode": code, "message": msg}) // strings always marshal
	w.Write(b)
}

// refItem is one element of a Dapr save body.
type refItem struct {
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	ETag    *string         `json:"etag"`
	Options struct {
		Concurrency string `json:"concurrency"`
	} `json:"options"`
}

func (s *ReferenceServer) save(w http.ResponseWriter, r *http.Request) {
	var items []refItem
	if err := json.NewDecoder(r.Body).Decode(&items); err != nil {
		refError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", err.Error())
		return
	}
	conflict := false
	for _, it := range items {
		if it.Key == "" {
			refError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", `"key" is a required field`)
			return
		}
		value := []byte(it.Value)
		if len(value) == 0 {
			value = []byte("null")
		}
		etag := ""
		if it.ETag != nil {
			etag = *it.ETag
		}
		if !s.put(it.Key, value, etag, it.Options.Concurrency == "first-write") {
			conflict = true // Dapr applies the other items and still reports the mismatch
		}
	}
	if conflict {
		refError(w, http.StatusConflict, "ERR_STATE_SAVE", "possible etag mismatch")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// put stores value under key unless the etag or first-write check fails.
func (s *ReferenceServer) put(key string, value []byte, etag string, firstWrite bool) bool {
	next := &refEntry{value: value, etag: strconv.FormatUint(s.etag.Add(1), 10)}
	switch {
	case etag != "":
		old, ok := s.state.Load(key)
		return ok && old.(*refEntry).etag == etag && s.state.CompareAndSwap(key, old, next)
	case firstWrite:
		_, loaded := s.state.LoadOrStore(key, next)
		return !loaded
	}
	s.state.Store(key, next)
	return true
}

func (s *ReferenceServer) get(w http.ResponseWriter, r *http.Request) {
	v, ok := s.state.Load(r.PathValue("key"))
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	e := v.(*refEntry)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", e.etag)
	w.Write(e.value)
}

func (s *ReferenceServer) delete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if etag := r.Header.Get("If-Match"); etag != "" {
		old, ok := s.state.Load(key)
		if !ok || old.(*refEntry).etag != etag || !s.state.CompareAndDelete(key, old) {
			refError(w, http.StatusConflict, "ERR_STATE_DELETE", "possible etag mismatch")
			return
		}
	} else {
		s.state.Delete(key)
	}
	w.WriteHeader(http.StatusNoContent)
}

// refCRDTOp is the subset of the CRDT API's operation body the reference serves.
type refCRDTOp struct {
	Type   string `json:"type"`
	Op     string `json:"op"`
	Amount int64  `json:"amount"`
}

func (s *ReferenceServer) crdtOp(w http.ResponseWriter, r *http.Request) {
	var op refCRDTOp
	if err := json.NewDecoder(r.Body).Decode(&op); err != nil {
		refError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", err.Error())
		return
	}
	delta := op.Amount
	switch {
	case (op.Type == "gcounter" || op.Type == "pncounter") && op.Op == "increment" && op.Amount > 0:
	case op.Type == "pncounter" && op.Op == "decrement" && op.Amount > 0:
		delta = -op.Amount
	default:
		refError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", "the reference server only serves counter increments and decrements")
		return
	}
	key := r.PathValue("key")
	v, _ := s.crdts.LoadOrStore(key, &refCounter{typ: op.Type})
	c := v.(*refCounter)
	if c.typ != op.Type {
		refError(w, http.StatusConflict, "ERR_CRDT_WRONG_TYPE", "key "+key+" is a "+c.typ)
		return
	}
	writeCounter(w, key, c.typ, c.n.Add(delta))
}

func (s *ReferenceServer) crdtGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	v, ok := s.crdts.Load(key)
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	c := v.(*refCounter)
	writeCounter(w, key, c.typ, c.n.Load())
}

// writeCounter writes the CRDT API's value body; the value doubles as the etag.
func writeCounter(w http.ResponseWriter, key, typ string, n int64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", strconv.FormatInt(n, 10))
	b, _ := json.Marshal(struct {
		Key   string `json:"key"`
		Type  string `json:"type"`
		Value int64  `json:"value"`
	}{key, typ, n}) // a struct of strings and an int always marshals
	w.Write(b)
}
