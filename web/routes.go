package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/turnbase/turnbase/game"
)

// The browser client, served as is: no build step, no CDN.
//
//go:embed static
var staticFiles embed.FS

// contentSecurityPolicy allows only the server's own scripts, styles and
// connections, and no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// routes builds the handler tree.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(path string, methods map[string]http.HandlerFunc) {
		mux.Handle(path, methodHandler(s, methods))
	}
	api := func(path string, methods map[string]http.HandlerFunc) {
		mux.Handle(path, s.limitAPI(methodHandler(s, methods)))
	}
	post := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodPost: h}
	}
	get := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: h}
	}
	api("/api/auth/guest", post(s.handleGuest))
	api("/api/auth/register", post(s.handleRegister))
	api("/api/auth/login", post(s.handleLogin))
	api("/api/auth/upgrade", post(s.handleUpgrade))
	api("/api/auth/refresh", post(s.handleRefresh))
	api("/api/auth/password", post(s.handlePassword))
	api("/api/me", get(s.handleMe))
	api("/api/games", get(s.handleGames))
	api("/api/leaderboard/{game}", get(s.handleLeaderboard))
	api("/api/players/{id}", get(s.handlePlayer))
	api("/api/matches", get(s.handleMatches))
	api("/api/matches/{id}", get(s.handleMatch))
	s.opsRoutes(mux)
	handle("/healthz", map[string]http.HandlerFunc{http.MethodGet: s.handleHealth})
	handle("/readyz", map[string]http.HandlerFunc{http.MethodGet: s.handleReady})
	handle("/ws", map[string]http.HandlerFunc{http.MethodGet: s.handleWS})
	if s.deps.Metrics != nil {
		handle("/metrics", map[string]http.HandlerFunc{http.MethodGet: s.deps.Metrics.ServeHTTP})
	} else {
		// The metrics are on the operator listener (-ops-addr): say so,
		// rather than answer with the page as for the client's own paths.
		mux.Handle("/metrics", s.limitAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, fmt.Errorf("%w: /metrics is served on the operator listener, not this address", ErrRouteNotFound))
		})))
	}
	mux.Handle("/api/", s.limitAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, fmt.Errorf("%w: %s", ErrRouteNotFound, r.URL.Path))
	})))
	mux.Handle("/", methodHandler(s, map[string]http.HandlerFunc{http.MethodGet: s.staticHandler()}))
	return s.securityHeaders(mux)
}

