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
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.unregister(c) // the upgrader has answered
		return
	}
	c.ws = ws
	// The connection runs on goroutines of its own and the handler
	// returns: net/http's goroutine for this request, its stack and its
	// buffered reader and writer (which the hijack does not free while the
	// handler runs) go away, which roughly halves an idle connection's
	// memory.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	go func() {
		defer cancel()
		c.run(ctx)
	}()
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
// pump and its write pump run on goroutines of their own; only the write
// pump writes data frames.
type conn struct {
	// Immutable once run starts.
	srv       *Server
	ip        string
	ws        *websocket.Conn
	send      chan []byte   // written by Send, read only by the write pump
	closing   chan struct{} // closed by closeWith: no more frames, close now
	readDone  chan struct{} // closed when the read pump returns
	writeDone chan struct{} // closed when the write pump returns

	closeOnce  sync.Once
	closeCode  int    // written once in closeWith before closing closes
	closeText  string // likewise
	closeFlush bool   // likewise: write queued frames before the close frame

	// Set by the read pump during the hello, before the connection is
	// handed to the registry or the lobby; immutable after that.
	id     Identity // zero for a spectator-only connection
	player *playerState
	log    *slog.Logger

	// Owned by the read pump (cleanup runs on its goroutine after it).
	welcomed bool // the hello succeeded
	limiter  *frameLimiter
}

func newConn(s *Server, ip string) *conn {
	return &conn{
		srv:       s,
		ip:        ip,
		send:      make(chan []byte, s.cfg.SendQueue),
		closing:   make(chan struct{}),
		readDone:  make(chan struct{}),
		writeDone: make(chan struct{}),
		log:       s.logger.With("remote", ip),
	}
}

// PlayerID is the authenticated player, or "" for a spectator connection.
func (c *conn) PlayerID() string { return c.id.ID }

// Send queues one frame without blocking. When the queue is full the
// connection is dropped: it closes with 1013 and Send returns false, as it
// does once the connection is closing.
func (c *conn) Send(frame []byte) bool {
	select {
	case <-c.closing:
		return false
	default:
	}
	select {
	case c.send <- frame:
		return true
	case <-c.closing:
		return false
	default:
		c.log.Warn("send queue full: dropping connection")
		c.srv.stats.closedSlow.Add(1)
		c.closeWith(closeTooSlow, "too slow", false)
		return false
	}
}

// closeWith starts closing the connection with code (0: drop it without a
// close frame). flush asks for the frames queued so far to be written first.
// Only the first call counts; safe from any goroutine.
func (c *conn) closeWith(code int, text string, flush bool) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeText, c.closeFlush = code, text, flush
		close(c.closing)
	})
}

// closeReason is the code and text the server closed with, or 0 and
// "peer" when the client or the network ended the connection.
func (c *conn) closeReason() (int, string) {
	if !c.isClosing() {
		return 0, "peer"
	}
	return c.closeCode, c.closeText
}

func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// run serves the connection until it is closed, then releases everything
// it held: registry subscriptions, the player's queue ticket and
// challenges, and the per-IP count.
func (c *conn) run(ctx context.Context) {
	go c.writePump()
	c.readPump(ctx)
	close(c.readDone)
	<-c.writeDone
	c.cleanup(ctx)
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

// writePump writes queued frames and pings, and runs the closing
// handshake. It is the only writer of data frames; it closes the socket.
func (c *conn) writePump() {
	defer close(c.writeDone)
	defer c.ws.Close()
	ping := time.NewTicker(c.srv.cfg.PingPeriod)
	defer ping.Stop()
	for {
		select {
		case frame := <-c.send:
			if err := c.write(frame, time.Now().Add(c.srv.cfg.WriteWait)); err != nil {
				c.closeWith(0, "", false)
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.srv.cfg.WriteWait)); err != nil {
				c.closeWith(0, "", false)
				return
			}
		case <-c.closing:
			c.finish()
			return
		case <-c.readDone:
			// The client closed or vanished; if a close of ours raced
			// with it, still say why.
			c.closeWith(0, "", false)
			c.finish()
			return
		}
	}
}

func (c *conn) write(frame []byte, deadline time.Time) error {
	c.ws.SetWriteDeadline(deadline)
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// finish writes the queued frames if asked, the close frame, and waits
// briefly for the client's close frame (or its end of the stream) so that
// the code reaches it before the socket closes.
func (c *conn) finish() {
	deadline := time.Now().Add(c.srv.cfg.WriteWait)
	if c.closeFlush {
	flush:
		for {
			select {
			case frame := <-c.send:
				if c.write(frame, deadline) != nil {
					break flush
				}
			default:
				break flush
			}
		}
	}
	if c.closeCode == 0 {
		return
	}
	msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
	err := c.ws.WriteControl(websocket.CloseMessage, msg, deadline)
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
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
