package bench

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultOptionsValid(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, w := range Workloads() {
		o := DefaultOptions()
		o.Workload = w
		if err := o.Validate(); err != nil {
			t.Fatalf("%s: %v", w, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"target", func(o *Options) { o.Target = "redis" }, "unknown target"},
		{"no urls", func(o *Options) { o.URLs = nil }, "no URLs"},
		{"bad url", func(o *Options) { o.URLs = []string{"127.0.0.1:3500"} }, "is not http"},
		{"store", func(o *Options) { o.Store = "a/b" }, "store"},
		{"workload", func(o *Options) { o.Workload = "scan" }, "unknown workload"},
		{"crdt on etcd", func(o *Options) { o.Target, o.Workload = TargetEtcd, WorkloadCRDTIncr }, "needs target lattice"},
		{"consistency", func(o *Options) { o.Consistency = 7 }, "consistency"},
		{"read ratio", func(o *Options) { o.ReadRatio = 1.5 }, "read ratio"},
		{"connections", func(o *Options) { o.Connections = 0 }, "connections"},
		{"keys", func(o *Options) { o.Keys = 0 }, "keys"},
		{"cas keys", func(o *Options) { o.Workload, o.Keys = WorkloadCAS, 10 }, "one key per connection"},
		{"value size", func(o *Options) { o.ValueSize = 2 }, "value size"},
		{"no bound", func(o *Options) { o.Duration, o.Ops = 0, 0 }, "duration or op count"},
		{"rate", func(o *Options) { o.Rate = -1 }, "rate"},
		{"timeout", func(o *Options) { o.Timeout = 0 }, "timeout"},
		{"prefix", func(o *Options) { o.KeyPrefix = "a b" }, "key prefix"},
		{"lag poll", func(o *Options) { o.LagPoll = 0 }, "lag sampling"},
		{"lag precision negative", func(o *Options) { o.LagPrecision = -0.1 }, "lag precision"},
		{"lag precision one", func(o *Options) { o.LagPrecision = 1 }, "lag precision"},
		{"progress", func(o *Options) { o.ProgressInterval = 0 }, "progress interval"},
		{"etcd against etcd", func(o *Options) {
			o.Target, o.EtcdURLs = TargetEtcd, []string{"http://127.0.0.1:2379"}
		}, "target other than etcd"},
		{"crdt against etcd", func(o *Options) {
			o.Workload, o.EtcdURLs = WorkloadCRDTIncr, []string{"http://127.0.0.1:2379"}
		}, "no etcd equivalent"},
		{"bad etcd url", func(o *Options) { o.EtcdURLs = []string{"127.0.0.1:2379"} }, "etcd URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.change(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bench: ") {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestEtcdTargetAcceptsEmptyStore(t *testing.T) {
	o := DefaultOptions()
	o.Target, o.Store, o.Duration = TargetEtcd, "", time.Second
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestMakeValue(t *testing.T) {
	v := makeValue(100, "lag-x-7")
	if len(v) != 100 || !strings.HasPrefix(string(v), `"lag-x-7`) || v[99] != '"' {
		t.Fatalf("value %q", v)
	}
	if v := makeValue(8, "a-very-long-tag"); len(v) != len("a-very-long-tag")+2 {
		t.Fatalf("short value %q", v)
	}
}
