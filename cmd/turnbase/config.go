package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// config is every setting of the server, in one place. Each is a flag with
// an environment variable as fallback; the flag wins when both are given.
type config struct {
	Addr           string
	DataDir        string
	DatabaseURL    string
	JWTSecret      string
	AllowedOrigins string
	PublicOrigin   string
	LogFormat      string
	LogLevel       string

	MoveTimeout   time.Duration
	Grace         time.Duration
	Linger        time.Duration
	ChallengeTTL  time.Duration
	DeadAfter     time.Duration
	JournalGather time.Duration

	BotOfferAfter   time.Duration
	BotDelayMin     time.Duration
	BotDelayMax     time.Duration
	RatedPairLimit  int
	RatedPairWindow time.Duration
	SpectatorEvery  time.Duration
	MaxWatched      int

	HelloTimeout time.Duration
	PingPeriod   time.Duration
	PongWait     time.Duration
	SendQueue    int

	ConnRate       float64
	ConnBurst      int
	PlayerRate     float64
	PlayerBurst    int
	MaxConnsPerIP  int
	MaxConns       int
	HandshakeRate  float64
	HandshakeBurst int
	HTTPRate       float64
	HTTPBurst      int

	LoginNamePerHour float64
	LoginNameBurst   int
	LoginFreshAfter  time.Duration
	SignupPerHour    float64
	SignupBurst      int
	HashSlots        int
	HashQueue        int

	TrustedProxies string
	TLSCert        string
	TLSKey         string
	HSTSMaxAge     time.Duration
	OpsAddr        string
	OpsSample      time.Duration

	// The review queue's thresholds (postgres/signals.go).
	SignalSameOpponent int
	SignalWinRateGames int
	SignalWinRate      float64
	SignalEarlyEnds    int
	SignalAddrBlock    int
	SignalRatingGain   float64
}

// setting ties one flag to its environment variable.
type setting struct {
	flag, env string
	secret    bool
}

