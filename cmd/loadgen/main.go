// Command loadgen drives a turnbase server with simulated players over real
// WebSocket connections and reports what they saw.
//
// Each player signs up as a guest (lg_<n>), says hello, queues for a game
// of the -games mix and plays random legal moves after a think time, then
// queues again, until -duration passes or -matches matches are done. Then
// no new match starts, the matches under way are played out (for at most
// -drain), and every connection is closed with a close handshake.
//
//	loadgen -players 2000 -think 300ms -duration 20s
//	loadgen -players 50 -games rps -matches 500 -json
//	loadgen -players 19500 -idle -duration 60s -ramp 1000/s
//	loadgen -players 1000 -computer tictactoe:perfect,rps:reader,connectfour:strong
//	loadgen -players 10000 -url http://127.0.0.1:8091,http://127.0.0.1:8092 -source 127.0.0.2 -names lg2_
//
// The server's per-address limits must be raised for more than a handful
// of players (TURNBASE_MAX_CONNS_PER_IP, TURNBASE_HANDSHAKE_RATE and _BURST,
// TURNBASE_HTTP_RATE and _BURST; TURNBASE_CONN_RATE and TURNBASE_PLAYER_RATE
// for -think 0). Past 10,000 players the connections come from several
// loopback source addresses (-src), as one source address has only about
// 28,000 ports towards one server. Several loadgen processes (each under
// its own open file limit) give each its own addresses with -source, and
// -names keeps their players' names apart. A comma list of -url spreads
// the players over several servers (the nodes of a cluster), in turn.
//
// It exits non-zero when a connection failed, the server sent an error
// frame or closed a connection unexpectedly, unless -allow-errors is given.
// Only loopback servers are accepted: this is a tool for the machine the
// server runs on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/game/catalog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// portsPerSource is how many connections auto -src puts on one source
// address: one source and one destination leave about 28,000 ephemeral
// ports, and the signups need some too.
const portsPerSource = 10000

// config is every setting of a run.
type config struct {
	bases       []*url.URL // http or https, no path; players take them in turn
	httpConns   int        // HTTP connections open at once per server; set by run from the file limit
	players     int
	games       []string                     // ids to queue for, repeats weighting them
	computer    map[string]string            // game id -> the computer level to play instead of queueing
	rules       map[string]game.RandomPlayer // every game loadgen can play, by id
	think       thinkTime
	duration    time.Duration
	matches     int64
	ramp        float64 // connections started per second; 0: all at once
	idle        bool
	json        bool
	sources     []net.IP // source addresses to bind, in turn; none: the kernel's choice
	names       string   // the players' name prefix
	allowErrors bool
	drain       time.Duration
	progress    time.Duration
	// warmup: the measured window (report.Window) starts this long after
	// the last player was started (the ramp), and ends at the stop.
	warmup time.Duration
	// signups: guest sign-ups a second made during the window by
	// extra clients that do not play (a burst of new players).
	signups float64
}

// thinkTime is the pause before each move: uniform in [min, max].
type thinkTime struct{ min, max time.Duration }

func (t thinkTime) String() string {
	if t.min == t.max {
		return t.min.String()
	}
	return t.min.String() + "-" + t.max.String()
}

func (t thinkTime) pick() time.Duration {
	if t.max <= t.min {
		return t.min
	}
	return t.min + rand.N(t.max-t.min+1)
}

// parseThink reads "300ms" (jittered to 150ms-450ms), "0" or a range
// "10ms-50ms".
func parseThink(s string) (thinkTime, error) {
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := time.ParseDuration(lo)
		b, err2 := time.ParseDuration(hi)
		if err := errors.Join(err1, err2); err != nil || a < 0 || b < a {
			return thinkTime{}, fmt.Errorf("think %q: want a duration or a range like 10ms-50ms", s)
		}
		return thinkTime{a, b}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return thinkTime{}, fmt.Errorf("think %q: want a duration or a range like 10ms-50ms", s)
	}
	return thinkTime{d / 2, d + d/2}, nil
}

// parseRate reads "500/s" or "500".
func parseRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "/s"), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("ramp %q: want connections per second, like 500/s (0: no pacing)", s)
	}
	return v, nil
}

