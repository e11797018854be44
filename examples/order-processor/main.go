package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lattice-state/lattice"
	"github.com/lattice-state/lattice/client"
)

// defaultEndpoints are the three nodes of `lattice dev`.
const defaultEndpoints = "http://127.0.0.1:3500,http://127.0.0.1:3501,http://127.0.0.1:3502"

// config is the command line.
type config struct {
	endpoints   []string
	resiliency  string
	appID       string
	store       string
	consistency lattice.Consistency
	interval    time.Duration
	first       int
	count       int
	verify      bool
	logLevel    slog.Level
}

// parseFlags reads the flags; LATTICE_ENDPOINTS supplies the default endpoints.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("order-processor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoints := defaultEndpoints
	if env := getenv("LATTICE_ENDPOINTS"); env != "" {
		endpoints = env
	}
	var cfg config
	var eps, consistency, level string
	fs.StringVar(&eps, "endpoints", endpoints, "comma-separated node URLs (env LATTICE_ENDPOINTS)")
	fs.StringVar(&cfg.resiliency, "resiliency", "resiliency.yaml", "Dapr resiliency file")
	fs.StringVar(&cfg.appID, "app-id", "order-processor", "app id, matched against the resiliency file's scopes")
	fs.StringVar(&cfg.store, "store", client.DefaultStore, "state store")
	fs.StringVar(&consistency, "consistency", "eventual", "eventual or strong")
	fs.DurationVar(&cfg.interval, "interval", time.Second, "pause between orders, and between tries of one order")
	fs.IntVar(&cfg.first, "first", 1, "id of the first order")
	fs.IntVar(&cfg.count, "count", 0, "number of orders to process (0: until interrupted)")
	fs.BoolVar(&cfg.verify, "verify", true, "on exit, read back every acknowledged order and report any missing")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	for e := range strings.SplitSeq(eps, ",") {
		if e = strings.TrimSpace(e); e != "" {
			cfg.endpoints = append(cfg.endpoints, e)
		}
	}
	var err error
	if cfg.consistency, err = lattice.ParseConsistency(consistency); err != nil {
		return cfg, err
	}
	if err := cfg.logLevel.UnmarshalText([]byte(level)); err != nil {
		return cfg, fmt.Errorf("log-level: %w", err)
	}
	if cfg.interval <= 0 || cfg.count < 0 {
		return cfg, errors.New("interval must be positive and count not negative")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "order-processor:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "order-processor:", err)
		os.Exit(1)
	}
}

// run loads the policies, builds the client and processes orders until ctx is done or
// count orders are acknowledged; then, with -verify, it reads them all back.
func run(ctx context.Context, cfg config, out io.Writer, log *slog.Logger) error {
	res, err := client.LoadResiliency(cfg.resiliency, cfg.appID)
	if err != nil {
		return err
	}
	p := res.ComponentPolicies(cfg.store)
	log.Info("Loaded resiliency policies", "file", cfg.resiliency, "store", cfg.store,
		"timeout", p.Timeout, "retry", p.Retry, "circuitBreaker", p.CircuitBreaker)
	ccfg := client.DefaultConfig()
	ccfg.Endpoints = cfg.endpoints
	ccfg.Store = cfg.store
	ccfg.Resiliency = res
	ccfg.Logger = log
	c, err := client.New(ccfg)
	if err != nil {
		return err
	}
	defer c.Close()
	proc := &processor{c: c, out: out, log: log, consistency: cfg.consistency, interval: cfg.interval}
	last, err := proc.run(ctx, cfg.first, cfg.count)
	if err != nil && ctx.Err() == nil {
		return err
	}
	fmt.Fprintf(out, "Acknowledged orders %d to %d\n", cfg.first, last)
	if !cfg.verify || last < cfg.first {
		return nil
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return proc.verify(vctx, cfg.first, last)
}