// limitAPI checks the host (checkHost) and the path and query
// (checkText), and applies the per-address HTTP rate, before next.
func (s *Server) limitAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkHost(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if !s.allowIP(w, r, s.apiCalls) {
			return
		}
		if err := checkText(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		// Bodies over the limit are refused whether or not the route
		// reads one, and before its token is looked at.
		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.writeError(w, r, fmt.Errorf("%w: at most %d bytes", ErrTooLarge, s.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// checkText refuses a path or query that is not printable UTF-8 text:
// ids and names are, and the database refuses what is not (a NUL, invalid
// UTF-8) with an error that would otherwise be a 500.
func checkText(r *http.Request) error {
	if !isText(r.URL.Path) {
		return fmt.Errorf("%w: the path is not valid UTF-8 text", ErrBadRequest)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("%w: malformed query", ErrBadRequest)
	}
	for k, vs := range q {
		ok := isText(k)
		for _, v := range vs {
			ok = ok && isText(v)
		}
		if !ok {
			return fmt.Errorf("%w: the query is not valid UTF-8 text", ErrBadRequest)
		}
	}
	return nil
}

// isText reports whether s is valid UTF-8 without control characters.
func isText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// methodHandler dispatches on the request method; GET handlers answer HEAD
// too. Other methods get a JSON 405 with Allow.
func methodHandler(s *Server, methods map[string]http.HandlerFunc) http.Handler {
	allowed := make([]string, 0, len(methods)+1)
	for m := range methods {
		allowed = append(allowed, m)
		if m == http.MethodGet {
			allowed = append(allowed, http.MethodHead)
		}
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := r.Method
		if m == http.MethodHead {
			m = http.MethodGet
		}
		h, ok := methods[m]
		if !ok {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, fmt.Errorf("%w: %s %s", ErrMethodNotAllowed, r.Method, r.URL.Path))
			return
		}
		h(w, r)
	})
}

// securityHeaders sets the headers every response carries, and HSTS on
// those to requests that came over HTTPS.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	hsts := ""
	if age := s.cfg.HSTSMaxAge; age > 0 {
		hsts = "max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if hsts != "" && s.ownScheme(r) == "https" {
			h.Set("Strict-Transport-Security", hsts)
		}
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// gameInfo is one entry of GET /api/games.
type gameInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Players int    `json:"players"`
	MoveMS  int64  `json:"move_ms"`
	// Extensions: who is around for this game right now.
	Queued  int `json:"queued"`  // waiting in the matchmaking queue
	Playing int `json:"playing"` // seated in live matches
	Online  int `json:"online"`  // queued + playing
	// Extension: the levels of the game's computer player, weakest
	// first, for match.computer; absent for a game without one.
	Bots []game.BotLevel `json:"bots,omitempty"`
}

func (s *Server) handleGames(w http.ResponseWriter, r *http.Request) {
	games := s.deps.Games.All()
	ctx, cancel := s.dbContext(r)
	defer cancel()
	counts := s.counts(ctx)
	queued, playing := counts.Queued, counts.Playing
	out := make([]gameInfo, 0, len(games))
	for _, g := range games {
		id := g.ID()
		info := gameInfo{
			ID: id, Name: g.Name(), Players: g.Players(), MoveMS: s.cfg.MoveTime.Milliseconds(),
			Queued: queued[id], Playing: playing[id], Online: queued[id] + playing[id],
		}
		if bp, ok := g.(game.BotPlayer); ok {
			info.Bots = bp.BotLevels()
		}
		out = append(out, info)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		s.writeError(w, r, fmt.Errorf("%w: %w", ErrNotReady, ErrShuttingDown))
		return
	}
	if s.deps.ReadyFunc != nil {
		if err := s.deps.ReadyFunc(r.Context()); err != nil {
			s.writeError(w, r, fmt.Errorf("%w: %v", ErrNotReady, err))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// staticHandler serves the embedded client. Paths without a file extension
// that name no file are client-side routes (/m/{id}, /c/{code},
// /leaderboard/..., /players/...) and get index.html; directories are not
// listed.
func (s *Server) staticHandler() http.HandlerFunc {
	root, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	index, err := fs.ReadFile(root, "index.html")
	if err != nil {
		index = []byte("<!doctype html><title>turnbase</title>")
	}
	files := http.FileServerFS(root)
	modTime := time.Now()
	serveIndex := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(index))
	}
	return func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" || name == "index.html" {
			serveIndex(w, r)
			return
		}
		st, err := fs.Stat(root, name)
		switch {
		case err == nil && !st.IsDir():
			// Embedded files carry no modification time: revalidate.
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		case err == nil || path.Ext(name) != "":
			http.NotFound(w, r)
		default:
			serveIndex(w, r)
		}
	}
}

// readJSON decodes a request body of at most MaxBytesReader bytes into v.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: at most %d bytes", ErrTooLarge, tooBig.Limit)
		}
		return fmt.Errorf("%w: the body could not be read", ErrBadRequest)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: body is not the JSON object expected", ErrBadRequest)
	}
	return nil
}

// allowIP takes one token of the client address's budget in lim, or
// answers 429 and returns false.
func (s *Server) allowIP(w http.ResponseWriter, r *http.Request, lim *keyLimiters) bool {
	ok, wait := lim.allow(s.clientIP(r), s.now())
	if !ok {
		writeRetryAfter(w, wait)
		s.writeError(w, r, fmt.Errorf("%w: too many requests from your address", ErrRateLimited))
	}
	return ok
}

// writeRetryAfter sets Retry-After to wait, rounded up to whole seconds.
func writeRetryAfter(w http.ResponseWriter, wait time.Duration) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

// clientIP is the address the request came from: the peer, or for a
// trusted proxy the last address in X-Forwarded-For that is not one.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if !s.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		addr = hop.Unmap()
		if !s.trusted(addr) {
			break
		}
	}
	return addr.String()
}

// trusted reports whether addr is one of the configured proxies.
func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ownScheme is the scheme the client used to reach the server: https over
// TLS, or as a trusted proxy says in X-Forwarded-Proto.
func (s *Server) ownScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if len(s.proxies) > 0 {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if addr, err := netip.ParseAddr(host); err == nil && s.trusted(addr.Unmap()) {
			if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "https" || p == "http" {
				return p
			}
		}
	}
	return "http"
}

// writeError answers err as a JSON error with its status; an unexpected
// error is logged and answered as "internal".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, status, known := publicError(err)
	if !known {
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="turnbase"`)
	}
	if status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1") // a busy moment, as leaderboard.ErrBusy
	}
	writeErrorBody(w, status, code, msg)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeErrorBody(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

// codeForStatus names the HTTP statuses that gorilla's upgrader answers.
func codeForStatus(status int) string {
	switch status {
	case http.StatusForbidden:
		return codeForbidden
	case http.StatusMethodNotAllowed:
		return codeMethodNotAllowed
	case http.StatusInternalServerError:
		return codeInternal
	default:
		return codeBadRequest
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
