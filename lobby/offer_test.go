package lobby

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// offers records the tickets offered a computer game.
type offers struct {
	mu  sync.Mutex
	got []string // "player game"
}

func (o *offers) offer(t Ticket) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, t.PlayerID+" "+t.Game)
}

func (o *offers) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

// TestBotOffer: a ticket that waits BotOfferAfter unpaired is offered a
// computer game once, keeps its place, and still pairs with a person who
// comes before the player takes the offer.
func TestBotOffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o offers
		f := newFixture(t, Config{BotOfferAfter: 15 * time.Second, OfferFunc: o.offer, Pair: FIFO}, nil)
		f.join(t, "a", "tictactoe")
		time.Sleep(10 * time.Second)
		f.join(t, "b", "rps")
		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		if got := o.list(); len(got) != 0 {
			t.Fatalf("offered before 15s: %v", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := o.list(); !slices.Equal(got, []string{"a tictactoe"}) {
			t.Fatalf("offers at 15s = %v", got)
		}
		time.Sleep(time.Minute) // b's offer comes; a's never again
		synctest.Wait()
		if got := o.list(); !slices.Equal(got, []string{"a tictactoe", "b rps"}) {
			t.Fatalf("offers after a minute = %v", got)
		}
		// a kept the place: a person arriving pairs with a.
		f.join(t, "c", "tictactoe")
		synctest.Wait()
		if p := f.rec.started(); len(p) != 1 || !slices.Contains(players(p[0]), "a") {
			t.Fatalf("started = %v", p)
		}
		// A ticket left and joined again is a new ticket: offered again.
		if _, err := f.l.Leave(f.ctx, "b"); err != nil {
			t.Fatal(err)
		}
		f.join(t, "b", "rps")
		time.Sleep(16 * time.Second)
		synctest.Wait()
		if got := o.list(); len(got) != 3 || got[2] != "b rps" {
			t.Fatalf("offers after rejoin = %v", got)
		}
	})
}

// TestBotOfferOff: BotOfferAfter 0 offers nothing.
func TestBotOfferOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o offers
		f := newFixture(t, Config{OfferFunc: o.offer}, nil)
		f.join(t, "a", "tictactoe")
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := o.list(); len(got) != 0 {
			t.Fatalf("offers = %v", got)
		}
	})
}
