package socket

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// closeNoHello is the NoHelloCode of the tests (as web's).
const closeNoHello = 4001

// testConfig is a Config with short durations for tests.
func testConfig() Config {
	return Config{
		HelloTimeout:     2 * time.Second,
		NoHelloCode:      closeNoHello,
		PingPeriod:       500 * time.Millisecond,
		PongWait:         2 * time.Second,
		WriteWait:        time.Second,
		CloseWait:        300 * time.Millisecond,
		SendQueue:        64,
		ReadLimit:        4096,
		HandshakeTimeout: 5 * time.Second,
	}
}

// quietConfig pings rarely, so that pings do not count in writes.
func quietConfig() Config {
	cfg := testConfig()
	cfg.PingPeriod, cfg.PongWait = time.Minute, 2*time.Minute
	return cfg
}

// testServer serves a Server on loopback until the test ends. Its
// connections' handler welcomes the first frame (answering
// {"type":"welcome"}) and echoes the others.
type testServer struct {
	*Server
	wsURL string

	// control, when set before any connection, answers Handler.Control.
	control func(*Conn) bool

	mu    sync.Mutex
	conns []*Conn
	ended map[*Conn]Ending
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{Server: NewServer(cfg), ended: make(map[*Conn]Ending)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.wsURL = "ws://" + ln.Addr().String() + "/"
	hs := &http.Server{Handler: http.HandlerFunc(ts.serveWS)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		hs.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-served
		ts.Shutdown(websocket.CloseGoingAway, "server shutting down")
		done := make(chan struct{})
		go func() {
			ts.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			t.Error("connections still open after shutdown")
		}
	})
	return ts
}

func (ts *testServer) serveWS(w http.ResponseWriter, r *http.Request) {
	h := &echoHandler{ts: ts}
	sock, err := ts.Upgrade(w, r, h)
	if err != nil {
		return
	}
	h.sock = sock
	ts.mu.Lock()
	ts.conns = append(ts.conns, sock)
	ts.mu.Unlock()
	sock.Start()
}

type echoHandler struct {
	ts       *testServer
	sock     *Conn
	welcomed bool
}

func (h *echoHandler) Frame(data []byte, text bool) {
	if !h.welcomed {
		h.welcomed = true
		h.sock.Welcome()
		h.sock.Send([]byte(`{"type":"welcome"}`))
		return
	}
	h.sock.Send(data)
}

func (h *echoHandler) Control() bool {
	if h.ts.control != nil {
		return h.ts.control(h.sock)
	}
	return true
}

func (h *echoHandler) Closed(e Ending) {
	h.ts.mu.Lock()
	defer h.ts.mu.Unlock()
	h.ts.ended[h.sock] = e
}

// openConns counts the connections the server has open.
func (ts *testServer) openConns() int {
	ts.Server.mu.Lock()
	defer ts.Server.mu.Unlock()
	return len(ts.Server.open)
}

// serverConn returns the server side of the only connection.
// The client's dial returns once the upgrade's answer is written, which
// may be before serveWS has recorded the connection: wait for it.
func (ts *testServer) serverConn(t *testing.T) *Conn {
	t.Helper()
	var c *Conn
	waitFor(t, "the server's connection", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		if len(ts.conns) > 0 {
			c = ts.conns[0]
		}
		return c != nil
	})
	return c
}

// closed reports whether c's handler has seen it end, and how.
func (ts *testServer) closed(c *Conn) (Ending, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e, ok := ts.ended[c]
	return e, ok
}

// dial opens a WebSocket.
func (ts *testServer) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(ts.wsURL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connect dials and says hello, and waits for the welcome.
func (ts *testServer) connect(t *testing.T) *websocket.Conn {
	t.Helper()
	c := ts.dial(t)
	writeText(t, c, `{"type":"hello"}`)
	if f := readFrame(t, c); f["type"] != "welcome" {
		t.Fatalf("first frame %v, want welcome", f)
	}
	return c
}

// frameMap is a decoded frame.
type frameMap map[string]any

func writeText(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// readFrame reads one text frame, failing the test after 3 seconds.
func readFrame(t *testing.T, c *websocket.Conn) frameMap {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	typ, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", typ)
	}
	var f frameMap
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return f
}

// expectClose reads until the connection ends and checks its close code.
func expectClose(t *testing.T, c *websocket.Conn, code int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, data, err := c.ReadMessage()
		if err == nil {
			t.Logf("frame before close: %s", data)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read error %v, want close %d", err, code)
		}
		if ce.Code != code {
			t.Fatalf("close code %d (%q), want %d", ce.Code, ce.Text, code)
		}
		return
	}
}

// waitFor polls cond for up to 3 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goroutines counts the goroutines whose stack holds fn (as in
// "socket.(*Conn).writePump(").
func goroutines(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}
