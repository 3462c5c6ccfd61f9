package lobby

import (
	"slices"
	"time"
)

// PairFunc is a pairing policy: a pure function from the waiting tickets (in
// arrival order; the slice is the policy's to reorder) and the current time to
// the pairs to start now and the tickets that keep waiting.
//
// The loop calls it on every Join and every Config.PairEvery while two or more
// tickets wait. It starts every returned pair whose two tickets are waiting,
// belong to different players of the same game and appear in no earlier pair;
// it logs and ignores any other pair. Seat order is drawn by the loop, not the
// policy. rest is for the policy's callers and tests: the loop keeps waiting
// whoever it did not pair.
type PairFunc func(queue []Ticket, now time.Time) (pairs [][2]Ticket, rest []Ticket)

// FIFO is the policy that ignores ratings: within each game, the two tickets
// that have waited longest (earliest Since; arrival order among equals) pair,
// then the next two, and so on. Tickets of different games never pair, and a
// player never pairs with themselves or twice. rest keeps the order of queue.
func FIFO(queue []Ticket, now time.Time) (pairs [][2]Ticket, rest []Ticket) {
	order := make([]int, len(queue))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return queue[a].Since.Compare(queue[b].Since)
	})

	paired := make([]bool, len(queue))
	seen := make(map[string]bool)   // players paired so far
	waiting := make(map[string]int) // game -> index of its oldest unpaired ticket
	for _, i := range order {
		t := queue[i]
		if seen[t.PlayerID] {
			continue
		}
		j, ok := waiting[t.Game]
		if !ok || seen[queue[j].PlayerID] {
			waiting[t.Game] = i // first of its game, or the one waiting got paired elsewhere
			continue
		}
		if queue[j].PlayerID == t.PlayerID {
			continue // the same player twice: keep the older ticket waiting
		}
		delete(waiting, t.Game)
		pairs = append(pairs, [2]Ticket{queue[j], t})
		paired[i], paired[j] = true, true
		seen[t.PlayerID], seen[queue[j].PlayerID] = true, true
	}
	for i, t := range queue {
		if !paired[i] {
			rest = append(rest, t)
		}
	}
	return pairs, rest
}

// pairQueue offers the queue to the policy, takes the pairs it returns out of
// the queue and returns them in seat order. Run only.
func (l *Lobby) pairQueue(now time.Time) []Pair {
	// A queued player who entered a match some other way (a rematch)
	// leaves the queue rather than being paired into a start that fails.
	var gone []string
	for _, t := range l.queue {
		if l.inMatch(t.PlayerID) {
			gone = append(gone, t.PlayerID)
		}
	}
	l.dequeue(gone...)
	if len(l.queue) < 2 {
		return nil
	}
	proposed, _ := l.cfg.Pair(slices.Clone(l.queue), now)
	if len(proposed) == 0 {
		return nil
	}
	waiting := make(map[string]Ticket, len(l.queue))
	for _, t := range l.queue {
		waiting[t.PlayerID] = t
	}
	var (
		pairs []Pair
		taken []string
	)
	for _, pr := range proposed {
		a, okA := waiting[pr[0].PlayerID]
		b, okB := waiting[pr[1].PlayerID]
		if !okA || !okB || a.PlayerID == b.PlayerID || a.Game != b.Game {
			l.logger.Error("pairing policy returned an invalid pair",
				"seat0", pr[0].PlayerID, "seat1", pr[1].PlayerID,
				"game0", pr[0].Game, "game1", pr[1].Game)
			continue
		}
		// A player leaves waiting once paired, so a second pair with them
		// fails the lookups above.
		delete(waiting, a.PlayerID)
		delete(waiting, b.PlayerID)
		taken = append(taken, a.PlayerID, b.PlayerID)
		pairs = append(pairs, Pair{Game: a.Game, Players: seat(a, b)})
	}
	l.dequeue(taken...)
	return pairs
}
