package bench

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
)

func TestEtcdGatewayWorkloads(t *testing.T) {
	for _, tc := range []struct {
		workload Workload
		check    func(f *fakeEtcd) bool
	}{
		{WorkloadSave, func(f *fakeEtcd) bool { return f.puts.Load() == 200 }},
		{WorkloadStrongSave, func(f *fakeEtcd) bool { return f.puts.Load() == 200 }},
		{WorkloadGet, func(f *fakeEtcd) bool { return f.serializable.Load() == 200 && f.linearizable.Load() == 0 }},
		{WorkloadStrongGet, func(f *fakeEtcd) bool { return f.linearizable.Load() == 200 && f.serializable.Load() == 0 }},
		{WorkloadFirstWrite, func(f *fakeEtcd) bool { return f.creates.Load() == 200 && f.failed.Load() == 0 }},
		{WorkloadCAS, func(f *fakeEtcd) bool {
			return f.serializable.Load() == 200 && f.updates.Load() == 200 && f.failed.Load() == 0
		}},
		{WorkloadMixed, func(f *fakeEtcd) bool { return f.serializable.Load()+f.puts.Load() == 200+64 }},
	} {
		t.Run(string(tc.workload), func(t *testing.T) {
			f := newFakeEtcd(t)
			o := testOptions(TargetEtcd, f.serve())
			o.Workload = tc.workload
			res := mustRun(t, o)
			checkClean(t, res, 200)
			if !tc.check(f) {
				t.Fatalf("gateway saw puts %d serializable %d linearizable %d creates %d updates %d failed %d",
					f.puts.Load(), f.serializable.Load(), f.linearizable.Load(), f.creates.Load(), f.updates.Load(), f.failed.Load())
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for k, kv := range f.kv {
				if len(kv.value) != o.ValueSize {
					t.Fatalf("key %q holds %d bytes, want %d", k, len(kv.value), o.ValueSize)
				}
			}
		})
	}
}

// TestEtcdClusterSideBySide starts Debian's etcd (3 members) and drives it through its gateway.
func TestEtcdClusterSideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd processes")
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd not installed (apt-get install -y etcd-server); skipping the real-etcd test")
	}
	cfg := DefaultEtcdConfig()
	cfg.Dir = t.TempDir()
	c, err := StartEtcdCluster(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, m := range c.members {
		pids = append(pids, m.cmd.Process.Pid)
	}
	stopped := false
	defer func() {
		if !stopped {
			c.Stop()
		}
	}()
	if len(c.ClientURLs()) != 3 {
		t.Fatalf("client URLs %v", c.ClientURLs())
	}
	for _, w := range []Workload{WorkloadStrongSave, WorkloadGet, WorkloadStrongGet, WorkloadFirstWrite, WorkloadCAS} {
		o := testOptions(TargetEtcd, c.ClientURLs()...)
		o.Workload = w
		res := mustRun(t, o)
		if res.Ops != 200 || res.Errors != 0 || res.Misses != 0 {
			t.Fatalf("%s: ops %d errors %d %v misses %d", w, res.Ops, res.Errors, res.ErrorKinds, res.Misses)
		}
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("etcd pid %d still exists after Stop: %v", pid, err)
		}
	}
}

func TestStartEtcdClusterWithoutBinary(t *testing.T) {
	cfg := DefaultEtcdConfig()
	cfg.Binary = "etcd-binary-that-does-not-exist"
	if _, err := StartEtcdCluster(context.Background(), cfg); !errors.Is(err, ErrEtcdNotInstalled) {
		t.Fatalf("err %v", err)
	}
}
