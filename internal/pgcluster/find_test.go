package pgcluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindOnPath(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	got, err := Find()
	if err != nil || got != dir {
		t.Fatalf("Find() = %q, %v; want %q", got, err, dir)
	}
}

func TestFindNeedsPostgresBesideInitdb(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "initdb"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	got, err := Find()
	if got == dir {
		t.Fatalf("Find() = %q without postgres beside initdb", got)
	}
	if err == nil && filepath.Base(got) != "bin" {
		t.Fatalf("Find() = %q, want a /usr/lib/postgresql/*/bin", got)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := map[[2]string]int{
		{"15", "16"}:   -1,
		{"9.6", "10"}:  -1,
		{"16", "9.6"}:  1,
		{"15", "15"}:   0,
		{"9.6", "9.5"}: 1,
		{"x", "12"}:    -1,
	}
	for in, want := range tests {
		got := compareVersions(in[0], in[1])
		if (got < 0) != (want < 0) || (got > 0) != (want > 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign of %d", in[0], in[1], got, want)
		}
	}
}
