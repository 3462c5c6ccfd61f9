package pgcluster

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder is a slog.Handler that keeps the records it gets.
type recorder struct {
	mu   sync.Mutex
	recs []string // "LEVEL msg severity"
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var sev string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "pg_severity" {
			sev = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Level.String()+" "+rec.Message+" "+sev)
	return nil
}

func TestLogWriter(t *testing.T) {
	rec := &recorder{}
	w := newLogWriter(slog.New(rec))
	in := "LOG:  database system is ready\nERROR:  duplicate key\nDETAIL:  Key (id)=(1) exists.\n" +
		"FATAL:  the database system is starting up\nWARNING:  careful\nPANIC:  oh no\n" +
		"\tcontinued line\nunfinished"
	for chunk := range slices.Chunk([]byte(in), 7) { // lines split across writes
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	want := []string{
		"INFO database system is ready LOG",
		"INFO duplicate key ERROR",
		"INFO Key (id)=(1) exists. DETAIL",
		"WARN the database system is starting up FATAL",
		"WARN careful WARNING",
		"ERROR oh no PANIC",
		"ERROR continued line ",
		"ERROR unfinished ",
	}
	if !slices.Equal(rec.recs, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(rec.recs, "\n"), strings.Join(want, "\n"))
	}
	if tail := w.tail(); len(tail) != len(want) || tail[0] != "LOG:  database system is ready" {
		t.Errorf("tail = %q", tail)
	}
}
