package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCluster is three Dapr-like nodes over one store where a write made on node 0 becomes
// visible elsewhere only after a number of polls: eventual gets on nodes 1 and 2 see it after
// hideEventual misses, strong gets after hideStrong misses. Counting polls instead of time keeps
// the test independent of speed.
type fakeCluster struct {
	t            *testing.T
	hideEventual int
	hideStrong   int
	strongOn     atomic.Int64 // strong gets served, by any node but the last
	mu           sync.Mutex
	value        map[string]string
	hidden       map[string]int // key|node|strong -> misses left
}

func (c *fakeCluster) node(i int) http.Handler {
	store := newFakeDapr(c.t, 40) // serves the load's keys
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			c.t.Errorf("read body: %v", err)
			return
		}
		if !strings.Contains(r.URL.Path, "-lag-") && !bytes.Contains(body, []byte("-lag-")) {
			r.Body = io.NopCloser(bytes.NewReader(body))
			store.ServeHTTP(w, r)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if r.Method == http.MethodPost {
			var items []struct {
				Key   string          `json:"key"`
				Value json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(body, &items); err != nil || len(items) != 1 || i != 0 {
				c.t.Errorf("probe save on node %d: %s (%v)", i, body, err)
			}
			key := items[0].Key
			c.value[key] = string(items[0].Value)
			c.hidden[key+"|1|false"] = c.hideEventual
			c.hidden[key+"|2|false"] = c.hideEventual
			c.hidden[key+"|2|true"] = c.hideStrong
			w.WriteHeader(http.StatusNoContent)
			return
		}
		strong := r.URL.Query().Get("consistency") == "strong"
		if strong && i != 2 {
			c.strongOn.Add(1)
		}
		key := strings.TrimPrefix(r.URL.Path, "/v1.0/state/statestore/")
		h := fmt.Sprintf("%s|%d|%t", key, i, strong)
		if c.hidden[h] > 0 {
			c.hidden[h]--
			w.WriteHeader(http.StatusNoContent)
			return
		}
		v, ok := c.value[key]
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Write([]byte(v))
	})
}

func TestLagSamplerMeasuresVisibilityAndFoldIn(t *testing.T) {
	c := &fakeCluster{t: t, hideEventual: 3, hideStrong: 5, value: map[string]string{}, hidden: map[string]int{}}
	var urls []string
	for i := range 3 {
		urls = append(urls, newTestServer(t, c.node(i)))
	}
	o := testOptions(TargetLattice, urls...)
	o.Ops = 300
	o.LagInterval = time.Millisecond
	o.LagPoll = 100 * time.Microsecond
	res := mustRun(t, o)
	checkClean(t, res, 300)
	l := res.Lags
	if l == nil || l.Visibility == nil || l.FoldIn == nil {
		t.Fatalf("lags %+v", l)
	}
	if l.Probes < 1 || l.ProbeErrors != 0 || l.Visibility.Count != 2*l.Probes || l.FoldIn.Count != l.Probes ||
		l.Visibility.Timeouts != 0 || l.FoldIn.Timeouts != 0 {
		t.Fatalf("probes %d errors %d visibility %+v fold-in %+v", l.Probes, l.ProbeErrors, *l.Visibility, *l.FoldIn)
	}
	if c.strongOn.Load() != 0 {
		t.Fatalf("%d strong polls went to a node other than the last", c.strongOn.Load())
	}
	// Every probe needed hideStrong misses before its strong read showed it, so its fold-in lag
	// is at least that many polls apart: the figure cannot be below LagPoll*hideStrong.
	if l.FoldIn.Min < float64(c.hideStrong)*o.LagPoll.Seconds()*1000 {
		t.Fatalf("fold-in min %v ms below %d polls", l.FoldIn.Min, c.hideStrong)
	}
}

func TestLagTimeoutsCounted(t *testing.T) {
	c := &fakeCluster{t: t, hideEventual: 1 << 30, hideStrong: 1 << 30, value: map[string]string{}, hidden: map[string]int{}}
	var urls []string
	for i := range 3 {
		urls = append(urls, newTestServer(t, c.node(i)))
	}
	o := testOptions(TargetLattice, urls...)
	o.Ops = 10
	o.LagInterval = time.Hour // only the probe sent at the start
	o.LagPoll = time.Millisecond
	o.LagTimeout = 20 * time.Millisecond
	res := mustRun(t, o)
	l := res.Lags
	if l.Probes != 1 || l.Visibility.Timeouts != 2 || l.FoldIn.Timeouts != 1 || l.Visibility.Count != 0 {
		t.Fatalf("lags %+v visibility %+v fold-in %+v", l, *l.Visibility, *l.FoldIn)
	}
}

func TestLagPollPauseGrowsWithTheProbesAge(t *testing.T) {
	o := DefaultOptions()
	o.LagPoll = time.Millisecond
	o.LagPrecision = 0.1
	l := &lagSampler{opts: o}
	for _, tc := range []struct{ elapsed, want time.Duration }{
		{0, time.Millisecond},
		{5 * time.Millisecond, time.Millisecond},
		{20 * time.Millisecond, 2 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
	} {
		if got := l.pollPause(tc.elapsed); got != tc.want {
			t.Errorf("pause after %v = %v, want %v", tc.elapsed, got, tc.want)
		}
	}
	o.LagPrecision = 0
	l = &lagSampler{opts: o}
	if got := l.pollPause(time.Second); got != time.Millisecond {
		t.Errorf("precision 0: pause after 1s = %v, want the fixed 1ms", got)
	}
}