// playable returns the games of the catalog (the list the server takes
// its games from too) that can play from wire states alone, by id, and
// their ids in catalog order. Loadgen knows no game's rules: it asks the
// game for a random move in what it is shown.
func playable() (map[string]game.RandomPlayer, []string) {
	rules := make(map[string]game.RandomPlayer)
	var ids []string
	for _, g := range catalog.New().All() {
		if rp, ok := g.(game.RandomPlayer); ok {
			rules[g.ID()] = rp
			ids = append(ids, g.ID())
		}
	}
	return rules, ids
}

func parseConfig(args []string, usage io.Writer) (config, error) {
	var c config
	var known []string
	c.rules, known = playable()
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(usage)
	rawURL := fs.String("url", "http://127.0.0.1:8080", "server base URL (a loopback address), or a comma list of them: players take them in turn")
	fs.IntVar(&c.players, "players", 100, "simulated players, one WebSocket each")
	games := fs.String("games", strings.Join(known, ","), "games to queue for, picked at random per match (repeat a name to weight it)")
	think := fs.String("think", "0", `pause before each move: "300ms" (±50% jitter), "0" or a range "10ms-50ms"`)
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long to run from the first connection (the run also stops at -matches)")
	fs.Int64Var(&c.matches, "matches", 0, "start no new match once this many are completed; those under way finish (0: only -duration)")
	ramp := fs.String("ramp", "500/s", "connections started per second (0: all at once)")
	fs.BoolVar(&c.idle, "idle", false, "connect and say hello only, then sit idle until -duration (memory per connection)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	computer := fs.String("computer", "", `play the computer instead of queueing: a level for every game ("easy"), or per game ("tictactoe:perfect,rps:reader,connectfour:strong")`)
	nsrc := fs.Int("src", 0, fmt.Sprintf("spread connections over source addresses 127.0.0.1..127.0.0.N (0: one per %d players)", portsPerSource))
	source := fs.String("source", "", "comma list of IPv4 loopback source addresses to bind, in turn (replaces -src)")
	fs.StringVar(&c.names, "names", "lg_", "players' name prefix (names are PREFIX<n>)")
	fs.BoolVar(&c.allowErrors, "allow-errors", false, "exit 0 even if errors occurred")
	fs.DurationVar(&c.drain, "drain", 0, "after the stop, time left to the matches under way before every connection is closed (0: 30s + 10 times the longest think)")
	fs.DurationVar(&c.progress, "progress", 5*time.Second, "print a progress line this often (0: never; never with -json)")
	fs.DurationVar(&c.warmup, "warmup", 0, "the measured window (report's window) starts this long after the ramp ends and lasts until the stop")
	signups := fs.String("signups", "0", "guest sign-ups a second during the measured window, by clients that do not play (0: none)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var errs []error
	var err error
	for _, raw := range strings.Split(*rawURL, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("url: %w", err))
		case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, fmt.Errorf("url %q: want http://host:port", raw))
		default:
			c.bases = append(c.bases, &url.URL{Scheme: u.Scheme, Host: u.Host})
		}
	}
	if !validName(c.names+"1") || !validName(c.names+strconv.Itoa(max(c.players, 1))) {
		errs = append(errs, fmt.Errorf("names %q: want a prefix of lower-case letters, digits and _ that leaves names of 3 to 20 characters", c.names))
	}
	if c.players < 1 {
		errs = append(errs, errors.New("players must be at least 1"))
	}
	for _, g := range strings.Split(*games, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if c.rules[g] == nil {
			errs = append(errs, fmt.Errorf("game %q: want one of %s", g, strings.Join(known, ", ")))
		}
		c.games = append(c.games, g)
	}
	if len(c.games) == 0 && !c.idle {
		errs = append(errs, errors.New("games: name at least one"))
	}
	c.computer = map[string]string{}
	for _, e := range strings.Split(*computer, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if g, level, ok := strings.Cut(e, ":"); ok {
			c.computer[g] = level
			continue
		}
		for _, g := range c.games {
			c.computer[g] = e
		}
	}
	if c.think, err = parseThink(*think); err != nil {
		errs = append(errs, err)
	}
	if c.ramp, err = parseRate(*ramp); err != nil {
		errs = append(errs, err)
	}
	if c.signups, err = parseRate(*signups); err != nil {
		errs = append(errs, fmt.Errorf("signups: %w", err))
	}
	if c.duration <= 0 {
		errs = append(errs, errors.New("duration must be positive: the run must end by itself"))
	}
	if c.matches < 0 || c.drain < 0 || c.progress < 0 || c.warmup < 0 {
		errs = append(errs, errors.New("matches, drain, progress and warmup must not be negative"))
	}
	switch {
	case *source != "":
		for _, s := range strings.Split(*source, ",") {
			ip := net.ParseIP(strings.TrimSpace(s)).To4()
			if ip == nil || !ip.IsLoopback() {
				errs = append(errs, fmt.Errorf("source %q: want an IPv4 loopback address (127.0.0.0/8)", s))
				continue
			}
			c.sources = append(c.sources, ip)
		}
	case *nsrc < 0 || *nsrc > 254:
		errs = append(errs, errors.New("src must be 0 (auto) to 254"))
	default:
		n := *nsrc
		if n == 0 {
			n = (c.players + portsPerSource - 1) / portsPerSource
		}
		for i := 1; n > 1 && i <= n; i++ {
			c.sources = append(c.sources, net.IPv4(127, 0, 0, byte(i)).To4())
		}
	}
	if c.drain == 0 {
		c.drain = 30*time.Second + 10*c.think.max
	}
	return c, errors.Join(errs...)
}

