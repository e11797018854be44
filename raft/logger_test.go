package raft

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLoggerRendersHclogFormat(t *testing.T) {
	var buf bytes.Buffer
	l := HCLogger(slog.New(slog.NewTextHandler(&buf, nil))).With("node", "n1")
	l.Info("initial configuration", "index", 3, "servers", hclog.Fmt("%+v", []string{"a", "b"}), "error", errors.New("boom"))
	out := buf.String()
	for _, want := range []string{`msg="initial configuration"`, "lib=raft", "node=n1", "index=3", `servers="[a b]"`, "error=boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %q lacks %s", out, want)
		}
	}
	if strings.Contains(out, "%+v") {
		t.Errorf("log line %q kept the format verb", out)
	}
}

func TestHCLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := HCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	l.Debug("hidden")
	l.Info("hidden too")
	l.Warn("shown")
	if l.IsInfo() || !l.IsWarn() || !l.IsError() {
		t.Errorf("IsInfo %v IsWarn %v IsError %v with a warn-level logger", l.IsInfo(), l.IsWarn(), l.IsError())
	}
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "level=WARN msg=shown") {
		t.Errorf("output %q", out)
	}
}
