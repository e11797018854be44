package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lattice-state/lattice"
)

// fakeBackend is an in-memory Backend with the semantics the node promises: ETags that change
// with every write, TTLs on a controllable clock, one type per key, Dapr's in-memory store rules
// for ETags and first-write, all-or-nothing transactions. It records every request and can be
// told to refuse requests that need Raft (no quorum) or eventual writes (backpressure).
type fakeBackend struct {
	mu      sync.Mutex
	now     time.Time
	data    map[string]*fakeEntry // entries are never modified once stored
	seq     int
	calls   map[string]int
	saves   []SaveRequest
	deletes []DeleteRequest
	txns    []TransactRequest
	applies []CRDTOp
	reads   []lattice.Consistency // consistency of every Get, BulkGet and Scan

	noQuorum     error            // returned by requests that need Raft
	backpressure error            // returned by unconditional eventual writes
	failWith     map[string]error // method name -> error to return
	block        bool             // every call waits for its context
	panicOn      string           // method that panics
}

// fakeEntry is one key's value. Only the fields of its type are set.
type fakeEntry struct {
	typ      CRDTType
	etag     string
	value    []byte // register
	expireAt time.Time
	gcount   uint64                // gcounter
	count    int64                 // pncounter
	set      map[string]bool       // orset
	flag     bool                  // flag
	mv       []byte                // mvregister: the last assigned value (a sequential fake has no concurrency)
	fields   map[string]*fakeEntry // ormap
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		now:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		data:     make(map[string]*fakeEntry),
		calls:    make(map[string]int),
		failWith: make(map[string]error),
	}
}

// enter records a call and returns the error the fake was told to return for it, if any. It is
// called with f.mu held; when f.block is set it releases the lock while it waits.
func (f *fakeBackend) enter(ctx context.Context, method string, needsRaft, eventualWrite bool) error {
	f.calls[method]++
	if f.panicOn == method {
		panic("fake: " + method + " panicked")
	}
	if f.block {
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		return ctx.Err()
	}
	if err := f.failWith[method]; err != nil {
		return err
	}
	if needsRaft && f.noQuorum != nil {
		return f.noQuorum
	}
	if eventualWrite && !needsRaft && f.backpressure != nil {
		return f.backpressure
	}
	return nil
}

func (f *fakeBackend) live(e *fakeEntry) bool {
	return e != nil && (e.expireAt.IsZero() || f.now.Before(e.expireAt))
}

func (f *fakeBackend) nextETag() string {
	f.seq++
	return strconv.Itoa(f.seq)
}

func (f *fakeBackend) item(key string, e *fakeEntry) Item {
	if !f.live(e) {
		return Item{Key: key}
	}
	return Item{Key: key, Found: true, Value: e.view(), ETag: e.etag, Type: e.typ, ExpireAt: e.expireAt}
}

func (f *fakeBackend) Get(ctx context.Context, key string, c lattice.Consistency) (Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, c)
	if err := f.enter(ctx, "Get", c == lattice.Strong, false); err != nil {
		return Item{}, err
	}
	return f.item(key, f.data[key]), nil
}

func (f *fakeBackend) BulkGet(ctx context.Context, keys []string, c lattice.Consistency) ([]Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, c)
	if err := f.enter(ctx, "BulkGet", c == lattice.Strong, false); err != nil {
		return nil, err
	}
	items := make([]Item, len(keys))
	for i, k := range keys {
		items[i] = f.item(k, f.data[k])
	}
	return items, nil
}

func (f *fakeBackend) Save(ctx context.Context, req SaveRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saves = append(f.saves, req)
	raft := req.Consistency == lattice.Strong || req.ETag != "" || req.Concurrency == lattice.FirstWrite
	if err := f.enter(ctx, "Save", raft, true); err != nil {
		return err
	}
	return f.saveIn(f.data, req.Key, req.Value, req.ETag, req.TTL, req.Concurrency)
}

func (f *fakeBackend) saveIn(m map[string]*fakeEntry, key string, value []byte, etag string, ttl time.Duration, conc lattice.Concurrency) error {
	cur := m[key]
	live := f.live(cur)
	switch {
	case live && cur.typ != TypeRegister:
		return fmt.Errorf("fake: key %s holds a %s: %w", key, cur.typ, lattice.ErrWrongType)
	case etag != "" && !live:
		return fmt.Errorf("state not exist or expired for key=%s: %w", key, lattice.ErrETagMismatch)
	case etag != "" && cur.etag != etag:
		return fmt.Errorf("state etag not match for key=%s: %w", key, lattice.ErrETagMismatch)
	case etag == "" && conc == lattice.FirstWrite && live:
		return fmt.Errorf("item already exists and no etag was passed for key=%s: %w", key, lattice.ErrETagMismatch)
	}
	e := &fakeEntry{typ: TypeRegister, value: bytes.Clone(value), etag: f.nextETag()}
	if ttl > 0 {
		e.expireAt = f.now.Add(ttl)
	}
	m[key] = e
	return nil
}

