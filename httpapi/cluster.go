package httpapi

import (
	"bytes"
	"net/http"

	"github.com/gin-gonic/gin"
)

// healthz serves GET /v1.0/healthz: 204 while the node serves, Dapr's ERR_HEALTH_NOT_READY
// otherwise. It needs no API token.
func (s *Server) healthz(c *gin.Context) {
	ctx, cancel := s.callContext(c)
	defer cancel()
	if err := s.cluster.Health(ctx); err != nil {
		s.fail(c, operation{code: codeHealth, what: "lattice is not ready"}, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// component is one entry of GET /v1.0/metadata's components.
type component struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Version      string   `json:"version"`
	Capabilities []string `json:"capabilities"`
}

// metadataResponse is the body of GET /v1.0/metadata, a subset of Dapr's.
type metadataResponse struct {
	ID         string      `json:"id"`
	Components []component `json:"components"`
}

// storeCapabilities are the Dapr state store features every Lattice store has.
var storeCapabilities = []string{"ETAG", "TRANSACTIONAL", "QUERY_API", "TTL"}

// metadata serves GET /v1.0/metadata: the app id and one component per store.
func (s *Server) metadata(c *gin.Context) {
	resp := metadataResponse{ID: s.cfg.ID, Components: make([]component, 0, len(s.cfg.Stores))}
	for _, name := range s.cfg.Stores {
		resp.Components = append(resp.Components, component{Name: name, Type: "state.lattice", Version: "v1",
			Capabilities: storeCapabilities})
	}
	s.writeJSON(c, http.StatusOK, resp)
}

// clusterStatus serves GET /v1.0/cluster/status.
func (s *Server) clusterStatus(c *gin.Context) {
	ctx, cancel := s.callContext(c)
	defer cancel()
	st, err := s.cluster.Status(ctx)
	if err != nil {
		s.fail(c, operation{code: codeClusterStatus, what: "failed getting the cluster status"}, err)
		return
	}
	s.writeJSON(c, http.StatusOK, st)
}

// membersResponse is the body of GET /v1.0/cluster/members.
type membersResponse struct {
	Members []Member `json:"members"`
}

// clusterMembers serves GET /v1.0/cluster/members.
func (s *Server) clusterMembers(c *gin.Context) {
	ctx, cancel := s.callContext(c)
	defer cancel()
	ms, err := s.cluster.Members(ctx)
	if err != nil {
		s.fail(c, operation{code: codeClusterMembers, what: "failed listing the cluster members"}, err)
		return
	}
	if ms == nil {
		ms = []Member{}
	}
	s.writeJSON(c, http.StatusOK, membersResponse{Members: ms})
}

// removeMember serves DELETE /v1.0/cluster/members/{id}; 204.
func (s *Server) removeMember(c *gin.Context) {
	id := c.Param("id")
	ctx, cancel := s.callContext(c)
	defer cancel()
	if err := s.cluster.RemoveMember(ctx, id); err != nil {
		s.fail(c, operation{code: codeClusterRemove, what: "failed removing member " + id}, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// transferJSON is the optional body of POST /v1.0/cluster/transfer-leadership.
type transferJSON struct {
	To string `json:"to"`
}

// decodeTransfer decodes the optional transfer body; an empty body means "any voter".
func decodeTransfer(body []byte) (string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil
	}
	var t transferJSON
	if err := unmarshalBody(body, &t, `an object {"to":"<node id>"}`); err != nil {
		return "", err
	}
	return t.To, nil
}

// leaderResponse is the body of a successful leadership transfer.
type leaderResponse struct {
	Leader string `json:"leader"`
}

// transferLeadership serves POST /v1.0/cluster/transfer-leadership: 200 {"leader":"<id>"}.
func (s *Server) transferLeadership(c *gin.Context) {
	op := operation{code: codeClusterTransfer, what: "failed transferring leadership"}
	body, err := readBody(c.Request)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	to, err := decodeTransfer(body)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	ctx, cancel := s.callContext(c)
	defer cancel()
	leader, err := s.cluster.TransferLeadership(ctx, to)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	s.writeJSON(c, http.StatusOK, leaderResponse{Leader: leader})
}
