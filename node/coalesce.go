package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/lattice-state/lattice/raft"
)

// coalescer turns concurrent calls to one destination into batches: while a
// batch is in flight, new calls queue, and the next batch takes all of them
// (up to max). A follower uses it to forward strong writes to the leader and
// to share read barriers, so the leader sees one request per round instead
// of one per client request. Safe for concurrent use.
type coalescer[T, R any] struct {
	max int
	// run sends one batch and returns one result per item, or an error for
	// the whole batch.
	run func(dest string, batch []T) ([]R, error)

	mu    sync.Mutex
	dests map[string]*coalesceQueue[T, R]
}

type coalesceQueue[T, R any] struct {
	pending []*coalesceCall[T, R]
	running bool
}

type coalesceCall[T, R any] struct {
	item T
	done chan coalesceResult[R]
}

type coalesceResult[R any] struct {
	res R
	err error
}

func newCoalescer[T, R any](max int, run func(dest string, batch []T) ([]R, error)) *coalescer[T, R] {
	return &coalescer[T, R]{max: max, run: run, dests: map[string]*coalesceQueue[T, R]{}}
}

// do queues item for dest and waits for its result or ctx. An abandoned item
// may still be sent.
func (c *coalescer[T, R]) do(ctx context.Context, dest string, item T) (R, error) {
	call := &coalesceCall[T, R]{item: item, done: make(chan coalesceResult[R], 1)}
	c.mu.Lock()
	q, ok := c.dests[dest]
	if !ok {
		q = &coalesceQueue[T, R]{}
		c.dests[dest] = q
	}
	q.pending = append(q.pending, call)
	if !q.running {
		q.running = true
		go c.drain(dest, q)
	}
	c.mu.Unlock()
	select {
	case r := <-call.done:
		return r.res, r.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// drain sends batches to dest until its queue is empty.
func (c *coalescer[T, R]) drain(dest string, q *coalesceQueue[T, R]) {
	for {
		c.mu.Lock()
		n := min(len(q.pending), c.max)
		if n == 0 {
			q.running = false
			delete(c.dests, dest)
			c.mu.Unlock()
			return
		}
		batch := q.pending[:n:n]
		q.pending = q.pending[n:]
		c.mu.Unlock()

		items := make([]T, len(batch))
		for i, call := range batch {
			items[i] = call.item
		}
		results, err := c.run(dest, items)
		if err == nil && len(results) != len(batch) {
			err = fmt.Errorf("%w: %d results for %d calls", errBadMessage, len(results), len(batch))
		}
		for i, call := range batch {
			if err != nil {
				call.done <- coalesceResult[R]{err: err}
			} else {
				call.done <- coalesceResult[R]{res: results[i]}
			}
		}
	}
}

// forwarded is one command's answer from the leader.
type forwarded struct {
	res raft.Result
	err error
}

// forwardBatch sends encoded commands to the leader at httpAddr in one
// request. Per-command failures come back per command.
func (n *Node) forwardBatch(httpAddr string, cmds [][]byte) ([]forwarded, error) {
	body := binary.AppendUvarint(nil, uint64(len(cmds)))
	for _, c := range cmds {
		body = appendSection(body, c)
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.StrongTimeout)
	defer cancel()
	var resp []byte
	if err := n.postInternal(ctx, httpAddr, pathPropose, body, &resp); err != nil {
		return nil, err
	}
	r := reader{buf: resp}
	count := r.uvarint()
	if r.err != nil || count != uint64(len(cmds)) {
		return nil, fmt.Errorf("%w: %d answers for %d commands", errBadMessage, count, len(cmds))
	}
	out := make([]forwarded, count)
	for i := range out {
		sec := r.section()
		if r.err != nil {
			return nil, r.err
		}
		if len(sec) == 0 {
			return nil, fmt.Errorf("%w: empty answer", errBadMessage)
		}
		switch sec[0] {
		case answerResult:
			res, err := decodeResult(sec[1:])
			if err != nil {
				return nil, err
			}
			out[i].res = res
		case answerError:
			out[i].err = decodeRemoteError(0, sec[1:])
		default:
			return nil, fmt.Errorf("%w: answer kind %d", errBadMessage, sec[0])
		}
	}
	return out, nil
}

// The first byte of one command's answer in a forwarded batch.
const (
	answerResult byte = 1
	answerError  byte = 2
)

// servePropose runs a batch of forwarded commands on this node, which must
// be leader. The commands are queued together, so Raft puts them in as few
// log entries as it can.
func (n *Node) servePropose(ctx context.Context, body []byte) ([]byte, error) {
	r := reader{buf: body}
	count := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	if count == 0 || count > uint64(len(r.buf)) {
		return nil, fmt.Errorf("%w: %d commands in %d bytes", errBadMessage, count, len(r.buf))
	}
	cmds := make([]*raft.Command, count)
	for i := range cmds {
		sec := r.section()
		if r.err != nil {
			return nil, r.err
		}
		cmd, err := raft.DecodeCommand(sec)
		if err != nil {
			return nil, fmt.Errorf("%w: command %d: %v", errBadMessage, i, err)
		}
		cmds[i] = &cmd
	}
	if len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", errBadMessage)
	}
	if !n.store.IsLeader() {
		return nil, errRemoteNotLeader
	}
	answers := make([][]byte, len(cmds))
	for i, p := range n.store.ProposeAll(ctx, cmds) {
		if p.Err != nil {
			_, code := internalErrorCode(p.Err)
			answers[i] = append([]byte{answerError}, code+" "+p.Err.Error()...)
			continue
		}
		answers[i] = appendResult([]byte{answerResult}, p.Result)
	}
	out := binary.AppendUvarint(nil, uint64(len(answers)))
	for _, a := range answers {
		out = appendSection(out, a)
	}
	return out, nil
}
