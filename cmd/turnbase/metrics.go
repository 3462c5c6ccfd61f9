package main

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/postgres"
	"github.com/turnbase/turnbase/web"
)

// metrics are the server's Prometheus metrics. Events are pushed by the
// match registry (match.Observer), the journal (batches) and the lobby
// start function (queue waits); gauges and counters the packages already
// keep are read at scrape time, so the hot paths pay for no metrics
// library.
type metrics struct {
	reg *prometheus.Registry

	movesAccepted *prometheus.CounterVec   // game
	movesRejected *prometheus.CounterVec   // game, reason
	moveLatency   *prometheus.HistogramVec // game
	matchesStart  *prometheus.CounterVec   // game
	matchesEnd    *prometheus.CounterVec   // game, status, reason
	dropped       prometheus.Counter
	queueWait     *prometheus.HistogramVec // game
	storeLatency  prometheus.Histogram
	storeBatch    prometheus.Histogram
	takenOver     prometheus.Counter
}

// sources are what the scrape-time gauges read.
type sources struct {
	web     func() web.Stats
	journal func() postgres.JournalStats
	queues  func() map[string]int
	live    func() (matches, players int)
	games   *game.Registry
}

func newMetrics(src sources) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		movesAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnbase_moves_accepted_total", Help: "Moves applied, stored and broadcast.",
		}, []string{"game"}),
		movesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnbase_moves_rejected_total", Help: "Moves refused, by wire error code.",
		}, []string{"game", "reason"}),
		moveLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "turnbase_move_seconds",
			Help:    "Move handling: received by the registry to the last subscriber's send queue, durable storage included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"game"}),
		matchesStart: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnbase_matches_started_total", Help: "Matches started.",
		}, []string{"game"}),
		matchesEnd: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnbase_matches_ended_total", Help: "Matches ended, by status and reason.",
		}, []string{"game", "status", "reason"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "turnbase_subscribers_dropped_total", Help: "Subscribers a match dropped because they could not keep up.",
		}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "turnbase_queue_wait_seconds",
			Help:    "Time from queue.join to being paired.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
		}, []string{"game"}),
		storeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "turnbase_store_write_seconds",
			Help:    "Time to make one batch of journal writes durable.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 2.5},
		}),
		storeBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "turnbase_store_batch_size",
			Help:    "Writes committed together in one journal transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		takenOver: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "turnbase_matches_taken_over_total", Help: "Matches this node took over from a dead or stopped node of its cluster.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.movesAccepted, m.movesRejected, m.moveLatency, m.matchesStart, m.matchesEnd,
		m.dropped, m.queueWait, m.storeLatency, m.storeBatch, m.takenOver,
		gaugeFunc("turnbase_connections", "Open WebSocket connections past hello.", map[string]string{"kind": "player"},
			func() float64 { return float64(src.web().Players) }),
		gaugeFunc("turnbase_connections", "Open WebSocket connections past hello.", map[string]string{"kind": "spectator"},
			func() float64 { return float64(src.web().Spectators) }),
		counterFunc("turnbase_frames_rate_limited_total", "Client frames refused by a rate limit.",
			func() float64 { return float64(src.web().FramesLimited) }),
		counterFunc("turnbase_connections_dropped_slow_total", "Connections closed because their send queue was full.",
			func() float64 { return float64(src.web().ClosedSlow) }),
		gaugeFunc("turnbase_live_matches", "Matches in progress on this server.", nil,
			func() float64 { n, _ := src.live(); return float64(n) }),
		gaugeFunc("turnbase_results_pending", "Journal writes (moves, results) waiting in the spool for the database.", nil,
			func() float64 { return float64(src.journal().Pending) }),
		counterFunc("turnbase_store_spooled_total", "Journal writes that went to the spool because the database was unreachable.",
			func() float64 { return float64(src.journal().Spooled) }),
	)
	for _, g := range src.games.All() {
		id := g.ID()
		m.reg.MustRegister(gaugeFunc("turnbase_queue_length", "Players waiting in the matchmaking queue.", map[string]string{"game": id},
			func() float64 { return float64(src.queues()[id]) }))
	}
	return m
}

func gaugeFunc(name, help string, labels map[string]string, f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
}

func counterFunc(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observeBatch is the journal's ObserveBatch.
func (m *metrics) observeBatch(size int, d time.Duration) {
	m.storeBatch.Observe(float64(size))
	m.storeLatency.Observe(d.Seconds())
}

// matchObserver adapts metrics to match.Observer.
type matchObserver struct{ m *metrics }

func (o matchObserver) MoveAccepted(g string, d time.Duration) {
	o.m.movesAccepted.WithLabelValues(g).Inc()
	o.m.moveLatency.WithLabelValues(g).Observe(d.Seconds())
}

func (o matchObserver) MoveRejected(g string, err error) {
	o.m.movesRejected.WithLabelValues(g, web.Code(err)).Inc() // a fixed set of codes: bounded labels
}

func (o matchObserver) MatchStarted(g string) { o.m.matchesStart.WithLabelValues(g).Inc() }

func (o matchObserver) MatchEnded(g, status, reason string) {
	o.m.matchesEnd.WithLabelValues(g, status, reason).Inc()
}

func (o matchObserver) SubscriberDropped() { o.m.dropped.Inc() }
