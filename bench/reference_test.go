package bench

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// call sends one request to the reference server and returns status, body and ETag.
func call(t *testing.T, method, url, body string, hdr ...string) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b), res.Header.Get("ETag")
}

func TestReferenceServerServesDaprRoutes(t *testing.T) {
	srv, err := StartReferenceServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	u := srv.URL()
	state := u + "/v1.0/state/statestore"
	expect := func(step string, gotCode int, gotBody string, wantCode int, wantBody string) {
		t.Helper()
		if gotCode != wantCode || (wantBody != "*" && gotBody != wantBody) {
			t.Fatalf("%s: %d %q, want %d %q", step, gotCode, gotBody, wantCode, wantBody)
		}
	}

	code, body, _ := call(t, "GET", u+"/v1.0/healthz", "")
	expect("healthz", code, body, 204, "")
	code, body, _ = call(t, "GET", state+"/k1", "")
	expect("get missing", code, body, 204, "")
	code, body, _ = call(t, "POST", state, `[{"key":"k1","value":"v1"},{"key":"k2","value":{"a":1}}]`)
	expect("save", code, body, 204, "")
	code, body, etag1 := call(t, "GET", state+"/k1", "")
	expect("get", code, body, 200, `"v1"`)
	code, body, _ = call(t, "GET", state+"/k2?consistency=strong", "")
	expect("get object", code, body, 200, `{"a":1}`)
	code, body, _ = call(t, "PUT", state, `[{"key":"k1","value":"v2","etag":"`+etag1+`"}]`)
	expect("etag match", code, body, 204, "")
	code, body, etag2 := call(t, "GET", state+"/k1", "")
	expect("get after cas", code, body, 200, `"v2"`)
	if etag2 == etag1 || etag1 == "" {
		t.Fatalf("etags %q then %q", etag1, etag2)
	}
	code, body, _ = call(t, "POST", state, `[{"key":"k1","value":"v3","etag":"`+etag1+`"}]`)
	expect("etag mismatch", code, body, 409, "*")
	if !strings.Contains(body, "ERR_STATE_SAVE") {
		t.Fatalf("mismatch body %q", body)
	}
	code, body, _ = call(t, "POST", state, `[{"key":"nope","value":1,"etag":"1"}]`)
	expect("etag on missing key", code, body, 409, "*")
	code, body, _ = call(t, "POST", state, `[{"key":"k1","value":"x","options":{"concurrency":"first-write"}}]`)
	expect("first-write over existing", code, body, 409, "*")
	code, body, _ = call(t, "POST", state, `[{"key":"k3","value":"x","options":{"concurrency":"first-write"}}]`)
	expect("first-write new", code, body, 204, "")
	code, body, _ = call(t, "POST", state, `{"key":"k1"}`)
	expect("malformed", code, body, 400, "*")
	code, body, _ = call(t, "POST", state, `[{"value":1}]`)
	expect("no key", code, body, 400, "*")
	code, body, _ = call(t, "DELETE", state+"/k1", "", "If-Match", etag1)
	expect("delete stale etag", code, body, 409, "*")
	code, body, _ = call(t, "DELETE", state+"/k1", "", "If-Match", etag2)
	expect("delete", code, body, 204, "")
	code, body, _ = call(t, "GET", state+"/k1", "")
	expect("get deleted", code, body, 204, "")

	crdt := u + "/v1.0/crdt/statestore/c"
	code, body, _ = call(t, "GET", crdt, "")
	expect("crdt missing", code, body, 204, "")
	code, body, _ = call(t, "POST", crdt+"?consistency=eventual", `{"type":"pncounter","op":"increment","amount":5}`)
	expect("crdt incr", code, body, 200, `{"key":"c","type":"pncounter","value":5}`)
	code, body, _ = call(t, "POST", crdt, `{"type":"pncounter","op":"decrement","amount":2}`)
	expect("crdt decr", code, body, 200, `{"key":"c","type":"pncounter","value":3}`)
	code, body, _ = call(t, "POST", crdt, `{"type":"gcounter","op":"increment","amount":1}`)
	expect("crdt wrong type", code, body, 409, "*")
	code, body, _ = call(t, "POST", crdt, `{"type":"orset","op":"add","elements":["a"]}`)
	expect("crdt unsupported", code, body, 400, "*")
	code, body, _ = call(t, "GET", crdt+"?consistency=strong", "")
	expect("crdt get", code, body, 200, `{"key":"c","type":"pncounter","value":3}`)

	code, _, _ = call(t, "GET", u+"/v1.0/nothing", "")
	if code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
}
