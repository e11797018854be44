package raft

import (
	"sync"
	"sync/atomic"
	"time"
)

// indexWaiter publishes a monotonically increasing index and lets goroutines wait for it to
// reach a value. Publishing is cheap when nobody waits.
type indexWaiter struct {
	cur     atomic.Uint64
	nwait   atomic.Int32
	mu      sync.Mutex
	waiters []indexWait
}

type indexWait struct {
	idx uint64
	ch  chan struct{}
}

func newIndexWaiter() *indexWaiter { return &indexWaiter{} }

func (w *indexWaiter) current() uint64 { return w.cur.Load() }

// publish raises the index to idx and wakes the waiters it satisfies.
func (w *indexWaiter) publish(idx uint64) {
	if idx <= w.cur.Load() {
		return
	}
	w.cur.Store(idx)
	w.wake()
}

// reset sets the index to idx (a snapshot restore) and wakes the waiters it satisfies.
func (w *indexWaiter) reset(idx uint64) {
	w.cur.Store(idx)
	w.wake()
}

func (w *indexWaiter) wake() {
	if w.nwait.Load() == 0 {
		return
	}
	cur := w.cur.Load()
	w.mu.Lock()
	kept := w.waiters[:0]
	for _, x := range w.waiters {
		if x.idx <= cur {
			close(x.ch)
		} else {
			kept = append(kept, x)
		}
	}
	clear(w.waiters[len(kept):])
	w.waiters = kept
	w.nwait.Store(int32(len(kept)))
	w.mu.Unlock()
}

// wait blocks until the index reaches idx (true), the deadline passes or stop closes (false).
func (w *indexWaiter) wait(idx uint64, deadline time.Time, stop <-chan struct{}) bool {
	if w.cur.Load() >= idx {
		return true
	}
	ch := make(chan struct{})
	w.mu.Lock()
	w.waiters = append(w.waiters, indexWait{idx: idx, ch: ch})
	w.nwait.Store(int32(len(w.waiters)))
	w.mu.Unlock()
	// Re-check: a publish between the first check and the registration saw no waiter.
	w.wake()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-stop:
	}
	w.remove(ch)
	return w.cur.Load() >= idx
}

func (w *indexWaiter) remove(ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.waiters {
		if x.ch == ch {
			w.waiters = append(w.waiters[:i], w.waiters[i+1:]...)
			w.nwait.Store(int32(len(w.waiters)))
			return
		}
	}
}
