package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lattice-state/lattice"
)

// Response headers of a get, as Dapr sends them (net/http canonicalises the names to "Etag" and
// "Metadata.ttlexpiretime"; clients match them case-insensitively).
const (
	headerETag       = "ETag"
	headerTTLExpire  = "metadata.ttlExpireTime"
	metaTTLExpire    = "ttlExpireTime"
	contentTypeJSON  = "application/json"
	maxErrorsInBatch = 10 // failed items named in the message of a multi-item save
)

// save serves POST|PUT /v1.0/state/{store}: a JSON array of state items, 204 when all are saved.
func (s *Server) save(c *gin.Context) {
	store := c.Param("store")
	op := operation{code: codeSave, what: "failed saving state in state store " + store, store: store}
	body, err := readBody(c.Request)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	reqs, err := decodeSave(body, s.lim, defaultsOf(c.Request))
	if err != nil {
		s.fail(c, op, err)
		return
	}
	keys := make([]string, len(reqs))
	for i := range reqs {
		keys[i] = reqs[i].Key
		reqs[i].Key = BackendKey(store, reqs[i].Key)
	}
	ctx, cancel := s.callContext(c)
	defer cancel()
	if err := s.saveAll(ctx, reqs, keys); err != nil {
		s.fail(c, op, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// saveAll writes reqs. Items with the same key are written one after the other in body order;
// different keys concurrently, at most BulkParallelism at once. Like Dapr's bulk save it is not
// atomic: items that succeed stay saved when others fail. keys are the user keys, for messages.
func (s *Server) saveAll(ctx context.Context, reqs []SaveRequest, keys []string) error {
	if len(reqs) == 1 {
		return s.backend.Save(ctx, reqs[0])
	}
	var order []string
	byKey := make(map[string][]int)
	for i, r := range reqs {
		if _, ok := byKey[r.Key]; !ok {
			order = append(order, r.Key)
		}
		byKey[r.Key] = append(byKey[r.Key], i)
	}
	errs := make([]error, len(reqs))
	sem := make(chan struct{}, s.cfg.BulkParallelism)
	var wg sync.WaitGroup
	for _, k := range order {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, i := range byKey[k] {
				errs[i] = s.backend.Save(ctx, reqs[i])
			}
		})
	}
	wg.Wait()
	return joinSaveErrors(errs, keys)
}

// joinSaveErrors reports the failures of a multi-item save as one error: an ETag mismatch when
// every failure is one (409, Dapr's rule), otherwise the first other failure decides the status.
func joinSaveErrors(errs []error, keys []string) error {
	var firstETag, firstOther error
	var named []string
	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if errors.Is(err, lattice.ErrETagMismatch) {
			if firstETag == nil {
				firstETag = err
			}
		} else if firstOther == nil {
			firstOther = err
		}
		if len(named) < maxErrorsInBatch {
			named = append(named, fmt.Sprintf("key %s: %v", keys[i], err))
		}
	}
	if failed == 0 {
		return nil
	}
	decisive := firstOther
	if decisive == nil {
		decisive = firstETag
	}
	msg := fmt.Sprintf("%d of %d items failed: %s", failed, len(errs), strings.Join(named, "; "))
	if failed > len(named) {
		msg += "; ..."
	}
	return &bulkSaveError{decisive: decisive, msg: msg}
}

// get serves GET /v1.0/state/{store}/{key}: the raw JSON value with ETag and TTL headers, 204
// when the key does not exist.
func (s *Server) get(c *gin.Context) {
	store, key := c.Param("store"), c.Param("key")
	op := operation{code: codeGet, what: fmt.Sprintf("fail to get %s from state store %s", key, store), store: store}
	it, ok := s.readOne(c, op, store, key)
	if !ok {
		return
	}
	if !it.Found {
		c.Status(http.StatusNoContent)
		return
	}
	setItemHeaders(c, it)
	c.Data(http.StatusOK, contentTypeJSON, it.Value)
}

// readOne validates key and the consistency option and reads the key; on failure it has
// answered the request.
func (s *Server) readOne(c *gin.Context, op operation, store, key string) (Item, bool) {
	if err := s.lim.checkKey(key); err != nil {
		s.fail(c, op, err)
		return Item{}, false
	}
	cons, err := parseConsistency(defaultsOf(c.Request).consistency)
	if err != nil {
		s.fail(c, op, err)
		return Item{}, false
	}
	ctx, cancel := s.callContext(c)
	defer cancel()
	it, err := s.backend.Get(ctx, BackendKey(store, key), cons)
	if err != nil {
		s.fail(c, op, err)
		return Item{}, false
	}
	return it, true
}