// validName reports whether name is a guest name the server takes and the
// sign-up's JSON needs no escaping for: 3 to 20 of [a-z0-9_].
func validName(name string) bool {
	if len(name) < 3 || len(name) > 20 {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// run is the program: main only calls it, tests call it too.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseConfig(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, b := range cfg.bases {
		if err := checkLoopback(ctx, b.Hostname(), len(cfg.sources) > 0); err != nil {
			return err
		}
	}
	// Every connection is a file; leave room for signups and the runtime.
	nofile, err := raiseNoFile(uint64(cfg.players) + 256)
	if err != nil {
		return err
	}
	cfg.httpConns = httpConnsFor(nofile, cfg.players, len(cfg.bases))
	var progress io.Writer
	if !cfg.json && cfg.progress > 0 {
		progress = stdout
		if nofile < uint64(cfg.players)+256 {
			fmt.Fprintf(stdout, "warning: open file limit %d is below %d players plus spare\n", nofile, cfg.players)
		}
	}

	sw := newSwarm(cfg)
	rep := sw.run(ctx, progress)
	rep.NoFile = nofile

	if cfg.json {
		err = writeJSON(stdout, rep)
	} else {
		err = writeText(stdout, rep, sw.stats.failureSamples())
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if rep.ErrorTotal > 0 && !cfg.allowErrors {
		return fmt.Errorf("%d errors (error frames, unexpected disconnects, failed connections); -allow-errors to exit 0", rep.ErrorTotal)
	}
	return nil
}

// checkLoopback refuses servers off this machine: load goes to 127.0.0.0/8
// (or ::1) only. Spread source addresses need an IPv4 loopback server.
func checkLoopback(ctx context.Context, host string, ipv4Only bool) error {
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", host, err)
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	v4 := false
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("server %s (%s) is not a loopback address: loadgen only loads this machine", host, ip)
		}
		v4 = v4 || ip.To4() != nil
	}
	if ipv4Only && !v4 {
		return fmt.Errorf("server %s: -src needs an IPv4 loopback server (127.0.0.0/8)", host)
	}
	return nil
}

