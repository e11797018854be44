package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// cliResult is the outcome of one command line.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs args in a fresh testApp; setup, when not nil, adjusts the app
// first (environment, stdin).
func runCLI(t *testing.T, setup func(*testApp), args ...string) cliResult {
	t.Helper()
	ta := newTestApp(nil)
	ta.stdin = strings.NewReader("")
	if setup != nil {
		setup(ta)
	}
	code := run(args, ta.app)
	return cliResult{code: code, stdout: ta.stdout.String(), stderr: ta.stderr.String()}
}

// withEnv makes the app see env as its environment.
func withEnv(env map[string]string) func(*testApp) {
	return func(ta *testApp) {
		ta.lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	}
}

// withStdin makes the app read s on stdin.
func withStdin(s string) func(*testApp) {
	return func(ta *testApp) { ta.stdin = strings.NewReader(s) }
}

// recordedRequest is one request the fake API received.
type recordedRequest struct {
	Method, Path, Query, Token, IfMatch, Body string
}

// fakeAPI is a Lattice HTTP API that records what it is sent and answers with
// fixed values: the key "missing" is absent, any other key holds {"a":1} with
// etag 7; every write succeeds; a CRDT operation answers a gcounter of 5.
type fakeAPI struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recordedRequest
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.0/state/{store}/{key}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("key") == "missing" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("ETag", "7")
		w.Header().Set("metadata.ttlExpireTime", "2030-01-02T03:04:05Z")
		io.WriteString(w, `{"a":1}`)
	})
	noContent := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	mux.HandleFunc("POST /v1.0/state/{store}", noContent)
	mux.HandleFunc("POST /v1.0/state/{store}/transaction", noContent)
	mux.HandleFunc("DELETE /v1.0/state/{store}/{key}", noContent)
	mux.HandleFunc("POST /v1.0/crdt/{store}/{key}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", "9")
		io.WriteString(w, `{"key":"`+r.PathValue("key")+`","type":"gcounter","value":5}`)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recordedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Token: r.Header.Get("dapr-api-token"), IfMatch: r.Header.Get("If-Match"), Body: string(body)})
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// last returns the last request received.
func (f *fakeAPI) last(t *testing.T) recordedRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the fake API received no request")
	}
	return f.reqs[len(f.reqs)-1]
}

