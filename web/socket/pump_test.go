package socket

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pausePump keeps c's write pump from starting, as if one were running:
// frames sent meanwhile queue up. resumePump starts it.
func pausePump(t *testing.T, c *Conn) {
	t.Helper()
	waitFor(t, "the write pump to go idle", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.pumping {
			return false
		}
		c.pumping = true
		return true
	})
}

func resumePump(c *Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pumping = false
	c.startPumpLocked()
}

// An idle connection has its read pump only; the write pump runs while
// there is something to write.
func TestIdleConnHasNoWriteGoroutine(t *testing.T) {
	ts := startServer(t, quietConfig())
	player := ts.connect(t)
	spectator := ts.connect(t)
	c := ts.serverConn(t)

	waitFor(t, "no write pump", func() bool { return goroutines("socket.(*Conn).writePump(") == 0 })
	// Earlier tests' connections may still be on their way out.
	waitFor(t, "2 read pumps for 2 connections", func() bool { return goroutines("socket.(*Conn).run(") == 2 })
	c.mu.Lock()
	queued, pumping := cap(c.queue), c.pumping
	c.mu.Unlock()
	if queued != 0 || pumping {
		t.Fatalf("idle connection: queue capacity %d, pumping %v", queued, pumping)
	}

	// Frames and answers still flow, and the pump goes away after.
	if c.Send([]byte(`{"type":"match.state","n":1}`)) != nil {
		t.Fatal("Send refused")
	}
	if f := readFrame(t, player); f["type"] != "match.state" {
		t.Fatalf("got %v", f)
	}
	writeText(t, spectator, `{"type":"ping","id":"p"}`)
	if f := readFrame(t, spectator); f["type"] != "ping" { // echoed
		t.Fatalf("got %v", f)
	}
	waitFor(t, "no write pump", func() bool { return goroutines("socket.(*Conn).writePump(") == 0 })
}

// Pings come from one goroutine per server, which stops with the last
// connection; a client that answers them stays, one that does not is
// dropped.
func TestSharedPinger(t *testing.T) {
	cfg := testConfig()
	cfg.PingPeriod, cfg.PongWait = 80*time.Millisecond, 600*time.Millisecond
	ts := startServer(t, cfg)

	var clients []*websocket.Conn
	var pings [3]atomic.Int32
	for i := range pings {
		c := ts.connect(t)
		c.SetPingHandler(func(data string) error {
			pings[i].Add(1)
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		clients = append(clients, c)
	}
	deaf := ts.connect(t)
	deaf.SetPingHandler(func(string) error { return nil })
	if n := goroutines("socket.(*Server).pinger("); n != 1 {
		t.Fatalf("%d pingers for 4 connections", n)
	}

	// Read (which answers pings) well past PongWait.
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
			if _, _, err := c.ReadMessage(); err == nil {
				t.Error("unexpected frame")
			} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Errorf("connection lost: %v", err)
			}
		}()
	}
	deaf.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		_, _, err := deaf.ReadMessage()
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a client that does not pong is still connected after PongWait")
		}
		break
	}
	wg.Wait()
	for i := range pings {
		// 1.5 s at one ping per 80 ms.
		if n := pings[i].Load(); n < 8 {
			t.Errorf("client %d got %d pings", i, n)
		}
	}
	waitFor(t, "the deaf connection to go", func() bool { return ts.openConns() == 3 })

	for _, c := range clients {
		c.Close()
	}
	waitFor(t, "the pinger to stop", func() bool { return goroutines("socket.(*Server).pinger(") == 0 })
	// And it starts again with the next connection.
	ts.connect(t)
	if n := goroutines("socket.(*Server).pinger("); n != 1 {
		t.Fatalf("%d pingers for 1 connection", n)
	}
}

