package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes of PROTOCOL.md, and 1013 for a client that cannot keep up
// with its frames (a reconnect will resend the state).
const (
	closeBadToken  = 4001
	closeRateLimit = 4008
	closeTooSlow   = websocket.CloseTryAgainLater
)

// handleWS is GET /ws: it refuses foreign origins (403), address floods
// (429) and a server shutting down (503) before upgrading, then runs the
// connection until it closes.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if !s.checkOrigin(r) {
		s.writeError(w, r, fmt.Errorf("%w: origin %q may not connect", ErrForbidden, r.Header.Get("Origin")))
		return
	}
	if !s.allowIP(w, r, s.handshakes) {
		return
	}
	c := newConn(s, s.clientIP(r))
	if err := s.register(c); err != nil {
		if errors.Is(err, ErrRateLimited) {
			writeRetryAfter(w, s.cfg.HelloTimeout)
		}
		s.writeError(w, r, err)
		return
	}
	hw := &hijacker{ResponseWriter: w, bufs: &s.wireBufs}
	ws, err := s.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		s.unregister(c) // the upgrader has answered
		return
	}
	c.ws, c.wire = ws, hw.wire
	// The connection runs on goroutines of its own and the handler
	// returns: net/http's goroutine for this request, its stack and its
	// buffered reader and writer (which the hijack does not free while the
	// handler runs) go away, which roughly halves an idle connection's
	// memory.
	go c.run()
}

// checkOrigin implements PROTOCOL.md: no Origin, the server's own origin
// (as the Host header names it) and configured origins are allowed.
func (s *Server) checkOrigin(r *http.Request) bool {
	values := r.Header.Values("Origin")
	switch len(values) {
	case 0:
		return true
	case 1:
	default:
		return false
	}
	origin, err := normalizeOrigin(values[0])
	if err != nil {
		return false // "null" among others
	}
	return origin == originOf(s.ownScheme(r), r.Host) || s.origins[origin]
}

// conn is one WebSocket connection; it implements match.Conn. Its read
// pump runs on a goroutine of its own for as long as the connection
// lives; its write pump runs only while there is something to write
// (frames, a ping, the closing handshake) and exits when the queue is
// empty, so that an idle connection costs one goroutine. At most one write
// pump runs at a time, and only it writes data frames.
type conn struct {
	// Immutable once run starts.
	srv      *Server
	ip       string
	ws       *websocket.Conn
	wire     *wireConn     // the network connection under ws
	readDone chan struct{} // closed when the read pump returns
	pingSlot int           // which of the pinger's slices pings this connection

	// The read pump and the closing write pump, until they end: the last
	// to end runs cleanup.
	ending atomic.Int32

	// closing is set once, by closeWith, after the three fields below:
	// no more frames, close now. Read it without the lock.
	closing    atomic.Bool
	closeCode  int    // guarded by mu until closing is set, immutable after
	closeText  string // likewise
	closeFlush bool   // likewise: write queued frames before the close frame

	mu      sync.Mutex // guards the fields below
	started bool       // run has started: a write pump may start
	pumping bool       // a write pump runs (for good once closing)
	queue   [][]byte   // frames waiting for the write pump; nil when empty
	unsent  int        // frames the write pump took and has not written out yet
	pingDue bool       // the pinger asked for a ping

	// Set by the read pump during the hello, before the connection is
	// handed to the registry or the lobby; immutable after that.
	id     Identity // zero for a spectator-only connection
	player *playerState
	log    *slog.Logger

	// Owned by the read pump (cleanup runs after it).
	welcomed bool      // the hello succeeded
	readBy   time.Time // the read deadline extendDeadline set last
	limiter  *frameLimiter
}

func newConn(s *Server, ip string) *conn {
	c := &conn{
		srv:      s,
		ip:       ip,
		readDone: make(chan struct{}),
		log:      newLazyLogger(s.logger, slog.String("remote", ip)),
	}
	c.ending.Store(2)
	return c
}

// PlayerID is the authenticated player, or "" for a spectator connection.
func (c *conn) PlayerID() string { return c.id.ID }

