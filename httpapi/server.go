package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves the HTTP API over a Backend and a Cluster. It is safe for concurrent use; nothing
// in it changes after New.
type Server struct {
	cfg     Config
	backend Backend
	cluster Cluster
	log     *slog.Logger
	lim     limits
	stores  map[string]bool
	metrics *metrics
	handler http.Handler
}

// New validates cfg, registers the server's metrics in cfg.Registry and builds the router.
func New(cfg Config, b Backend, c Cluster) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil || c == nil {
		return nil, errors.New("httpapi: New needs a Backend and a Cluster")
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		backend: b,
		cluster: c,
		log:     cfg.Logger.With("component", "httpapi"),
		lim:     limits{maxKey: cfg.MaxKeyBytes, maxValue: cfg.MaxValueBytes, maxTxnOps: cfg.MaxTransactionOps},
		stores:  make(map[string]bool, len(cfg.Stores)),
		metrics: m,
	}
	for _, name := range cfg.Stores {
		s.stores[name] = true
	}
	if s.handler, err = s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the server's HTTP handler, for tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// routes builds the router. gin panics on conflicting routes (only an extra route can cause
// one); that panic becomes an error.
func (s *Server) routes() (h http.Handler, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("httpapi: registering routes: %v", r)
		}
	}()
	e := gin.New()
	e.RedirectTrailingSlash = false // no redirects, ever
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	e.UseEscapedPath = true // a key may contain "/" sent as %2F, as in Dapr
	e.UnescapePathValues = true
	e.Use(s.observe, s.recoverPanics)
	e.NoRoute(s.noRoute)
	e.NoMethod(s.noMethod)

	e.GET("/v1.0/healthz", s.healthz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))

	api := e.Group("", s.authenticate, s.limitBody)
	api.GET("/v1.0/metadata", s.metadata)

	state := api.Group("/v1.0/state/:store", s.requireStore)
	for _, method := range []string{http.MethodPost, http.MethodPut} {
		state.Handle(method, "", s.save)
		state.Handle(method, "/bulk", s.bulkGet)
		state.Handle(method, "/transaction", s.transaction)
	}
	state.GET("/:key", s.get)
	state.DELETE("/:key", s.delete)

	query := api.Group("/v1.0-alpha1/state/:store", s.requireStore)
	query.POST("/query", s.query)
	query.PUT("/query", s.query)

	crdt := api.Group("/v1.0/crdt/:store", s.requireStore)
	crdt.GET("/:key", s.crdtGet)
	crdt.POST("/:key", s.crdtApply)
	crdt.DELETE("/:key", s.crdtDelete)

	cluster := api.Group("/v1.0/cluster")
	cluster.GET("/status", s.clusterStatus)
	cluster.GET("/members", s.clusterMembers)
	cluster.DELETE("/members/:id", s.removeMember)
	cluster.POST("/transfer-leadership", s.transferLeadership)

	if s.cfg.EnablePprof {
		debug := e.Group("/debug/pprof", s.authenticate)
		debug.GET("/", gin.WrapF(pprof.Index))
		debug.GET("/cmdline", gin.WrapF(pprof.Cmdline))
		debug.GET("/profile", gin.WrapF(pprof.Profile))
		debug.GET("/symbol", gin.WrapF(pprof.Symbol))
		debug.POST("/symbol", gin.WrapF(pprof.Symbol))
		debug.GET("/trace", gin.WrapF(pprof.Trace))
		debug.GET("/:profile", func(c *gin.Context) { pprof.Handler(c.Param("profile")).ServeHTTP(c.Writer, c.Request) })
	}

	for _, r := range s.cfg.Extra {
		e.Handle(r.Method, r.Path, gin.WrapH(r.Handler))
	}
	return e, nil
}

// ListenAndServe listens on Config.Addr and serves until ctx is done; see Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("httpapi: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully: it stops accepting
// connections and waits up to Config.ShutdownTimeout for requests in flight, whose contexts are
// not cancelled by ctx, before closing what remains. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("httpapi: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("httpapi: shutdown: %w", err), srv.Close())
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("httpapi: serve: %w", serr))
	}
	return err
}
