package match

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestSpectatorChurnCoalesced: spectators coming and going as fast as they
// can cost the players at most one match.state per SpectatorEvery, the
// journal no version-ceiling writes of their own, and the count every
// viewer finally sees is current. (Before, each change was a version to
// every subscriber: 3,000 frames a second overflowed the players' send
// queues.)
func TestSpectatorChurnCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &memJournal{}
		e := newEnv(t, "tictactoe", Deps{Journal: j}, testCfg)
		specs := make([]*fakeConn, 200)
		for i := range specs {
			specs[i] = &fakeConn{}
		}
		watching := make([]bool, len(specs)) // each spectator's state after the last churn
		before := e.a.count("match.state")
		// 5 seconds of churn: every spectator watches and unwatches 10
		// times a second.
		for tick := range 50 {
			for i, s := range specs {
				if (tick+i)%2 == 0 {
					e.reg.Watch(s, e.id, func(err error) { watching[i] = err == nil }) // ErrBusy: a full inbox
				} else {
					e.reg.Unwatch(s, e.id)
					watching[i] = false
				}
			}
			synctest.Wait()
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		got := e.a.count("match.state") - before
		if got > 7 { // 5s at one per second, and the first change at once
			t.Errorf("player got %d states during 5s of spectator churn, want at most 7", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		want := 0
		for _, w := range watching {
			if w {
				want++
			}
		}
		if want == 0 {
			t.Fatal("no watch got in")
		}
		if s, _ := e.reg.Get(e.id); s.Spectators != want {
			t.Errorf("summary spectators %d, want %d", s.Spectators, want)
		}
		for _, c := range []*fakeConn{e.a, e.b} {
			if n := num(c.last("match.state")["spectators"]); n != want {
				t.Errorf("state shows %d spectators, want %d", n, want)
			}
		}
		if rec, _, _ := j.resumable(e.id); rec.Version != 0 {
			t.Errorf("churn raised the durable version ceiling to %d", rec.Version)
		}
		// A move still goes out at once, with the count.
		if err := e.move(e.a, `{"cell":4}`); err != nil {
			t.Fatal(err)
		}
		if st := e.b.last("match.state"); num(st["state"].(map[string]any)["moves"]) != 1 {
			t.Fatalf("move not seen: %v", st)
		}
	})
}

// TestWatchLimit: one connection watches at most MaxWatched matches.
func TestWatchLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testCfg
		cfg.MaxWatched = 2
		e := newEnv(t, "tictactoe", Deps{}, cfg)
		var ids []string
		for i := range 3 {
			id, err := e.reg.Start(t.Context(), "tictactoe", [2]Player{{ID: fmt.Sprint("p", i)}, {ID: fmt.Sprint("q", i)}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		spec := &fakeConn{}
		var replies [4]errBox
		e.reg.Watch(spec, ids[0], replies[0].reply)
		e.reg.Watch(spec, ids[1], replies[1].reply)
		e.reg.Watch(spec, ids[0], replies[2].reply) // again: no new subscription
		e.reg.Watch(spec, ids[2], replies[3].reply)
		synctest.Wait()
		for i := range 3 {
			if err := replies[i].get(t); err != nil {
				t.Fatalf("watch %d: %v", i, err)
			}
		}
		if err := replies[3].get(t); !errors.Is(err, ErrWatchLimit) {
			t.Fatalf("third match: %v, want ErrWatchLimit", err)
		}
		e.reg.Unwatch(spec, ids[1])
		var again errBox
		e.reg.Watch(spec, ids[2], again.reply)
		synctest.Wait()
		if err := again.get(t); err != nil {
			t.Fatalf("after an unwatch: %v", err)
		}
	})
}