// parseConfig reads flags from args and, for flags not given, the
// environment through getenv.
func parseConfig(name string, args []string, getenv func(string) string, usage io.Writer) (config, []setting, *flag.FlagSet, error) {
	var c config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	var settings []setting
	str := func(p *string, flagName, env, def, help string, secret bool) {
		fs.StringVar(p, flagName, def, help+" (env "+env+")")
		settings = append(settings, setting{flagName, env, secret})
	}
	dur := func(p *time.Duration, flagName, env string, def time.Duration, help string) {
		fs.DurationVar(p, flagName, def, help+" (env "+env+")")
		settings = append(settings, setting{flagName, env, false})
	}
	num := func(p *int, flagName, env string, def int, help string) {
		fs.IntVar(p, flagName, def, help+" (env "+env+")")
		settings = append(settings, setting{flagName, env, false})
	}
	rate := func(p *float64, flagName, env string, def float64, help string) {
		fs.Float64Var(p, flagName, def, help+" (env "+env+")")
		settings = append(settings, setting{flagName, env, false})
	}

	str(&c.Addr, "addr", "TURNBASE_ADDR", ":8080", "address to listen on", false)
	str(&c.DataDir, "data", "TURNBASE_DATA", "./data", "data folder (secrets, embedded PostgreSQL, spool)", false)
	str(&c.DatabaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL; empty starts an embedded PostgreSQL in the data folder", true)
	str(&c.JWTSecret, "jwt-secret", "TURNBASE_JWT_SECRET", "", "HS256 token secret; empty generates one and keeps it in the data folder", true)
	str(&c.AllowedOrigins, "allowed-origins", "TURNBASE_ALLOWED_ORIGINS", "", "comma-separated extra browser origins allowed to open /ws (scheme://host[:port])", false)
	str(&c.PublicOrigin, "public-origin", "TURNBASE_PUBLIC_ORIGIN", "", "the server's origin as browsers reach it (scheme://host[:port]); set, /ws and /api/ refuse other Host headers (DNS rebinding)", false)
	str(&c.LogFormat, "log-format", "TURNBASE_LOG_FORMAT", "text", "log format: text or json", false)
	str(&c.LogLevel, "log-level", "TURNBASE_LOG_LEVEL", "info", "log level: debug, info, warn or error", false)

	dur(&c.MoveTimeout, "move-timeout", "TURNBASE_MOVE_TIMEOUT", 30*time.Second, "time for a move (an rps round)")
	dur(&c.Grace, "grace", "TURNBASE_GRACE", 30*time.Second, "time a disconnected player has to come back")
	dur(&c.Linger, "linger", "TURNBASE_LINGER", 2*time.Minute, "how long a finished match stays open for rematch")
	dur(&c.ChallengeTTL, "challenge-ttl", "TURNBASE_CHALLENGE_TTL", 10*time.Minute, "how long a challenge code is valid")
	dur(&c.BotOfferAfter, "bot-offer-after", "TURNBASE_BOT_OFFER_AFTER", 15*time.Second, "offer a computer game to a player who waited this long in the queue with nobody in range; 0: never")
	dur(&c.BotDelayMin, "bot-delay-min", "TURNBASE_BOT_DELAY_MIN", 400*time.Millisecond, "least pause before a computer player moves")
	dur(&c.BotDelayMax, "bot-delay-max", "TURNBASE_BOT_DELAY_MAX", 1200*time.Millisecond, "longest pause before a computer player moves (at most half of move-timeout)")
	dur(&c.JournalGather, "journal-gather", "TURNBASE_JOURNAL_GATHER", time.Millisecond, "longest the journal waits for more moves before it commits a batch, when they come fast enough to gather some (larger batches cost the database less per move, each move waits at most this long more); 0: never")
	dur(&c.DeadAfter, "dead-after", "TURNBASE_DEAD_AFTER", 5*time.Second, "with DATABASE_URL (a cluster): a node silent this long is dead and the others take over its matches")
	num(&c.RatedPairLimit, "rated-pair-limit", "TURNBASE_RATED_PAIR_LIMIT", 5, "rated results two players may have together per rated-pair-window; later matches are unrated (0: no limit)")
	dur(&c.RatedPairWindow, "rated-pair-window", "TURNBASE_RATED_PAIR_WINDOW", 24*time.Hour, "rolling period of rated-pair-limit")
	dur(&c.SpectatorEvery, "spectator-every", "TURNBASE_SPECTATOR_EVERY", time.Second, "a match shows a changed spectator count at most this often")
	num(&c.MaxWatched, "max-watched", "TURNBASE_MAX_WATCHED", 16, "matches one socket may watch at once")

	dur(&c.HelloTimeout, "hello-timeout", "TURNBASE_HELLO_TIMEOUT", 5*time.Second, "time a new socket has to send hello")
	dur(&c.PingPeriod, "ping-period", "TURNBASE_PING_PERIOD", 25*time.Second, "how often the server pings a socket")
	dur(&c.PongWait, "pong-wait", "TURNBASE_PONG_WAIT", 60*time.Second, "a socket silent this long is closed")
	num(&c.SendQueue, "send-queue", "TURNBASE_SEND_QUEUE", 64, "frames queued per socket before it is dropped as too slow")

	rate(&c.ConnRate, "conn-rate", "TURNBASE_CONN_RATE", 20, "messages per second per socket")
	num(&c.ConnBurst, "conn-burst", "TURNBASE_CONN_BURST", 40, "message burst per socket")
	rate(&c.PlayerRate, "player-rate", "TURNBASE_PLAYER_RATE", 40, "messages per second per player, all sockets together")
	num(&c.PlayerBurst, "player-burst", "TURNBASE_PLAYER_BURST", 80, "message burst per player")
	num(&c.MaxConnsPerIP, "max-conns-per-ip", "TURNBASE_MAX_CONNS_PER_IP", 64, "open sockets per client address (per /64 for IPv6)")
	num(&c.MaxConns, "max-conns", "TURNBASE_MAX_CONNS", 20000, "open sockets in all; beyond, upgrades get 503")
	rate(&c.HandshakeRate, "handshake-rate", "TURNBASE_HANDSHAKE_RATE", 10, "socket handshakes per second per client address")
	num(&c.HandshakeBurst, "handshake-burst", "TURNBASE_HANDSHAKE_BURST", 40, "handshake burst per client address")
	rate(&c.HTTPRate, "http-rate", "TURNBASE_HTTP_RATE", 20, "API requests per second per client address")
	num(&c.HTTPBurst, "http-burst", "TURNBASE_HTTP_BURST", 60, "API request burst per client address")
	rate(&c.LoginNamePerHour, "login-name-per-hour", "TURNBASE_LOGIN_NAME_PER_HOUR", 10, "login attempts per hour on one name from all addresses together")
	num(&c.LoginNameBurst, "login-name-burst", "TURNBASE_LOGIN_NAME_BURST", 10, "login attempt burst on one name")
	dur(&c.LoginFreshAfter, "login-fresh-after", "TURNBASE_LOGIN_FRESH_AFTER", time.Hour, "once a name's login budget is spent, an address that made no attempt on it for this long may still make one")
	rate(&c.SignupPerHour, "signup-per-hour", "TURNBASE_SIGNUP_PER_HOUR", 10, "registrations and guest upgrades per hour per client address")
	num(&c.SignupBurst, "signup-burst", "TURNBASE_SIGNUP_BURST", 10, "registration and upgrade burst per client address")
	num(&c.HashSlots, "hash-slots", "TURNBASE_HASH_SLOTS", 0, "password hashes computed at once; 0: one per core (GOMAXPROCS)")
	num(&c.HashQueue, "hash-queue", "TURNBASE_HASH_QUEUE", 0, "logins that may wait for a hashing slot (sign-ups: a quarter), beyond which 429; 0: 8 per slot")
	str(&c.TrustedProxies, "trusted-proxies", "TURNBASE_TRUSTED_PROXIES", "", "comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed", false)
	str(&c.TLSCert, "tls-cert", "TURNBASE_TLS_CERT", "", "PEM certificate (chain) file: serve HTTPS and WSS", false)
	str(&c.TLSKey, "tls-key", "TURNBASE_TLS_KEY", "", "PEM private key file for -tls-cert", false)
	dur(&c.HSTSMaxAge, "hsts-max-age", "TURNBASE_HSTS_MAX_AGE", 365*24*time.Hour, "Strict-Transport-Security max-age on HTTPS responses; negative: none")
	str(&c.OpsAddr, "ops-addr", "TURNBASE_OPS_ADDR", "127.0.0.1:9090", "operator listener: /metrics and net/http/pprof, never on the public address; empty: off", false)
	dur(&c.OpsSample, "ops-sample", "TURNBASE_OPS_SAMPLE", 10*time.Second, "how often the operators' overview takes a sample (it keeps 360)")
	num(&c.SignalSameOpponent, "signal-same-opponent", "TURNBASE_SIGNAL_SAME_OPPONENT", 10, "review queue: rated games against one opponent in a day")
	num(&c.SignalWinRateGames, "signal-win-rate-games", "TURNBASE_SIGNAL_WIN_RATE_GAMES", 10, "review queue: games against one opponent (30 days) before the win rate counts")
	rate(&c.SignalWinRate, "signal-win-rate", "TURNBASE_SIGNAL_WIN_RATE", 0.9, "review queue: win rate against one opponent")
	num(&c.SignalEarlyEnds, "signal-early-ends", "TURNBASE_SIGNAL_EARLY_ENDS", 5, "review queue: resigns or aborts before move 2 in a day")
	num(&c.SignalAddrBlock, "signal-addr-block", "TURNBASE_SIGNAL_ADDR_BLOCK", 4, "review queue: accounts first seen from one address block within a day")
	rate(&c.SignalRatingGain, "signal-rating-gain", "TURNBASE_SIGNAL_RATING_GAIN", 150, "review queue: rating points gained in a day (and 3x the best day before)")

	if err := fs.Parse(args); err != nil {
		return c, nil, nil, err
	}
	if fs.NArg() > 0 {
		return c, nil, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range settings {
		if given[s.flag] {
			continue
		}
		if v := getenv(s.env); v != "" {
			if err := fs.Set(s.flag, v); err != nil {
				if s.secret {
					return c, nil, nil, fmt.Errorf("%s: %w", s.env, err)
				}
				return c, nil, nil, fmt.Errorf("%s=%q: %w", s.env, v, err)
			}
		}
	}
	return c, settings, fs, c.validate()
}

func (c config) validate() error {
	var errs []error
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	for name, d := range map[string]time.Duration{
		"move-timeout": c.MoveTimeout, "grace": c.Grace, "linger": c.Linger, "challenge-ttl": c.ChallengeTTL,
		"dead-after": c.DeadAfter, "rated-pair-window": c.RatedPairWindow,
		"hello-timeout": c.HelloTimeout, "ping-period": c.PingPeriod, "pong-wait": c.PongWait,
		"spectator-every": c.SpectatorEvery, "ops-sample": c.OpsSample, "login-fresh-after": c.LoginFreshAfter,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, not %s", name, d))
		}
	}
	if c.HashSlots < 0 || c.HashQueue < 0 {
		errs = append(errs, errors.New("hash-slots and hash-queue must not be negative"))
	}
	if c.BotOfferAfter < 0 || c.BotDelayMin < 0 || c.BotDelayMax < c.BotDelayMin {
		errs = append(errs, fmt.Errorf("bot-offer-after and bot-delay-min must not be negative, nor bot-delay-max (%s) below bot-delay-min (%s)", c.BotDelayMax, c.BotDelayMin))
	}
	if c.JournalGather < 0 || c.JournalGather > 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("journal-gather must be between 0 and 100ms, not %s", c.JournalGather))
	}
	if c.RatedPairLimit < 0 {
		errs = append(errs, fmt.Errorf("rated-pair-limit must be 0 (no limit) or more, not %d", c.RatedPairLimit))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if c.PingPeriod >= c.PongWait {
		errs = append(errs, fmt.Errorf("ping-period (%s) must be shorter than pong-wait (%s)", c.PingPeriod, c.PongWait))
	}
	for name, n := range map[string]float64{
		"send-queue": float64(c.SendQueue), "conn-rate": c.ConnRate, "conn-burst": float64(c.ConnBurst),
		"player-rate": c.PlayerRate, "player-burst": float64(c.PlayerBurst), "max-conns-per-ip": float64(c.MaxConnsPerIP),
		"handshake-rate": c.HandshakeRate, "handshake-burst": float64(c.HandshakeBurst),
		"http-rate": c.HTTPRate, "http-burst": float64(c.HTTPBurst),
		"login-name-per-hour": c.LoginNamePerHour, "login-name-burst": float64(c.LoginNameBurst),
		"signup-per-hour": c.SignupPerHour, "signup-burst": float64(c.SignupBurst),
		"max-watched": float64(c.MaxWatched), "max-conns": float64(c.MaxConns),
		"signal-same-opponent": float64(c.SignalSameOpponent), "signal-win-rate-games": float64(c.SignalWinRateGames),
		"signal-win-rate": c.SignalWinRate, "signal-early-ends": float64(c.SignalEarlyEnds),
		"signal-addr-block": float64(c.SignalAddrBlock), "signal-rating-gain": c.SignalRatingGain,
	} {
		if n <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	return errors.Join(errs...)
}

// printConfig writes every setting, secrets masked, one per line.
func printConfig(w io.Writer, fs *flag.FlagSet, settings []setting) {
	secret := map[string]bool{}
	for _, s := range settings {
		secret[s.flag] = s.secret
	}
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		if secret[f.Name] && v != "" {
			v = mask(f.Name, v)
		}
		lines = append(lines, fmt.Sprintf("  %-18s %s", f.Name, v))
	})
	sort.Strings(lines)
	fmt.Fprintln(w, "turnbase configuration:")
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// mask hides a secret; for a database URL it keeps all but the passwords.
func mask(name, v string) string {
	if name == "database-url" {
		return redactDSN(v)
	}
	return "*****"
}