// count returns the number of requests received.
func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"state"}, "missing command: one of bulk, delete, get, save, txn"},
		{[]string{"state", "gett", "k"}, `unknown command "gett" for "lattice state"; did you mean get?`},
		{[]string{"bogus"}, `unknown command "bogus" for "lattice"`},
		{[]string{"state", "get"}, "accepts 1 arg(s), received 0"},
		{[]string{"state", "get", "k", "--nope"}, "unknown flag: --nope"},
		{[]string{"state", "get", "k", "--consistency", "linear"}, `invalid argument "linear" for "--consistency" flag: want eventual or strong`},
		{[]string{"state", "save", "k", "v", "--concurrency", "x"}, "want last-write or first-write"},
		{[]string{"state", "save", "k", `{"a":`}, "is not valid JSON"},
		{[]string{"state", "save", "k", "v", "--ttl", "-1s"}, "--ttl -1s: want a positive duration"},
		{[]string{"state", "get", "k", "--timeout", "0s"}, "--timeout 0s: want a positive duration"},
		{[]string{"state", "get", "k", "--endpoints", "ftp://host"}, "want http(s)://host:port"},
		{[]string{"state", "bulk"}, "requires at least 1 arg(s)"},
		{[]string{"state", "txn"}, "no operations: give --upsert, --delete or --file"},
		{[]string{"state", "txn", "--upsert", "novalue"}, "want KEY=VALUE"},
		{[]string{"state", "txn", "--upsert", "a=1", "--etag", "b=3"}, `no operation on key "b"`},
		{[]string{"state", "txn", "--file", "t.json", "--delete", "a"}, "--file and --delete cannot be combined"},
		{[]string{"crdt", "incr", "k", "0"}, `N "0": want a whole number from 1`},
		{[]string{"crdt", "incr", "k", "--type", "orset"}, "want gcounter or pncounter"},
		{[]string{"crdt", "decr", "k", "--type", "gcounter"}, "a gcounter only grows"},
		{[]string{"crdt", "add", "k"}, "requires at least 2 arg(s)"},
		{[]string{"crdt", "assign", "k", "[1,"}, "is not valid JSON"},
		{[]string{"cluster", "transfer-leader", "a", "b"}, "accepts at most 1 arg(s)"},
		{[]string{"bench", "--connections", "0"}, "connections must be at least 1"},
		{[]string{"bench", "--workload", "nap"}, `unknown workload "nap"`},
		{[]string{"bench", "--etcd", "--url", "http://127.0.0.1:2379"}, "cannot be combined with --url"},
		{[]string{"bench", "--etcd", "--target", "dapr"}, "cannot be combined with --target dapr"},
		{[]string{"bench", "--vs-etcd", "--etcd"}, "--vs-etcd compares the target with etcd"},
		{[]string{"bench", "--vs-etcd", "--target", "etcd"}, "the target cannot be etcd itself"},
		{[]string{"bench", "--vs-etcd", "--workload", "crdt-incr"}, "no etcd equivalent"},
		{[]string{"bench", "--plot", "out.gif"}, "--plot out.gif: want a file ending in one of"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, r.stderr)
			}
			if !strings.Contains(r.stderr, "--help' for usage.") {
				t.Errorf("stderr does not point to the help:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty:\n%s", r.stdout)
			}
		})
	}
}

func TestRootWithoutCommandPrintsHelp(t *testing.T) {
	r := runCLI(t, nil)
	if r.code != 0 || !strings.Contains(r.stdout, "Available Commands:") || !strings.Contains(r.stdout, "bench") {
		t.Fatalf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
	if strings.Contains(r.stdout, "lattice [flags]") {
		t.Errorf("the usage of a command that only groups others shows a flags line:\n%s", r.stdout)
	}
}

func TestJSONArg(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`{"a":1}`, `{"a":1}`, ""},
		{`42`, `42`, ""},
		{`true`, `true`, ""},
		{`"quoted"`, `"quoted"`, ""},
		{`hello`, `"hello"`, ""},
		{`hello world`, `"hello world"`, ""},
		{`1.2.3`, `"1.2.3"`, ""},
		{``, `""`, ""},
		{`say "hi"`, `"say \"hi\""`, ""},
		{`{"a":`, "", "not valid JSON"},
		{` [1,`, "", "not valid JSON"},
		{`"open`, "", "not valid JSON"},
	} {
		got, err := jsonArg(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("jsonArg(%q) = %s, %v; want error %q", tc.in, got, err, tc.err)
			}
		case err != nil || string(got) != tc.want:
			t.Errorf("jsonArg(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestStateGetOutput(t *testing.T) {
	f := newFakeAPI(t)
	r := runCLI(t, nil, "state", "get", "k", "--endpoints", f.srv.URL, "--consistency", "strong")
	if r.code != 0 || r.stdout != "{\"a\":1}\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "etag: 7\n") || !strings.Contains(r.stderr, "expires: 2030-01-02T03:04:05Z") {
		t.Errorf("stderr lacks the etag or expiry:\n%s", r.stderr)
	}
	if q := f.last(t); q.Path != "/v1.0/state/statestore/k" || q.Query != "consistency=strong" {
		t.Errorf("sent %+v", q)
	}

	r = runCLI(t, nil, "state", "get", "k", "--endpoints", f.srv.URL, "--json", "--store", "other")
	if r.code != 0 || !jsonEqual(t, r.stdout, `{"key":"k","value":{"a":1},"etag":"7","metadata":{"ttlExpireTime":"2030-01-02T03:04:05Z"}}`) {
		t.Fatalf("exit %d, stdout %s, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("--json wrote to stderr: %s", r.stderr)
	}
	if q := f.last(t); q.Path != "/v1.0/state/other/k" {
		t.Errorf("--store ignored: %+v", q)
	}
}

func TestStateGetMissingKeyExitsOne(t *testing.T) {
	f := newFakeAPI(t)
	for _, extra := range [][]string{nil, {"--json"}} {
		r := runCLI(t, nil, append([]string{"state", "get", "missing", "--endpoints", f.srv.URL}, extra...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, `key "missing" not found`) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", extra, r.code, r.stdout, r.stderr)
		}
	}
}

func TestEnvironmentSetsEndpointsAndToken(t *testing.T) {
	f := newFakeAPI(t)
	env := withEnv(map[string]string{"LATTICE_ENDPOINTS": "http://127.0.0.1:1," + f.srv.URL, "LATTICE_API_TOKEN": "s3cret"})
	r := runCLI(t, env, "state", "delete", "k")
	if r.code != 0 || r.stdout != "deleted k\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if q := f.last(t); q.Method != http.MethodDelete || q.Token != "s3cret" {
		t.Errorf("sent %+v", q)
	}
	// A flag wins over the environment.
	r = runCLI(t, env, "state", "delete", "k", "--api-token", "flag", "--endpoints", f.srv.URL)
	if r.code != 0 || f.last(t).Token != "flag" {
		t.Errorf("exit %d, token %q", r.code, f.last(t).Token)
	}
}

