package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lattice-state/lattice/httpapi"
	"github.com/lattice-state/lattice/node"
)

// Config configures a Server: the node and the HTTP API.
type Config struct {
	// HTTPListen is the HTTP listen address. When empty, the server listens
	// on Node.HTTPAddr (port 0 picks one) and advertises the address it got.
	// When set, Node.HTTPAddr is the address advertised to peers (needed
	// when binding 0.0.0.0).
	HTTPListen string
	Node       node.Config
	HTTP       httpapi.Config
	// Logger is given to both parts (with their component attribute).
	Logger *slog.Logger
}

// Server is one running Lattice node with its HTTP API. Safe for concurrent use.
type Server struct {
	node *node.Node
	api  *httpapi.Server
	ln   net.Listener
	reg  *prometheus.Registry

	serveCtx  context.Context
	stopServe context.CancelFunc
	served    chan error
	started   bool
	closeOnce sync.Once
}

// New listens on the HTTP address, opens the node (Raft log replay
// included) and builds the API; Start begins serving and joining.
func New(cfg Config) (*Server, error) {
	listen := cfg.HTTPListen
	if listen == "" {
		listen = cfg.Node.HTTPAddr
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("server: http address %s: %w", listen, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	nc := cfg.Node
	if cfg.HTTPListen == "" || nc.HTTPAddr == "" {
		nc.HTTPAddr = ln.Addr().String()
	}
	nc.Logger = cfg.Logger
	nc.Registerer = reg
	n, err := node.New(nc)
	if err != nil {
		ln.Close()
		return nil, err
	}
	hc := cfg.HTTP
	hc.Addr = ln.Addr().String()
	hc.ID = nc.NodeID
	hc.Logger = cfg.Logger
	hc.Registry = reg
	hc.Extra = append(hc.Extra, httpapi.Route{Method: http.MethodPost, Path: node.InternalPrefix + "*path", Handler: n.Handler()})
	api, err := httpapi.New(hc, backend{n}, cluster{n})
	if err != nil {
		ln.Close()
		_ = n.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{node: n, api: api, ln: ln, reg: reg, serveCtx: ctx, stopServe: cancel, served: make(chan error, 1)}, nil
}

// Start serves HTTP and starts the node (joining, gossip, fold-in).
func (s *Server) Start() {
	s.started = true
	go func() { s.served <- s.api.Serve(s.serveCtx, s.ln) }()
	s.node.Start()
}

// Addr returns the HTTP address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Registry returns the Prometheus registry served at /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Node returns the node (tests and the CLI inspect it).
func (s *Server) Node() *node.Node { return s.node }

// Shutdown stops gracefully: the node stops accepting new requests, folds
// in what is pending, hands leadership over, leaves the Raft configuration
// and memberlist and closes Raft; then the HTTP server drains and stops.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() {
		nerr := s.node.Shutdown(ctx)
		err = errors.Join(nerr, s.stopHTTP())
	})
	return err
}

// Close stops at once without leaving the cluster, as a crash would (but
// with files closed cleanly).
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		serr := s.stopHTTP()
		err = errors.Join(s.node.Close(), serr)
	})
	return err
}

// stopHTTP stops the HTTP server (or closes the listener if it never served).
func (s *Server) stopHTTP() error {
	s.stopServe()
	if !s.started {
		return s.ln.Close()
	}
	return <-s.served
}