// raiseNoFile lifts the open file limit to the hard limit, and past it to
// want when the process may (root may). It returns the limit in force.
func raiseNoFile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read open file limit: %w", err)
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return want, nil
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("raise open file limit to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// minHTTPConns and maxHTTPConns bound the HTTP connections (sign-ups)
// open at once to one server.
const (
	minHTTPConns = 64
	maxHTTPConns = 4096
)

// httpConnsFor is how many HTTP connections may be open at once to each
// of servers: what the open file limit leaves beside the players' sockets
// and the spare, between minHTTPConns and maxHTTPConns. New players each
// come with a connection of their own; a lower cap than the limit forces
// would make the load generator, not the server, what sign-ups wait on.
func httpConnsFor(nofile uint64, players, servers int) int {
	spare := int64(nofile) - int64(players) - 256
	if servers > 1 {
		spare /= int64(servers)
	}
	return int(min(max(spare, minHTTPConns), maxHTTPConns))
}

// swarm is one run: it starts the players at the ramp's pace, tells them to
// stop, and closes whatever is left when the drain time is over.
type swarm struct {
	// Immutable once run starts.
	cfg       config
	stats     *stats
	bases     []string // http://host:port, one per -url
	wsURLs    []string // ws://host:port/ws, the same servers
	dialer    *websocket.Dialer
	transport *http.Transport
	client    *http.Client
	stopped   chan struct{} // closed when no new match may start
	reached   chan struct{} // closed when -matches matches are done
	force     chan struct{} // closed when every connection must close now
	rampDone  chan struct{} // closed when every player was started

	nextSource  atomic.Uint64
	open        atomic.Int64 // welcomed connections not yet closed
	reachedOnce sync.Once

	mu      sync.Mutex // guards players and the closing of stopped
	players []*player
}

func newSwarm(cfg config) *swarm {
	sw := &swarm{
		cfg:      cfg,
		stats:    newStats(),
		stopped:  make(chan struct{}),
		reached:  make(chan struct{}),
		force:    make(chan struct{}),
		rampDone: make(chan struct{}),
	}
	for _, b := range cfg.bases {
		ws := *b
		ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[b.Scheme]
		ws.Path = "/ws"
		sw.bases = append(sw.bases, b.String())
		sw.wsURLs = append(sw.wsURLs, ws.String())
	}
	sw.dialer = &websocket.Dialer{
		NetDialContext:   sw.dialContext,
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		// Idle connections hold no write buffer.
		WriteBufferPool: &sync.Pool{},
	}
	sw.transport = &http.Transport{
		DialContext:         sw.dialContext,
		MaxConnsPerHost:     max(cfg.httpConns, minHTTPConns),
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	sw.client = &http.Client{Transport: sw.transport, Timeout: 15 * time.Second}
	return sw
}

// dialContext dials from the next source address in turn.
func (sw *swarm) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1} // the server pings
	if n := uint64(len(sw.cfg.sources)); n > 0 {
		d.LocalAddr = &net.TCPAddr{IP: sw.cfg.sources[sw.nextSource.Add(1)%n]}
	}
	return d.DialContext(ctx, network, addr)
}

func (sw *swarm) matchesReached() {
	sw.reachedOnce.Do(func() { close(sw.reached) })
}

// add registers a player about to start; false once the run is stopping.
func (sw *swarm) add(p *player) bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	select {
	case <-sw.stopped:
		return false
	default:
	}
	sw.players = append(sw.players, p)
	return true
}

// each calls f for every player started; no player is added meanwhile
// once stopped is closed.
func (sw *swarm) each(f func(*player)) {
	sw.mu.Lock()
	ps := sw.players
	sw.mu.Unlock()
	for _, p := range ps {
		f(p)
	}
}

// run plays the whole run and returns its report.
func (sw *swarm) run(ctx context.Context, progress io.Writer) *report {
	start := time.Now()
	// Players outlive ctx: a signal stops the run like the duration does.
	// Their context ends only when everything must close.
	playCtx, cancelPlay := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPlay()

	var wg sync.WaitGroup
	launched := make(chan struct{})
	go func() {
		defer close(launched)
		sw.launch(playCtx, start, &wg)
	}()
	allDone := make(chan struct{})
	go func() {
		<-launched // no wg.Add after this
		wg.Wait()
		close(allDone)
	}()
	stopProgress := sw.startProgress(progress, start)
	windowDone := sw.startWindow(playCtx)

	timer := time.NewTimer(sw.cfg.duration)
	defer timer.Stop()
	stoppedBy := "duration"
	select {
	case <-timer.C:
	case <-ctx.Done():
		stoppedBy = "signal"
	case <-sw.reached:
		stoppedBy = "matches"
	case <-allDone:
		stoppedBy = "all players gone"
	}
	load := time.Since(start)
	sw.stats.window.close(time.Now())
	windowDone()
	movesAtStop := sw.stats.movesAccepted.Load()
	matchesAtStop := sw.stats.matchesCompleted()
	mem := readClientMem(sw.open.Load(), load)

	sw.mu.Lock()
	close(sw.stopped)
	sw.mu.Unlock()
	sw.each((*player).stop)

	drain := time.NewTimer(sw.cfg.drain)
	defer drain.Stop()
	select {
	case <-allDone:
	case <-drain.C:
		close(sw.force)
		cancelPlay()
		sw.each((*player).forceClose)
		closing := time.NewTimer(closeWait + time.Second)
		defer closing.Stop()
		select {
		case <-allDone:
		case <-closing.C:
			sw.each((*player).kill)
			<-allDone
		}
	}
	stopProgress()
	sw.transport.CloseIdleConnections()

	r := &report{
		URL:       strings.Join(sw.bases, ","),
		Players:   sw.cfg.players,
		Games:     sw.cfg.games,
		Think:     sw.cfg.think.String(),
		Idle:      sw.cfg.idle,
		Sources:   max(len(sw.cfg.sources), 1),
		LoadS:     load.Seconds(),
		DrainS:    (time.Since(start) - load).Seconds(),
		StoppedBy: stoppedBy,
		Client:    mem,
	}
	sw.mu.Lock()
	r.Started = len(sw.players)
	sw.mu.Unlock()
	sw.stats.fill(r, movesAtStop, matchesAtStop, load)
	r.Window = sw.stats.window.report(movesAtStop)
	return r
}

