package clientint

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lattice-state/lattice/client"
	"github.com/lattice-state/lattice/test/cluster"
)

// A strong query sees the serving node's own eventual writes, as a strong get does
// ("strong requests see what their node has seen"): node.Scan folds the replica's
// uncommitted entries under the prefix in before its read barrier.
func TestStrongQuerySeesOwnEventualWrites(t *testing.T) {
	skipShort(t)
	c := cluster.Start(t, 3)
	cl, _, _ := newClient(t, c)
	var missed []int
	for i := range 20 {
		key := fmt.Sprint("own", i)
		if err := cl.Set(ctxFor(t, 5*time.Second), key, map[string]int{"round": i}); err != nil {
			t.Fatal(err)
		}
		mustGet(t, cl, key, fmt.Sprintf(`{"round":%d}`, i), strong) // a strong get folds it in...
		key = fmt.Sprint("own-q", i)
		if err := cl.Set(ctxFor(t, 5*time.Second), key, map[string]int{"qround": i}); err != nil {
			t.Fatal(err)
		}
		resp, err := cl.Query(ctxFor(t, 5*time.Second), client.Query{ // ...and so does a strong query
			Filter: map[string]any{"EQ": map[string]any{"qround": i}}}, strong)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) != 1 || !json.Valid(resp.Results[0].Value) {
			missed = append(missed, i)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("a strong query on the sticky node missed its own eventual write in rounds %v", missed)
	}
}
