package bench

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

// referenceChildEnv turns the test binary into a ReferenceCommand (see TestMain).
const referenceChildEnv = "LATTICE_BENCH_TEST_REFERENCE_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(referenceChildEnv) != "" {
		stop := make(chan struct{})
		go func() {
			buf := make([]byte, 64)
			for {
				if _, err := os.Stdin.Read(buf); err != nil {
					close(stop)
					return
				}
			}
		}()
		if err := ServeReference("127.0.0.1:0", os.Stdout, stop, nil); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestReferenceProcessServesUntilStopped(t *testing.T) {
	t.Setenv(referenceChildEnv, "1")
	opts := DefaultOptions()
	opts.ReferenceCommand = []string{os.Args[0]}
	url, stop, err := startReference(opts)
	if err != nil {
		t.Fatal(err)
	}
	code, _, _ := call(t, "GET", url+"/v1.0/healthz", "")
	if code != http.StatusNoContent {
		stop()
		t.Fatalf("healthz: %d", code)
	}
	stop()
	_, err = http.Get(url + "/v1.0/healthz")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("after stop: %v, want connection refused", err)
	}
}

func TestRunMeasuresReferenceProcess(t *testing.T) {
	t.Setenv(referenceChildEnv, "1")
	target, err := StartReferenceServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close(context.Background())
	opts := DefaultOptions()
	opts.Target, opts.URLs = TargetDapr, []string{target.URL()}
	opts.Connections, opts.Keys, opts.Duration, opts.Ops, opts.LagInterval = 4, 10, 0, 200, 0
	opts.Reference = true
	opts.ReferenceCommand = []string{os.Args[0]}
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reference == nil || res.Reference.Ops != 400 || res.Reference.Errors != 0 || res.Ratio == nil {
		t.Fatalf("reference figures: %+v ratio %+v", res.Reference, res.Ratio)
	}
}

func TestReferenceProcessThatPrintsNoURLIsRefused(t *testing.T) {
	for name, argv := range map[string][]string{
		"garbage":   {"sh", "-c", "echo not-a-url; echo it went wrong >&2"},
		"silent":    {"sh", "-c", "echo it went wrong >&2; exit 3"},
		"no binary": {"/nonexistent/lattice-reference"},
	} {
		t.Run(name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.ReferenceCommand = argv
			_, _, err := startReference(opts)
			if err == nil {
				t.Fatal("started")
			}
			if name != "no binary" && !strings.Contains(err.Error(), "it went wrong") {
				t.Fatalf("error %q does not carry the child's standard error", err)
			}
		})
	}
}
