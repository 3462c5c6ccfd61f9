package web

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/match"
)

// churnFor is how long TestSpectatorChurn churns. The attack ran 30s; 15s
// covers a whole game at the attack's full rate and keeps the suite's
// cost down (the churn is steady state after its first second).
const churnFor = 15 * time.Second

// 200 anonymous sockets from 5 addresses, each alternating match.watch and
// match.unwatch within every rate limit, while the two players play a
// whole game: no player is disconnected, every move reaches the players
// and an ordinary spectator within 10s, and the players' pings are
// answered (the round trips are logged).
// (Before, each change of the spectator count was a full state to every
// subscriber, about 3,000 frames a second: the players' 64-frame send
// queues overflowed and they were closed with 1013 before their first
// move.)
func TestSpectatorChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("15s of churn")
	}
	cfg := testConfig()
	cfg.ConnRate, cfg.ConnBurst, cfg.PlayerRate, cfg.PlayerBurst = 0, 0, 0, 0 // the defaults
	cfg.MaxConnsPerIP, cfg.HandshakeRate, cfg.HandshakeBurst = 0, 0, 0
	cfg.PingPeriod, cfg.PongWait, cfg.WriteWait = 0, 0, 0 // the defaults: the machine is loaded
	cfg.TrustedProxies = []string{"127.0.0.1"}            // so that the sockets come from 5 addresses
	ts, _ := startStackWith(t, cfg, match.Config{MoveTimeout: time.Minute, Grace: time.Minute, Linger: time.Minute})
	seats, id := startMatch(t, ts, "tictactoe", "churn_x", "churn_o")
	fx, fo := follow(t, seats[0].c, id), follow(t, seats[1].c, id)
	for _, f := range []*follower{fx, fo} {
		f.mu.Lock()
		f.pongs = map[string]time.Time{}
		f.mu.Unlock()
	}
	watch := []byte(`{"type":"match.watch","match":"` + id + `"}`)
	unwatch := []byte(`{"type":"match.unwatch","match":"` + id + `"}`)
	normalConn, _ := ts.connect(t, "")
	writeText(t, normalConn, string(watch))
	normal := follow(t, normalConn, id)

	// The churners: 40 per address, each at 15 frames a second (the
	// attack's 3,000 a second; the limit is 20), reading and dropping
	// what they get. (A server slowed down by the race detector and a
	// loaded machine reads some of them in bursts and closes them with
	// 4008: the log line counts those.)
	const churners, addrs, perSecond = 200, 5, 15
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, dropped atomic.Int64
	var codesMu sync.Mutex
	codes := map[int]int{}
	closeCodes := func() string {
		codesMu.Lock()
		defer codesMu.Unlock()
		return fmt.Sprint(codes)
	}
	conns := make([]*websocket.Conn, churners)
	for i := range conns {
		h := http.Header{"X-Forwarded-For": {fmt.Sprintf("192.0.2.%d", i%addrs+1)}}
		c, _, err := ts.dial(t, h)
		if err != nil {
			t.Fatalf("churner %d: %v", i, err)
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","v":1}`)); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	for i, c := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				c.SetReadDeadline(time.Now().Add(churnFor + 30*time.Second))
				if _, _, err := c.ReadMessage(); err != nil {
					if ce, ok := err.(*websocket.CloseError); ok {
						dropped.Add(1)
						codesMu.Lock()
						codes[ce.Code]++
						codesMu.Unlock()
					}
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			// Spread the churners over the first tick.
			time.Sleep(time.Duration(i) * time.Second / perSecond / churners)
			tick := time.NewTicker(time.Second / perSecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				frame := watch
				if n%2 == 1 {
					frame = unwatch
				}
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if c.WriteMessage(websocket.TextMessage, frame) != nil {
					return
				}
				sent.Add(1)
			}
		}()
	}
	defer func() {
		close(stop)
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	time.Sleep(time.Second) // the churn is on

	// A whole game, a draw, paced over the churn; both players ping
	// between moves, for more round trips.
	moves := []int{0, 4, 8, 1, 7, 6, 2, 5, 3}
	gap := (churnFor - 2*time.Second) / time.Duration(len(moves))
	var moveRTT, pingRTT []time.Duration
	pingSent := map[string]time.Time{}
	pings := 0
	for k, cell := range moves {
		seat := k % 2
		f := []*follower{fx, fo}[seat]
		sentAt := time.Now()
		writeText(t, seats[seat].c, fmt.Sprintf(`{"type":"match.move","match":"%s","move":{"cell":%d}}`, id, cell))
		f.await(t, 10*time.Second, fmt.Sprintf("move %d", k+1), func(f *follower) bool { _, ok := f.arrived[k+1]; return ok })
		f.mu.Lock()
		moveRTT = append(moveRTT, f.arrived[k+1].Sub(sentAt))
		f.mu.Unlock()
		for end := sentAt.Add(gap); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			for s := range seats {
				re := fmt.Sprint("p", pings)
				pings++
				pingSent[re] = time.Now()
				writeText(t, seats[s].c, `{"type":"ping","id":"`+re+`"}`)
			}
		}
	}
	for _, f := range []*follower{fx, fo, normal} {
		f.await(t, 10*time.Second, "the end", func(f *follower) bool { return f.last.State.Moves == len(moves) })
	}
	time.Sleep(200 * time.Millisecond) // the last pongs
	for _, f := range []*follower{fx, fo} {
		f.mu.Lock()
		for re, at := range f.pongs {
			pingRTT = append(pingRTT, at.Sub(pingSent[re]))
		}
		f.mu.Unlock()
	}

	for name, f := range map[string]*follower{"x": fx, "o": fo, "spectator": normal} {
		f.mu.Lock()
		for k := 1; k <= len(moves); k++ {
			if _, ok := f.arrived[k]; !ok {
				t.Errorf("%s never saw move %d", name, k)
			}
		}
		err := f.err
		f.mu.Unlock()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	last := fx.lastState(t)
	if last.Status != match.StatusFinished || !last.Players[0].Connected || !last.Players[1].Connected {
		t.Errorf("final state %+v, want finished with both players connected", last)
	}
	p99 := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[min(len(ds)-1, len(ds)*99/100)]
	}
	if len(pingRTT) < pings*9/10 {
		t.Errorf("%d of %d pings answered", len(pingRTT), pings)
	}
	t.Logf("churn: %d frames from %d spectator sockets in ~%v (%d dropped); player move round trip p99 %v (max of %d), ping p99 %v (%d of %d); %d slow closes; close codes %v",
		sent.Load(), churners, churnFor, dropped.Load(), p99(moveRTT), len(moveRTT), p99(pingRTT), len(pingRTT), pings, ts.Stats().ClosedSlow, closeCodes())
	// The round trips are only reported: on a 2-core machine running other
	// tests under the race detector they measure the machine (moves wait
	// at most 10s above, and pings must be answered).
}
