package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// histogram records durations in fixed log-linear buckets of microseconds,
// as HDR histograms do: exact below 32µs, then 32 buckets per power of two,
// so a reported percentile is within 1/32 (about 3%) of the true value.
// It covers up to 2^36µs (19 hours); longer samples count as that. Its size
// is fixed (8 KiB) whatever the number of samples, and Record is lock-free:
// safe for concurrent use.
type histogram struct {
	buckets [histBuckets]atomic.Uint64
	count   atomic.Int64
	sumUS   atomic.Int64
	maxUS   atomic.Int64
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits // buckets per power of two
	histMaxExp  = 36               // samples are below 2^histMaxExp µs
	histBuckets = (histMaxExp - histSubBits + 1) * histSub
)

// histIndex is the bucket of a sample of us microseconds.
func histIndex(us uint64) int {
	if us < histSub {
		return int(us)
	}
	us = min(us, 1<<histMaxExp-1)
	e := bits.Len64(us) - 1 // us is in [2^e, 2^(e+1))
	sub := (us >> (e - histSubBits)) & (histSub - 1)
	return (e-histSubBits+1)*histSub + int(sub)
}

// histUpper is the largest sample, in microseconds, that falls in bucket i.
func histUpper(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := i/histSub + histSubBits - 1
	sub := int64(i % histSub)
	width := int64(1) << (e - histSubBits)
	return (histSub+sub)*width + width - 1
}

// Record adds one sample; negative durations count as zero.
func (h *histogram) Record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.buckets[histIndex(uint64(us))].Add(1)
	h.count.Add(1)
	h.sumUS.Add(us)
	for {
		m := h.maxUS.Load()
		if us <= m || h.maxUS.CompareAndSwap(m, us) {
			break
		}
	}
}

