package socket

import (
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A connection that is not welcomed within HelloTimeout closes with
// NoHelloCode, and pongs do not extend that deadline.
func TestNoHello(t *testing.T) {
	cfg := testConfig()
	cfg.HelloTimeout = 300 * time.Millisecond
	ts := startServer(t, cfg)
	c := ts.dial(t)
	sc := ts.serverConn(t)
	for range 3 {
		c.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
		time.Sleep(50 * time.Millisecond)
	}
	expectClose(t, c, closeNoHello)
	waitFor(t, "Closed", func() bool { _, ok := ts.closed(sc); return ok })
	if e, _ := ts.closed(sc); e.Code != closeNoHello || e.Text != "no hello in time" || e.ReadErr != nil {
		t.Fatalf("ended with %+v", e)
	}
}

// A text frame that is not UTF-8 closes the connection with 1007 before
// the handler sees it.
func TestInvalidUTF8(t *testing.T) {
	ts := startServer(t, quietConfig())
	c := ts.connect(t)
	writeText(t, c, "\xff")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, data, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
		t.Fatalf("read %q, %v; want close 1007 and no echo", data, err)
	}
}

// Shutdown closes the open connections with its code after the frames
// queued for them; Wait returns once they are gone.
func TestShutdown(t *testing.T) {
	ts := startServer(t, quietConfig())
	c := ts.connect(t)
	sc := ts.serverConn(t)
	if err := sc.Send([]byte(`{"type":"last"}`)); err != nil {
		t.Fatal(err)
	}
	ts.Shutdown(websocket.CloseGoingAway, "server shutting down")
	if f := readFrame(t, c); f["type"] != "last" {
		t.Fatalf("got %v before the close", f)
	}
	expectClose(t, c, websocket.CloseGoingAway)
	done := make(chan struct{})
	go func() {
		ts.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Wait did not return")
	}
	if err := sc.Send([]byte(`{}`)); !errors.Is(err, ErrClosing) {
		t.Fatalf("Send after Shutdown: %v", err)
	}
}
