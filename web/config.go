package web

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultTokenTTL          = 24 * time.Hour
	DefaultTokenIssuer       = "turnbase"
	DefaultTokenAudience     = "turnbase"
	DefaultTokenLeeway       = 30 * time.Second
	DefaultMaxTokenLen       = 4096
	DefaultMoveTime          = 30 * time.Second
	DefaultHelloTimeout      = 5 * time.Second
	DefaultPingPeriod        = 25 * time.Second
	DefaultPongWait          = 60 * time.Second
	DefaultWriteWait         = 10 * time.Second
	DefaultCloseWait         = time.Second
	DefaultSendQueue         = 64
	DefaultReadLimit         = 4096
	DefaultConnRate          = 20
	DefaultConnBurst         = 40
	DefaultPlayerRate        = 40
	DefaultPlayerBurst       = 80
	DefaultMaxLimited        = 20
	DefaultLimitedWindow     = 10 * time.Second
	DefaultMaxConnsPerIP     = 64
	DefaultMaxConns          = 20000
	DefaultHSTSMaxAge        = 365 * 24 * time.Hour
	DefaultHandshakeRate     = 20
	DefaultHandshakeBurst    = 40
	DefaultHTTPRate          = 20
	DefaultHTTPBurst         = 60
	DefaultMaxBodyBytes      = 8 << 10
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 15 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultLobbyTimeout      = 5 * time.Second
	DefaultDatabaseTimeout   = 3 * time.Second
	DefaultLoginIPRate       = 20.0 / 60 // 20 a minute
	DefaultLoginIPBurst      = 20
	DefaultLoginNameRate     = 10.0 / 3600 // 10 an hour
	DefaultLoginNameBurst    = 10
	DefaultLoginFreshAfter   = time.Hour
	DefaultSignupIPRate      = 10.0 / 3600 // 10 an hour
	DefaultSignupIPBurst     = 10
	DefaultShutdownTimeout   = 10 * time.Second

	// DefaultRating is the rating of a player the rating source does not
	// know, or of every player when Deps.Ratings is nil.
	DefaultRating = 1500

	// minSecretLen is the shortest JWT secret Validate accepts: HS256 wants
	// at least as many key bytes as its output.
	minSecretLen = 32
)

