package crdt

import "slices"

// Expire turns every register whose expiry is at or before nowMs into a
// tombstone (same stamp, no value, so it wins over the live value
// everywhere) and returns the keys, sorted. Callers that must be
// deterministic (the Raft FSM) pass the time carried in the command.
func (k *Keyspace) Expire(nowMs int64) []string {
	var keys []string
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		for key, at := range s.ttl {
			if at > nowMs {
				continue
			}
			_, sl := k.slotOf(key)
			s.lookup(&sl)
			r, ok := sl.cur.State.(*Register)
			if !ok || r.Deleted || r.ExpireAt == 0 || r.ExpireAt > nowMs {
				delete(s.ttl, key)
				continue
			}
			next := sl.cur
			sl.fresh = r.expired()
			next.State = sl.fresh
			k.store(s, &sl, next) // also drops key from ttl
			keys = append(keys, key)
		}
		s.mu.Unlock()
	}
	slices.Sort(keys)
	return keys
}

// Collect physically drops tombstones (deleted registers and deleted keys
// of other types) whose Mod is below horizon and returns how many it
// dropped. The horizon must be below the timestamp of any delta still in
// flight, or an old write could reappear.
func (k *Keyspace) Collect(horizon Timestamp) int {
	n := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		var drop []string
		for j := range s.buckets {
			bm := &s.buckets[j]
			for key, r := range bm.regs {
				if r.Deleted && r.TS < horizon {
					drop = append(drop, key)
				}
			}
			for key, it := range bm.items {
				if it.e.tombstone() && it.e.Mod < horizon {
					drop = append(drop, key)
				}
			}
		}
		for _, key := range drop {
			_, sl := k.slotOf(key)
			s.lookup(&sl)
			k.remove(s, &sl)
		}
		n += len(drop)
		s.mu.Unlock()
	}
	return n
}
