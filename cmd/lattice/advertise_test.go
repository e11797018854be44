package main

import (
	"context"
	"strings"
	"testing"
)

func TestAdvertise(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, advertise, addr, want string
	}{
		{"advertise ip", "10.1.2.3", "0.0.0.0:7946", "10.1.2.3:7946"},
		{"advertise name", "localhost", "0.0.0.0:7000", "127.0.0.1:7000"},
		{"specific bind host", "", "127.0.0.1:3500", "127.0.0.1:3500"},
		{"advertise beats bind host", "10.1.2.3", "127.0.0.1:3500", "10.1.2.3:3500"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultServeConfig()
			cfg.AdvertiseAddr = c.advertise
			got, err := cfg.Advertise(ctx, c.addr)
			if err != nil || got != c.want {
				t.Fatalf("Advertise(%q) = %q, %v; want %q", c.addr, got, err, c.want)
			}
		})
	}
}

func TestAdvertiseAllInterfacesUsesHostname(t *testing.T) {
	cfg := DefaultServeConfig()
	got, err := cfg.Advertise(context.Background(), "0.0.0.0:3500")
	ip, hostErr := hostnameIP(context.Background())
	if hostErr != nil {
		if err == nil || !strings.Contains(err.Error(), "set --advertise-addr") {
			t.Fatalf("hostname unusable (%v) but Advertise = %q, %v", hostErr, got, err)
		}
		return
	}
	if err != nil || got != ip+":3500" {
		t.Fatalf("Advertise = %q, %v; want the hostname's address %s:3500", got, err, ip)
	}
}

func TestValidateUnresolvableAdvertiseAddr(t *testing.T) {
	cfg := validConfig(t)
	cfg.AdvertiseAddr = "no-such-host.invalid"
	wantProblems(t, cfg.Validate(), `advertise-addr "no-such-host.invalid": does not resolve`)
}
