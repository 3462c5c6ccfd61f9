package pgcluster

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// tailLines is how many of the server's last log lines a startup error
// shows.
const tailLines = 20

// logWriter turns the server's stderr into slog records, one per line, at
// the level of the line's severity prefix ("LOG:  ...").
type logWriter struct {
	logger *slog.Logger // immutable

	// mu guards the fields below: Write runs on the goroutine os/exec copies
	// the pipe with, tail on Start's.
	mu      sync.Mutex
	partial []byte     // an unfinished line
	level   slog.Level // of the last line with a severity, for its DETAIL, HINT...
	last    []string   // the last tailLines lines
}

func newLogWriter(logger *slog.Logger) *logWriter {
	return &logWriter{logger: logger, level: slog.LevelInfo}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	rest := w.partial
	for {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			break
		}
		w.lineLocked(string(line))
		rest = after
	}
	if len(rest) > 64<<10 { // no newline in sight: do not grow forever
		w.lineLocked(string(rest))
		rest = nil
	}
	w.partial = append(w.partial[:0], rest...)
	return len(p), nil
}

// flush logs an unfinished last line.
func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.lineLocked(string(w.partial))
		w.partial = w.partial[:0]
	}
}

func (w *logWriter) tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.last...)
}

func (w *logWriter) lineLocked(line string) {
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return
	}
	if len(w.last) == tailLines {
		w.last = append(w.last[:0], w.last[1:]...)
	}
	w.last = append(w.last, line)

	sev, msg, ok := strings.Cut(line, ":  ")
	level, known := severityLevel(sev)
	switch {
	case !ok || !known:
		sev, msg, level = "", strings.TrimSpace(line), w.level
	case level == levelSameAsPrevious:
		level = w.level
	default:
		w.level = level
	}
	w.logger.Log(context.Background(), level, msg, "pg_severity", sev)
}

// levelSameAsPrevious marks the severities that annotate the line before.
const levelSameAsPrevious = slog.Level(-100)

// severityLevel maps a PostgreSQL message severity to a slog level. ERROR
// is only Info: it is about a client's statement, and the client sees it.
// FATAL is only Warn: it ends one session (a refused connection, a
// terminated backend), not the server.
func severityLevel(sev string) (slog.Level, bool) {
	switch sev {
	case "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5":
		return slog.LevelDebug, true
	case "LOG", "INFO", "NOTICE", "ERROR":
		return slog.LevelInfo, true
	case "WARNING", "FATAL":
		return slog.LevelWarn, true
	case "PANIC":
		return slog.LevelError, true
	case "DETAIL", "HINT", "QUERY", "CONTEXT", "STATEMENT", "LOCATION":
		return levelSameAsPrevious, true
	}
	return 0, false
}