// Frames that queue up while the write pump is busy leave in one write.
func TestWritesCoalesce(t *testing.T) {
	ts := startServer(t, quietConfig())
	client := ts.connect(t)
	c := ts.serverConn(t)

	pausePump(t, c)
	before := c.wire.writes.Load()
	big := `{"type":"match.state","pad":"` + strings.Repeat("x", 3000) + `"}` // more than gorilla's write buffer
	for _, f := range []string{`{"type":"match.found"}`, big, `{"type":"match.over"}`} {
		if c.Send([]byte(f)) != nil {
			t.Fatal("Send refused")
		}
	}
	resumePump(c)
	for _, want := range []string{"match.found", "match.state", "match.over"} {
		if f := readFrame(t, client); f["type"] != want {
			t.Fatalf("got %v, want %s", f["type"], want)
		}
	}
	if n := c.wire.writes.Load() - before; n != 1 {
		t.Fatalf("3 frames took %d writes, want 1", n)
	}

	// A ping due meanwhile joins the batch.
	pausePump(t, c)
	before = c.wire.writes.Load()
	c.Send([]byte(`{"type":"match.state","n":2}`))
	c.ping()
	pinged := make(chan struct{}, 1)
	client.SetPingHandler(func(string) error { pinged <- struct{}{}; return nil })
	resumePump(c)
	readFrame(t, client)
	client.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	client.ReadMessage() // runs the ping handler, then times out
	select {
	case <-pinged:
	default:
		t.Fatal("no ping")
	}
	if n := c.wire.writes.Load() - before; n != 1 {
		t.Fatalf("a frame and a ping took %d writes, want 1", n)
	}
}

// A connection whose queue is full is dropped with 1013, without the
// frames it could not take.
func TestFullQueueDrops(t *testing.T) {
	cfg := quietConfig()
	cfg.SendQueue = 4
	ts := startServer(t, cfg)
	client := ts.connect(t)
	c := ts.serverConn(t)

	pausePump(t, c)
	for i := range 4 {
		if c.Send(fmt.Appendf(nil, `{"type":"match.state","n":%d}`, i)) != nil {
			t.Fatalf("frame %d refused", i)
		}
	}
	if err := c.Send([]byte(`{"type":"match.state","n":4}`)); err != ErrTooSlow {
		t.Fatalf("a fifth frame: %v, want ErrTooSlow", err)
	}
	if err := c.Send([]byte(`{}`)); err != ErrClosing {
		t.Fatalf("Send after the drop: %v, want ErrClosing", err)
	}
	resumePump(c)
	expectClose(t, client, websocket.CloseTryAgainLater)
	waitFor(t, "disconnect", func() bool { _, ok := ts.closed(c); return ok })
	if e, _ := ts.closed(c); e.Code != websocket.CloseTryAgainLater || e.Text != "too slow" {
		t.Fatalf("ended with %d %q, want 1013 \"too slow\"", e.Code, e.Text)
	}
}

// A close that flushes writes the queued frames, then the close frame,
// in one write; one that does not flush drops them.
func TestCloseFlush(t *testing.T) {
	for name, flush := range map[string]bool{"flush": true, "no flush": false} {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, quietConfig())
			client := ts.connect(t)
			c := ts.serverConn(t)

			pausePump(t, c)
			before := c.wire.writes.Load()
			c.Send([]byte(`{"type":"match.state"}`))
			c.Send([]byte(`{"type":"match.over"}`))
			c.Close(4008, "rate limit exceeded", flush)
			resumePump(c)
			if flush {
				for _, want := range []string{"match.state", "match.over"} {
					if f := readFrame(t, client); f["type"] != want {
						t.Fatalf("got %v, want %s", f["type"], want)
					}
				}
			}
			expectClose(t, client, 4008)
			if n := c.wire.writes.Load() - before; n != 1 {
				t.Fatalf("closing took %d writes, want 1", n)
			}
			waitFor(t, "the connection to go", func() bool { return ts.openConns() == 0 })
		})
	}
}

