package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultStore is the name of Lattice's default state store component.
const DefaultStore = "statestore"

// Config configures a Client. Only Endpoints is required: a zero field takes its
// DefaultConfig value, so client.New(client.Config{Endpoints: eps}) works.
type Config struct {
	// Endpoints are the base URLs of the nodes, e.g. http://127.0.0.1:3500. A missing
	// scheme means http.
	Endpoints []string
	// Store is the state store used when a call does not name one (WithStore).
	Store string
	// APIToken, when set, is sent as the dapr-api-token header.
	APIToken string
	// Resiliency holds the timeout, retry and circuit breaker policies; nil means none:
	// every call is one attempt (which still fails over between endpoints).
	Resiliency *Resiliency
	// TryTimeout bounds one HTTP exchange with one endpoint, so that a hung node cannot
	// hold an attempt forever.
	TryTimeout time.Duration
	// Cooldown is how long an endpoint that failed is avoided (moved to the back of the
	// order); a Retry-After hint longer than it wins.
	Cooldown time.Duration
	// LeaderTTL is how long the leader learned from /v1.0/cluster/status is trusted before
	// a strong request asks again.
	LeaderTTL time.Duration
	// MaxResponseBytes bounds the body of a response the client reads.
	MaxResponseBytes int64
	// HTTPClient sends the requests; nil means a client with a pooled transport.
	HTTPClient *http.Client
	// Logger receives retry, circuit breaker and endpoint health messages; nil discards.
	Logger *slog.Logger
	// Clock times retries and endpoint cool-downs; nil means the system clock. (Circuit
	// breakers keep their own time: gobreaker reads the system clock.)
	Clock Clock
	// Rand returns a uniform number in [0, 1) for back-off jitter and the initial endpoint
	// choice; nil means math/rand/v2. It must be safe for concurrent use.
	Rand func() float64
}

// DefaultConfig returns the defaults: store statestore, no policies, 10 s per try, 5 s
// cool-down, 5 s leader TTL, 64 MiB responses.
func DefaultConfig() Config {
	return Config{
		Store:            DefaultStore,
		TryTimeout:       10 * time.Second,
		Cooldown:         5 * time.Second,
		LeaderTTL:        5 * time.Second,
		MaxResponseBytes: 64 << 20,
	}
}

// withDefaults fills the zero fields with DefaultConfig's values.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Store == "" {
		c.Store = d.Store
	}
	if c.TryTimeout == 0 {
		c.TryTimeout = d.TryTimeout
	}
	if c.Cooldown == 0 {
		c.Cooldown = d.Cooldown
	}
	if c.LeaderTTL == 0 {
		c.LeaderTTL = d.LeaderTTL
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = d.MaxResponseBytes
	}
	return c
}

// Validate checks c: at least one well-formed, distinct endpoint, no negative durations or
// bounds, and valid policies.
func (c Config) Validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("client: no endpoints")
	}
	seen := make(map[string]bool, len(c.Endpoints))
	for _, e := range c.Endpoints {
		u, err := normalizeEndpoint(e)
		if err != nil {
			return err
		}
		if seen[u] {
			return fmt.Errorf("client: endpoint %s listed twice", u)
		}
		seen[u] = true
	}
	if c.TryTimeout < 0 || c.Cooldown < 0 || c.LeaderTTL < 0 || c.MaxResponseBytes < 0 {
		return errors.New("client: negative TryTimeout, Cooldown, LeaderTTL or MaxResponseBytes")
	}
	if c.Resiliency != nil {
		if err := c.Resiliency.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// normalizeEndpoint turns "host:port" or "http://host:port/" into "http://host:port".
func normalizeEndpoint(e string) (string, error) {
	s := strings.TrimSpace(e)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("client: endpoint %q: %w", e, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("client: endpoint %q: want http(s)://host:port", e)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Clock is the time source of retries and cool-downs; tests inject a fake one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx's error in that case.
	Sleep(ctx context.Context, d time.Duration) error
}

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
