package web

import (
	"context"
	"log/slog"
	"slices"
)

// lazyAttrs is a slog.Handler that adds its attributes to the handler
// below only when a record is handled. A connection's logger carries its
// remote address (and its player) for the few lines it ever writes:
// Logger.With on most handlers formats and copies the attributes at once,
// which would cost every idle connection memory for lines never written.
type lazyAttrs struct {
	next   slog.Handler // the handler below; immutable
	parent *lazyAttrs   // attributes added before these; nil for the first
	attrs  []slog.Attr  // immutable; owned (slog hands WithAttrs its slice)
}

func newLazyLogger(l *slog.Logger, attrs ...slog.Attr) *slog.Logger {
	return slog.New(&lazyAttrs{next: l.Handler(), attrs: attrs})
}

func (h *lazyAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *lazyAttrs) Handle(ctx context.Context, r slog.Record) error {
	return h.resolve().Handle(ctx, r)
}

func (h *lazyAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return &lazyAttrs{next: h.next, parent: h, attrs: attrs}
}

func (h *lazyAttrs) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.resolve().WithGroup(name)
}

// resolve returns the handler below with the attributes added, in order.
func (h *lazyAttrs) resolve() slog.Handler {
	below := h.next
	if h.parent != nil {
		below = h.parent.resolve()
	}
	return below.WithAttrs(slices.Clone(h.attrs)) // a handler may keep or change it
}
