package socket

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is one WebSocket connection. Its read pump runs on a goroutine of
// its own for as long as the connection lives; its write pump runs only
// while there is something to write (frames, a ping, the closing
// handshake) and exits when the queue is empty, so that an idle
// connection costs one goroutine. At most one write pump runs at a time,
// and only it writes data frames.
type Conn struct {
	// Immutable.
	srv      *Server
	h        Handler
	ws       *websocket.Conn
	wire     *wireConn     // the network connection under ws
	readDone chan struct{} // closed when the read pump returns
	pingSlot int           // which of the pinger's slices pings this connection; set by register

	// The read pump and the closing write pump, until they end: the last
	// to end calls the handler's Closed.
	ending atomic.Int32

	// closing is set once, by Close, after the three fields below: no
	// more frames, close now. Read it without the lock.
	closing    atomic.Bool
	closeCode  int    // guarded by mu until closing is set, immutable after
	closeText  string // likewise
	closeFlush bool   // likewise: write queued frames before the close frame

	mu      sync.Mutex // guards the fields below
	started bool       // Start has run: a write pump may start
	pumping bool       // a write pump runs (for good once closing)
	queue   [][]byte   // frames waiting for the write pump; nil when empty
	unsent  int        // frames the write pump took and has not written out yet
	pingDue bool       // the pinger asked for a ping

	// Owned by the read pump (Closed runs after it).
	welcomed bool      // Welcome was called
	readBy   time.Time // the read deadline extendDeadline set last
	readErr  error     // see Ending.ReadErr
}

func newConn(s *Server, h Handler, ws *websocket.Conn, wire *wireConn) *Conn {
	c := &Conn{srv: s, h: h, ws: ws, wire: wire, readDone: make(chan struct{})}
	c.ending.Store(2)
	return c
}

// Start runs the connection on goroutines of its own until it is closed,
// then calls the handler's Closed.
//
// The caller (an HTTP handler) returns: net/http's goroutine for the
// request, its stack and its buffered reader and writer (which the hijack
// does not free while the handler runs) go away, which roughly halves an
// idle connection's memory. The connection outlives the request that
// opened it, so nothing of the request is kept: net/http's chain of
// contexts would stay in memory for the connection's life.
func (c *Conn) Start() { go c.run() }

// Send queues one frame without blocking. When the queue is full (frames
// queued or being written, SendQueue of them) the connection is dropped:
// it closes with 1013 and Send returns ErrTooSlow. Once the connection is
// closing Send returns ErrClosing. Safe from any goroutine.
func (c *Conn) Send(frame []byte) error {
	c.mu.Lock()
	if c.isClosing() { // Close sets it under mu: once set, nobody writes the queue
		c.mu.Unlock()
		return ErrClosing
	}
	if len(c.queue)+c.unsent >= c.srv.cfg.SendQueue {
		c.mu.Unlock()
		c.Close(closeTooSlow, "too slow", false)
		return ErrTooSlow
	}
	c.queue = append(c.queue, frame)
	c.startPumpLocked()
	c.mu.Unlock()
	return nil
}

// Close starts closing the connection with code (0: drop it without a
// close frame). flush asks for the frames queued so far to be written
// first. Only the first call counts; safe from any goroutine.
func (c *Conn) Close(code int, text string, flush bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing.Load() {
		return
	}
	c.closeCode, c.closeText, c.closeFlush = code, text, flush
	c.closing.Store(true)
	c.startPumpLocked()
}

// Welcome ends the hello: from now on each frame and each pong gives the
// client another PongWait to live, and a read timeout no longer closes
// with NoHelloCode. Call it from the handler's Frame.
func (c *Conn) Welcome() {
	c.welcomed = true
	c.extendDeadline()
}

// ping asks the write pump for a ping; the pinger calls it.
func (c *Conn) ping() {
	if c.isClosing() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pingDue = true
	c.startPumpLocked()
}

// closeReason is the code and text the server closed with, or 0 and
// "peer" when the client or the network ended the connection.
func (c *Conn) closeReason() (int, string) {
	if !c.isClosing() {
		return 0, "peer"
	}
	return c.closeCode, c.closeText
}

func (c *Conn) isClosing() bool { return c.closing.Load() }

