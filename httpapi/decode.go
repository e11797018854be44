package httpapi

import (
	"encoding/json"
)

// The decoders below are pure functions of the body and the request defaults, so that they can be
// fuzzed. They validate everything before returning: a request they accept is complete, and one
// they reject reaches no Backend. Keys in their results are user keys, not yet namespaced.

// stateItemJSON is one Dapr state item, in a save body or a transaction operation. Field names
// match case-insensitively and unknown fields are ignored, as in Dapr.
type stateItemJSON struct {
	Key      string            `json:"key"`
	Value    json.RawMessage   `json:"value"`
	ETag     *string           `json:"etag"`
	Metadata map[string]string `json:"metadata"`
	Options  *optionsJSON      `json:"options"`
}

// optionsJSON is Dapr's per-item options object.
type optionsJSON struct {
	Concurrency string `json:"concurrency"`
	Consistency string `json:"consistency"`
}

// itemOptions resolves an item's options: its own when set, else the request's defaults.
func itemOptions(o *optionsJSON, def requestDefaults) (consistency, concurrency string) {
	consistency, concurrency = def.consistency, def.concurrency
	if o != nil && o.Consistency != "" {
		consistency = o.Consistency
	}
	if o != nil && o.Concurrency != "" {
		concurrency = o.Concurrency
	}
	return consistency, concurrency
}

// decodeSave decodes the body of POST /v1.0/state/{store}: a JSON array of state items.
func decodeSave(body []byte, lim limits, def requestDefaults) ([]SaveRequest, error) {
	var items []stateItemJSON
	if err := unmarshalBody(body, &items, "a JSON array of state items"); err != nil {
		return nil, err
	}
	reqs := make([]SaveRequest, 0, len(items))
	for _, it := range items {
		req, err := buildSave(it, lim, def)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, req)
	}
	return reqs, nil
}

// buildSave validates one state item and turns it into a SaveRequest.
func buildSave(it stateItemJSON, lim limits, def requestDefaults) (SaveRequest, error) {
	if err := lim.checkKey(it.Key); err != nil {
		return SaveRequest{}, err
	}
	val, err := lim.value(it.Key, it.Value)
	if err != nil {
		return SaveRequest{}, err
	}
	meta := mergeMetadata(it.Metadata, def.meta)
	ttl, err := parseTTL(meta)
	if err != nil {
		return SaveRequest{}, err
	}
	cons, conc := itemOptions(it.Options, def)
	consistency, err := parseConsistency(cons)
	if err != nil {
		return SaveRequest{}, err
	}
	concurrency, err := parseConcurrency(conc)
	if err != nil {
		return SaveRequest{}, err
	}
	req := SaveRequest{Key: it.Key, Value: val, TTL: ttl, Consistency: consistency, Concurrency: concurrency, Metadata: meta}
	if it.ETag != nil {
		req.ETag = *it.ETag
	}
	return req, nil
}

// bulkGetJSON is the body of POST /v1.0/state/{store}/bulk. Parallelism and metadata are accepted
// for compatibility and not used: the Backend reads all keys at once.
type bulkGetJSON struct {
	Keys        []string          `json:"keys"`
	Parallelism int               `json:"parallelism"`
	Metadata    map[string]string `json:"metadata"`
}

// decodeBulkGet decodes a bulk get body and returns its keys.
func decodeBulkGet(body []byte, lim limits) ([]string, error) {
	var req bulkGetJSON
	if err := unmarshalBody(body, &req, `an object {"keys":[...]}`); err != nil {
		return nil, err
	}
	for _, k := range req.Keys {
		if err := lim.checkKey(k); err != nil {
			return nil, err
		}
	}
	return req.Keys, nil
}

// transactionJSON is the body of POST /v1.0/state/{store}/transaction.
type transactionJSON struct {
	Operations []txnOpJSON       `json:"operations"`
	Metadata   map[string]string `json:"metadata"`
}

// txnOpJSON is one transaction operation.
type txnOpJSON struct {
	Operation string        `json:"operation"`
	Request   stateItemJSON `json:"request"`
}

// decodeTransaction decodes a transaction body. An empty operation list is valid (and applies
// nothing).
func decodeTransaction(body []byte, lim limits, def requestDefaults) (TransactRequest, error) {
	var txn transactionJSON
	if err := unmarshalBody(body, &txn, `an object {"operations":[...]}`); err != nil {
		return TransactRequest{}, err
	}
	if len(txn.Operations) > lim.maxTxnOps {
		return TransactRequest{}, &tooManyOpsError{count: len(txn.Operations), max: lim.maxTxnOps}
	}
	req := TransactRequest{Metadata: mergeMetadata(txn.Metadata, def.meta)}
	for _, o := range txn.Operations {
		op, err := buildTxnOp(o, lim, def)
		if err != nil {
			return TransactRequest{}, err
		}
		req.Ops = append(req.Ops, op)
	}
	return req, nil
}

// buildTxnOp validates one transaction operation.
func buildTxnOp(o txnOpJSON, lim limits, def requestDefaults) (TxnOp, error) {
	var kind TxnOpKind
	switch o.Operation {
	case TxnUpsert.String():
		kind = TxnUpsert
	case TxnDelete.String():
		kind = TxnDelete
	default:
		return TxnOp{}, &unsupportedOpError{op: o.Operation}
	}
	it := o.Request
	if err := lim.checkKey(it.Key); err != nil {
		return TxnOp{}, err
	}
	cons, conc := itemOptions(it.Options, def)
	if _, err := parseConsistency(cons); err != nil {
		return TxnOp{}, err
	}
	concurrency, err := parseConcurrency(conc)
	if err != nil {
		return TxnOp{}, err
	}
	op := TxnOp{Kind: kind, Key: it.Key, Concurrency: concurrency, Metadata: mergeMetadata(it.Metadata, def.meta)}
	if it.ETag != nil {
		op.ETag = *it.ETag
	}
	if kind == TxnUpsert {
		if op.Value, err = lim.value(it.Key, it.Value); err != nil {
			return TxnOp{}, err
		}
		if op.TTL, err = parseTTL(op.Metadata); err != nil {
			return TxnOp{}, err
		}
	}
	return op, nil
}
