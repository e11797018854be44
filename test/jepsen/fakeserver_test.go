package jepsen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeCluster serves the HTTP wire contract from one in-memory store shared by n nodes, so a
// correct run is linearizable and convergent. Bugs can be switched on to show that each checker
// catches them.
type fakeCluster struct {
	bugs fakeBugs

	mu       sync.Mutex
	etag     int
	state    map[string]fakeEntry
	counters map[string]int64
	sets     map[string]map[string]bool
	ops      int
	crdtOps  int
	txns     int
	stale    []fakeSnapshot // per node: what its broken strong reads see
	servers  []*httptest.Server
}

// fakeBugs are the deliberate defects.
type fakeBugs struct {
	staleStrongReads bool // strong reads on nodes 2.. come from a snapshot refreshed every 25 writes (also per request: X-Unsafe-Local-Reads)
	loseEventual     bool // every 4th eventual CRDT operation is acknowledged but dropped
	halfTransactions bool // every 5th transaction applies only its first operation
	divergentReplica bool // node 3's eventual reads of registers always say absent
}

type fakeEntry struct {
	raw  json.RawMessage
	etag string
}

type fakeSnapshot struct {
	state    map[string]fakeEntry
	counters map[string]int64
	sets     map[string][]string
}

// newFakeStore returns the shared store without node servers.
func newFakeStore(n int, bugs fakeBugs) *fakeCluster {
	return &fakeCluster{bugs: bugs, state: map[string]fakeEntry{}, counters: map[string]int64{},
		sets: map[string]map[string]bool{}, stale: make([]fakeSnapshot, n)}
}

func newFakeCluster(t *testing.T, n int, bugs fakeBugs) *fakeCluster {
	f := newFakeStore(n, bugs)
	for i := 0; i < n; i++ {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.serve(i, f.bugs.staleStrongReads, w, r)
		}))
		t.Cleanup(srv.Close)
		f.servers = append(f.servers, srv)
	}
	return f
}

// addrs are the nodes' host:port.
func (f *fakeCluster) addrs() []string {
	var out []string
	for _, s := range f.servers {
		out = append(out, strings.TrimPrefix(s.URL, "http://"))
	}
	return out
}

func (f *fakeCluster) nextETag() string {
	f.etag++
	return fmt.Sprint(f.etag)
}

// wrote counts a write and refreshes the stale snapshots now and then.
func (f *fakeCluster) wrote() {
	f.ops++
	if f.ops%25 == 1 {
		for i := range f.stale {
			f.stale[i] = fakeSnapshot{state: maps.Clone(f.state), counters: maps.Clone(f.counters), sets: map[string][]string{}}
			for k, s := range f.sets {
				f.stale[i].sets[k] = slices.Sorted(maps.Keys(s))
			}
		}
	}
}

func writeErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errorCode":%q,"message":"fake"}`, code)
}

// ServeHTTP serves requests proxied by fake node processes, which name themselves in X-Node and
// ask for stale strong reads with X-Unsafe-Local-Reads.
func (f *fakeCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	node := nodeIndex(r.Header.Get("X-Node"), len(f.stale))
	if node < 0 {
		writeErr(w, 400, "ERR_MALFORMED_REQUEST")
		return
	}
	f.serve(node, r.Header.Get("X-Unsafe-Local-Reads") != "", w, r)
}

