package crdt

import "fmt"

// Type is the CRDT type of a key.
type Type uint8

// The types, in the order the Entry join uses to break type conflicts.
const (
	// TypeNone is the tombstone of a deleted non-register key (nil state).
	TypeNone Type = 0
	// TypeRegister is a last-writer-wins register (Dapr state values).
	TypeRegister Type = 1
	// TypeGCounter is a grow-only counter.
	TypeGCounter Type = 2
	// TypePNCounter is a counter that can be incremented and decremented.
	TypePNCounter Type = 3
	// TypeORSet is an add-wins observed-remove set of strings.
	TypeORSet Type = 4
	// TypeFlag is an enable-wins boolean flag.
	TypeFlag Type = 5
	// TypeMVRegister is a multi-value register keeping concurrent writes.
	TypeMVRegister Type = 6
	// TypeORMap is an observed-remove map of named, typed CRDT fields.
	TypeORMap Type = 7
)

var typeNames = [...]string{"none", "register", "gcounter", "pncounter", "orset", "flag", "mvregister", "ormap"}

// String returns the API spelling of t.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType parses the API spelling of a type.
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if n == s {
			return Type(i), nil
		}
	}
	return TypeNone, fmt.Errorf("%w: unknown type %q", ErrInvalidOp, s)
}

func (t Type) valid() bool { return t <= TypeORMap }

// OpKind is the kind of a local operation. The zero value is invalid.
type OpKind uint8

// The operation kinds.
const (
	// OpInvalid is the zero OpKind.
	OpInvalid OpKind = iota
	// OpSet writes a register value (Value, ExpireAt).
	OpSet
	// OpDelete deletes a key of any type.
	OpDelete
	// OpIncrement adds Amount to a counter.
	OpIncrement
	// OpDecrement subtracts Amount from a PN-counter.
	OpDecrement
	// OpAdd adds Elements to a set.
	OpAdd
	// OpRemove removes Elements from a set.
	OpRemove
	// OpEnable enables a flag.
	OpEnable
	// OpDisable disables a flag.
	OpDisable
	// OpAssign assigns Value to a multi-value register.
	OpAssign
	// OpMapUpdate applies Nested to the field Field (of type Nested.Type) of a map.
	OpMapUpdate
	// OpMapRemove removes the field Field (all its types) from a map.
	OpMapRemove
)

var opNames = [...]string{"invalid", "set", "delete", "increment", "decrement", "add", "remove",
	"enable", "disable", "assign", "update", "remove-field"}

// String returns a short name of k.
func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// opType is the single type an op kind applies to, or TypeNone when the
// kind fits several (OpIncrement) or any (OpDelete).
func (k OpKind) opType() Type {
	switch k {
	case OpSet:
		return TypeRegister
	case OpDecrement:
		return TypePNCounter
	case OpAdd, OpRemove:
		return TypeORSet
	case OpEnable, OpDisable:
		return TypeFlag
	case OpAssign:
		return TypeMVRegister
	case OpMapUpdate, OpMapRemove:
		return TypeORMap
	}
	return TypeNone
}

// Op is a local operation on one key. Type is the type the op expects (or
// creates when the key is absent or dead); it may be left TypeNone when the
// kind implies it (every kind but OpIncrement).
type Op struct {
	Kind     OpKind
	Type     Type
	Value    []byte
	ExpireAt int64 // unix ms, OpSet only; 0 = never
	Amount   uint64
	Elements []string
	Field    string
	Nested   *Op
}

// maxNesting bounds nested map depth in ops and decoded values.
const maxNesting = 32

// normalize checks op and returns the type it applies to.
func (op *Op) normalize(depth int) (Type, error) {
	if depth > maxNesting {
		return TypeNone, fmt.Errorf("%w: maps nested deeper than %d", ErrInvalidOp, maxNesting)
	}
	t := op.Type
	if want := op.Kind.opType(); want != TypeNone {
		if t == TypeNone {
			t = want
		} else if t != want {
			return t, fmt.Errorf("%w: %v does not apply to %v", ErrInvalidOp, op.Kind, t)
		}
	}
	switch op.Kind {
	case OpDelete:
		if !t.valid() {
			return t, fmt.Errorf("%w: unknown type %v", ErrInvalidOp, t)
		}
	case OpIncrement:
		if t != TypeGCounter && t != TypePNCounter {
			return t, fmt.Errorf("%w: increment needs a gcounter or pncounter, not %v", ErrInvalidOp, t)
		}
		fallthrough
	case OpDecrement:
		if op.Amount == 0 {
			return t, fmt.Errorf("%w: %v amount must be positive", ErrInvalidOp, op.Kind)
		}
	case OpAdd, OpRemove:
		if len(op.Elements) == 0 {
			return t, fmt.Errorf("%w: %v needs elements", ErrInvalidOp, op.Kind)
		}
	case OpMapUpdate:
		if op.Nested == nil {
			return t, fmt.Errorf("%w: map update needs a nested op", ErrInvalidOp)
		}
		if op.Nested.Kind == OpDelete {
			return t, fmt.Errorf("%w: delete inside a map: remove the field instead", ErrInvalidOp)
		}
		if op.Nested.Kind == OpSet && op.Nested.ExpireAt != 0 {
			return t, fmt.Errorf("%w: a map field cannot expire", ErrInvalidOp)
		}
		if _, err := op.Nested.normalize(depth + 1); err != nil {
			return t, err
		}
	case OpSet, OpEnable, OpDisable, OpAssign, OpMapRemove:
	default:
		return t, fmt.Errorf("%w: kind %v", ErrInvalidOp, op.Kind)
	}
	return t, nil
}