// latency is a histogram's summary, in milliseconds.
type latency struct {
	Count  int64   `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Summary reads the histogram. Samples recorded meanwhile may or may not
// be counted; callers summarize once the recording goroutines are done.
func (h *histogram) Summary() latency {
	var counts [histBuckets]uint64
	var n uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return latency{}
	}
	maxUS := h.maxUS.Load()
	pct := func(q float64) float64 {
		rank := max(uint64(math.Ceil(q*float64(n))), 1)
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank {
				return float64(min(histUpper(i), maxUS)) / 1000
			}
		}
		return float64(maxUS) / 1000
	}
	return latency{
		Count:  int64(n),
		MeanMS: float64(h.sumUS.Load()) / float64(n) / 1000,
		P50MS:  pct(0.50),
		P95MS:  pct(0.95),
		P99MS:  pct(0.99),
		MaxMS:  float64(maxUS) / 1000,
	}
}

// stats collects what every player observes. Safe for concurrent use:
// counters and histograms are atomic, the maps are guarded by mu.
type stats struct {
	connected     atomic.Int64 // welcomed connections
	failed        atomic.Int64 // players that never got a welcome
	canceled      atomic.Int64 // players still connecting when the run ended
	retries       atomic.Int64 // signups and handshakes retried after 429/503
	movesSent     atomic.Int64
	movesAccepted atomic.Int64 // seen in the player's next match.state
	movesRefused  atomic.Int64 // answered by an error frame
	queueJoins    atomic.Int64
	cleanCloses   atomic.Int64 // our close frame answered by the server's
	uncleanCloses atomic.Int64 // we closed, the server's close never came
	badFrames     atomic.Int64 // frames that are not JSON objects

	moveRTT     histogram // match.move sent → own match.state holding it
	window      window    // the measured window (-warmup)
	queueWait   histogram // queue.join sent → match.found
	signupTime  histogram // POST /api/auth/guest, retries included
	connectTime histogram // WebSocket dial and hello → welcome

	mu          sync.Mutex // guards the fields below
	errors      map[string]int64
	disconnects map[int]int64     // unexpected closes by close code; 1006: no close frame
	failures    map[string]int64  // why connections failed
	failSample  map[string]string // the first full error of each failure kind
	games       map[string]*gameCount
	reasons     map[string]int64 // "game/reason"
	overOnce    map[string]bool  // match ids whose match.over one seat has seen
	completed   int64            // matches won or drawn
}

type gameCount struct {
	Completed int64 `json:"completed"` // won or drawn
	Draws     int64 `json:"draws"`
	Aborted   int64 `json:"aborted"`
}

func newStats() *stats {
	return &stats{
		errors:      map[string]int64{},
		disconnects: map[int]int64{},
		failures:    map[string]int64{},
		failSample:  map[string]string{},
		games:       map[string]*gameCount{},
		reasons:     map[string]int64{},
		overOnce:    map[string]bool{},
	}
}

func (s *stats) errorFrame(code string) {
	if code == "" {
		code = "(none)"
	}
	s.mu.Lock()
	s.errors[code]++
	s.mu.Unlock()
}

func (s *stats) disconnect(code int) {
	s.mu.Lock()
	s.disconnects[code]++
	s.mu.Unlock()
}

func (s *stats) connFailed(kind string, err error) {
	s.failed.Add(1)
	s.mu.Lock()
	s.failures[kind]++
	if _, ok := s.failSample[kind]; !ok {
		s.failSample[kind] = err.Error()
	}
	s.mu.Unlock()
}

// matchOver counts a match.over seen by one of our players. Both seats are
// usually ours, so a match counts when its first match.over arrives; the
// id is forgotten at the second. It returns the matches completed so far.
func (s *stats) matchOver(id, game, result, reason string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overOnce[id] {
		delete(s.overOnce, id)
		return s.completed
	}
	s.overOnce[id] = true
	g := s.games[game]
	if g == nil {
		g = &gameCount{}
		s.games[game] = g
	}
	switch result {
	case "aborted":
		g.Aborted++
	case "draw":
		g.Draws++
		fallthrough
	default:
		g.Completed++
		s.completed++
	}
	s.reasons[game+"/"+reason]++
	return s.completed
}

func (s *stats) matchesCompleted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completed
}

// errorCount is what makes a run fail: error frames, unexpected closes and
// connections that could not be made.
func (s *stats) errorCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, c := range s.errors {
		n += c
	}
	for _, c := range s.disconnects {
		n += c
	}
	return n + s.failed.Load()
}

// report is the run's result; -json prints it as is.
type report struct {
	URL       string   `json:"url"`
	Players   int      `json:"players"`
	Started   int      `json:"players_started"`
	Games     []string `json:"games"`
	Think     string   `json:"think"`
	Idle      bool     `json:"idle"`
	Sources   int      `json:"source_addresses"`
	NoFile    uint64   `json:"nofile_limit"`
	LoadS     float64  `json:"load_s"`  // start to the stop signal
	DrainS    float64  `json:"drain_s"` // stop signal to the last connection closed
	StoppedBy string   `json:"stopped_by"`

	Connections struct {
		Established int64            `json:"established"`
		Failed      int64            `json:"failed"`
		FailedBy    map[string]int64 `json:"failed_by"`
		Canceled    int64            `json:"canceled"`
		Retries     int64            `json:"retries"`
		Signup      latency          `json:"signup"`
		Connect     latency          `json:"connect"`
		CleanCloses int64            `json:"clean_closes"`
		Unclean     int64            `json:"unclean_closes"`
	} `json:"connections"`

	Matches struct {
		Completed int64                 `json:"completed"`
		PerSecond float64               `json:"per_second"`
		ByGame    map[string]*gameCount `json:"by_game"`
		Reasons   map[string]int64      `json:"reasons"`
	} `json:"matches"`

	Moves struct {
		Sent      int64   `json:"sent"`
		Accepted  int64   `json:"accepted"`
		Refused   int64   `json:"refused"`
		PerSecond float64 `json:"per_second"` // accepted during the load phase
		RTT       latency `json:"rtt"`
	} `json:"moves"`

	QueueJoins  int64            `json:"queue_joins"`
	QueueWait   latency          `json:"queue_wait"`
	Errors      map[string]int64 `json:"errors"`      // error frames by code
	Disconnects map[string]int64 `json:"disconnects"` // unexpected closes by code
	ErrorTotal  int64            `json:"error_total"`
	BadFrames   int64            `json:"bad_frames"`

	Client clientMem `json:"client"`

	// Window is the measured part of the run: from -warmup after the ramp
	// to the stop. Absent when the run stopped before it opened.
	Window *windowReport `json:"window,omitempty"`
}

// window records the moves of the measured window: from -warmup after
// the last player started to the stop. Safe for concurrent use.
type window struct {
	on           atomic.Bool
	startNS      atomic.Int64 // Unix nanoseconds; 0: never opened
	endNS        atomic.Int64
	moves0       atomic.Int64 // movesAccepted when it opened
	rtt          histogram
	signups      histogram // -signups sign-ups
	signupFailed atomic.Int64
}

func (w *window) open(now time.Time, moves int64) {
	w.moves0.Store(moves)
	w.startNS.Store(now.UnixNano())
	w.on.Store(true)
}

func (w *window) close(now time.Time) {
	if w.on.Swap(false) {
		w.endNS.Store(now.UnixNano())
	}
}

// move records an accepted move's round trip if the window is open.
func (w *window) move(rtt time.Duration) {
	if w.on.Load() {
		w.rtt.Record(rtt)
	}
}

// windowReport is the measured window in the report. Start and end are
// Unix times, so that a script sampling CPU counters can cut the same
// window out of its samples (bench/load.sh does).
type windowReport struct {
	StartUnix     float64 `json:"start_unix"`
	EndUnix       float64 `json:"end_unix"`
	Seconds       float64 `json:"seconds"`
	MovesAccepted int64   `json:"moves_accepted"`
	MovesPerSec   float64 `json:"moves_per_second"`
	RTT           latency `json:"rtt"`
	Signups       latency `json:"signups"`
	SignupFailed  int64   `json:"signups_failed"`
}

func (w *window) report(movesAtStop int64) *windowReport {
	start, end := w.startNS.Load(), w.endNS.Load()
	if start == 0 || end == 0 {
		return nil
	}
	r := &windowReport{
		StartUnix:     float64(start) / 1e9,
		EndUnix:       float64(end) / 1e9,
		Seconds:       float64(end-start) / 1e9,
		MovesAccepted: movesAtStop - w.moves0.Load(),
		RTT:           w.rtt.Summary(),
		Signups:       w.signups.Summary(),
		SignupFailed:  w.signupFailed.Load(),
	}
	if r.Seconds > 0 {
		r.MovesPerSec = float64(r.MovesAccepted) / r.Seconds
	}
	return r
}

// clientMem is the load generator's own memory, read before it closes its
// connections.
type clientMem struct {
	Goroutines  int     `json:"goroutines"`
	HeapMiB     float64 `json:"heap_mib"`
	StackMiB    float64 `json:"stack_mib"`
	SysMiB      float64 `json:"sys_mib"`
	KiBPerConn  float64 `json:"kib_per_conn"` // heap and stacks over open connections
	OpenAtPeak  int64   `json:"open_connections"`
	ReadAtLoadS float64 `json:"read_at_s"`
}

func readClientMem(open int64, at time.Duration) clientMem {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	const mib = 1 << 20
	c := clientMem{
		Goroutines:  runtime.NumGoroutine(),
		HeapMiB:     float64(ms.HeapInuse) / mib,
		StackMiB:    float64(ms.StackInuse) / mib,
		SysMiB:      float64(ms.Sys) / mib,
		OpenAtPeak:  open,
		ReadAtLoadS: at.Seconds(),
	}
	if open > 0 {
		c.KiBPerConn = float64(ms.HeapInuse+ms.StackInuse) / 1024 / float64(open)
	}
	return c
}

// fill copies the counters into r. movesAtStop and loadTime give the rates.
func (s *stats) fill(r *report, movesAtStop, matchesAtStop int64, load time.Duration) {
	c := &r.Connections
	c.Established = s.connected.Load()
	c.Failed = s.failed.Load()
	c.Canceled = s.canceled.Load()
	c.Retries = s.retries.Load()
	c.Signup = s.signupTime.Summary()
	c.Connect = s.connectTime.Summary()
	c.CleanCloses = s.cleanCloses.Load()
	c.Unclean = s.uncleanCloses.Load()

	r.Moves.Sent = s.movesSent.Load()
	r.Moves.Accepted = s.movesAccepted.Load()
	r.Moves.Refused = s.movesRefused.Load()
	r.Moves.RTT = s.moveRTT.Summary()
	r.QueueJoins = s.queueJoins.Load()
	r.QueueWait = s.queueWait.Summary()
	r.BadFrames = s.badFrames.Load()
	if secs := load.Seconds(); secs > 0 {
		r.Moves.PerSecond = float64(movesAtStop) / secs
		r.Matches.PerSecond = float64(matchesAtStop) / secs
	}
	r.ErrorTotal = s.errorCount()

	s.mu.Lock()
	defer s.mu.Unlock()
	c.FailedBy = maps.Clone(s.failures)
	r.Matches.Completed = s.completed
	r.Matches.ByGame = map[string]*gameCount{}
	for g, n := range s.games {
		cp := *n
		r.Matches.ByGame[g] = &cp
	}
	r.Matches.Reasons = maps.Clone(s.reasons)
	r.Errors = maps.Clone(s.errors)
	r.Disconnects = map[string]int64{}
	for code, n := range s.disconnects {
		r.Disconnects[strconv.Itoa(code)] = n
	}
}

// failureSamples returns one full error message per failure kind.
func (s *stats) failureSamples() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.failSample)
}

func writeJSON(w io.Writer, r *report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeText prints the report as a few aligned lines and a latency table.
func writeText(w io.Writer, r *report, samples map[string]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	mode := "play " + strings.Join(r.Games, ",") + ", think " + r.Think
	if r.Idle {
		mode = "idle"
	}
	p("turnbase loadgen\t%s: %d of %d players, %s", r.URL, r.Started, r.Players, mode)
	p("run\t%.1fs load (stopped by %s) + %.1fs drain; %d source address(es), nofile %d",
		r.LoadS, r.StoppedBy, r.DrainS, r.Sources, r.NoFile)
	c := r.Connections
	p("connections\testablished %d  failed %d%s  canceled %d  retried %d  closed clean %d, unclean %d",
		c.Established, c.Failed, countList(c.FailedBy, " "), c.Canceled, c.Retries, c.CleanCloses, c.Unclean)
	for _, kind := range slices.Sorted(maps.Keys(samples)) {
		p("  e.g.\t%s", samples[kind]) // the first error of each kind
	}
	if !r.Idle {
		var byGame []string
		for _, g := range slices.Sorted(maps.Keys(r.Matches.ByGame)) {
			n := r.Matches.ByGame[g]
			byGame = append(byGame, fmt.Sprintf("%s %d (%d draws, %d aborted)", g, n.Completed, n.Draws, n.Aborted))
		}
		p("matches\tcompleted %d, %.1f/s: %s", r.Matches.Completed, r.Matches.PerSecond, orNone(strings.Join(byGame, ", ")))
		p("  end reasons\t%s", orNone(countList(r.Matches.Reasons, "")))
		p("moves\tsent %d  accepted %d  refused %d  %.1f/s accepted", r.Moves.Sent, r.Moves.Accepted, r.Moves.Refused, r.Moves.PerSecond)
		p("queue joins\t%d", r.QueueJoins)
	}
	p("errors\t%s", orNone(countList(r.Errors, "")))
	p("disconnects\t%s", orNone(countList(r.Disconnects, "")))
	if r.BadFrames > 0 {
		p("bad frames\t%d", r.BadFrames)
	}
	m := r.Client
	p("loadgen memory\theap %.1f MiB, stacks %.1f MiB, sys %.1f MiB, %d goroutines: %.1f KiB per open connection (%d open at %.1fs)",
		m.HeapMiB, m.StackMiB, m.SysMiB, m.Goroutines, m.KiBPerConn, m.OpenAtPeak, m.ReadAtLoadS)
	p("")
	p("latency (ms)\tcount\tmean\tp50\tp95\tp99\tmax")
	row := func(name string, l latency) {
		p("%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f", name, l.Count, l.MeanMS, l.P50MS, l.P95MS, l.P99MS, l.MaxMS)
	}
	if !r.Idle {
		row("move round trip", r.Moves.RTT)
		if w := r.Window; w != nil {
			row(fmt.Sprintf("  in the window (%.1fs, %.0f moves/s)", w.Seconds, w.MovesPerSec), w.RTT)
		}
		row("queue wait", r.QueueWait)
	}
	if w := r.Window; w != nil && w.Signups.Count+w.SignupFailed > 0 {
		row(fmt.Sprintf("window sign-ups (%d failed)", w.SignupFailed), w.Signups)
	}
	row("signup", c.Signup)
	row("connect (dial → welcome)", c.Connect)
	return tw.Flush()
}

// countList formats counts as "key n, key n" sorted by key; with a non-empty
// lead the list is wrapped in parentheses after it.
func countList(m map[string]int64, lead string) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if lead != "" {
		return lead + "(" + strings.Join(parts, ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
