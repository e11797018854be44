package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsRegistry is where the server registers its collectors and what GET /metrics serves.
// A *prometheus.Registry satisfies it; pass the same one to every component of a process.
type MetricsRegistry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// Route is an extra handler mounted on the server's router, outside the state API: it gets panic
// recovery and request metrics, but neither the API token check nor the body limit, so it must
// authenticate and bound its requests itself (the node's internal forwarding endpoint does).
type Route struct {
	// Method is the HTTP method, e.g. http.MethodPost.
	Method string
	// Path is a gin path pattern outside /v1.0, /v1.0-alpha1 and /metrics, e.g. "/internal/v1/forward".
	Path string
	// Handler serves the route.
	Handler http.Handler
}

// Config configures a Server. Start from DefaultConfig.
type Config struct {
	// Addr is the listen address of ListenAndServe.
	Addr string
	// ID is the app id reported by GET /v1.0/metadata and in Dapr error details (the node id).
	ID string
	// Stores are the state store names served; requests naming another store get Dapr's
	// ERR_STATE_STORE_NOT_FOUND. Names match [A-Za-z0-9][A-Za-z0-9._-]* (at most 63 bytes).
	Stores []string
	// APIToken, when not empty, must be sent in the dapr-api-token header of every request but
	// GET /v1.0/healthz and GET /metrics (Dapr's rule for healthz; Dapr serves metrics on a port
	// of its own without a token).
	APIToken string
	// MaxBodyBytes bounds request bodies (Dapr's --max-body-size, default 4 MiB); larger bodies
	// get 413.
	MaxBodyBytes int64
	// MaxKeyBytes bounds the length of a key (and of an orset element or ormap field).
	MaxKeyBytes int
	// MaxValueBytes bounds one value as compacted JSON.
	MaxValueBytes int
	// MaxTransactionOps bounds the operations of one transaction (Dapr's MultiMaxSize).
	MaxTransactionOps int
	// BulkParallelism bounds how many items of one multi-item save are written concurrently.
	// Items with the same key are always written in body order.
	BulkParallelism int
	// RequestTimeout bounds every Backend and Cluster call; the node bounds strong waits more
	// tightly itself, this is the last resort. A call cut off by it answers 504.
	RequestTimeout time.Duration
	// ReadHeaderTimeout bounds reading request headers in Serve.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, in Serve.
	ReadTimeout time.Duration
	// IdleTimeout bounds idle keep-alive connections in Serve.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown of Serve once its context is done.
	ShutdownTimeout time.Duration
	// Logger receives the server's logs, with component=httpapi.
	Logger *slog.Logger
	// Registry receives the server's metrics and is served by GET /metrics.
	Registry MetricsRegistry
	// Extra are handlers mounted beside the API, such as the node's internal forwarding endpoint.
	Extra []Route
	// EnablePprof serves Go's runtime profiles (net/http/pprof) under /debug/pprof/, behind the
	// API token when one is set (etcd's --enable-pprof). Off by default: profiles expose internals
	// and a CPU profile costs CPU while it runs.
	EnablePprof bool
}

// Defaults of DefaultConfig.
const (
	DefaultAddr              = "127.0.0.1:3500"
	DefaultStore             = "statestore"
	DefaultMaxBodyBytes      = 4 << 20
	DefaultMaxKeyBytes       = 1024
	DefaultMaxValueBytes     = 1 << 20
	DefaultMaxTransactionOps = 1000
)

// DefaultConfig returns a Config with every field set to its default: 127.0.0.1:3500, one store
// "statestore", no API token, 4 MiB bodies, 1 KiB keys, 1 MiB values, 1000 operations per
// transaction, 30 s per backend call, a discarding logger and a fresh private metrics registry.
func DefaultConfig() Config {
	return Config{
		Addr:              DefaultAddr,
		ID:                "lattice",
		Stores:            []string{DefaultStore},
		MaxBodyBytes:      DefaultMaxBodyBytes,
		MaxKeyBytes:       DefaultMaxKeyBytes,
		MaxValueBytes:     DefaultMaxValueBytes,
		MaxTransactionOps: DefaultMaxTransactionOps,
		BulkParallelism:   16,
		RequestTimeout:    30 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ShutdownTimeout:   10 * time.Second,
		Logger:            slog.New(slog.DiscardHandler),
		Registry:          prometheus.NewRegistry(),
	}
}

var storeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// reservedPrefixes are the path prefixes of the API, which extra routes may not use.
var reservedPrefixes = []string{"/v1.0/", "/v1.0-alpha1/", "/metrics", "/debug/pprof"}

// Validate reports every invalid field of c, joined into one error.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("httpapi: "+format, args...)) }
	if c.Addr == "" {
		bad("Addr is empty")
	}
	if c.ID == "" {
		bad("ID is empty")
	}
	if len(c.Stores) == 0 {
		bad("no Stores")
	}
	seen := make(map[string]bool, len(c.Stores))
	for _, s := range c.Stores {
		if !storeName.MatchString(s) {
			bad("store name %q must match %s", s, storeName)
		}
		if seen[s] {
			bad("store %q listed twice", s)
		}
		seen[s] = true
	}
	if c.MaxBodyBytes <= 0 {
		bad("MaxBodyBytes must be positive")
	}
	if c.MaxKeyBytes <= 0 {
		bad("MaxKeyBytes must be positive")
	}
	if c.MaxValueBytes <= 0 {
		bad("MaxValueBytes must be positive")
	}
	if c.MaxTransactionOps <= 0 {
		bad("MaxTransactionOps must be positive")
	}
	if c.BulkParallelism <= 0 {
		bad("BulkParallelism must be positive")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"RequestTimeout", c.RequestTimeout}, {"ReadHeaderTimeout", c.ReadHeaderTimeout},
		{"ReadTimeout", c.ReadTimeout}, {"IdleTimeout", c.IdleTimeout}, {"ShutdownTimeout", c.ShutdownTimeout}} {
		if d.d <= 0 {
			bad("%s must be positive", d.name)
		}
	}
	if c.Logger == nil {
		bad("Logger is nil")
	}
	if c.Registry == nil {
		bad("Registry is nil")
	}
	for _, r := range c.Extra {
		if r.Method == "" || r.Handler == nil || !strings.HasPrefix(r.Path, "/") {
			bad("extra route %s %q needs a method, a path starting with / and a handler", r.Method, r.Path)
		}
		for _, p := range reservedPrefixes {
			if strings.HasPrefix(r.Path, p) {
				bad("extra route %q is under the reserved prefix %q", r.Path, p)
			}
		}
	}
	return errors.Join(errs...)
}