// Send queues one frame without blocking. When the queue is full (frames
// queued or being written, SendQueue of them) the connection is dropped:
// it closes with 1013 and Send returns false, as it does once the
// connection is closing.
func (c *conn) Send(frame []byte) bool {
	c.mu.Lock()
	if c.isClosing() { // closeWith sets it under mu: once set, nobody writes the queue
		c.mu.Unlock()
		return false
	}
	if len(c.queue)+c.unsent >= c.srv.cfg.SendQueue {
		c.mu.Unlock()
		c.log.Warn("send queue full: dropping connection")
		c.srv.stats.closedSlow.Add(1)
		c.closeWith(closeTooSlow, "too slow", false)
		return false
	}
	c.queue = append(c.queue, frame)
	c.startPumpLocked()
	c.mu.Unlock()
	return true
}

// ping asks the write pump for a ping; the pinger calls it.
func (c *conn) ping() {
	if c.isClosing() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pingDue = true
	c.startPumpLocked()
}

// closeWith starts closing the connection with code (0: drop it without a
// close frame). flush asks for the frames queued so far to be written first.
// Only the first call counts; safe from any goroutine.
func (c *conn) closeWith(code int, text string, flush bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing.Load() {
		return
	}
	c.closeCode, c.closeText, c.closeFlush = code, text, flush
	c.closing.Store(true)
	c.startPumpLocked()
}

// closeReason is the code and text the server closed with, or 0 and
// "peer" when the client or the network ended the connection.
func (c *conn) closeReason() (int, string) {
	if !c.isClosing() {
		return 0, "peer"
	}
	return c.closeCode, c.closeText
}

func (c *conn) isClosing() bool { return c.closing.Load() }

// startPumpLocked starts the write pump if there is work for it and
// none runs.
func (c *conn) startPumpLocked() {
	if !c.started || c.pumping || (len(c.queue) == 0 && !c.pingDue && !c.isClosing()) {
		return
	}
	c.pumping = true
	c.srv.work.run(c.writePump)
}

// run reads the connection until it is closed. Once both the read pump
// and the closing write pump have ended, the last of them releases
// everything the connection held: registry subscriptions, the player's
// queue ticket and challenges, and the per-IP count.
//
// The connection outlives the request that opened it, so its context is
// not the request's: net/http's chain of contexts would stay in memory for
// the connection's life (and no request value is needed).
func (c *conn) run() {
	c.mu.Lock()
	c.started = true
	c.startPumpLocked() // Shutdown may have closed it during the upgrade
	c.mu.Unlock()
	c.readPump(context.Background())
	close(c.readDone)
	// The client closed or vanished; if a close of ours raced with it,
	// the write pump still says why.
	c.closeWith(0, "", false)
	c.ended()
}

// ended is called once by the read pump and once by the closing write
// pump as they end; the second call cleans up.
func (c *conn) ended() {
	if c.ending.Add(-1) == 0 {
		c.cleanup(context.Background())
	}
}

func (c *conn) cleanup(ctx context.Context) {
	defer c.srv.unregister(c)
	if !c.welcomed {
		return // nobody else knows this connection
	}
	defer c.logClosed()
	c.srv.deps.Matches.Disconnect(c)
	if c.player == nil {
		return
	}
	queued, last := c.srv.leavePlayer(c, c.id.ID)
	ctx, cancel := context.WithTimeout(ctx, c.srv.cfg.LobbyTimeout)
	defer cancel()
	if queued {
		if _, err := c.srv.deps.Lobby.Leave(ctx, c.id.ID); err != nil {
			c.log.Warn("leave queue on close", "err", err)
		}
	}
	if last {
		c.srv.deps.Lobby.CancelChallenges(ctx, c.id.ID)
	}
}

// logClosed counts a welcomed connection out and logs why it closed.
func (c *conn) logClosed() {
	if c.player != nil {
		c.srv.stats.players.Add(-1)
	} else {
		c.srv.stats.spectators.Add(-1)
	}
	code, text := c.closeReason()
	c.log.Info("connection closed", "spectator", c.player == nil, "code", code, "reason", text)
}

