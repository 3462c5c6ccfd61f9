package web

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Coalescing limits: a batch is written out whenever this much of it is
// buffered, and a grown buffer goes back to the pool only up to maxPooled.
const (
	maxHeld   = 32 << 10
	maxPooled = 64 << 10
)

// hijacker is the http.ResponseWriter that the upgrader sees: its Hijack
// hands gorilla a wireConn instead of the raw connection, so that the
// write pump can coalesce frames. Only Upgrade calls Hijack.
type hijacker struct {
	http.ResponseWriter
	bufs *sync.Pool // *[]byte coalescing buffers, shared by all connections
	wire *wireConn  // set by Hijack
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.wire = &wireConn{Conn: nc, bufs: h.bufs}
	return h.wire, brw, nil
}

func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// wireConn is the network connection under a WebSocket. Between hold and
// flush, which only the write pump calls, it keeps what gorilla writes in
// a pooled buffer and then sends it with one write: the frames of a batch
// (and a pong or close frame that gorilla writes from the read pump
// meanwhile) leave in one syscall. Outside a batch, writes go straight to
// the network, as gorilla's own writes do, and no buffer is held.
// Safe for concurrent use.
type wireConn struct {
	net.Conn            // immutable
	bufs     *sync.Pool // immutable
	writes   atomic.Int64

	mu       sync.Mutex // guards the fields below; held across network writes
	deadline time.Time  // the write deadline last set, outside of a flush
	held     *[]byte    // the batch so far; nil outside a batch
	heldBy   time.Time  // the batch's deadline
	err      error      // the batch's first failed write
}

// Write buffers p during a batch and writes it otherwise.
func (w *wireConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held == nil {
		return w.writeLocked(p)
	}
	if w.err != nil {
		return 0, w.err
	}
	if len(*w.held)+len(p) > maxHeld {
		if err := w.writeHeldLocked(); err != nil {
			return 0, err
		}
	}
	*w.held = append(*w.held, p...)
	return len(p), nil
}

// SetWriteDeadline sets the deadline of the writes outside a batch;
// a batch is written out by its own deadline.
func (w *wireConn) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadline = t
	return w.Conn.SetWriteDeadline(t)
}

func (w *wireConn) SetDeadline(t time.Time) error {
	if err := w.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return w.SetWriteDeadline(t)
}

// hold starts a batch that must be written out by deadline.
func (w *wireConn) hold(deadline time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held != nil {
		return
	}
	w.held = w.bufs.Get().(*[]byte)
	w.heldBy = deadline
	w.err = nil
}

// flush ends the batch: it writes out what is buffered and returns the
// buffer to the pool. It returns the batch's first write error.
func (w *wireConn) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held == nil {
		return nil
	}
	err := w.err
	if err == nil {
		err = w.writeHeldLocked()
	}
	if cap(*w.held) <= maxPooled {
		*w.held = (*w.held)[:0]
		w.bufs.Put(w.held)
	}
	w.held, w.err = nil, nil
	return err
}

// writeHeldLocked writes the buffered bytes by the batch's deadline.
func (w *wireConn) writeHeldLocked() error {
	if len(*w.held) == 0 {
		return nil
	}
	w.Conn.SetWriteDeadline(w.heldBy)
	_, err := w.writeLocked(*w.held)
	w.Conn.SetWriteDeadline(w.deadline)
	*w.held = (*w.held)[:0]
	if err != nil {
		w.err = err
	}
	return err
}

func (w *wireConn) writeLocked(p []byte) (int, error) {
	w.writes.Add(1)
	return w.Conn.Write(p)
}

// CloseWrite writes out a batch in progress, then shuts down the writing
// side of the connection (a TCP half-close, or TLS close_notify).
func (w *wireConn) CloseWrite() error {
	if err := w.flush(); err != nil {
		return err
	}
	cw, ok := w.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.ErrUnsupported
	}
	return cw.CloseWrite()
}
