package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lobbyLock keys the session-level advisory lock that the cluster's lobby
// node holds, "loby" in ASCII. A bigint key below 2^32 shows in pg_locks
// as classid 0, objid the key, objsubid 1.
const lobbyLock = 0x6c6f6279

// lobbyAppName prefixes the application_name of the lock's connection;
// the node id follows.
const lobbyAppName = "turnbase-lobby "

// LobbyLock elects the cluster's lobby node: the node whose connection of
// its own holds a session advisory lock. Who holds it is read from
// pg_locks and the application_name of the holder's connection, so the
// lock and the record of its holder are one fact: when the holder's
// session ends (the node stopped or died, its connection broke), both go
// at once and another node takes the lock at its next Elect.
//
// Elect is called from one goroutine; Close when done.
type LobbyLock struct {
	cfg  *pgx.ConnConfig // immutable
	self string          // immutable

	// Owned by Elect's goroutine.
	conn *pgx.Conn // nil until connected, or after it failed
	held bool      // conn holds the lock
}

// NewLobbyLock returns the lobby election of node self on the pool's
// database. Node ids are at most 48 bytes (application_name keeps 63).
func NewLobbyLock(pool *pgxpool.Pool, self string) (*LobbyLock, error) {
	if self == "" || len(lobbyAppName)+len(self) > 63 {
		return nil, fmt.Errorf("lobby lock: node id %q empty or longer than %d bytes", self, 63-len(lobbyAppName))
	}
	cfg := pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = lobbyAppName + self
	return &LobbyLock{cfg: cfg, self: self}, nil
}

// Elect takes the lobby lock if nobody holds it, and returns the node that
// holds it now with the holder's backend pid, which changes when the
// holder's session does (a node that restarted quickly is a new term).
// "" with a nil error: the lock was released between the two looks.
func (l *LobbyLock) Elect(ctx context.Context) (node string, term int64, err error) {
	if l.conn == nil {
		c, err := pgx.ConnectConfig(ctx, l.cfg)
		if err != nil {
			return "", 0, fmt.Errorf("lobby lock: connect: %w", err)
		}
		l.conn, l.held = c, false
	}
	defer func() {
		if err != nil {
			l.drop()
		}
	}()
	if l.held {
		if _, err := l.conn.Exec(ctx, `SELECT 1`); err != nil {
			return "", 0, fmt.Errorf("lobby lock: check: %w", err)
		}
		return l.self, int64(l.conn.PgConn().PID()), nil
	}
	var got bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(lobbyLock)).Scan(&got); err != nil {
		return "", 0, fmt.Errorf("lobby lock: try: %w", err)
	}
	if got {
		l.held = true
		return l.self, int64(l.conn.PgConn().PID()), nil
	}
	var name string
	err = l.conn.QueryRow(ctx, `
		SELECT coalesce(a.application_name, ''), l.pid
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid = 0 AND l.objid = $1::bigint::oid AND l.objsubid = 1`, int64(lobbyLock)).Scan(&name, &term)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("lobby lock: holder: %w", err)
	}
	if !strings.HasPrefix(name, lobbyAppName) {
		return "", 0, fmt.Errorf("lobby lock: held by a session named %q", name)
	}
	return strings.TrimPrefix(name, lobbyAppName), term, nil
}

// drop closes the connection: a lock it held is released.
func (l *LobbyLock) drop() {
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.conn.Close(ctx)
	l.conn, l.held = nil, false
}

// Close releases the lock (if held) and closes the connection.
func (l *LobbyLock) Close() { l.drop() }
