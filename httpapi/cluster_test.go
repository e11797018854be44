package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/lattice-state/lattice"
)

func TestClusterStatus(t *testing.T) {
	h := newHarness(t)
	rr := h.do(http.MethodGet, "/v1.0/cluster/status", "")
	wantStatus(t, rr, http.StatusOK)
	want := `{"nodeId":"node-1","leader":{"id":"node-1","httpAddr":"127.0.0.1:3500"},` +
		`"raft":{"state":"leader","term":3,"commitIndex":42,"appliedIndex":41,"lastIndex":42},` +
		`"foldIn":{"pendingKeys":2,"pendingBytes":128,"lagMs":7},"replica":{"keys":10,"memoryBytes":4096}}`
	if rr.Body.String() != want {
		t.Fatalf("body %s\nwant %s", rr.Body.String(), want)
	}
	h.cl.err = lattice.ErrShuttingDown
	wantError(t, h.do(http.MethodGet, "/v1.0/cluster/status", ""), http.StatusServiceUnavailable, "ERR_CLUSTER_STATUS")
}

func TestClusterMembers(t *testing.T) {
	h := newHarness(t)
	rr := h.do(http.MethodGet, "/v1.0/cluster/members", "")
	wantStatus(t, rr, http.StatusOK)
	if !strings.HasPrefix(rr.Body.String(), `{"members":[{"id":"node-1","httpAddr":"127.0.0.1:3500","gossipAddr":"127.0.0.1:7946",`+
		`"raftAddr":"127.0.0.1:7000","state":"alive","voter":true,"leader":true},`) {
		t.Fatalf("body %s", rr.Body.String())
	}
	h.cl.members = nil
	rr = h.do(http.MethodGet, "/v1.0/cluster/members", "")
	if rr.Body.String() != `{"members":[]}` {
		t.Fatalf("no members: %s", rr.Body.String())
	}
	h.cl.err = errors.New("memberlist stopped")
	wantError(t, h.do(http.MethodGet, "/v1.0/cluster/members", ""), http.StatusInternalServerError, "ERR_CLUSTER_MEMBERS")
}

func TestRemoveMember(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(http.MethodDelete, "/v1.0/cluster/members/node-3", ""), http.StatusNoContent)
	if len(h.cl.removed) != 1 || h.cl.removed[0] != "node-3" {
		t.Fatalf("removed %v", h.cl.removed)
	}
	body := wantError(t, h.do(http.MethodDelete, "/v1.0/cluster/members/node-9", ""), http.StatusBadRequest, "ERR_CLUSTER_REMOVE_MEMBER")
	if !strings.Contains(body.Message, "node-9") {
		t.Fatalf("message %q", body.Message)
	}
	h.cl.err = &lattice.RetryAfterError{Err: lattice.ErrNoQuorum, After: 4e9}
	rr := h.do(http.MethodDelete, "/v1.0/cluster/members/node-2", "")
	wantError(t, rr, http.StatusServiceUnavailable, "ERR_CLUSTER_REMOVE_MEMBER")
	if rr.Header().Get("Retry-After") != "4" {
		t.Fatalf("Retry-After %q", rr.Header().Get("Retry-After"))
	}
}

func TestTransferLeadership(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"to a node", `{"to":"node-3"}`, "node-3"},
		{"no body", ``, "node-2"},
		{"empty object", `{}`, "node-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			rr := h.do(http.MethodPost, "/v1.0/cluster/transfer-leadership", tc.body)
			wantStatus(t, rr, http.StatusOK)
			var resp map[string]string
			if err := json.Unmarshal(rr.Body.Bytes(), &resp); err != nil || resp["leader"] != tc.want {
				t.Fatalf("body %s, want leader %s", rr.Body.String(), tc.want)
			}
		})
	}
	h := newHarness(t)
	wantError(t, h.do(http.MethodPost, "/v1.0/cluster/transfer-leadership", `{"to":7}`), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
	wantError(t, h.do(http.MethodPost, "/v1.0/cluster/transfer-leadership", `{"to":`), http.StatusBadRequest, "ERR_MALFORMED_REQUEST")
	if len(h.cl.transfers) != 0 {
		t.Fatalf("malformed requests reached the cluster: %v", h.cl.transfers)
	}
	wantError(t, h.do(http.MethodPost, "/v1.0/cluster/transfer-leadership", `{"to":"node-9"}`), http.StatusBadRequest, "ERR_CLUSTER_TRANSFER_LEADERSHIP")
}

func TestHealthz(t *testing.T) {
	h := newHarness(t)
	wantStatus(t, h.do(http.MethodGet, "/v1.0/healthz", ""), http.StatusNoContent)
	h.cl.health = errors.New("waiting for 3 members to bootstrap")
	body := wantError(t, h.do(http.MethodGet, "/v1.0/healthz", ""), http.StatusInternalServerError, "ERR_HEALTH_NOT_READY")
	if body.Message != "lattice is not ready: waiting for 3 members to bootstrap" {
		t.Fatalf("message %q", body.Message)
	}
	h.cl.health = lattice.ErrShuttingDown
	wantError(t, h.do(http.MethodGet, "/v1.0/healthz", ""), http.StatusServiceUnavailable, "ERR_HEALTH_NOT_READY")
}

func TestMetadata(t *testing.T) {
	h := newHarness(t)
	rr := h.do(http.MethodGet, "/v1.0/metadata", "")
	wantStatus(t, rr, http.StatusOK)
	caps := `"capabilities":["ETAG","TRANSACTIONAL","QUERY_API","TTL"]`
	want := `{"id":"node-1","components":[{"name":"statestore","type":"state.lattice","version":"v1",` + caps +
		`},{"name":"other","type":"state.lattice","version":"v1",` + caps + `}]}`
	if rr.Body.String() != want {
		t.Fatalf("body %s\nwant %s", rr.Body.String(), want)
	}
}
