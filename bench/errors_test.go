package bench

import (
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestErrorsClassifiedByKind(t *testing.T) {
	f := newFakeDapr(t, 40)
	f.respond = func(n int64, w http.ResponseWriter, _ *http.Request) bool {
		switch n % 5 {
		case 0:
			w.WriteHeader(http.StatusInternalServerError)
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusConflict)
		case 3:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return true
			}
			conn.Close() // the request was read; no response: the client sees EOF
		default:
			return false
		}
		return true
	}
	o := testOptions(TargetDapr, f.serve())
	o.Ops = 100
	res := mustRun(t, o)
	want := map[string]int64{"http 500": 20, "http 503": 20, "http 409": 20, KindEOF: 20}
	if !reflect.DeepEqual(res.ErrorKinds, want) || res.Errors != 80 || res.Ops != 100 || res.Latency.Count != 20 {
		t.Fatalf("kinds %v errors %d ops %d latency count %d; want %v, 80, 100, 20",
			res.ErrorKinds, res.Errors, res.Ops, res.Latency.Count, want)
	}
	if f.saves.Load() != 20 {
		t.Fatalf("server applied %d saves, want 20", f.saves.Load())
	}
}

func TestTimeoutClassified(t *testing.T) {
	f := newFakeDapr(t, 40)
	f.respond = func(_ int64, _ http.ResponseWriter, r *http.Request) bool {
		hang(r)
		return true
	}
	o := testOptions(TargetDapr, f.serve())
	o.Ops = 4
	o.Connections = 2
	o.Timeout = 50 * time.Millisecond
	res := mustRun(t, o)
	if res.ErrorKinds[KindTimeout] != 4 || res.Errors != 4 {
		t.Fatalf("kinds %v", res.ErrorKinds)
	}
}

func TestRefusedClassified(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	o := testOptions(TargetDapr, url)
	o.Ops = 3
	o.Connections = 1
	res := mustRun(t, o)
	if res.ErrorKinds[KindRefused] != 3 || res.Errors != 3 || res.Latency.Count != 0 {
		t.Fatalf("kinds %v latency %+v", res.ErrorKinds, res.Latency)
	}
}

func TestEtcdConflictClassified(t *testing.T) {
	f := newFakeEtcd(t)
	f.failTxns = true
	o := testOptions(TargetEtcd, f.serve())
	o.Workload = WorkloadFirstWrite
	o.Ops = 10
	res := mustRun(t, o)
	if res.ErrorKinds[KindConflict] != 10 || f.failed.Load() != 10 {
		t.Fatalf("kinds %v, server failed %d txns", res.ErrorKinds, f.failed.Load())
	}
}

func TestEtcdBadResponseClassified(t *testing.T) {
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("not json"))
	}))
	o := testOptions(TargetEtcd, srv)
	o.Workload = WorkloadGet
	o.Preload = false
	o.Ops = 5
	res := mustRun(t, o)
	if res.ErrorKinds[KindBadResponse] != 5 {
		t.Fatalf("kinds %v", res.ErrorKinds)
	}
}

// resetConn answers a request by resetting its connection (RST, no response byte).
func resetConn(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // close with RST
	}
	conn.Close()
}

// TestFailedGetsAreNotRetried: a get whose connection fails counts as one failed operation, sent
// once (the HTTP client must not retry idempotent requests behind the tool's back), and a reset
// before the response's first byte is reported as eof.
func TestFailedGetsAreNotRetried(t *testing.T) {
	f := newFakeDapr(t, 40)
	f.respond = func(_ int64, w http.ResponseWriter, _ *http.Request) bool {
		resetConn(t, w)
		return true
	}
	o := testOptions(TargetDapr, f.serve())
	o.Workload = WorkloadGet
	o.Preload = false
	o.Ops = 10
	o.Connections = 1
	res := mustRun(t, o)
	if res.Errors != 10 || res.ErrorKinds[KindEOF] != 10 {
		t.Fatalf("errors %d kinds %v; want 10 eof", res.Errors, res.ErrorKinds)
	}
	if got := f.n.Load(); got != 10 {
		t.Fatalf("the server saw %d requests for 10 gets", got)
	}
}

// TestIPv6URL: a target on an IPv6 address is reached.
func TestIPv6URL(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	f := newFakeDapr(t, 40)
	srv := &http.Server{Handler: f}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	o := testOptions(TargetDapr, "http://"+ln.Addr().String())
	o.Ops = 5
	res := mustRun(t, o)
	if res.Errors != 0 || f.saves.Load() != 5 {
		t.Fatalf("errors %v, server applied %d saves; want 0 and 5", res.ErrorKinds, f.saves.Load())
	}
}
