package client

import (
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// endpoint is one node's base URL and its health as this client has seen it.
type endpoint struct {
	url      string // http://127.0.0.1:3500
	hostport string // 127.0.0.1:3500, to recognise the leader's advertised address

	// guarded by pool.mu
	downUntil time.Time // avoided until then
	down      bool      // failed last time; cleared by a success
}

// preference says which endpoint an attempt should try first.
type preference int

const (
	// preferSticky: the endpoint this client is attached to. Eventual requests stay on one
	// node, so that the client reads its own writes and can use an etag it read for a CAS.
	preferSticky preference = iota
	// preferLeader: the Raft leader when known, saving the follower's forwarding hop.
	preferLeader
)

// pool orders the endpoints for each attempt and keeps their health. Safe for concurrent use.
type pool struct {
	clock    Clock
	cooldown time.Duration
	ttl      time.Duration // of the leader information
	log      *slog.Logger

	mu         sync.Mutex
	eps        []*endpoint
	sticky     int
	leader     int       // index into eps, -1 when unknown
	leaderAt   time.Time // when leader was learned; zero forces a refresh
	refreshing bool
}

func newPool(urls []string, first int, clock Clock, cooldown, ttl time.Duration, log *slog.Logger) *pool {
	p := &pool{clock: clock, cooldown: cooldown, ttl: ttl, log: log, sticky: first, leader: -1}
	for _, u := range urls {
		p.eps = append(p.eps, &endpoint{url: u, hostport: strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")})
	}
	return p
}

// order returns every endpoint, each once: first the healthy ones starting with the
// preferred one and going round from it, then those cooling down, soonest back first.
func (p *pool) order(pref preference) []*endpoint {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	first := p.sticky
	if pref == preferLeader && p.leader >= 0 {
		first = p.leader
	}
	n := len(p.eps)
	healthy := make([]*endpoint, 0, n)
	var cooling []*endpoint
	for i := range n {
		e := p.eps[(first+i)%n]
		if now.Before(e.downUntil) {
			cooling = append(cooling, e)
		} else {
			healthy = append(healthy, e)
		}
	}
	slices.SortStableFunc(cooling, func(a, b *endpoint) int { return a.downUntil.Compare(b.downUntil) })
	return append(healthy, cooling...)
}

// succeeded records that e answered. An eventual request that had to leave its sticky
// endpoint makes e the new sticky one.
func (p *pool) succeeded(e *endpoint, pref preference) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.down {
		p.log.Info("Endpoint "+e.url+" is serving again", "endpoint", e.url)
	}
	e.down, e.downUntil = false, time.Time{}
	if pref == preferSticky {
		p.sticky = slices.Index(p.eps, e)
	}
}

// failed records that e could not serve: it is avoided for the cool-down, or for as long as
// its Retry-After asked. A failed leader must be looked up again.
func (p *pool) failed(e *endpoint, retryAfter time.Duration, err error) {
	until := p.clock.Now().Add(max(p.cooldown, retryAfter))
	p.mu.Lock()
	defer p.mu.Unlock()
	if !e.down {
		p.log.Warn("Endpoint "+e.url+" is unavailable; avoiding it for "+max(p.cooldown, retryAfter).String(),
			"endpoint", e.url, "error", err.Error())
	}
	e.down, e.downUntil = true, until
	if p.leader >= 0 && p.eps[p.leader] == e {
		p.leader, p.leaderAt = -1, time.Time{}
	}
}

// beginRefresh reports whether the caller should look the leader up now: the information
// is older than the TTL and nobody else is already doing it.
func (p *pool) beginRefresh() bool {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refreshing || (!p.leaderAt.IsZero() && now.Sub(p.leaderAt) < p.ttl) {
		return false
	}
	p.refreshing = true
	return true
}

// endRefresh ends a refresh begun with beginRefresh.
func (p *pool) endRefresh() {
	p.mu.Lock()
	p.refreshing = false
	p.mu.Unlock()
}

// setLeader records the leader's advertised HTTP address ("" or an address that matches no
// endpoint: unknown) as of now.
func (p *pool) setLeader(httpAddr string) {
	addr := httpAddr
	if u, err := url.Parse(httpAddr); err == nil && u.Host != "" {
		addr = u.Host
	}
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leader = -1
	for i, e := range p.eps {
		if addr != "" && e.hostport == addr {
			p.leader = i
		}
	}
	p.leaderAt = now
}

// find returns the pool's endpoint with base URL u, or nil.
func (p *pool) find(u string) *endpoint {
	for _, e := range p.eps {
		if e.url == u {
			return e
		}
	}
	return nil
}

// forgetLeader drops the leader information, so the next strong request looks it up.
func (p *pool) forgetLeader() {
	p.mu.Lock()
	p.leader, p.leaderAt = -1, time.Time{}
	p.mu.Unlock()
}