func (f *fakeBackend) Delete(ctx context.Context, req DeleteRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, req)
	if err := f.enter(ctx, "Delete", req.Consistency == lattice.Strong || req.ETag != "", true); err != nil {
		return err
	}
	return f.deleteIn(f.data, req.Key, req.ETag)
}

func (f *fakeBackend) deleteIn(m map[string]*fakeEntry, key, etag string) error {
	cur := m[key]
	if etag != "" && (!f.live(cur) || cur.etag != etag) {
		return fmt.Errorf("fake: delete of key=%s with etag %s: %w", key, etag, lattice.ErrETagMismatch)
	}
	delete(m, key)
	return nil
}

func (f *fakeBackend) Transact(ctx context.Context, req TransactRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txns = append(f.txns, req)
	if err := f.enter(ctx, "Transact", true, true); err != nil {
		return err
	}
	next := maps.Clone(f.data)
	for _, op := range req.Ops {
		var err error
		switch op.Kind {
		case TxnUpsert:
			err = f.saveIn(next, op.Key, op.Value, op.ETag, op.TTL, op.Concurrency)
		case TxnDelete:
			err = f.deleteIn(next, op.Key, op.ETag)
		default:
			err = fmt.Errorf("fake: operation %v: %w", op.Kind, lattice.ErrInvalidArgument)
		}
		if err != nil {
			return err
		}
	}
	f.data = next
	return nil
}

func (f *fakeBackend) Scan(ctx context.Context, prefix string, c lattice.Consistency, fn func(Item) bool) error {
	f.mu.Lock()
	f.reads = append(f.reads, c)
	if err := f.enter(ctx, "Scan", c == lattice.Strong, false); err != nil {
		f.mu.Unlock()
		return err
	}
	var items []Item
	for k, e := range f.data { // map order: the server must sort
		if strings.HasPrefix(k, prefix) && f.live(e) {
			items = append(items, f.item(k, e))
		}
	}
	f.mu.Unlock()
	for _, it := range items {
		if !fn(it) {
			break
		}
	}
	return nil
}

func (f *fakeBackend) Apply(ctx context.Context, key string, op CRDTOp, c lattice.Consistency) (Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies = append(f.applies, op)
	if err := f.enter(ctx, "Apply", c == lattice.Strong, true); err != nil {
		return Item{}, err
	}
	cur := f.data[key]
	if !f.live(cur) {
		cur = nil
	}
	next, err := applyOp(cur, op)
	if err != nil {
		return Item{}, fmt.Errorf("fake: key %s: %w", key, err)
	}
	next.etag = f.nextETag()
	f.data[key] = next
	return f.item(key, next), nil
}

// applyOp returns a new entry: cur (nil when absent) after op.
func applyOp(cur *fakeEntry, op CRDTOp) (*fakeEntry, error) {
	if cur != nil && cur.typ != op.Type {
		return nil, fmt.Errorf("is a %s, not a %s: %w", cur.typ, op.Type, lattice.ErrWrongType)
	}
	e := &fakeEntry{typ: op.Type}
	if cur != nil {
		*e = *cur
		e.set, e.fields = maps.Clone(cur.set), maps.Clone(cur.fields)
	}
	switch op.Kind {
	case OpIncrement, OpDecrement:
		if op.Type == TypeGCounter {
			if e.gcount > math.MaxUint64-op.Amount {
				return nil, lattice.ErrOverflow
			}
			e.gcount += op.Amount
			break
		}
		d := int64(op.Amount)
		if op.Amount > math.MaxInt64 || (op.Kind == OpIncrement && e.count > math.MaxInt64-d) ||
			(op.Kind == OpDecrement && e.count < math.MinInt64+d) {
			return nil, lattice.ErrOverflow
		}
		if op.Kind == OpDecrement {
			d = -d
		}
		e.count += d
	case OpAdd, OpRemove:
		if op.Type == TypeORMap {
			delete(e.fields, op.Field)
			break
		}
		if e.set == nil {
			e.set = make(map[string]bool)
		}
		for _, el := range op.Elements {
			if op.Kind == OpAdd {
				e.set[el] = true
			} else {
				delete(e.set, el)
			}
		}
	case OpEnable, OpDisable:
		e.flag = op.Kind == OpEnable
	case OpAssign:
		e.mv = bytes.Clone(op.Value)
	case OpUpdate:
		nested, err := applyOp(e.fields[op.Field], *op.Nested)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", op.Field, err)
		}
		if e.fields == nil {
			e.fields = make(map[string]*fakeEntry)
		}
		e.fields[op.Field] = nested
	}
	return e, nil
}

