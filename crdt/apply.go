package crdt

import "fmt"

// Delta-mutators of the non-causal types, dispatched from an Op.

func (r *Register) delta(op Op, at Stamp) (State, error) { return registerDelta(op, at) }

// registerDelta returns the write of op: an LWW delta does not depend on the current value.
func registerDelta(op Op, at Stamp) (State, error) {
	switch op.Kind {
	case OpSet:
		r := newRegisterValue(op.Value)
		r.TS, r.Replica, r.ExpireAt = at.TS, at.Replica, op.ExpireAt
		return r, nil
	case OpDelete:
		return &Register{TS: at.TS, Replica: at.Replica, Deleted: true}, nil
	}
	return nil, fmt.Errorf("%w: %v on a register", ErrInvalidOp, op.Kind)
}

func (g *GCounter) delta(op Op, at Stamp) (State, error) {
	if op.Kind != OpIncrement {
		return nil, fmt.Errorf("%w: %v on a gcounter", ErrInvalidOp, op.Kind)
	}
	return g.IncrementDelta(at.Replica, op.Amount)
}

func (c *PNCounter) delta(op Op, at Stamp) (State, error) {
	switch op.Kind {
	case OpIncrement:
		return c.IncrementDelta(at.Replica, op.Amount)
	case OpDecrement:
		return c.DecrementDelta(at.Replica, op.Amount)
	}
	return nil, fmt.Errorf("%w: %v on a pncounter", ErrInvalidOp, op.Kind)
}

// newState returns the bottom value of t.
func newState(t Type) State {
	switch t {
	case TypeRegister:
		return &Register{}
	case TypeGCounter:
		return NewGCounter()
	case TypePNCounter:
		return NewPNCounter()
	case TypeORSet:
		return NewORSet()
	case TypeFlag:
		return NewFlag()
	case TypeMVRegister:
		return NewMVRegister()
	case TypeORMap:
		return NewORMap()
	}
	return nil
}

// nextInc returns the incarnation of a key re-created over the dead entry e:
// a stamp above e.Inc that every replica re-creating the key after seeing the
// same dead entry computes alike, so concurrent re-creations join.
func nextInc(e Entry) Stamp { return Stamp{TS: e.Inc.TS + 1} }

// deleteInc returns the incarnation of a delete at stamp at over e.
func deleteInc(e Entry, at Stamp) Stamp {
	if at.Compare(e.Inc) > 0 {
		return at
	}
	return Stamp{TS: e.Inc.TS + 1, Replica: at.Replica}
}

// applyOp returns the minimal delta of applying op at stamp at to the entry
// cur (the zero Entry for an absent key). cur is not modified. Errors wrap
// ErrWrongType, ErrOverflow or ErrInvalidOp.
func applyOp(cur Entry, op Op, at Stamp, nowMs int64) (Entry, error) {
	if at.Replica == "" {
		return Entry{}, fmt.Errorf("%w: stamp without replica", ErrInvalidOp)
	}
	t, err := op.normalize(0)
	if err != nil {
		return Entry{}, err
	}
	ct := cur.Type()
	live := cur.Live(nowMs)
	if op.Kind == OpDelete {
		switch {
		case ct == TypeRegister || (ct == TypeNone && cur.Inc.IsZero() && (t == TypeNone || t == TypeRegister)):
			// A register delete is an LWW tombstone write in the same incarnation.
			return Entry{Inc: cur.Inc, Mod: at.TS, State: &Register{TS: at.TS, Replica: at.Replica, Deleted: true}}, nil
		default:
			return Entry{Inc: deleteInc(cur, at), Mod: at.TS}, nil
		}
	}
	inc := cur.Inc
	switch {
	case live && ct != t:
		return Entry{}, fmt.Errorf("%w: key is a %v, not a %v", ErrWrongType, ct, t)
	case !live && ct != t && !(ct == TypeNone && cur.Inc.IsZero()):
		inc = nextInc(cur) // re-create a dead key as another type in a new incarnation
	}
	var d State
	switch {
	case t == TypeRegister:
		d, err = registerDelta(op, at)
	case ct != t:
		d, err = newState(t).delta(op, at) // absent or re-created: from the bottom value
	default:
		d, err = cur.State.delta(op, at)
	}
	if err != nil {
		return Entry{}, err
	}
	return Entry{Inc: inc, Mod: at.TS, State: d}, nil
}