// Outside a batch writes go straight out; a batch is written at flush, or
// in parts of maxHeld.
func TestWireConnBatch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	nc := <-accepted
	bufs := &sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}
	w := &wireConn{Conn: nc, bufs: bufs}
	defer w.Close()

	var got bytes.Buffer
	readDone := make(chan error, 1)
	go func() {
		_, err := got.ReadFrom(peer)
		readDone <- err
	}()

	w.SetWriteDeadline(time.Now().Add(time.Second))
	w.Write([]byte("a"))
	if n := w.writes.Load(); n != 1 {
		t.Fatalf("%d writes outside a batch, want 1", n)
	}
	w.hold(time.Now().Add(time.Second))
	w.Write([]byte("b"))
	w.Write([]byte("c"))
	if n := w.writes.Load(); n != 1 {
		t.Fatalf("%d writes before the flush, want 1", n)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if n := w.writes.Load(); n != 2 {
		t.Fatalf("%d writes after the flush, want 2", n)
	}
	w.hold(time.Now().Add(time.Second))
	chunk := bytes.Repeat([]byte("d"), maxHeld/2+1)
	for range 3 {
		w.Write(chunk)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if n := w.writes.Load(); n != 5 {
		t.Fatalf("%d writes after a large batch, want 5", n)
	}
	w.hold(time.Now().Add(time.Second))
	w.Write([]byte("e"))
	if err := w.CloseWrite(); err != nil { // writes the batch out first
		t.Fatal(err)
	}
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	want := "abc" + strings.Repeat("d", 3*len(chunk)) + "e"
	if got.String() != want {
		t.Fatalf("peer read %d bytes, want %d", got.Len(), len(want))
	}
}

// An idle read pump waits for input a few frames deep, not inside
// gorilla's read, and pongs do not move it there: pongs are consumed
// before gorilla sees them.
func TestIdleReadPumpWaitsShallow(t *testing.T) {
	cfg := testConfig()
	cfg.PingPeriod, cfg.PongWait = 50*time.Millisecond, time.Second
	ts := startServer(t, cfg)
	var pongs atomic.Int32
	var clients []*websocket.Conn
	for range 3 {
		c := ts.connect(t)
		c.SetPingHandler(func(data string) error {
			pongs.Add(1)
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		go func() {
			for { // answer pings until the test closes c
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		clients = append(clients, c)
	}
	waitFor(t, "pongs", func() bool { return pongs.Load() >= 9 })
	waitFor(t, "read pumps waiting shallow", func() bool {
		return goroutines("socket.(*wireConn).waitReadable(") == 3 && goroutines("socket.(*Conn).readOne(") == 0
	})
	// Frames still arrive and are answered.
	writeText(t, clients[0], `{"type":"ping","id":"p"}`)
	waitFor(t, "the pong to be counted", func() bool { return ts.openConns() == 3 })
	for _, c := range clients {
		c.Close()
	}
}

func TestReadControl(t *testing.T) {
	masked := func(b0 byte, payload string) []byte {
		f := []byte{b0, 0x80 | byte(len(payload)), 1, 2, 3, 4}
		for i := range len(payload) {
			f = append(f, payload[i]^f[2+i%4])
		}
		return f
	}
	text := masked(0x81, `{"type":"ping"}`)
	for _, tt := range []struct {
		name    string
		in      []byte
		later   []byte // written after a pause: a frame arriving in pieces
		kind    int
		payload string
		left    int // bytes left for gorilla
	}{
		{name: "empty pong", in: masked(0x8A, ""), kind: ctlPong},
		{name: "pong with payload", in: masked(0x8A, "abc"), kind: ctlPong},
		{name: "pong then text", in: append(masked(0x8A, "x"), text...), kind: ctlPong, left: len(text)},
		{name: "pong in two pieces", in: masked(0x8A, "abc")[:4], later: masked(0x8A, "abc")[4:], kind: ctlPong},
		{name: "ping", in: masked(0x89, "hello"), kind: ctlPing, payload: "hello"},
		{name: "unmasked pong", in: []byte{0x8A, 0x00}, kind: ctlNone, left: 2},
		{name: "text", in: text, kind: ctlNone, left: len(text)},
		{name: "pong not FIN", in: masked(0x0A, ""), kind: ctlNone, left: 6},
		{name: "close", in: masked(0x88, ""), kind: ctlNone, left: 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				client.Write(tt.in)
				if tt.later != nil {
					time.Sleep(20 * time.Millisecond)
					client.Write(tt.later)
				}
			}()
			w := &wireConn{Conn: server}
			w.br = bufio.NewReaderSize(w, readBufferSize)
			waitFor(t, "the bytes", func() bool {
				w.br.Peek(len(tt.in))
				return w.br.Buffered() == len(tt.in)
			})
			kind, payload := w.readControl()
			if kind != tt.kind || string(payload) != tt.payload {
				t.Fatalf("readControl = %d %q, want %d %q", kind, payload, tt.kind, tt.payload)
			}
			if got := w.br.Buffered(); got != tt.left {
				t.Fatalf("%d bytes left, want %d", got, tt.left)
			}
			server.Close()
		})
	}
}

// A client that pings gets its pong, and its read pump goes back to
// waiting shallow.
func TestClientPing(t *testing.T) {
	ts := startServer(t, quietConfig())
	c := ts.connect(t)
	pong := make(chan string, 1)
	c.SetPongHandler(func(data string) error { pong <- data; return nil })
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-pong:
		if got != "are you there" {
			t.Fatalf("pong %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	waitFor(t, "the read pump waiting shallow", func() bool {
		return goroutines("socket.(*wireConn).waitReadable(") == 1 && goroutines("socket.(*Conn).readOne(") == 0
	})
	c.Close()
}