// startPumpLocked starts the write pump if there is work for it and
// none runs.
func (c *Conn) startPumpLocked() {
	if !c.started || c.pumping || (len(c.queue) == 0 && !c.pingDue && !c.isClosing()) {
		return
	}
	c.pumping = true
	c.srv.work.run(c.writePump)
}

// run reads the connection until it is closed.
func (c *Conn) run() {
	c.mu.Lock()
	c.started = true
	c.startPumpLocked() // Shutdown may have closed it during the upgrade
	c.mu.Unlock()
	c.readPump()
	close(c.readDone)
	// The client closed or vanished; if a close of ours raced with it,
	// the write pump still says why.
	c.Close(0, "", false)
	c.ended()
}

// ended is called once by the read pump and once by the closing write
// pump as they end; the second call hands the connection's end to the
// handler and counts the connection out.
func (c *Conn) ended() {
	if c.ending.Add(-1) != 0 {
		return
	}
	defer c.srv.unregister(c)
	code, text := c.closeReason()
	c.h.Closed(Ending{Code: code, Text: text, ReadErr: c.readErr})
}

// writePump writes what is queued, each batch of frames (and a ping) in
// one write to the network (up to maxHeld bytes), until the queue is
// empty; then it returns. Once the connection is closing it runs the
// closing handshake instead, closes the socket, and no write pump starts
// again.
func (c *Conn) writePump() {
	for {
		frames, ping, closing := c.takeQueue()
		switch {
		case closing:
			c.finish(frames)
			c.ws.Close()
			c.ended()
			return
		case len(frames) == 0 && !ping:
			return // takeQueue has let the pump go
		}
		if err := c.writeBatch(frames, ping); err != nil {
			c.Close(0, "", false)
		}
	}
}

// takeQueue takes the write pump's next batch: the frames queued and
// whether a ping is due. When the connection is closing it returns the
// frames to write before the close frame (those queued if the close
// flushes) and closing. When there is nothing to do it ends the pump.
func (c *Conn) takeQueue() (frames [][]byte, ping, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unsent = 0
	if c.isClosing() {
		if c.closeFlush {
			frames = c.queue
		}
		c.queue = nil
		return frames, false, true
	}
	frames, ping = c.queue, c.pingDue
	if len(frames) == 0 && !ping {
		c.queue = nil
		c.pumping = false
		return nil, false, false
	}
	c.queue, c.pingDue, c.unsent = nil, false, len(frames)
	return frames, ping, false
}

// writeBatch writes frames and, if asked, a ping, and sends them to the
// network together. It stops early when a close that does not flush
// starts meanwhile.
func (c *Conn) writeBatch(frames [][]byte, ping bool) error {
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

func (c *Conn) write(frame []byte, deadline time.Time) error {
	c.ws.SetWriteDeadline(deadline)
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// finish writes frames (those queued, if the close asked for it), the
// close frame, and waits briefly for the client's close frame (or its end
// of the stream) so that the code reaches it before the socket closes.
func (c *Conn) finish(frames [][]byte) {
	if err := c.writeClose(frames); err != nil || c.closeCode == 0 {
		return
	}
	c.awaitPeerClose()
}

// writeClose writes frames and then the close frame (none for code 0),
// in one batch.
func (c *Conn) writeClose(frames [][]byte) error {
	deadline := c.wire.batchDeadline(time.Now(), c.srv.cfg.WriteWait)
	c.wire.hold(deadline)
	for _, frame := range frames {
		if c.write(frame, deadline) != nil {
			break
		}
	}
	if c.closeCode == 0 {
		c.wire.flush()
		return nil
	}
	msg := websocket.FormatCloseMessage(c.closeCode, c.closeText)
	err := c.ws.WriteControl(websocket.CloseMessage, msg, deadline)
	if errors.Is(err, websocket.ErrCloseSent) {
		err = nil // gorilla has sent one itself (1009, or the client's echoed)
	}
	if ferr := c.wire.flush(); err == nil {
		err = ferr
	}
	return err
}

// awaitPeerClose half-closes the socket (our side is done: clients that
// wait for the server to end the TCP stream may) and waits up to
// CloseWait for the read pump to see the client's close frame or end.
func (c *Conn) awaitPeerClose() {
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