// Config tunes a Server. Zero fields take the defaults above; JWTSecret is
// required. Every limit the server enforces is here.
type Config struct {
	// AllowedOrigins are browser origins ("https://example.com[:port]")
	// allowed to open /ws besides the server's own origin.
	AllowedOrigins []string

	// JWTSecret signs and verifies bearer tokens (HS256); at least 32 bytes.
	JWTSecret     []byte
	TokenTTL      time.Duration // lifetime of an issued token
	TokenIssuer   string        // "iss" written and required
	TokenAudience string        // "aud" written and required
	TokenLeeway   time.Duration // clock skew tolerated on exp/iat
	MaxTokenLen   int           // longer tokens are refused before parsing

	// MoveTime is the per-move deadline that GET /api/games reports; cmd
	// sets it from the match configuration.
	MoveTime time.Duration

	// WebSocket connections.
	HelloTimeout time.Duration // the first frame must be a hello within this
	PingPeriod   time.Duration // how often the server pings; below PongWait
	PongWait     time.Duration // silence after which a connection is dead
	WriteWait    time.Duration // deadline of a batch of frame writes (batches close together share one: each gets at least 3/4 of it)
	CloseWait    time.Duration // how long to wait for the client's close frame
	SendQueue    int           // frames queued per connection before it is dropped
	ReadLimit    int64         // largest client message, bytes (close 1009 above)
	ConnRate     float64       // frames per second per connection
	ConnBurst    int           // burst per connection
	PlayerRate   float64       // frames per second per player, all connections
	PlayerBurst  int           // burst per player
	// A connection that sends more than MaxLimited frames over its rate
	// within LimitedWindow (a token bucket refilled at that pace) is closed
	// with 4008.
	MaxLimited    int
	LimitedWindow time.Duration
	LobbyTimeout  time.Duration // bound on one lobby call made for a frame

	// DatabaseTimeout bounds the database calls made for one HTTP request
	// or for the player check of a hello.
	DatabaseTimeout time.Duration

	// Login attempts (POST /api/auth/login, and POST /api/auth/password
	// on the player's name), right or wrong: per client IP, per second;
	// and per name (ignoring case), from all addresses together, per
	// second. Once a name's budget is spent, an address that made no
	// attempt on it for LoginFreshAfter may still make one, so that
	// guessers cannot lock the owner out (see loginLimiter). Over them:
	// 429 with Retry-After. A successful attempt does not count against
	// the name.
	LoginIPRate     float64
	LoginIPBurst    int
	LoginNameRate   float64
	LoginNameBurst  int
	LoginFreshAfter time.Duration
	SignupIPRate    float64 // registrations and upgrades per client IP, per second
	SignupIPBurst   int

	// MaxConns bounds the open WebSockets of the whole server; beyond it
	// an upgrade is answered 503 server_busy.
	MaxConns int

	// PublicOrigin is the server's own origin as browsers reach it
	// ("https://play.example.com[:port]"). Set, it replaces the Host
	// header as the server's own origin for the Origin check of /ws, and
	// /ws and /api/ requests for any other host are refused with 403
	// (DNS rebinding); /healthz, /readyz and /metrics answer any host.
	// Empty: the origin is taken from the Host header.
	PublicOrigin string
	// HSTSMaxAge is the max-age of Strict-Transport-Security, sent with
	// every response to a request that came over HTTPS (TLS, or a trusted
	// proxy's X-Forwarded-Proto); negative: not sent.
	HSTSMaxAge time.Duration

	// Per client IP (per /64 for IPv6).
	MaxConnsPerIP  int     // open WebSockets
	HandshakeRate  float64 // WebSocket upgrades per second
	HandshakeBurst int
	HTTPRate       float64 // /api/ requests per second
	HTTPBurst      int
	// TrustedProxies are the addresses or CIDRs ("10.0.0.0/8") of reverse
	// proxies. For a request from one of them the client is the last
	// untrusted address of X-Forwarded-For, and X-Forwarded-Proto names
	// the scheme of the server's own origin. Empty: no proxy is trusted.
	TrustedProxies []string

	// HTTP server.
	MaxBodyBytes      int64 // request bodies above are refused with 413
	HandshakeTimeout  time.Duration
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ShutdownTimeout   time.Duration // bound on Serve's graceful shutdown
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setFloat := func(p *float64, d float64) {
		if *p == 0 {
			*p = d
		}
	}
	setDur(&c.TokenTTL, DefaultTokenTTL)
	if c.TokenIssuer == "" {
		c.TokenIssuer = DefaultTokenIssuer
	}
	if c.TokenAudience == "" {
		c.TokenAudience = DefaultTokenAudience
	}
	setDur(&c.TokenLeeway, DefaultTokenLeeway)
	setInt(&c.MaxTokenLen, DefaultMaxTokenLen)
	setDur(&c.MoveTime, DefaultMoveTime)
	setDur(&c.HelloTimeout, DefaultHelloTimeout)
	setDur(&c.PingPeriod, DefaultPingPeriod)
	setDur(&c.PongWait, DefaultPongWait)
	setDur(&c.WriteWait, DefaultWriteWait)
	setDur(&c.CloseWait, DefaultCloseWait)
	setInt(&c.SendQueue, DefaultSendQueue)
	if c.ReadLimit == 0 {
		c.ReadLimit = DefaultReadLimit
	}
	setFloat(&c.ConnRate, DefaultConnRate)
	setInt(&c.ConnBurst, DefaultConnBurst)
	setFloat(&c.PlayerRate, DefaultPlayerRate)
	setInt(&c.PlayerBurst, DefaultPlayerBurst)
	setInt(&c.MaxLimited, DefaultMaxLimited)
	setDur(&c.LimitedWindow, DefaultLimitedWindow)
	setDur(&c.LobbyTimeout, DefaultLobbyTimeout)
	setDur(&c.DatabaseTimeout, DefaultDatabaseTimeout)
	setFloat(&c.LoginIPRate, DefaultLoginIPRate)
	setInt(&c.LoginIPBurst, DefaultLoginIPBurst)
	setFloat(&c.LoginNameRate, DefaultLoginNameRate)
	setInt(&c.LoginNameBurst, DefaultLoginNameBurst)
	setDur(&c.LoginFreshAfter, DefaultLoginFreshAfter)
	setFloat(&c.SignupIPRate, DefaultSignupIPRate)
	setInt(&c.SignupIPBurst, DefaultSignupIPBurst)
	setInt(&c.MaxConnsPerIP, DefaultMaxConnsPerIP)
	setInt(&c.MaxConns, DefaultMaxConns)
	setDur(&c.HSTSMaxAge, DefaultHSTSMaxAge)
	setFloat(&c.HandshakeRate, DefaultHandshakeRate)
	setInt(&c.HandshakeBurst, DefaultHandshakeBurst)
	setFloat(&c.HTTPRate, DefaultHTTPRate)
	setInt(&c.HTTPBurst, DefaultHTTPBurst)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	setDur(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDur(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&c.ReadTimeout, DefaultReadTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setInt(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	return c
}

// Validate reports whether c, with defaults applied, is usable. New panics
// on a Config that Validate refuses, so callers that read configuration
// from outside call Validate first.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.JWTSecret) < minSecretLen {
		errs = append(errs, fmt.Errorf("JWTSecret: need at least %d bytes, have %d", minSecretLen, len(c.JWTSecret)))
	}
	for _, o := range c.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("AllowedOrigins: %w", err))
		}
	}
	if c.PublicOrigin != "" {
		if _, err := normalizeOrigin(c.PublicOrigin); err != nil {
			errs = append(errs, fmt.Errorf("PublicOrigin: %w", err))
		}
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("TrustedProxies: %w", err))
	}
	positive := map[string]bool{
		"TokenTTL":          c.TokenTTL > 0,
		"TokenLeeway":       c.TokenLeeway >= 0,
		"MaxTokenLen":       c.MaxTokenLen > 0,
		"MoveTime":          c.MoveTime > 0,
		"HelloTimeout":      c.HelloTimeout > 0,
		"PingPeriod":        c.PingPeriod > 0,
		"PongWait":          c.PongWait > 0,
		"WriteWait":         c.WriteWait > 0,
		"CloseWait":         c.CloseWait > 0,
		"SendQueue":         c.SendQueue > 0,
		"ReadLimit":         c.ReadLimit > 0,
		"ConnRate":          c.ConnRate > 0,
		"ConnBurst":         c.ConnBurst > 0,
		"PlayerRate":        c.PlayerRate > 0,
		"PlayerBurst":       c.PlayerBurst > 0,
		"MaxLimited":        c.MaxLimited > 0,
		"LimitedWindow":     c.LimitedWindow > 0,
		"LobbyTimeout":      c.LobbyTimeout > 0,
		"DatabaseTimeout":   c.DatabaseTimeout > 0,
		"LoginIPRate":       c.LoginIPRate > 0,
		"LoginIPBurst":      c.LoginIPBurst > 0,
		"LoginNameRate":     c.LoginNameRate > 0,
		"LoginNameBurst":    c.LoginNameBurst > 0,
		"LoginFreshAfter":   c.LoginFreshAfter > 0,
		"SignupIPRate":      c.SignupIPRate > 0,
		"SignupIPBurst":     c.SignupIPBurst > 0,
		"MaxConnsPerIP":     c.MaxConnsPerIP > 0,
		"MaxConns":          c.MaxConns > 0,
		"HandshakeRate":     c.HandshakeRate > 0,
		"HandshakeBurst":    c.HandshakeBurst > 0,
		"HTTPRate":          c.HTTPRate > 0,
		"HTTPBurst":         c.HTTPBurst > 0,
		"MaxBodyBytes":      c.MaxBodyBytes > 0,
		"HandshakeTimeout":  c.HandshakeTimeout > 0,
		"ReadHeaderTimeout": c.ReadHeaderTimeout > 0,
		"ReadTimeout":       c.ReadTimeout > 0,
		"WriteTimeout":      c.WriteTimeout > 0,
		"IdleTimeout":       c.IdleTimeout > 0,
		"MaxHeaderBytes":    c.MaxHeaderBytes > 0,
		"ShutdownTimeout":   c.ShutdownTimeout > 0,
	}
	for _, name := range slices.Sorted(maps.Keys(positive)) {
		if !positive[name] {
			errs = append(errs, fmt.Errorf("%s: must be positive", name))
		}
	}
	if c.PingPeriod >= c.PongWait {
		errs = append(errs, fmt.Errorf("PingPeriod %v: must be below PongWait %v", c.PingPeriod, c.PongWait))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("web config: %w", err)
	}
	return nil
}

// normalizeOrigin returns o as "scheme://host[:port]" in lower case, without
// the scheme's default port, or an error if o is not such an origin.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", o, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("origin %q: want scheme://host[:port]", o)
	}
	return originOf(u.Scheme, u.Host), nil
}

// originOf builds the normalized origin of scheme and host (a Host header
// or URL host, with or without port).
func originOf(scheme, host string) string {
	scheme = strings.ToLower(scheme)
	host = strings.ToLower(host)
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	}
	return scheme + "://" + host
}

// parsePrefixes parses addresses ("10.0.0.1") and CIDRs ("10.0.0.0/8").
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, v := range list {
		v = strings.TrimSpace(v)
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", v)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
