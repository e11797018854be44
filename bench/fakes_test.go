package bench

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeDapr is a Dapr-like state server that checks the wire format the tool sends and counts
// each kind of request. respond, when set, may answer request number n (from 0) itself.
type fakeDapr struct {
	t         *testing.T
	valueSize int
	respond   func(n int64, w http.ResponseWriter, r *http.Request) bool

	n           atomic.Int64 // every request
	saves       atomic.Int64 // last-write saves, eventual
	strongSaves atomic.Int64
	gets        atomic.Int64 // eventual gets
	strongGets  atomic.Int64
	creates     atomic.Int64 // first-write without etag
	casWrites   atomic.Int64 // first-write with etag
	incrs       atomic.Int64
	strongIncrs atomic.Int64

	mu    sync.Mutex
	data  map[string]fakeEntry
	etags int
}

type fakeEntry struct {
	value []byte
	etag  string
}

func newFakeDapr(t *testing.T, valueSize int) *fakeDapr {
	return &fakeDapr{t: t, valueSize: valueSize, data: map[string]fakeEntry{}}
}

// serve starts the fake under httptest and returns its URL.
func (f *fakeDapr) serve() string {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeDapr) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.n.Add(1) - 1
	if f.respond != nil && f.respond(n, w, r) {
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1.0/state/statestore":
		f.save(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1.0/state/statestore/"):
		f.get(w, r, strings.TrimPrefix(r.URL.Path, "/v1.0/state/statestore/"))
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1.0/crdt/statestore/"):
		f.incr(w, r)
	default:
		f.t.Errorf("fake dapr: unexpected %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeDapr) save(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("fake dapr: save content type %q", ct)
	}
	var items []struct {
		Key     string          `json:"key"`
		Value   json.RawMessage `json:"value"`
		ETag    string          `json:"etag"`
		Options struct {
			Concurrency string `json:"concurrency"`
			Consistency string `json:"consistency"`
		} `json:"options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&items); err != nil || len(items) != 1 {
		f.t.Errorf("fake dapr: save body: %v (%d items)", err, len(items))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	it := items[0]
	if len(it.Value) != f.valueSize && !strings.Contains(it.Key, "-lag-") {
		f.t.Errorf("fake dapr: value of %d bytes, want %d", len(it.Value), f.valueSize)
	}
	var s string
	if err := json.Unmarshal(it.Value, &s); err != nil {
		f.t.Errorf("fake dapr: value is not a JSON string: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old, exists := f.data[it.Key]
	switch {
	case it.Options.Concurrency == "first-write" && it.ETag == "":
		f.creates.Add(1)
		if exists {
			w.WriteHeader(http.StatusConflict)
			return
		}
	case it.Options.Concurrency == "first-write":
		f.casWrites.Add(1)
		if !exists || old.etag != it.ETag {
			w.WriteHeader(http.StatusConflict)
			return
		}
	case it.Options.Consistency == "strong":
		f.strongSaves.Add(1)
	default:
		f.saves.Add(1)
	}
	f.etags++
	f.data[it.Key] = fakeEntry{value: it.Value, etag: "e" + strconv.Itoa(f.etags)}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeDapr) get(w http.ResponseWriter, r *http.Request, key string) {
	if r.URL.Query().Get("consistency") == "strong" {
		f.strongGets.Add(1)
	} else {
		f.gets.Add(1)
	}
	f.mu.Lock()
	e, ok := f.data[key]
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("ETag", e.etag)
	w.Write(e.value)
}

func (f *fakeDapr) incr(w http.ResponseWriter, r *http.Request) {
	var op struct {
		Type   string `json:"type"`
		Op     string `json:"op"`
		Amount int    `json:"amount"`
	}
	if err := json.NewDecoder(r.Body).Decode(&op); err != nil || op.Type != "gcounter" || op.Op != "increment" || op.Amount != 1 {
		f.t.Errorf("fake dapr: crdt body %+v: %v", op, err)
	}
	switch r.URL.Query().Get("consistency") {
	case "strong":
		f.strongIncrs.Add(1)
	case "eventual":
		f.incrs.Add(1)
	default:
		f.t.Errorf("fake dapr: crdt op without consistency: %s", r.URL)
	}
	w.Write([]byte(`{"key":"k","type":"gcounter","value":1}`))
}

// keys returns how many distinct keys hold a value.
func (f *fakeDapr) keys() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.data)
}

// hang never answers r: it returns once the client gives up. The body must be read first, or the
// server does not notice the client going away.
func hang(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// fakeEtcd is etcd's v3 JSON gateway over a map, with revisions, counting each kind of request.
type fakeEtcd struct {
	t        *testing.T
	failTxns bool // every txn compare fails

	puts         atomic.Int64
	serializable atomic.Int64
	linearizable atomic.Int64
	creates      atomic.Int64 // successful create-only txns
	updates      atomic.Int64 // successful mod_revision txns
	failed       atomic.Int64 // txns whose compare failed

	mu  sync.Mutex
	rev int64
	kv  map[string]fakeKV
}

type fakeKV struct {
	value []byte
	mod   int64
}

func newFakeEtcd(t *testing.T) *fakeEtcd { return &fakeEtcd{t: t, kv: map[string]fakeKV{}} }

func (f *fakeEtcd) serve() string {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv.URL
}

// etcdReq is the union of the request bodies the tool sends; []byte fields are base64 on the wire.
type etcdReq struct {
	Key          []byte `json:"key"`
	Value        []byte `json:"value"`
	Serializable bool   `json:"serializable"`
	Compare      []struct {
		Key            []byte `json:"key"`
		Target         string `json:"target"`
		Result         string `json:"result"`
		CreateRevision string `json:"create_revision"`
		ModRevision    string `json:"mod_revision"`
	} `json:"compare"`
	Success []struct {
		RequestPut struct {
			Key   []byte `json:"key"`
			Value []byte `json:"value"`
		} `json:"request_put"`
	} `json:"success"`
}

func (f *fakeEtcd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req etcdReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Method != http.MethodPost {
		f.t.Errorf("fake etcd: %s %s: %v", r.Method, r.URL, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	header := `{"header":{"revision":"` + strconv.FormatInt(f.rev, 10) + `"}`
	switch r.URL.Path {
	case "/v3/kv/put":
		f.puts.Add(1)
		f.rev++
		f.kv[string(req.Key)] = fakeKV{value: req.Value, mod: f.rev}
		w.Write([]byte(header + "}"))
	case "/v3/kv/range":
		if req.Serializable {
			f.serializable.Add(1)
		} else {
			f.linearizable.Add(1)
		}
		kv, ok := f.kv[string(req.Key)]
		if !ok {
			w.Write([]byte(header + "}"))
			return
		}
		body, _ := json.Marshal(map[string]any{"kvs": []map[string]any{{
			"key": req.Key, "value": kv.value, "mod_revision": strconv.FormatInt(kv.mod, 10)}}, "count": "1"})
		w.Write(body)
	case "/v3/kv/txn":
		if len(req.Compare) != 1 || len(req.Success) != 1 || req.Compare[0].Result != "EQUAL" ||
			string(req.Compare[0].Key) != string(req.Success[0].RequestPut.Key) {
			f.t.Errorf("fake etcd: txn shape %+v", req)
		}
		c := req.Compare[0]
		kv, exists := f.kv[string(c.Key)]
		var ok bool
		switch c.Target {
		case "CREATE":
			ok = c.CreateRevision == "0" && !exists
			if ok {
				f.creates.Add(1)
			}
		case "MOD":
			ok = exists && c.ModRevision == strconv.FormatInt(kv.mod, 10)
			if ok {
				f.updates.Add(1)
			}
		default:
			f.t.Errorf("fake etcd: compare target %q", c.Target)
		}
		if !ok || f.failTxns {
			f.failed.Add(1)
			w.Write([]byte(header + "}")) // etcd omits "succeeded": false
			return
		}
		f.rev++
		f.kv[string(c.Key)] = fakeKV{value: req.Success[0].RequestPut.Value, mod: f.rev}
		w.Write([]byte(header + `,"succeeded":true}`))
	default:
		f.t.Errorf("fake etcd: unexpected path %s", r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}
