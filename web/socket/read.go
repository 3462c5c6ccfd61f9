package socket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// readPump reads frames until the connection fails or closes, and hands
// the data frames to the handler in order. Once a close has started it
// ignores data frames and waits for the client's close frame.
func (c *Conn) readPump() {
	c.setupRead()
	for {
		// Idle, the pump waits a few frames deep; a frame is read and
		// handled by a worker, whose stack is grown already. The pump's
		// stack stays at the 2 KiB minimum, a sixth of an idle
		// connection.
		c.wire.waitReadable()
		var stop bool
		c.srv.work.runWait(func() { stop = c.readNext() })
		if stop {
			return
		}
	}
}

// setupRead sets the read limit, the hello's deadline and the handlers of
// the control frames that reach gorilla.
func (c *Conn) setupRead() {
	c.ws.SetReadLimit(c.srv.cfg.ReadLimit)
	c.ws.SetReadDeadline(time.Now().Add(c.srv.cfg.HelloTimeout))
	c.ws.SetPongHandler(func(string) error {
		if c.h.Control() {
			c.extendDeadline()
		}
		return nil
	})
	// As gorilla's own ping handler, but a ping also shows the client is
	// alive, and the pong gets WriteWait. Safe beside the write pump.
	c.ws.SetPingHandler(func(payload string) error {
		if !c.h.Control() {
			return nil
		}
		c.extendDeadline()
		err := c.ws.WriteControl(websocket.PongMessage, []byte(payload), time.Now().Add(c.srv.cfg.WriteWait))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
}

// readNext consumes a pong or a ping itself, or else reads and handles
// one frame through gorilla; it reports whether the pump must stop. It
// runs on a worker, when a read would not block.
func (c *Conn) readNext() (stop bool) {
	switch kind, payload := c.wire.readControl(); kind {
	case ctlPong:
		if c.h.Control() {
			c.extendDeadline()
		}
		return false
	case ctlPing:
		if c.ws.PingHandler()(string(payload)) != nil {
			c.Close(0, "", false)
			return true
		}
		return false
	}
	return c.readOne()
}

// readOne reads one frame and hands it to the handler; it reports whether
// the pump must stop.
func (c *Conn) readOne() (stop bool) {
	typ, data, err := c.readMessage()
	if err != nil {
		if !c.isClosing() && isUnexpected(err) {
			c.readErr = err
		}
		if c.readFailed(err) {
			c.drain()
		}
		return true
	}
	text := typ == websocket.TextMessage
	switch {
	case c.isClosing():
	case text && !utf8.Valid(data):
		c.Close(websocket.CloseInvalidFramePayloadData, "invalid UTF-8", false)
	default:
		c.extendDeadline()
		c.h.Frame(data, text)
	}
	return false
}

// readMessage is gorilla's ReadMessage without its io.ReadAll, which
// allocates 512 bytes and more for every frame: the frame is read into one
// of the server's pooled buffers (those of the write batches) and copied
// out at its size.
func (c *Conn) readMessage() (int, []byte, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return typ, nil, err
	}
	bp := c.srv.bufs.Get().(*[]byte)
	defer c.srv.bufs.Put(bp)
	buf := bytes.NewBuffer((*bp)[:0])
	_, err = buf.ReadFrom(r)
	if cap(buf.Bytes()) <= maxPooled {
		*bp = buf.Bytes()[:0]
	}
	if err != nil {
		return typ, nil, err
	}
	return typ, bytes.Clone(buf.Bytes()), nil
}

// extendDeadline gives a live client another PongWait, unless the
// connection is closing (its deadline is then the close's) or has not been
// welcomed yet (its deadline is HelloTimeout, which a pong does not
// extend). A deadline with more than 7/8 of PongWait left stays: setting
// one resets a runtime timer, which every frame of a busy client would
// otherwise do.
func (c *Conn) extendDeadline() {
	if c.welcomed && !c.isClosing() {
		now, wait := time.Now(), c.srv.cfg.PongWait
		if c.readBy.Sub(now) < wait-wait/8 {
			c.readBy = now.Add(wait)
			c.ws.SetReadDeadline(c.readBy)
		}
	}
}

// readFailed turns a failed read into the closing it calls for; it
// reports whether the read pump should drain the socket before it
// returns.
func (c *Conn) readFailed(err error) (drain bool) {
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent 1009 itself.
		c.Close(websocket.CloseMessageTooBig, "message too big", false)
		return true
	case c.isClosing():
		return false // our close's deadline, or the client's close frame
	case !c.welcomed && errors.As(err, &ne) && ne.Timeout():
		c.Close(c.srv.cfg.NoHelloCode, "no hello in time", false)
		return true
	}
	return false
}

// drain reads and discards what the client still sends until it closes,
// CloseWait passes, or the socket is closed. The read pump calls it when
// the WebSocket reader has failed but a close frame is on its way: unread
// input would make the kernel reset the connection, and the client could
// lose that frame.
func (c *Conn) drain() {
	nc := c.ws.NetConn()
	nc.SetReadDeadline(time.Now().Add(c.srv.cfg.CloseWait))
	io.Copy(io.Discard, nc)
}

// isUnexpected tells the read errors worth a log line.
func isUnexpected(err error) bool {
	var ne net.Error
	return !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived, websocket.CloseAbnormalClosure) &&
		!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) &&
		!(errors.As(err, &ne) && ne.Timeout())
}
