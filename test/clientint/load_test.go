package clientint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lattice-state/lattice/client"
)

// load runs rounds through one client until stopped: save a new key then read it back,
// eventually and/or strongly as its mode says. It records every error the client surfaces
// to its caller and how long each round took.
//
// An eventual write is acknowledged by one node before it reaches the others; if that node
// is killed in between, a read served elsewhere may not find it (DESIGN.md section 2,
// Durability). Such a miss is tolerated, and counted, only in a round that overlapped a
// kill; a strong write must always be read back.
type load struct {
	cl     *client.Client
	name   string // prefix of its keys
	mode   atomic.Int32
	rounds atomic.Int64
	faults atomic.Int64 // bumped before and after every kill: odd while one is under way
	missed atomic.Int64 // eventual writes lost to a kill
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	errs  []error
	spans []span
}

// Load modes: which consistencies a round uses.
const (
	both int32 = iota
	eventualOnly
	strongOnly
)

// span is one round's start and end.
type span struct{ start, end time.Time }

// startLoad starts a load on cl whose keys start with name; it stops when the test ends
// at the latest.
func startLoad(t *testing.T, cl *client.Client, name string, mode int32) *load {
	ctx, cancel := context.WithCancel(t.Context())
	l := &load{cl: cl, name: name, cancel: cancel, done: make(chan struct{})}
	l.mode.Store(mode)
	go l.run(ctx)
	t.Cleanup(l.stop)
	return l
}

func (l *load) run(ctx context.Context) {
	defer close(l.done)
	for i := 0; ctx.Err() == nil; i++ {
		start := time.Now()
		epoch := l.faults.Load()
		err := l.round(ctx, i)
		if errors.Is(err, errNotFound) && (epoch%2 == 1 || l.faults.Load() != epoch) {
			l.missed.Add(1)
			err = nil
		}
		if ctx.Err() != nil {
			return // the caller's own cancellation is not the client's failure
		}
		l.mu.Lock()
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("round %d at %s: %w", i, start.Format("15:04:05.000"), err))
		} else {
			l.spans = append(l.spans, span{start, time.Now()})
		}
		l.mu.Unlock()
		if err == nil {
			l.rounds.Add(1)
		}
	}
}

// round saves and reads one key per consistency of the mode.
func (l *load) round(ctx context.Context, i int) error {
	var opts [][]client.Option
	switch l.mode.Load() {
	case both:
		opts = [][]client.Option{nil, {strong}}
	case eventualOnly:
		opts = [][]client.Option{nil}
	case strongOnly:
		opts = [][]client.Option{{strong}}
	}
	for _, o := range opts {
		key := fmt.Sprintf("%s-%d-%d", l.name, i, len(o))
		if err := l.cl.Set(ctx, key, i, o...); err != nil {
			return fmt.Errorf("save %s: %w", key, err)
		}
		item, found, err := l.cl.Get(ctx, key, o...)
		if err != nil {
			return fmt.Errorf("get %s: %w", key, err)
		}
		var got int
		if !found && len(o) == 0 {
			return fmt.Errorf("get %s: %w", key, errNotFound)
		}
		if !found || json.Unmarshal(item.Value, &got) != nil || got != i {
			return fmt.Errorf("get %s = %q (found %v), want %d", key, item.Value, found, i)
		}
	}
	return nil
}

// errNotFound: an eventual read did not find the key just saved.
var errNotFound = errors.New("eventual write not found")

// kill runs the kill of some nodes, marking the rounds that overlap it.
func (l *load) kill(f func()) {
	l.faults.Add(1)
	f()
	l.faults.Add(1)
}

// stop ends the load and waits for its goroutine.
func (l *load) stop() {
	l.cancel()
	<-l.done
}

// setMode switches the mode, and waits for a round in the new mode to succeed.
func (l *load) setMode(t *testing.T, mode int32) {
	t.Helper()
	l.mode.Store(mode)
	l.progress(t, 2, 10*time.Second, "in the new mode")
}

// progress waits until n more rounds succeeded.
func (l *load) progress(t *testing.T, n int64, timeout time.Duration, what string) {
	t.Helper()
	target := l.rounds.Load() + n
	eventually(t, timeout, fmt.Sprintf("%d rounds %s", n, what), func() bool { return l.rounds.Load() >= target })
}

// surfaced returns the errors surfaced so far.
func (l *load) surfaced() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// noErrors fails the test if the client surfaced any error.
func (l *load) noErrors(t *testing.T) {
	t.Helper()
	if errs := l.surfaced(); len(errs) > 0 {
		t.Fatalf("%d errors surfaced to the caller, first: %v", len(errs), errs[0])
	}
}

// slowest returns the longest round that ended after since.
func (l *load) slowest(since time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d time.Duration
	for _, s := range l.spans {
		if s.end.After(since) {
			d = max(d, s.end.Sub(s.start))
		}
	}
	return d
}
