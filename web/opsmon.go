package web

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Monitor keeps the operators' overview: what is happening now and, in a
// ring buffer, the last hour of samples, in the process (no external
// service). The match observer and the lobby feed it moves and queue
// waits; Run samples the rest every interval. Safe for concurrent use.
type Monitor struct {
	interval time.Duration // immutable
	moves    atomic.Int64  // moves accepted since start

	mu        sync.Mutex // guards the fields below
	waits     []float64  // queue waits (ms) since the last sample
	lastWaits []float64  // those of the sample before, for the current p50/p90
	ring      []Sample   // the last samples, oldest first once full
	next      int        // where the next sample goes in ring
	full      bool
}

// Sample is the overview at one moment. Counts are instantaneous; rates
// and percentiles are over the interval before At.
type Sample struct {
	AtMS        int64          `json:"at_ms"`
	Players     int64          `json:"players"`
	Spectators  int64          `json:"spectators"`
	LiveMatches int            `json:"live_matches"`
	Queued      int            `json:"queued"`
	Queues      map[string]int `json:"queues"`
	WaitP50MS   float64        `json:"wait_p50_ms"`
	WaitP90MS   float64        `json:"wait_p90_ms"`
	MovesPerSec float64        `json:"moves_per_sec"`
	DBHealthy   bool           `json:"db_healthy"`
	Spooling    bool           `json:"spooling"`
}

// NewMonitor returns a monitor that keeps keep samples taken every
// interval (an hour: 10s and 360).
func NewMonitor(interval time.Duration, keep int) *Monitor {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if keep <= 0 {
		keep = 360
	}
	return &Monitor{interval: interval, ring: make([]Sample, keep)}
}

// MoveAccepted counts one accepted move.
func (m *Monitor) MoveAccepted() { m.moves.Add(1) }

// QueueWait records how long a pair's player waited in the queue.
func (m *Monitor) QueueWait(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.waits) < 100_000 {
		m.waits = append(m.waits, float64(d.Milliseconds()))
	}
}

// Run takes a sample through probe (the counts) every interval until ctx
// is done; it returns nil.
func (m *Monitor) Run(ctx context.Context, probe func(ctx context.Context) Sample) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	last := m.moves.Load()
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s := probe(ctx)
			moves := m.moves.Load()
			s.AtMS = now.UnixMilli()
			s.MovesPerSec = float64(moves-last) / now.Sub(lastAt).Seconds()
			last, lastAt = moves, now
			m.mu.Lock()
			s.WaitP50MS, s.WaitP90MS = percentiles(m.waits)
			m.lastWaits, m.waits = m.waits, nil
			m.ring[m.next] = s
			m.next = (m.next + 1) % len(m.ring)
			m.full = m.full || m.next == 0
			m.mu.Unlock()
		}
	}
}

// History returns the samples, oldest first, and the waits recorded since
// the last one together with those of the sample before (for a current
// p50/p90).
func (m *Monitor) History() (samples []Sample, p50, p90 float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.full {
		samples = append(samples, m.ring[m.next:]...)
	}
	samples = append(samples, m.ring[:m.next]...)
	p50, p90 = percentiles(append(slices.Clone(m.lastWaits), m.waits...))
	return samples, p50, p90
}

// percentiles returns the p50 and p90 of xs (0 for none); xs is sorted.
func percentiles(xs []float64) (p50, p90 float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	slices.Sort(xs)
	at := func(q float64) float64 { return xs[min(len(xs)-1, int(q*float64(len(xs))))] }
	return at(0.5), at(0.9)
}