// writePump writes what is queued, each batch of frames (and a ping) in
// one write to the network (up to maxHeld bytes), until the queue is empty; then it returns.
// Once the connection is closing it runs the closing handshake instead,
// closes the socket, and no write pump starts again.
func (c *conn) writePump() {
	for {
		c.mu.Lock()
		c.unsent = 0
		if c.isClosing() {
			var frames [][]byte
			if c.closeFlush {
				frames = c.queue
			}
			c.queue = nil
			c.mu.Unlock()
			c.finish(frames)
			c.ws.Close()
			c.ended()
			return
		}
		frames, ping := c.queue, c.pingDue
		if len(frames) == 0 && !ping {
			c.queue = nil
			c.pumping = false
			c.mu.Unlock()
			return
		}
		c.queue, c.pingDue, c.unsent = nil, false, len(frames)
		c.mu.Unlock()
		if err := c.writeBatch(frames, ping); err != nil {
			c.closeWith(0, "", false)
		}
	}
}

// writeBatch writes frames and, if asked, a ping, and sends them to the
// network together. It stops early when a close that does not flush
// starts meanwhile.
func (c *conn) writeBatch(frames [][]byte, ping bool) error {
	deadline := c.wire.batchDeadline(time.Now(), c.srv.cfg.WriteWait)
	c.wire.hold(deadline)
	var err error
	for _, frame := range frames {
		if c.isClosing() && !c.closeFlush {
			break
		}
		if err = c.write(frame, deadline); err != nil {
			break
		}
	}
	if err == nil && ping {
		err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
	}
	if ferr := c.wire.flush(); err == nil {
		err = ferr
	}
	return err
}

func (c *conn) write(frame []byte, deadline time.Time) error {
	c.ws.SetWriteDeadline(deadline)
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// finish writes frames (those queued, if the close asked for it), the
// close frame, and waits briefly for the client's close frame (or its end
// of the stream) so that the code reaches it before the socket closes.
func (c *conn) finish(frames [][]byte) {
	deadline := c.wire.batchDeadline(time.Now(), c.srv.cfg.WriteWait)
	c.wire.hold(deadline)
	for _, frame := range frames {
		if c.write(frame, deadline) != nil {
			break
		}
	}
	if c.closeCode == 0 {
		c.wire.flush()
		return
	}
	msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
	err := c.ws.WriteControl(websocket.CloseMessage, msg, deadline)
	if errors.Is(err, websocket.ErrCloseSent) {
		err = nil // gorilla has sent one itself (1009, or the client's echoed)
	}
	if ferr := c.wire.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return
	}
	// Our side is done: a half-close tells clients that wait for the
	// server to end the TCP stream that they may.
	if cw, ok := c.ws.NetConn().(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	wait := c.srv.cfg.CloseWait
	c.ws.NetConn().SetReadDeadline(time.Now().Add(wait))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-c.readDone:
	case <-timer.C:
	}
}

// drain reads and discards what the client still sends until it closes,
// CloseWait passes, or the socket is closed. The read pump calls it when
// the WebSocket reader has failed but a close frame is on its way: unread
// input would make the kernel reset the connection, and the client could
// lose that frame.
func (c *conn) drain() {
	nc := c.ws.NetConn()
	nc.SetReadDeadline(time.Now().Add(c.srv.cfg.CloseWait))
	io.Copy(io.Discard, nc)
}

// readErr turns a failed read into the closing it calls for; it reports
// whether the read pump should drain the socket before it returns.
func (c *conn) readErr(err error, inHello bool) (drain bool) {
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent 1009 itself.
		c.closeWith(websocket.CloseMessageTooBig, "message too big", false)
		return true
	case c.isClosing():
		return false // our close's deadline, or the client's close frame
	case inHello && errors.As(err, &ne) && ne.Timeout():
		c.closeWith(closeBadToken, "no hello in time", false)
		return true
	}
	return false
}

// isUnexpected tells the read errors worth a log line.
func isUnexpected(err error) bool {
	var ne net.Error
	return !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived, websocket.CloseAbnormalClosure) &&
		!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) &&
		!(errors.As(err, &ne) && ne.Timeout())
}
