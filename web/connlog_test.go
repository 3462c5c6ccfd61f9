package web

import (
	"bytes"
	"log/slog"
	"testing"
)

// A lazy logger writes what Logger.With would have.
func TestLazyAttrs(t *testing.T) {
	var lazyOut, eagerOut bytes.Buffer
	opts := &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}
	lazy := newLazyLogger(slog.New(slog.NewTextHandler(&lazyOut, opts)), slog.String("remote", "192.0.2.1")).With("player_id", "p1")
	eager := slog.New(slog.NewTextHandler(&eagerOut, opts)).With("remote", "192.0.2.1").With("player_id", "p1")
	for _, l := range []*slog.Logger{lazy, eager} {
		l.Info("connection opened", "spectator", false)
		l.Debug("not written")
		l.WithGroup("g").With("a", 1).Warn("grouped", "b", 2)
	}
	if lazyOut.String() != eagerOut.String() {
		t.Fatalf("lazy logger wrote\n%s\nwant\n%s", lazyOut.String(), eagerOut.String())
	}
	if lazyOut.Len() == 0 {
		t.Fatal("nothing written")
	}
}
