package main

import (
	"io"
	"testing"
	"time"
)

// The transport settings added against the attack test have safe defaults
// and reach the web and match configurations.
func TestTransportSettings(t *testing.T) {
	c, _, _, err := parseConfig("turnbase", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SpectatorEvery != time.Second || c.MaxWatched != 16 || c.MaxConns != 20000 || c.HSTSMaxAge != 365*24*time.Hour || c.PublicOrigin != "" {
		t.Fatalf("defaults: %+v", c)
	}
	env := map[string]string{
		"TURNBASE_PUBLIC_ORIGIN": "https://play.example.com", "TURNBASE_MAX_CONNS": "500",
		"TURNBASE_SPECTATOR_EVERY": "2s", "TURNBASE_MAX_WATCHED": "4", "TURNBASE_HSTS_MAX_AGE": "-1s",
	}
	c, _, _, err = parseConfig("turnbase", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wc := webConfig(c, make([]byte, 32))
	if wc.PublicOrigin != "https://play.example.com" || wc.MaxConns != 500 || wc.HSTSMaxAge != -time.Second {
		t.Fatalf("web config %+v", wc)
	}
	if err := wc.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SpectatorEvery != 2*time.Second || c.MaxWatched != 4 {
		t.Fatalf("match settings %+v", c)
	}
	if _, _, _, err := parseConfig("turnbase", []string{"-max-conns", "0"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("max-conns 0 accepted")
	}
}
