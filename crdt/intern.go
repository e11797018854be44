package crdt

import "sync"

// Replica ids are interned as they are decoded: a cluster has a few (one per
// node and boot), and without interning every decoded register would hold
// its own copy (24 bytes for a typical "node-1.<boot epoch>" id). The table
// is emptied when full, so garbage input cannot grow it without bound.

const maxInterned = 1024

var interned = struct {
	sync.RWMutex
	m map[string]ReplicaID
}{m: make(map[string]ReplicaID)}

// internReplica returns b as a ReplicaID, sharing the memory of an earlier
// equal id.
func internReplica(b []byte) ReplicaID {
	if len(b) == 0 {
		return ""
	}
	interned.RLock()
	id, ok := interned.m[string(b)]
	interned.RUnlock()
	if ok {
		return id
	}
	id = ReplicaID(b)
	interned.Lock()
	defer interned.Unlock()
	if prev, ok := interned.m[string(b)]; ok {
		return prev
	}
	if len(interned.m) >= maxInterned {
		interned.m = make(map[string]ReplicaID)
	}
	interned.m[string(id)] = id
	return id
}