// setItemHeaders sets the ETag and metadata.ttlExpireTime headers of a read.
func setItemHeaders(c *gin.Context, it Item) {
	if it.ETag != "" {
		c.Header(headerETag, it.ETag)
	}
	if !it.ExpireAt.IsZero() {
		c.Header(headerTTLExpire, formatExpire(it.ExpireAt))
	}
}

// formatExpire renders an expiry time as Dapr does: RFC 3339, UTC.
func formatExpire(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// delete serves DELETE /v1.0/state/{store}/{key} with an optional If-Match ETag; 204.
func (s *Server) delete(c *gin.Context) {
	store, key := c.Param("store"), c.Param("key")
	op := operation{code: codeDelete, what: "failed deleting state with key " + key, store: store}
	s.deleteKey(c, op, store, key)
}

// deleteKey validates and performs a delete (state and CRDT APIs share it) and answers 204.
func (s *Server) deleteKey(c *gin.Context, op operation, store, key string) {
	if err := s.lim.checkKey(key); err != nil {
		s.fail(c, op, err)
		return
	}
	def := defaultsOf(c.Request)
	cons, err := parseConsistency(def.consistency)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	conc, err := parseConcurrency(def.concurrency)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	ctx, cancel := s.callContext(c)
	defer cancel()
	req := DeleteRequest{Key: BackendKey(store, key), ETag: c.GetHeader("If-Match"), Consistency: cons,
		Concurrency: conc, Metadata: def.meta}
	if err := s.backend.Delete(ctx, req); err != nil {
		s.fail(c, op, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// bulkItem is one element of a bulk get response; a missing key is just {"key":...}.
type bulkItem struct {
	Key      string            `json:"key"`
	Data     json.RawMessage   `json:"data,omitempty"`
	ETag     string            `json:"etag,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// bulkGet serves POST|PUT /v1.0/state/{store}/bulk: one item per key, in order.
func (s *Server) bulkGet(c *gin.Context) {
	store := c.Param("store")
	op := operation{code: codeBulkGet, what: "failed getting state in bulk from state store " + store, store: store}
	body, err := readBody(c.Request)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	keys, err := decodeBulkGet(body, s.lim)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	cons, err := parseConsistency(defaultsOf(c.Request).consistency)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	out := make([]bulkItem, len(keys))
	if len(keys) > 0 {
		bkeys := make([]string, len(keys))
		for i, k := range keys {
			bkeys[i] = BackendKey(store, k)
		}
		ctx, cancel := s.callContext(c)
		defer cancel()
		items, err := s.backend.BulkGet(ctx, bkeys, cons)
		if err == nil && len(items) != len(keys) {
			err = fmt.Errorf("httpapi: backend returned %d items for %d keys", len(items), len(keys))
		}
		if err != nil {
			s.fail(c, op, err)
			return
		}
		for i, it := range items {
			out[i] = bulkItem{Key: keys[i]}
			if it.Found {
				out[i].Data, out[i].ETag = it.Value, it.ETag
				if !it.ExpireAt.IsZero() {
					out[i].Metadata = map[string]string{metaTTLExpire: formatExpire(it.ExpireAt)}
				}
			}
		}
	}
	s.writeJSON(c, http.StatusOK, out)
}

// transaction serves POST|PUT /v1.0/state/{store}/transaction: all operations or none; 204.
func (s *Server) transaction(c *gin.Context) {
	store := c.Param("store")
	op := operation{code: codeTransaction, what: "error while executing state transaction", store: store, txn: true}
	body, err := readBody(c.Request)
	if err != nil {
		s.fail(c, op, err)
		return
	}
	req, err := decodeTransaction(body, s.lim, defaultsOf(c.Request))
	if err != nil {
		s.fail(c, op, err)
		return
	}
	if len(req.Ops) == 0 {
		c.Status(http.StatusNoContent)
		return
	}
	for i := range req.Ops {
		req.Ops[i].Key = BackendKey(store, req.Ops[i].Key)
	}
	ctx, cancel := s.callContext(c)
	defer cancel()
	if err := s.backend.Transact(ctx, req); err != nil {
		s.fail(c, op, err)
		return
	}
	c.Status(http.StatusNoContent)
}
