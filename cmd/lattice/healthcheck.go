package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newHealthcheckCmd(a *app) *cobra.Command {
	url := "http://127.0.0.1:3500/v1.0/healthz"
	timeout := 3 * time.Second
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when a node's health endpoint answers 2xx, 1 otherwise",
		Long: `Probe a node's health endpoint and exit 0 when it answers with a 2xx status,
1 otherwise. Made for container health checks, where no curl is available
(the image is built FROM scratch).`,
		Example: `  lattice healthcheck
  lattice healthcheck --url http://10.0.0.5:3500/v1.0/healthz --timeout 1s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := checkHealth(ctx, url); err != nil {
				return &exitError{code: 1, msg: "unhealthy: " + err.Error()}
			}
			fmt.Fprintln(a.stdout, "healthy:", url)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", url, "health endpoint to probe")
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "give up after this long")
	return cmd
}

// checkHealth GETs url and wants a 2xx answer.
func checkHealth(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := newDirectClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: status %s %s", url, resp.Status, body)
	}
	return nil
}

// newDirectClient is an HTTP client for talking to nodes: no proxy from the
// environment, no keep-alive left behind.
func newDirectClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
}
