package crdt

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The convergence simulation: 3 to 7 replicas apply random operations on a
// few keys of every type and send each delta to the others over a network
// that loses, duplicates and reorders messages; now and then two replicas
// run anti-entropy by digest. At the end every replica equals the join of
// every delta ever produced (so nothing acknowledged at its origin is lost),
// and the add-only set and the counters hold every add and increment.

type simMsg struct {
	to  int
	key string
	e   Entry
}

type simKey struct {
	name   string
	typ    Type // TypeNone: any type, with deletes
	delete bool
}

var simKeys = []simKey{
	{"gcount", TypeGCounter, false},
	{"pncount", TypePNCounter, false},
	{"addonly", TypeORSet, false},
	{"set", TypeORSet, false},
	{"flag", TypeFlag, false},
	{"mv", TypeMVRegister, false},
	{"map", TypeORMap, false},
	{"reg", TypeRegister, true},
	{"any", TypeNone, true},
}

// antiEntropy compares digests, exchanges the keys of differing buckets and
// ships the entries that differ, both ways. It returns how many it shipped.
func antiEntropy(a, b *Keyspace) int {
	shipped := 0
	da, db := a.Digest(), b.Digest()
	for bk := range da {
		if da[bk] == db[bk] {
			continue
		}
		ha := map[string]uint64{}
		for _, kh := range a.BucketKeys(bk) {
			ha[kh.Key] = kh.Hash
		}
		for _, kh := range b.BucketKeys(bk) {
			if h, ok := ha[kh.Key]; !ok || h != kh.Hash {
				e, _ := b.Get(kh.Key)
				a.Join(kh.Key, e)
				shipped++
			}
			delete(ha, kh.Key)
		}
		for key := range ha {
			e, _ := a.Get(key)
			b.Join(key, e)
			shipped++
		}
	}
	for key := range a.diffKeys(b) {
		e, _ := a.Get(key)
		b.Join(key, e)
		shipped++
	}
	return shipped
}

// diffKeys returns the keys a holds that differ from b's entry (used after
// the bucket exchange for keys b lacks whose bucket digest happened to match).
func (k *Keyspace) diffKeys(o *Keyspace) map[string]bool {
	out := map[string]bool{}
	sn := k.Snapshot()
	defer sn.Release()
	sn.Range(func(key string, e Entry) bool {
		if oe, ok := o.Get(key); !ok || !Equal(e, oe) {
			out[key] = true
		}
		return true
	})
	return out
}

func TestConvergence(t *testing.T) {
	steps := 150
	if testing.Short() {
		steps = 60
	}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(3, 7).Draw(t, "replicas")
		now := time.UnixMilli(1_000_000)
		fakeNow := func() time.Time { return now }
		reps := make([]*Keyspace, n)
		clocks := make([]*Clock, n)
		for i := range reps {
			reps[i] = NewKeyspace(KeyspaceConfig{Shards: 1 << rapid.IntRange(0, 3).Draw(t, "shards"), Buckets: 16})
			clocks[i] = NewClock(ClockConfig{Now: fakeNow})
		}
		var net []simMsg
		var all []KV // every delta produced, in order
		added := map[string]bool{}
		var gsum uint64
		var pnsum int64
		for range rapid.IntRange(steps/3, steps).Draw(t, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(0, 3).Draw(t, "tick")) * time.Millisecond)
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0, 1, 2, 3: // a local op, broadcast over the lossy network
				i := rapid.IntRange(0, n-1).Draw(t, "at")
				k := rapid.SampledFrom(simKeys).Draw(t, "key")
				typ := k.typ
				if typ == TypeNone {
					typ = rapid.SampledFrom(allTypes).Draw(t, "type")
				}
				op := genOp(t, typ, 0)
				if k.name == "addonly" {
					op.Kind = OpAdd
				}
				if k.delete && rapid.IntRange(0, 3).Draw(t, "del") == 0 {
					op = Op{Kind: OpDelete, Type: typ}
				}
				d, err := reps[i].Apply(k.name, op, Stamp{TS: clocks[i].Now(), Replica: ReplicaID(fmt.Sprint("r", i))})
				if err != nil {
					continue // wrong type or overflow: refused, nothing to ship
				}
				all = append(all, KV{k.name, d})
				switch k.name {
				case "addonly":
					for _, e := range op.Elements {
						added[e] = true
					}
				case "gcount":
					gsum += op.Amount
				case "pncount":
					if op.Kind == OpIncrement {
						pnsum += int64(op.Amount)
					} else {
						pnsum -= int64(op.Amount)
					}
				}
				for j := range n {
					if j == i {
						continue
					}
					for range rapid.IntRange(0, 2).Draw(t, "copies") { // 0 = lost, 2 = duplicated
						net = append(net, simMsg{j, k.name, d})
					}
				}
			case 4, 5, 6: // deliver a random in-flight message (reordering)
				if len(net) == 0 {
					continue
				}
				m := rapid.IntRange(0, len(net)-1).Draw(t, "msg")
				msg := net[m]
				net = slices.Delete(net, m, m+1)
				if _, err := clocks[msg.to].Update(msg.e.Mod); err != nil {
					t.Fatalf("clock: %v", err)
				}
				reps[msg.to].Join(msg.key, msg.e)
			case 7: // lose a message
				if len(net) > 0 {
					m := rapid.IntRange(0, len(net)-1).Draw(t, "lost")
					net = slices.Delete(net, m, m+1)
				}
			case 8: // anti-entropy between two replicas
				a := rapid.IntRange(0, n-1).Draw(t, "aeA")
				b := rapid.IntRange(0, n-1).Draw(t, "aeB")
				antiEntropy(reps[a], reps[b])
			case 9:
				reps[rapid.IntRange(0, n-1).Draw(t, "expirer")].Expire(now.UnixMilli())
			}
		}
		// The rest of the network is lost; anti-entropy repairs everything.
		for round := 0; ; round++ {
			shipped := 0
			for i := range n {
				shipped += antiEntropy(reps[i], reps[(i+1)%n])
			}
			if shipped == 0 {
				break
			}
			if round > n {
				t.Fatalf("anti-entropy did not settle after %d rounds", round)
			}
		}
		end := now.UnixMilli() + 1000
		ref := NewKeyspace(KeyspaceConfig{})
		for _, kv := range all {
			ref.Join(kv.Key, kv.Entry)
		}
		ref.Expire(end)
		for i, r := range reps {
			r.Expire(end)
			if !slices.Equal(r.Digest(), reps[0].Digest()) {
				t.Fatalf("replica %d digest differs", i)
			}
			for _, k := range simKeys {
				got, gok := r.Get(k.name)
				want, wok := ref.Get(k.name)
				if gok != wok || !Equal(got, want) {
					t.Fatalf("replica %d key %s: %s, want the join of all deltas %s", i, k.name, dump(got.State), dump(want.State))
				}
			}
			if e, ok := r.Get("addonly"); ok {
				if got := e.State.(*ORSet).Elements(); !slices.Equal(got, sortedKeys(added)) {
					t.Fatalf("replica %d add-only set %v, added %v", i, got, sortedKeys(added))
				}
			}
			if e, ok := r.Get("gcount"); ok {
				if v, _ := e.State.(*GCounter).Value(); v != gsum {
					t.Fatalf("replica %d gcounter %d, increments %d", i, v, gsum)
				}
			}
			if e, ok := r.Get("pncount"); ok {
				if v, _ := e.State.(*PNCounter).Value(); v != pnsum {
					t.Fatalf("replica %d pncounter %d, sum %d", i, v, pnsum)
				}
			}
		}
	})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
