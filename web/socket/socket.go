// Package socket moves WebSocket frames for the web server, cheaply: it
// upgrades a request, reads each connection's frames and hands them to a
// Handler, queues and coalesces the frames sent back, pings, enforces the
// deadlines and closes connections with a code. It knows nothing of what
// the frames mean (package web does).
//
// Memory per idle connection is the point of most of its shape: an idle
// connection holds one goroutine with a 2 KiB stack (its read pump,
// parked in Conn.waitReadable), no write buffer and no send queue; frames
// are read and written by a shared pool of workers, whose stacks are grown
// already; one pinger per Server pings every connection.
package socket

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Handler receives a connection's frames and learns of its end.
type Handler interface {
	// Frame handles one data frame: text (valid UTF-8; invalid text
	// closes the connection with 1007 before Frame sees it) or binary.
	// Frames are handed over one at a time, in order, on the
	// connection's read side; none once the connection is closing.
	// data is the handler's to keep.
	Frame(data []byte, text bool)
	// Control is told of each ping and pong the client sends, on the
	// read side as Frame is (before the hello too). A control frame
	// costs the server a read, and a ping a write: a client must not send
	// them unbounded. False ignores the frame (a ping gets no pong); to
	// close the connection, Control calls Conn.Close.
	Control() bool
	// Closed runs once, when the connection is gone: its read pump and
	// its closing write pump have ended. No Frame runs after it.
	Closed(e Ending)
}

// Ending is why a connection ended.
type Ending struct {
	Code int    // the close code the server sent; 0 for none
	Text string // its reason; "peer" when nobody closed the connection
	// ReadErr is the read error that ended the connection when it is
	// worth a log line (not a close frame, an end of stream, a closed
	// socket or a deadline); nil otherwise.
	ReadErr error
}

// Config tunes a Server. Every field is required (non-zero) except
// CheckOrigin and Error.
type Config struct {
	HelloTimeout time.Duration // the read deadline until the handler calls Conn.Welcome
	NoHelloCode  int           // the close code when HelloTimeout passes without Welcome
	PingPeriod   time.Duration // how often each connection is pinged
	PongWait     time.Duration // silence after which a welcomed connection is dead
	WriteWait    time.Duration // deadline of a batch of frame writes (batches close together share one: each gets at least 3/4 of it)
	CloseWait    time.Duration // how long to wait for the client's close frame
	SendQueue    int           // frames queued per connection before it is dropped (1013)
	ReadLimit    int64         // largest client message, bytes (close 1009 above)

	HandshakeTimeout time.Duration
	// CheckOrigin is the upgrader's; nil: gorilla's same-origin check.
	CheckOrigin func(r *http.Request) bool
	// Error writes the HTTP response of a failed upgrade; nil: gorilla's.
	Error func(w http.ResponseWriter, r *http.Request, status int, reason error)
}

// Errors of Conn.Send.
var (
	ErrClosing = errors.New("socket: connection closing")
	// ErrTooSlow means the send queue was full: the connection is being
	// dropped with 1013.
	ErrTooSlow = errors.New("socket: send queue full")
)

// closeTooSlow is the close code for a client that cannot keep up with
// its frames (a reconnect will resend the state).
const closeTooSlow = websocket.CloseTryAgainLater

// Server runs WebSocket connections. Safe for concurrent use.
type Server struct {
	// Immutable after NewServer.
	cfg       Config
	upgrader  websocket.Upgrader
	writeBufs sync.Pool // gorilla write buffers, shared by all connections
	bufs      sync.Pool // *[]byte buffers of write batches and frame reads, likewise

	// One per connection from its upgrade until Closed has returned, one
	// for the pinger while it runs, and one per worker goroutine.
	wg   sync.WaitGroup
	work workers // runs connections' tasks; started with the first connection

	mu       sync.Mutex // guards the fields below
	open     map[*Conn]struct{}
	nextSlot int           // the ping slot of the next connection
	stopPing chan struct{} // closed to stop the pinger; nil while none runs
	shutdown *closeReason  // set once by Shutdown: close every connection so
}

type closeReason struct {
	code int
	text string
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg, open: make(map[*Conn]struct{})}
	s.work.wg = &s.wg
	s.bufs.New = func() any {
		b := make([]byte, 0, 4<<10)
		return &b
	}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout:  cfg.HandshakeTimeout,
		ReadBufferSize:    0, // the hijacker's reader (readBufferSize) is used
		WriteBufferSize:   1024,
		WriteBufferPool:   &s.writeBufs,
		CheckOrigin:       cfg.CheckOrigin,
		EnableCompression: false,
		Error:             cfg.Error,
	}
	return s
}

// Upgrade upgrades the request to a WebSocket whose frames go to h. On
// failure the upgrader has answered the request. Call Start on the Conn
// returned to run it.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, h Handler) (*Conn, error) {
	hw := &hijacker{ResponseWriter: w, bufs: &s.bufs}
	ws, err := s.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		return nil, err
	}
	c := newConn(s, h, ws, hw.wire)
	s.register(c)
	return c, nil
}

// Shutdown closes every open connection with code and text, after the
// frames queued for it, and every connection upgraded from now on. Wait
// waits for them to be gone.
func (s *Server) Shutdown(code int, text string) {
	s.mu.Lock()
	s.shutdown = &closeReason{code: code, text: text}
	open := make([]*Conn, 0, len(s.open))
	for c := range s.open {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Close(code, text, true)
	}
}

// Wait returns when no connection is open and the server's goroutines
// have exited. Call it once no more upgrades can start.
func (s *Server) Wait() { s.wg.Wait() }

// register counts c in and gives it a ping slot; the first connection
// starts the pinger and the workers.
func (s *Server) register(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open[c] = struct{}{}
	s.wg.Add(1)
	c.pingSlot = s.nextSlot
	s.nextSlot = (s.nextSlot + 1) % pingSlices
	if s.stopPing == nil {
		s.work.start()
		s.stopPing = make(chan struct{})
		s.wg.Add(1)
		go s.pinger(s.stopPing)
	}
	if s.shutdown != nil { // Shutdown ran during the upgrade
		c.Close(s.shutdown.code, s.shutdown.text, true)
	}
}

// unregister undoes register once the connection is gone; the last
// connection stops the pinger and the workers.
func (s *Server) unregister(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, c)
	if len(s.open) == 0 && s.stopPing != nil {
		close(s.stopPing)
		s.stopPing = nil
		s.work.stop()
	}
	s.wg.Done()
}