// launch starts the players at the ramp's pace until all are started or
// the run stops.
func (sw *swarm) launch(ctx context.Context, start time.Time, wg *sync.WaitGroup) {
	var pace *time.Timer
	defer func() {
		select {
		case <-sw.stopped:
		default:
			close(sw.rampDone)
		}
	}()
	for i := range sw.cfg.players {
		if sw.cfg.ramp > 0 {
			at := start.Add(time.Duration(float64(i) / sw.cfg.ramp * float64(time.Second)))
			if d := time.Until(at); d > time.Millisecond {
				if pace == nil {
					pace = time.NewTimer(d)
					defer pace.Stop()
				} else {
					pace.Reset(d)
				}
				select {
				case <-pace.C:
				case <-sw.stopped:
					return
				}
			}
		}
		p := newPlayer(i+1, sw)
		if !sw.add(p) {
			return
		}
		wg.Go(func() { p.run(ctx) })
	}
}

// startWindow opens the measured window -warmup after the ramp, and
// makes the -signups sign-ups while it is open. The returned function
// stops the sign-ups and waits for them.
func (sw *swarm) startWindow(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-sw.rampDone:
		case <-done:
			return
		}
		warm := time.NewTimer(sw.cfg.warmup)
		defer warm.Stop()
		select {
		case <-warm.C:
		case <-done:
			return
		}
		sw.stats.window.open(time.Now(), sw.stats.movesAccepted.Load())
		if sw.cfg.signups > 0 {
			sw.burst(ctx, done)
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// burst signs up guests at -signups a second until done, each on its own
// goroutine (as many new players would), and waits for them.
func (sw *swarm) burst(ctx context.Context, done <-chan struct{}) {
	var wg sync.WaitGroup
	defer wg.Wait()
	every := time.Duration(float64(time.Second) / sw.cfg.signups)
	tick := time.NewTicker(max(every, time.Microsecond))
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		name := sw.cfg.names + "s" + strconv.Itoa(n)
		wg.Go(func() {
			start := time.Now()
			if _, err := sw.signup(ctx, sw.bases[n%len(sw.bases)], name); err != nil {
				sw.stats.window.signupFailed.Add(1)
				return
			}
			sw.stats.window.signups.Record(time.Since(start))
		})
	}
}

// startProgress prints a line every -progress until the returned function
// is called; it does nothing without a writer.
func (sw *swarm) startProgress(w io.Writer, start time.Time) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(sw.cfg.progress)
		defer tick.Stop()
		st := sw.stats
		var lastMoves int64
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				moves := st.movesAccepted.Load()
				rate := float64(moves-lastMoves) / now.Sub(last).Seconds()
				lastMoves, last = moves, now
				fmt.Fprintf(w, "%6.1fs  open %d  failed %d  matches %d  moves %d (%.0f/s)  errors %d\n",
					now.Sub(start).Seconds(), sw.open.Load(), st.failed.Load(), st.matchesCompleted(), moves, rate, st.errorCount())
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}
