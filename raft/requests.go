package raft

// requestMemorySize bounds how many applied request ids the FSM remembers. It is part of the
// replicated state machine's definition: changing it changes which retries are recognised, so
// every node of a cluster must use the same value (hence a constant, not a setting).
const requestMemorySize = 1 << 14

// appliedRequest records that the command with request id ID took effect at Index.
type appliedRequest struct {
	ID    string
	ETag  string
	Index uint64
}

// requestMemory is a FIFO of the most recent applied request ids. It changes only on the FSM
// goroutine, in log order, so it is identical on every node; the map is used for lookups only,
// never iterated.
type requestMemory struct {
	ring []appliedRequest // circular, oldest at head
	head int
	byID map[string]int // id -> position in ring
}

func newRequestMemory() *requestMemory {
	return &requestMemory{byID: make(map[string]int)}
}

func (m *requestMemory) lookup(id string) (appliedRequest, bool) {
	i, ok := m.byID[id]
	if !ok {
		return appliedRequest{}, false
	}
	return m.ring[i], true
}

// add remembers r, evicting the oldest record when full. r.ID must not be remembered already.
func (m *requestMemory) add(r appliedRequest) {
	if len(m.ring) < requestMemorySize {
		m.byID[r.ID] = len(m.ring)
		m.ring = append(m.ring, r)
		return
	}
	delete(m.byID, m.ring[m.head].ID)
	m.ring[m.head] = r
	m.byID[r.ID] = m.head
	m.head = (m.head + 1) % len(m.ring)
}

// list returns the records oldest first (a copy).
func (m *requestMemory) list() []appliedRequest {
	out := make([]appliedRequest, 0, len(m.ring))
	out = append(out, m.ring[m.head:]...)
	return append(out, m.ring[:m.head]...)
}
