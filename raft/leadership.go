package raft

import (
	"errors"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
)

// broadcaster wakes every goroutine waiting on the channel returned by wait when notify is called.
type broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next notify. Take it before checking the condition.
func (b *broadcaster) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcaster) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// readiness says whether linearizable reads may be served: this node leads in term and a
// barrier of that term has been applied, so every entry up to floor is in the FSM.
type readiness struct {
	term  uint64 // 0: not ready
	floor uint64
}

// leadership holds the current readiness.
type leadership struct {
	mu sync.Mutex
	r  readiness
}

func (l *leadership) get() readiness {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r
}

func (l *leadership) set(r readiness) {
	l.mu.Lock()
	l.r = r
	l.mu.Unlock()
}

// leadershipLoop follows raft's leadership notifications. On gaining leadership it commits a
// barrier, so everything committed by earlier terms is applied before reads are served: a new
// leader's commit index is not trustworthy until an entry of its own term commits.
func (s *Store) leadershipLoop() {
	defer s.loops.Done()
	for {
		select {
		case isLeader := <-s.notifyCh:
			s.lead.set(readiness{})
			s.changed.notify()
			if isLeader {
				s.establish()
			}
		case <-s.stop:
			return
		}
	}
}

// establish commits a barrier in the current term and records readiness.
func (s *Store) establish() {
	for s.raft.State() == hraft.Leader {
		term := s.raft.CurrentTerm()
		f := s.raft.Barrier(s.cfg.ApplyTimeout)
		// Waited for in a goroutine so Shutdown is not held up: a barrier still queued when raft
		// stops is never answered (its goroutine then lives until the process exits).
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		var err error
		select {
		case err = <-done:
		case <-s.stop:
			return
		}
		if err == nil {
			if idx, ok := f.(hraft.IndexFuture); ok && s.raft.CurrentTerm() == term && s.raft.State() == hraft.Leader {
				s.lead.set(readiness{term: term, floor: idx.Index()})
				s.changed.notify()
			}
			return
		}
		if errors.Is(err, hraft.ErrRaftShutdown) {
			return
		}
		s.log.Warn("term-start barrier failed", "term", term, "error", err)
	}
}

// observeLoop reports leader changes to OnLeaderChange and wakes waiters on any raft state change.
// Observations may be dropped when the channel is full; the leader is therefore read from raft
// on each one rather than taken from the observation.
func (s *Store) observeLoop() {
	defer s.loops.Done()
	var lastID, lastAddr string
	// A slow fallback poll covers dropped observations.
	tick := time.NewTicker(s.cfg.HeartbeatTimeout)
	defer tick.Stop()
	for {
		select {
		case <-s.obsCh:
		case <-tick.C:
		case <-s.stop:
			return
		}
		id, addr := s.Leader()
		if id != lastID || addr != lastAddr {
			lastID, lastAddr = id, addr
			if s.cfg.OnLeaderChange != nil {
				s.cfg.OnLeaderChange(id, addr)
			}
		}
		s.changed.notify()
	}
}