func (f *fakeCluster) serve(node int, unsafe bool, w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	strong := r.URL.Query().Get("consistency") == "strong"
	staleRead := unsafe && strong && node > 0 && f.stale[node].state != nil
	path := r.URL.Path
	switch {
	case path == "/v1.0/healthz":
		w.WriteHeader(http.StatusNoContent)
	case path == "/v1.0/cluster/status":
		state := "Follower"
		if node == 0 {
			state = "Leader"
		}
		fmt.Fprintf(w, `{"nodeId":"n%d","leader":{"id":"n1"},"raft":{"state":%q,"term":1}}`, node+1, state)
	case path == "/v1.0/state/statestore" && r.Method == http.MethodPost:
		var items []struct {
			Key     string          `json:"key"`
			Value   json.RawMessage `json:"value"`
			ETag    string          `json:"etag"`
			Options struct{ Concurrency string }
		}
		if err := json.NewDecoder(r.Body).Decode(&items); err != nil || len(items) != 1 {
			writeErr(w, 400, "ERR_MALFORMED_REQUEST")
			return
		}
		it := items[0]
		cur, exists := f.state[it.Key]
		if (it.ETag != "" && (!exists || cur.etag != it.ETag)) || (it.ETag == "" && it.Options.Concurrency == "first-write" && exists) {
			writeErr(w, 409, "ERR_STATE_SAVE")
			return
		}
		f.state[it.Key] = fakeEntry{raw: it.Value, etag: f.nextETag()}
		f.wrote()
		w.WriteHeader(http.StatusNoContent)
	case path == "/v1.0/state/statestore/transaction":
		var body struct {
			Operations []struct {
				Operation string
				Request   struct {
					Key   string          `json:"key"`
					Value json.RawMessage `json:"value"`
					ETag  string          `json:"etag"`
				}
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeErr(w, 400, "ERR_MALFORMED_REQUEST")
			return
		}
		for _, op := range body.Operations {
			if cur, ok := f.state[op.Request.Key]; op.Request.ETag != "" && (!ok || cur.etag != op.Request.ETag) {
				w.WriteHeader(500)
				io.WriteString(w, `{"errorCode":"ERR_STATE_TRANSACTION","message":"possible etag mismatch"}`)
				return
			}
		}
		f.txns++
		for i, op := range body.Operations {
			if f.bugs.halfTransactions && f.txns%5 == 0 && i > 0 {
				break
			}
			f.state[op.Request.Key] = fakeEntry{raw: op.Request.Value, etag: f.nextETag()}
		}
		f.wrote()
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(path, "/v1.0/state/statestore/"):
		key := strings.TrimPrefix(path, "/v1.0/state/statestore/")
		if r.Method == http.MethodDelete {
			if m := r.Header.Get("If-Match"); m != "" && f.state[key].etag != m {
				writeErr(w, 409, "ERR_STATE_DELETE")
				return
			}
			delete(f.state, key)
			f.wrote()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		e, ok := f.state[key]
		if staleRead {
			e, ok = f.stale[node].state[key]
		}
		if !strong && f.bugs.divergentReplica && node == 2 && strings.HasPrefix(key, "reg-") {
			ok = false
		}
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("ETag", e.etag)
		w.Write(e.raw)
	case strings.HasPrefix(path, "/v1.0/crdt/statestore/"):
		f.serveCRDT(node, strong, staleRead, strings.TrimPrefix(path, "/v1.0/crdt/statestore/"), w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeCluster) serveCRDT(node int, strong, staleRead bool, key string, w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var op crdtRequest
		if err := json.NewDecoder(r.Body).Decode(&op); err != nil {
			writeErr(w, 400, "ERR_MALFORMED_REQUEST")
			return
		}
		f.crdtOps++
		drop := f.bugs.loseEventual && !strong && f.crdtOps%4 == 0
		switch {
		case drop:
		case op.Type == "pncounter" && op.Op == "increment":
			f.counters[key] += op.Amount
		case op.Type == "orset":
			if f.sets[key] == nil {
				f.sets[key] = map[string]bool{}
			}
			for _, e := range op.Elements {
				if op.Op == "add" {
					f.sets[key][e] = true
				} else {
					delete(f.sets[key], e)
				}
			}
		default:
			writeErr(w, 400, "ERR_MALFORMED_REQUEST")
			return
		}
		f.wrote()
	}
	counters, sets := f.counters, map[string][]string{}
	for k, s := range f.sets {
		sets[k] = slices.Sorted(maps.Keys(s))
	}
	if staleRead && r.Method == http.MethodGet {
		counters, sets = f.stale[node].counters, f.stale[node].sets
	}
	var body []byte
	if strings.HasPrefix(key, "ctr-") {
		n, ok := counters[key]
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body, _ = json.Marshal(map[string]any{"key": key, "type": "pncounter", "value": n})
	} else {
		els, ok := sets[key]
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if els == nil {
			els = []string{}
		}
		body, _ = json.Marshal(map[string]any{"key": key, "type": "orset", "value": els})
	}
	w.Header().Set("ETag", fmt.Sprintf("%x", len(body)))
	w.Write(body)
}