// view is the entry's JSON view, as crdt.Entry.JSON renders it.
func (e *fakeEntry) view() []byte {
	switch e.typ {
	case TypeRegister:
		return e.value
	case TypeGCounter:
		return []byte(strconv.FormatUint(e.gcount, 10))
	case TypePNCounter:
		return []byte(strconv.FormatInt(e.count, 10))
	case TypeORSet:
		elems := slices.Sorted(maps.Keys(e.set))
		if elems == nil {
			elems = []string{}
		}
		b, _ := json.Marshal(elems)
		return b
	case TypeFlag:
		return []byte(strconv.FormatBool(e.flag))
	case TypeMVRegister:
		return []byte("[" + string(e.mv) + "]")
	}
	// ormap
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(e.fields)) {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(e.fields[k].view())
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// put stores a register directly, for test setup; it returns the new ETag.
func (f *fakeBackend) put(key, value string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := &fakeEntry{typ: TypeRegister, value: []byte(value), etag: f.nextETag()}
	f.data[key] = e
	return e.etag
}

// state renders every live key as "view etag", to compare before and after a request.
func (f *fakeBackend) state() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string)
	for k, e := range f.data {
		if f.live(e) {
			out[k] = string(e.view()) + " " + e.etag
		}
	}
	return out
}

// writes counts the calls of the methods that change state.
func (f *fakeBackend) writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls["Save"] + f.calls["Delete"] + f.calls["Transact"] + f.calls["Apply"]
}

// callCount returns how many times method was called.
func (f *fakeBackend) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// advance moves the fake clock.
func (f *fakeBackend) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// set changes the fake's configuration under its lock.
func (f *fakeBackend) set(fn func(f *fakeBackend)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// fakeCluster is an in-memory Cluster of three members with node-1 leading.
type fakeCluster struct {
	mu        sync.Mutex
	health    error
	err       error // returned by every method but Health when set
	members   []Member
	removed   []string
	transfers []string
}

func newFakeCluster() *fakeCluster {
	c := &fakeCluster{}
	for i := 1; i <= 3; i++ {
		c.members = append(c.members, Member{ID: fmt.Sprintf("node-%d", i), HTTPAddr: fmt.Sprintf("127.0.0.1:350%d", i-1),
			GossipAddr: fmt.Sprintf("127.0.0.1:794%d", 5+i), RaftAddr: fmt.Sprintf("127.0.0.1:700%d", i-1),
			State: "alive", Voter: true, Leader: i == 1})
	}
	return c
}

func (c *fakeCluster) Health(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

func (c *fakeCluster) leader() Member {
	for _, m := range c.members {
		if m.Leader {
			return m
		}
	}
	return Member{}
}

func (c *fakeCluster) Status(context.Context) (ClusterStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return ClusterStatus{}, c.err
	}
	l := c.leader()
	return ClusterStatus{NodeID: "node-1", Leader: LeaderInfo{ID: l.ID, HTTPAddr: l.HTTPAddr},
		Raft:    RaftStatus{State: "leader", Term: 3, CommitIndex: 42, AppliedIndex: 41, LastIndex: 42},
		FoldIn:  FoldInStatus{PendingKeys: 2, PendingBytes: 128, LagMs: 7},
		Replica: ReplicaStatus{Keys: 10, MemoryBytes: 4096}}, nil
}

func (c *fakeCluster) Members(context.Context) ([]Member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.members), c.err
}

func (c *fakeCluster) RemoveMember(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	i := slices.IndexFunc(c.members, func(m Member) bool { return m.ID == id })
	if i < 0 {
		return fmt.Errorf("fake: no member %q: %w", id, lattice.ErrInvalidArgument)
	}
	c.members = slices.Delete(c.members, i, i+1)
	c.removed = append(c.removed, id)
	return nil
}

func (c *fakeCluster) TransferLeadership(_ context.Context, to string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return "", c.err
	}
	c.transfers = append(c.transfers, to)
	target := -1
	for i, m := range c.members {
		if (to == "" && !m.Leader && m.Voter) || (to != "" && m.ID == to) {
			target = i
			break
		}
	}
	if target < 0 {
		return "", fmt.Errorf("fake: no voter %q to transfer to: %w", to, lattice.ErrInvalidArgument)
	}
	for i := range c.members {
		c.members[i].Leader = i == target
	}
	return c.members[target].ID, nil
}
