package crdt

// causal is the paper's Causal<S>: a dot store and the causal context its
// dots live in. partial marks a delta that lists every key its context
// covers (see store).
type causal[S store] struct {
	st      S
	ctx     CausalContext
	partial bool
}

func (c *causal[S]) base() *causal[S] { return c }

type causalBase[S store] interface{ base() *causal[S] }

func (c *causal[S]) joinCausal(o State) bool {
	ob, ok := o.(causalBase[S])
	if !ok {
		return false
	}
	oc := ob.base()
	keep := c.partial && oc.partial
	st, ch1 := c.st.joinStore(&c.ctx, oc.st, &oc.ctx, !oc.partial, keep)
	c.st = st.(S)
	ch2 := c.ctx.Merge(&oc.ctx)
	c.partial = keep
	return ch1 || ch2
}

func (c *causal[S]) cloneCausal() causal[S] {
	return causal[S]{st: c.st.cloneStore().(S), ctx: c.ctx.Clone(), partial: c.partial}
}

func (c *causal[S]) equal(o State) bool {
	ob, ok := o.(causalBase[S])
	if !ok {
		return false
	}
	oc := ob.base()
	return c.ctx.Equal(&oc.ctx) && c.st.equalStore(oc.st)
}

// Size returns the approximate bytes of the value.
func (c *causal[S]) Size() int { return 16 + c.st.sizeStore() + c.ctx.size() }

// Context returns a copy of the causal context.
func (c *causal[S]) Context() CausalContext { return c.ctx.Clone() }

func (c *causal[S]) settle() {
	c.st = c.st.settleStore().(S)
	c.partial = false
}

func (c *causal[S]) appendJSON(dst []byte) []byte { return c.st.appendView(dst) }

// deltaInto builds in out the delta of op: a store holding the new dots and
// a context holding exactly the dots it creates or observes. The receiver is
// unchanged: the new dots are not added to its context here, so joining the
// delta back cannot mistake them for observed-then-removed dots.
func (c *causal[S]) deltaInto(out *causal[S], op Op, at Stamp, partial bool) error {
	out.ctx.cloud = make([]Dot, 0, 2)
	out.partial = partial
	d, err := c.st.deltaOp(op, at, dotGen{c: &c.ctx, dc: &out.ctx, r: at.Replica}, 0)
	if err != nil {
		return err
	}
	out.st = d.(S)
	return nil
}

// Flag is an enable-wins flag: Causal<DotSet>. Enabling adds a fresh dot and
// observes the current ones; disabling observes the current dots; so an
// enable concurrent with a disable wins.
type Flag struct{ causal[dotFun[Dot]] }

// NewFlag returns a disabled flag.
func NewFlag() *Flag { return &Flag{} }

// Type returns TypeFlag.
func (f *Flag) Type() Type { return TypeFlag }

// Clone returns a deep copy.
func (f *Flag) Clone() State { return &Flag{f.cloneCausal()} }

// Enabled reports the flag's value.
func (f *Flag) Enabled() bool { return len(f.st) > 0 }

// EnableDelta returns the delta of enabling the flag at replica r; f is unchanged.
func (f *Flag) EnableDelta(r ReplicaID) *Flag {
	d, _ := f.delta(Op{Kind: OpEnable}, Stamp{Replica: r})
	return d.(*Flag)
}

// DisableDelta returns the delta of disabling the flag; f is unchanged.
func (f *Flag) DisableDelta() *Flag {
	d, _ := f.delta(Op{Kind: OpDisable}, Stamp{})
	return d.(*Flag)
}

func (f *Flag) join(o State) (State, bool) { return f, f.joinCausal(o) }

func (f *Flag) delta(op Op, at Stamp) (State, error) {
	d := &Flag{}
	if err := f.deltaInto(&d.causal, op, at, false); err != nil {
		return nil, err
	}
	return d, nil
}

// MVRegister is a multi-value register: Causal<DotFun<value>>. An assignment
// replaces the values it observed; concurrent assignments are all kept.
type MVRegister struct{ causal[dotFun[mvDot]] }

// NewMVRegister returns an empty register.
func NewMVRegister() *MVRegister { return &MVRegister{} }

// Type returns TypeMVRegister.
func (m *MVRegister) Type() Type { return TypeMVRegister }

// Clone returns a deep copy.
func (m *MVRegister) Clone() State { return &MVRegister{m.cloneCausal()} }

// Values returns the distinct current values, sorted bytewise.
func (m *MVRegister) Values() [][]byte { return mvValues(m.st) }

// AssignDelta returns the delta of assigning v at replica r; m is unchanged.
func (m *MVRegister) AssignDelta(r ReplicaID, v []byte) *MVRegister {
	d, _ := m.delta(Op{Kind: OpAssign, Value: v}, Stamp{Replica: r})
	return d.(*MVRegister)
}

func (m *MVRegister) join(o State) (State, bool) { return m, m.joinCausal(o) }

func (m *MVRegister) delta(op Op, at Stamp) (State, error) {
	d := &MVRegister{}
	if err := m.deltaInto(&d.causal, op, at, false); err != nil {
		return nil, err
	}
	return d, nil
}
