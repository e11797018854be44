package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// startReference starts the reference server of one run, in a process of its own when
// opts.ReferenceCommand is set, and returns its URL and the function that stops it. Stopping is
// best effort: a failure is logged, the figures stand.
func startReference(opts Options) (string, func(), error) {
	log := opts.logger()
	if len(opts.ReferenceCommand) > 0 {
		p, err := startReferenceProcess(opts.ReferenceCommand)
		if err != nil {
			return "", nil, err
		}
		return p.url, func() {
			if err := p.close(); err != nil {
				log.Warn("stopping the reference server", "component", "bench", "err", err)
			}
		}, nil
	}
	srv, err := StartReferenceServer("127.0.0.1:0", log)
	if err != nil {
		return "", nil, err
	}
	return srv.URL(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), referenceStopTimeout)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			log.Warn("stopping the reference server", "component", "bench", "err", err)
		}
	}, nil
}

// How long a reference server process has to print its URL, and to exit once asked.
const (
	referenceStartTimeout = 10 * time.Second
	referenceStopTimeout  = 5 * time.Second
)

// referenceProcess is a reference server running as a child process (Options.ReferenceCommand).
type referenceProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *cappedBuffer
	url    string
	exited chan struct{} // closed once the process has been reaped
	err    error         // its exit status, valid once exited is closed
}

// startReferenceProcess runs argv and waits for the base URL on its first line of output.
func startReferenceProcess(argv []string) (*referenceProcess, error) {
	p := &referenceProcess{cmd: exec.Command(argv[0], argv[1:]...), stderr: &cappedBuffer{max: 64 << 10}, exited: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	ownProcessGroup(p.cmd)
	// Wait gives up on output pipes a grandchild still holds this long after the child exits.
	p.cmd.WaitDelay = referenceStopTimeout
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: reference server: %w", err)
	}
	p.stdin = stdin
	// A pipe of our own rather than StdoutPipe, which Wait closes under a concurrent reader.
	rd, wr, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("bench: reference server: %w", err)
	}
	p.cmd.Stdout = wr
	err = p.cmd.Start()
	wr.Close() // the child holds its own copy
	if err != nil {
		rd.Close()
		stdin.Close()
		return nil, fmt.Errorf("bench: reference server: %w", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	first := make(chan string, 1)
	go func() {
		defer rd.Close()
		br := bufio.NewReader(rd)
		line, _ := br.ReadString('\n')
		first <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, br) // anything else it prints
	}()
	timer := time.NewTimer(referenceStartTimeout)
	defer timer.Stop()
	select {
	case p.url = <-first:
	case <-timer.C:
	}
	if u, err := url.Parse(p.url); err != nil || u.Scheme != "http" || u.Host == "" {
		_ = p.close()
		return nil, fmt.Errorf("bench: reference server %q printed %q, not its URL: %s", argv[0], p.url, strings.TrimSpace(p.stderr.String()))
	}
	return p, nil
}

// close asks the process to exit by closing its standard input, kills it if it has not exited
// within referenceStopTimeout, and reports an unclean exit.
func (p *referenceProcess) close() error {
	p.stdin.Close()
	timer := time.NewTimer(referenceStopTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("bench: reference server did not exit within %v of its input closing; killed", referenceStopTimeout)
	}
	if p.err != nil {
		return fmt.Errorf("bench: reference server: %w: %s", p.err, strings.TrimSpace(p.stderr.String()))
	}
	return nil
}

// cappedBuffer keeps the first max bytes written to it (a child's standard error, for error
// messages) and drops the rest. Safe for concurrent use.
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// ServeReference is the body of a ReferenceCommand: it serves a reference server on addr,
// writes its base URL and a newline to out, and serves until stop is closed.
func ServeReference(addr string, out io.Writer, stop <-chan struct{}, logger *slog.Logger) error {
	srv, err := StartReferenceServer(addr, logger)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out, srv.URL()); err != nil {
		_ = srv.Close(context.Background())
		return fmt.Errorf("bench: reference server: writing its URL: %w", err)
	}
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), referenceStopTimeout)
	defer cancel()
	return srv.Close(ctx)
}
