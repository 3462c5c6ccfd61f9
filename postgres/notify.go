package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channels between the nodes of a cluster (PostgreSQL LISTEN/NOTIFY).
const (
	// ChannelRated carries a rated match's rating changes to the node that
	// runs it, when another node's rater rated it (RatedPayload).
	ChannelRated = "turnbase_rated"
)

// Listener receives notifications on a connection of its own (a pooled
// one would go back to the pool still listening) and hands each payload
// to its channel's handler, on Run's goroutine: handlers must not block.
// Notifications sent while the connection is down are lost; what must not
// be lost goes in rows, and notifications only say "look now".
type Listener struct {
	cfg       *pgx.ConnConfig                 // immutable
	logger    *slog.Logger                    // immutable
	handlers  map[string]func(payload string) // immutable
	listening chan struct{}                   // closed once the channels are first listened to
}

// NewListener returns a listener on the pool's database for the given
// channels; Run it.
func NewListener(pool *pgxpool.Pool, logger *slog.Logger, handlers map[string]func(payload string)) *Listener {
	return &Listener{cfg: pool.Config().ConnConfig.Copy(), logger: logger, handlers: handlers, listening: make(chan struct{})}
}

// Listening is closed once the listener first listens.
func (l *Listener) Listening() <-chan struct{} { return l.listening }

// Run listens until ctx is done, reconnecting (every second) when the
// connection is lost.
func (l *Listener) Run(ctx context.Context) error {
	first := true
	failing := false
	for {
		err := l.listen(ctx, &first)
		if ctx.Err() != nil {
			return nil
		}
		if !failing {
			l.logger.Warn("cluster listener lost its connection; reconnecting", "err", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (l *Listener) listen(ctx context.Context, first *bool) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(cctx, l.cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for ch := range l.handlers {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	if *first {
		*first = false
		close(l.listening)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if h := l.handlers[n.Channel]; h != nil {
			h(n.Payload)
		}
	}
}

// Notify sends payload on channel to every listening node (this one
// included), once the sending transaction commits: here at once.
// PostgreSQL refuses payloads of 8000 bytes or more.
func Notify(ctx context.Context, pool *pgxpool.Pool, channel, payload string) error {
	if len(payload) >= 8000 {
		return errors.New("notify: payload too long")
	}
	// A notification is delivered at commit, whether or not the commit
	// has reached the disk, and what nodes tell each other this way is
	// not kept: the commit need not wait for an fsync (NOTIFY assigns
	// the transaction an id, so each one was a durable commit of its
	// own). Notes that must go with a write are sent in that write's
	// transaction instead (rank notes, operator notes).
	b := &pgx.Batch{}
	b.Queue(asyncCommit)
	b.Queue(`SELECT pg_notify($1, $2)`, channel, payload)
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}