func TestStateWritesSendDaprBodies(t *testing.T) {
	f := newFakeAPI(t)
	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		path   string
		body   string
		query  string
		ifM    string
		stdout string
	}{
		{name: "bare word saved as a string", args: []string{"state", "save", "k", "hello"},
			path: "/v1.0/state/statestore", body: `[{"key":"k","value":"hello"}]`, stdout: "saved k\n"},
		{name: "JSON with options", args: []string{"state", "save", "k", `{"n": [1, 2]}`, "--etag", "3", "--ttl", "90s",
			"--consistency", "strong", "--concurrency", "first-write"},
			path: "/v1.0/state/statestore", stdout: "saved k\n",
			body: `[{"key":"k","value":{"n":[1,2]},"etag":"3","metadata":{"ttlInSeconds":"90"},"options":{"concurrency":"first-write","consistency":"strong"}}]`},
		{name: "value from stdin", args: []string{"state", "save", "k", "-", "--json"}, stdin: "{\"big\": true}\n",
			path: "/v1.0/state/statestore", body: `[{"key":"k","value":{"big":true}}]`, stdout: "{\n  \"key\": \"k\",\n  \"saved\": true\n}\n"},
		{name: "conditional delete", args: []string{"state", "delete", "k", "--etag", "5", "--consistency", "strong"},
			path: "/v1.0/state/statestore/k", query: "consistency=strong", ifM: "5", stdout: "deleted k\n"},
		{name: "txn flags keep their order", args: []string{"state", "txn", "--upsert", "a=1", "--delete", "b", "--upsert", "c=x=y",
			"--etag", "a=5", "--etag", "b=6", "--ttl", "1m"},
			path: "/v1.0/state/statestore/transaction", stdout: "committed 3 operations\n",
			body: `{"operations":[
				{"operation":"upsert","request":{"key":"a","value":1,"etag":"5","metadata":{"ttlInSeconds":"60"}}},
				{"operation":"delete","request":{"key":"b","etag":"6"}},
				{"operation":"upsert","request":{"key":"c","value":"x=y","metadata":{"ttlInSeconds":"60"}}}]}`},
		{name: "txn body from stdin", args: []string{"state", "txn", "--file", "-"},
			stdin: `{"operations":[{"operation":"upsert","request":{"key":"k=1","value":{"v":2},"etag":"4","options":{"concurrency":"first-write"}}},
				{"operation":"delete","request":{"key":"d"}}],"metadata":{"partitionKey":"p"}}`,
			path: "/v1.0/state/statestore/transaction", stdout: "committed 2 operations\n",
			body: `{"operations":[
				{"operation":"upsert","request":{"key":"k=1","value":{"v":2},"etag":"4","options":{"concurrency":"first-write","consistency":"eventual"}}},
				{"operation":"delete","request":{"key":"d"}}],"metadata":{"partitionKey":"p"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, withStdin(tc.stdin), append(tc.args, "--endpoints", f.srv.URL)...)
			if r.code != 0 || r.stdout != tc.stdout {
				t.Fatalf("exit %d, stdout %q, want %q; stderr:\n%s", r.code, r.stdout, tc.stdout, r.stderr)
			}
			q := f.last(t)
			if q.Path != tc.path || q.Query != tc.query || q.IfMatch != tc.ifM {
				t.Errorf("sent %+v", q)
			}
			if tc.body != "" && !jsonEqual(t, q.Body, tc.body) {
				t.Errorf("body\n%s\nwant\n%s", q.Body, tc.body)
			}
		})
	}
}

func TestStateTxnFileErrors(t *testing.T) {
	f := newFakeAPI(t)
	for _, tc := range []struct{ stdin, want string }{
		{`{"operations":[{"operation":"upsert","request":{"key":"a","etg":"1"}}]}`, `unknown field "etg"`},
		{`{"operations":[]}`, "no operations"},
		{`[1]`, "not a Dapr transaction body"},
		{`{"operations":[{"operation":"upsert","request":{"key":"a","options":{"consistency":"linear"}}}]}`, "unrecognized consistency model"},
	} {
		r := runCLI(t, withStdin(tc.stdin), "state", "txn", "--file", "-", "--endpoints", f.srv.URL)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.stdin, r.code, r.stderr, tc.want)
		}
	}
	if n := f.count(); n != 0 {
		t.Errorf("%d bad bodies reached the server", n)
	}
}

func TestCRDTCommandsSendOperations(t *testing.T) {
	f := newFakeAPI(t)
	for _, tc := range []struct {
		args []string
		body string
	}{
		{[]string{"incr", "c"}, `{"type":"pncounter","op":"increment","amount":1}`},
		{[]string{"incr", "c", "5", "--type", "gcounter"}, `{"type":"gcounter","op":"increment","amount":5}`},
		{[]string{"decr", "c", "2"}, `{"type":"pncounter","op":"decrement","amount":2}`},
		{[]string{"add", "s", "a", "b"}, `{"type":"orset","op":"add","elements":["a","b"]}`},
		{[]string{"remove", "s", "a"}, `{"type":"orset","op":"remove","elements":["a"]}`},
		{[]string{"enable", "f"}, `{"type":"flag","op":"enable"}`},
		{[]string{"disable", "f"}, `{"type":"flag","op":"disable"}`},
		{[]string{"assign", "r", `{"x":1}`}, `{"type":"mvregister","op":"assign","value":{"x":1}}`},
		{[]string{"assign", "r", "word"}, `{"type":"mvregister","op":"assign","value":"word"}`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"crdt"}, tc.args...)
			r := runCLI(t, nil, append(args, "--endpoints", f.srv.URL, "--consistency", "strong")...)
			if r.code != 0 || r.stdout != "5\n" {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
			}
			q := f.last(t)
			if q.Method != http.MethodPost || q.Path != "/v1.0/crdt/statestore/"+tc.args[1] || q.Query != "consistency=strong" {
				t.Errorf("sent %+v", q)
			}
			if !jsonEqual(t, q.Body, tc.body) {
				t.Errorf("body %s, want %s", q.Body, tc.body)
			}
		})
	}
	r := runCLI(t, nil, "crdt", "incr", "c", "--endpoints", f.srv.URL, "--json")
	if r.code != 0 || !jsonEqual(t, r.stdout, `{"key":"c","type":"gcounter","value":5,"etag":"9"}`) {
		t.Errorf("--json: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
