package socket

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
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
	if sc, ok := nc.(syscall.Conn); ok { // not under TLS
		h.wire.raw, _ = sc.SyscallConn()
	}
	if brw.Reader.Buffered() > 0 {
		return h.wire, brw, nil // the upgrader refuses this client
	}
	// The upgrader (with ReadBufferSize 0) reads through the buffered
	// reader it is handed, reset onto the connection: ours, small, so
	// that waitReadable can see what it holds.
	h.wire.br = bufio.NewReaderSize(nil, readBufferSize)
	return h.wire, bufio.NewReadWriter(h.wire.br, brw.Writer), nil
}

// readBufferSize is a connection's read buffer: a move or a watch in one
// read, a hello with its token in two. gorilla reuses a hijacked reader
// only if it is larger than 256 bytes.
const readBufferSize = 512

// wireConn is the network connection under a WebSocket. Between hold and
// flush, which only the write pump calls, it keeps what gorilla writes in
// a pooled buffer and then sends it with one write: the frames of a batch
// (and a pong or close frame that gorilla writes from the read pump
// meanwhile) leave in one syscall, up to maxHeld bytes. Outside a batch, writes go straight to
// the network, as gorilla's own writes do, and no buffer is held.
// Safe for concurrent use.
type wireConn struct {
	net.Conn                 // immutable
	bufs     *sync.Pool      // immutable
	br       *bufio.Reader   // immutable: gorilla's reader of this connection; nil if not ours
	raw      syscall.RawConn // immutable: the socket; nil under TLS
	writes   atomic.Int64

	mu      sync.Mutex // guards the fields below; held across network writes
	set     time.Time  // the write deadline on the socket
	batchBy time.Time  // the deadline batchDeadline gave last
	held    *[]byte    // the batch so far; nil outside a batch
	heldBy  time.Time  // the batch's deadline
	err     error      // the batch's first failed write
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
// a batch is written out by its own deadline. (gorilla sets one before
// each write it makes.)
func (w *wireConn) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held != nil {
		return nil // the batch's deadline applies
	}
	return w.setLocked(t)
}

// setLocked sets the socket's write deadline, unless it is set to t
// already: each setting resets a runtime timer, and gorilla asks for one
// before every frame, with the batch's deadline each time.
func (w *wireConn) setLocked(t time.Time) error {
	if t.Equal(w.set) {
		return nil
	}
	w.set = t
	return w.Conn.SetWriteDeadline(t)
}

// batchDeadline returns the write deadline for a batch starting now: the
// one it returned last while at least three quarters of wait remain of
// it, else now+wait. Batches that follow each other closely then share a
// deadline and the socket's is set once for all of them; a batch still
// gets at least 3/4 of wait to be written out.
func (w *wireConn) batchDeadline(now time.Time, wait time.Duration) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batchBy.Sub(now) < wait-wait/4 {
		w.batchBy = now.Add(wait)
	}
	return w.batchBy
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
	w.setLocked(w.heldBy)
	_, err := w.writeLocked(*w.held)
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

// waitReadable returns when a read would not block: the reader holds
// bytes, or the socket has some (or an end, an error, or a passed read
// deadline). The read pump waits here, a few frames deep, rather than in
// gorilla's read, so an idle connection's goroutine keeps the smallest
// stack. Connections that are not plain sockets (TLS) return at once.
func (w *wireConn) waitReadable() {
	if w.raw == nil || w.br == nil || w.br.Buffered() > 0 {
		return
	}
	w.raw.Read(readable)
}

// readable reports whether a read of socket fd would not block:
// recv(fd, b, 1, MSG_PEEK|MSG_DONTWAIT), without syscall.Recvfrom's
// decoding of a sender address a TCP socket does not have.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno != syscall.EAGAIN && errno != syscall.EINTR
}

// Control frames the read pump consumes itself (readControl).
const (
	ctlNone = iota // not a whole pong or ping: leave it to gorilla
	ctlPong
	ctlPing
)

// readControl consumes a pong or ping frame at the head of the input and
// returns its kind and (for a ping) its payload. Call it only when a read
// would not block (waitReadable), on a goroutine that may wait for the
// rest of a frame whose start has arrived (within the read deadline).
// Browsers answer every ping with a pong, and some client libraries ping
// on their own; letting gorilla read them would leave a goroutine parked
// in its read until the next data frame. A control frame from a client
// is FIN, masked, with a payload of at most 125 bytes: 6 to 131 bytes in
// all. Anything else is left to gorilla, which also reports protocol
// errors.
func (w *wireConn) readControl() (kind int, payload []byte) {
	if w.br == nil {
		return ctlNone, nil
	}
	h, err := w.br.Peek(2) // reads the socket if the buffer is empty
	if err != nil {
		return ctlNone, nil
	}
	const fin, opPing, opPong, masked = 0x80, 0x9, 0xA, 0x80
	switch {
	case h[0] == fin|opPong:
		kind = ctlPong
	case h[0] == fin|opPing:
		kind = ctlPing
	default:
		return ctlNone, nil
	}
	n := int(h[1] &^ masked)
	if h[1]&masked == 0 || n > 125 {
		return ctlNone, nil
	}
	f, err := w.br.Peek(6 + n) // waits for the rest if it is on its way
	if err != nil {
		return ctlNone, nil
	}
	if kind == ctlPing {
		payload = make([]byte, n)
		for i := range payload {
			payload[i] = f[6+i] ^ f[2+i%4]
		}
	}
	w.br.Discard(6 + n)
	return kind, payload
}
