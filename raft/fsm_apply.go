package raft

import "github.com/lattice-state/lattice/crdt"

// applyCommand runs one command against ks. Merges are joined first, whatever the outcome.
func (f *fsm) applyCommand(ks *crdt.Keyspace, index uint64, c *Command) Result {
	for _, kv := range c.Merges {
		if kv.Key == "" {
			continue
		}
		if changed, _ := ks.Join(kv.Key, kv.Entry); changed {
			f.changed.add(kv.Key)
		}
	}
	if c.validate() != nil {
		return Result{Status: StatusInvalid}
	}
	if c.RequestID != "" {
		if r, ok := f.requests.lookup(c.RequestID); ok {
			return Result{Status: StatusAlreadyApplied, ETag: r.ETag, Index: r.Index}
		}
	}
	var res Result
	switch c.Op {
	case OpSet:
		res = f.applyTxn(ks, c.Now, []TxnItem{{Set: c.Set}})
	case OpDelete:
		res = f.applyTxn(ks, c.Now, []TxnItem{{Delete: c.Delete}})
	case OpTxn:
		if res = f.applyTxn(ks, c.Now, c.Txn); res.Status == StatusApplied {
			res.ETag = ""
		}
	case OpMerge, OpRead:
		res = Result{Status: StatusApplied, Entries: report(ks, c.Keys)}
	case OpExpire:
		keys := ks.Expire(c.Now) // sorted
		for _, k := range keys {
			f.changed.add(k)
		}
		res = Result{Status: StatusApplied, Count: len(keys)}
	case OpCollect:
		h := max(crdt.Timestamp(f.horizon.Load()), c.Horizon)
		f.horizon.Store(uint64(h))
		res = Result{Status: StatusApplied, Count: ks.Collect(h)}
	}
	if c.RequestID != "" && res.Status == StatusApplied && (c.Op == OpSet || c.Op == OpDelete || c.Op == OpTxn) {
		f.requests.add(appliedRequest{ID: c.RequestID, ETag: res.ETag, Index: index})
	}
	return res
}

// report returns the entries of the keys that exist, in request order.
func report(ks *crdt.Keyspace, keys []string) []crdt.KV {
	var out []crdt.KV
	for _, k := range keys {
		if e, ok := ks.Get(k); ok {
			out = append(out, crdt.KV{Key: k, Entry: e})
		}
	}
	return out
}

// applyTxn checks every item against the state before the transaction and applies all of them
// only if every check passes. The result's ETag is the last item's new etag (empty for a delete).
func (f *fsm) applyTxn(ks *crdt.Keyspace, now int64, items []TxnItem) Result {
	pre := make([]crdt.Entry, len(items))
	for i, it := range items {
		var key, etag string
		var hasETag, firstWrite bool
		if it.Set != nil {
			key, etag, hasETag, firstWrite = it.Set.Key, it.Set.ETag, it.Set.HasETag, it.Set.FirstWrite
		} else {
			key, etag, hasETag, firstWrite = it.Delete.Key, it.Delete.ETag, it.Delete.HasETag, it.Delete.FirstWrite
		}
		e, _ := ks.Get(key)
		if st, cur := check(e, now, etag, hasETag, firstWrite); st != StatusApplied {
			return Result{Status: st, ETag: cur, Key: key}
		}
		if it.Set != nil && e.State != nil && e.Type() != crdt.TypeRegister {
			return Result{Status: StatusWrongType, ETag: e.ETag(), Key: key}
		}
		pre[i] = e
	}
	res := Result{Status: StatusApplied}
	for i, it := range items {
		var key string
		var op crdt.Op
		var at crdt.Stamp
		if s := it.Set; s != nil {
			key, at = s.Key, s.Proposed
			op = crdt.Op{Kind: crdt.OpSet, Type: crdt.TypeRegister, Value: s.Value}
			if s.TTLSeconds > 0 {
				op.ExpireAt = now + s.TTLSeconds*1000
			}
		} else {
			key, at = it.Delete.Key, it.Delete.Proposed
			op = crdt.Op{Kind: crdt.OpDelete, Type: crdt.TypeRegister}
		}
		cur := pre[i]
		if i > 0 { // an earlier item may have written the same key
			cur, _ = ks.Get(key)
		}
		if it.Delete != nil && cur.Type() != crdt.TypeNone {
			op.Type = cur.Type()
		}
		// The write's timestamp is raised above everything the key has seen, so it wins the
		// join and the LWW order agrees with the log order.
		at.TS = max(at.TS, cur.Mod+1)
		d, err := ks.Apply(key, op, at)
		if err != nil {
			// Every failure Apply can report was ruled out by the checks above; applying half a
			// transaction would break atomicity silently, so stop loudly instead.
			panic("raft: applying checked transaction item " + key + ": " + err.Error())
		}
		f.changed.add(key)
		res.ETag = ""
		if it.Set != nil {
			// The delta won the join wholly (its stamp is above the key's), so it is the stored
			// entry and names the new value.
			res.ETag = d.ETag()
		}
	}
	return res
}

// check applies Dapr's in-memory store rules: an etag must match a live value (a missing,
// deleted or expired key is NotFound); first-write without an etag fails on a live value; an
// etag is checked whatever the concurrency mode. cur is the current etag on a mismatch.
func check(e crdt.Entry, now int64, etag string, hasETag, firstWrite bool) (st Status, cur string) {
	live := e.Live(now)
	switch {
	case hasETag && !live:
		return StatusNotFound, ""
	case hasETag:
		if cur = e.ETag(); cur != etag {
			return StatusETagMismatch, cur
		}
	case firstWrite && live:
		return StatusETagMismatch, e.ETag()
	}
	return StatusApplied, ""
}
