package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/match"
)

// The operators' API, under /api/ops (an addition to PROTOCOL.md). Every
// request needs a bearer token whose claims say operator AND a database
// that still says so (a revoke or a ban takes effect at the next
// request): no token, an expired or altered one is 401; a valid token of
// anyone else is 403. Every action takes a reason and is written to the
// audit log by the store, in the transaction that does it.

// Operations is the operators' store; *postgres.Ops satisfies it.
type Operations interface {
	IsOperator(ctx context.Context, playerID string) (bool, error)
	Flags(ctx context.Context) ([]leaderboard.FlaggedPlayer, error)
	Decide(ctx context.Context, a leaderboard.Actor, playerID, signal, key, status, reason string) error
	OpsBoard(ctx context.Context, game, filter, search string, limit, offset int, flagged map[string]int) ([]leaderboard.OpsBoardEntry, error)
	OpsPlayer(ctx context.Context, playerID string) (leaderboard.OpsPlayer, error)
	FindPlayers(ctx context.Context, search string) ([]leaderboard.PlayerRef, error)
	Ban(ctx context.Context, a leaderboard.Actor, playerID, reason string, until *time.Time) error
	Unban(ctx context.Context, a leaderboard.Actor, playerID, reason string) error
	Rename(ctx context.Context, a leaderboard.Actor, playerID, name, reason string) error
	ResetRating(ctx context.Context, a leaderboard.Actor, playerID, game, reason string) error
	Void(ctx context.Context, a leaderboard.Actor, ids []string, reason string) (leaderboard.VoidResult, error)
	RecordAbort(ctx context.Context, a leaderboard.Actor, matchID, reason string, before any) error
	Audit(ctx context.Context, f leaderboard.AuditFilter) ([]leaderboard.AuditEntry, error)
	MoveCounts(ctx context.Context, ids []string) (map[string]int, error)
}

// aborter is the match registry's operator abort (match.Registry.Abort).
type aborter interface {
	Abort(ctx context.Context, matchID string) error
}

// opsRoutes adds the operators' endpoints to mux.
func (s *Server) opsRoutes(mux *http.ServeMux) {
	if s.deps.Ops == nil {
		return
	}
	api := func(path string, methods map[string]opsHandlerFunc) {
		hs := make(map[string]http.HandlerFunc, len(methods))
		for m, h := range methods {
			hs[m] = s.asOperator(h)
		}
		mux.Handle(path, s.limitAPI(methodHandler(s, hs)))
	}
	get := func(h opsHandlerFunc) map[string]opsHandlerFunc { return map[string]opsHandlerFunc{http.MethodGet: h} }
	post := func(h opsHandlerFunc) map[string]opsHandlerFunc { return map[string]opsHandlerFunc{http.MethodPost: h} }
	api("/api/ops/me", get(s.opsMe))
	api("/api/ops/overview", get(s.opsOverview))
	api("/api/ops/flags", get(s.opsFlags))
	api("/api/ops/flags/{player}/{signal}", post(s.opsDecide))
	api("/api/ops/leaderboard/{game}", get(s.opsBoard))
	api("/api/ops/players", get(s.opsFindPlayers))
	api("/api/ops/players/{id}", get(s.opsPlayer))
	api("/api/ops/players/{id}/ban", post(s.opsBan))
	api("/api/ops/players/{id}/unban", post(s.opsUnban))
	api("/api/ops/players/{id}/rename", post(s.opsRename))
	api("/api/ops/players/{id}/reset", post(s.opsReset))
	api("/api/ops/matches/live", get(s.opsLive))
	api("/api/ops/matches/void", post(s.opsVoid))
	api("/api/ops/matches/{id}/abort", post(s.opsAbort))
	api("/api/ops/audit", get(s.opsAudit))
}

// opsHandlerFunc is an operator endpoint: a is the operator.
type opsHandlerFunc func(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor)

// asOperator lets only operators through to h.
func (s *Server) asOperator(h opsHandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !id.Operator {
			s.writeError(w, r, fmt.Errorf("%w: operators only", ErrForbidden))
			return
		}
		ctx, cancel := s.dbContext(r)
		defer cancel()
		ok, err := s.deps.Ops.IsOperator(ctx, id.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !ok {
			s.writeError(w, r, fmt.Errorf("%w: operators only (the role was revoked)", ErrForbidden))
			return
		}
		h(w, r, ctx, leaderboard.Actor{ID: id.ID, Name: id.Name})
	}
}

// isOperator reports whether the database says playerID is an operator,
// for the claims of a token being issued; false without Ops or when the
// database cannot tell.
func (s *Server) isOperator(r *http.Request, playerID string) bool {
	if s.deps.Ops == nil {
		return false
	}
	ctx, cancel := s.dbContext(r)
	defer cancel()
	ok, err := s.deps.Ops.IsOperator(ctx, playerID)
	if err != nil {
		s.logger.Warn("check operator role", "player_id", playerID, "err", err)
	}
	return ok
}

// addrBlock is the /24 of an IPv4 address, the /64 of an IPv6 one.
func addrBlock(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	bits := 64
	if addr.Unmap().Is4() {
		addr, bits = addr.Unmap(), 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// opsBody is the body of every operator action.
type opsBody struct {
	Reason string   `json:"reason"`
	Name   string   `json:"name"`     // rename
	Game   string   `json:"game"`     // reset
	Until  *int64   `json:"until_ms"` // ban: null or absent for good
	IDs    []string `json:"ids"`      // void
	Status string   `json:"status"`   // flag decision
	Key    string   `json:"key"`      // flag decision
}

func (s *Server) opsMe(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	writeJSON(w, http.StatusOK, map[string]any{"operator": true, "player": map[string]string{"id": a.ID, "name": a.Name}})
}

// overviewReply is GET /api/ops/overview.
type overviewReply struct {
	Now     Sample   `json:"now"`
	History []Sample `json:"history"`
	Games   []string `json:"games"`
}

func (s *Server) opsOverview(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	now := s.probe(ctx)
	var history []Sample
	if m := s.deps.Monitor; m != nil {
		var p50, p90 float64
		history, p50, p90 = m.History()
		now.WaitP50MS, now.WaitP90MS = p50, p90
		if n := len(history); n > 0 {
			now.MovesPerSec = history[n-1].MovesPerSec
		}
	}
	if history == nil {
		history = []Sample{}
	}
	games := []string{}
	for _, g := range s.deps.Games.All() {
		games = append(games, g.ID())
	}
	writeJSON(w, http.StatusOK, overviewReply{Now: now, History: history, Games: games})
}

// Probe is the monitor's sampler: the counts as they are now.
func (s *Server) Probe(ctx context.Context) Sample { return s.probe(ctx) }

func (s *Server) probe(ctx context.Context) Sample {
	c := s.counts(ctx)
	queued := 0
	for _, n := range c.Queued {
		queued += n
	}
	smp := Sample{
		AtMS: s.now().UnixMilli(), Players: c.Players, Spectators: c.Spectators,
		LiveMatches: c.LiveMatches, Queued: queued, Queues: c.Queued, DBHealthy: true,
	}
	if s.deps.ReadyFunc != nil {
		if err := s.deps.ReadyFunc(ctx); err != nil {
			smp.DBHealthy, smp.Spooling = false, true
		}
	}
	return smp
}

func (s *Server) opsFlags(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	flags, err := s.deps.Ops.Flags(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, flags)
}

func (s *Server) opsDecide(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	var b opsBody
	if err := s.readJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Ops.Decide(ctx, a, r.PathValue("player"), r.PathValue("signal"), b.Key, b.Status, b.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": b.Status})
}

// flagCounts maps flagged players to their number of flags.
func (s *Server) flagCounts(ctx context.Context) (map[string]int, error) {
	flags, err := s.deps.Ops.Flags(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(flags))
	for _, f := range flags {
		out[f.Player.ID] = len(f.Flags)
	}
	return out, nil
}

func (s *Server) opsBoard(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	game := r.PathValue("game")
	if _, ok := s.deps.Games.Lookup(game); !ok {
		s.writeError(w, r, fmt.Errorf("%w: %s", ErrUnknownGame, game))
		return
	}
	q := r.URL.Query()
	limit, err1 := optInt(q.Get("limit"))
	offset, err2 := optInt(q.Get("offset"))
	if err1 != nil || err2 != nil {
		s.writeError(w, r, fmt.Errorf("%w: limit and offset are numbers", ErrBadRequest))
		return
	}
	flagged, err := s.flagCounts(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	entries, err := s.deps.Ops.OpsBoard(ctx, game, q.Get("filter"), q.Get("q"), limit, offset, flagged)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if q.Get("format") == "csv" {
		rows := [][]string{{"player_id", "name", "rating", "rd", "provisional", "games", "wins", "losses", "draws", "last_played", "banned", "flags"}}
		for _, e := range entries {
			last := ""
			if e.LastPlayed != nil {
				last = e.LastPlayed.UTC().Format(time.RFC3339)
			}
			rows = append(rows, []string{e.Player.ID, e.Player.Name, ftoa(e.Rating), ftoa(e.RD), strconv.FormatBool(e.Provisional),
				strconv.Itoa(e.Games), strconv.Itoa(e.Wins), strconv.Itoa(e.Losses), strconv.Itoa(e.Draws), last,
				strconv.FormatBool(e.Banned), strconv.Itoa(e.Flags)})
		}
		writeCSV(w, "leaderboard-"+game+".csv", rows)
		return
	}
	writeJSON(w, http.StatusOK, entries)
}

func (s *Server) opsFindPlayers(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	found, err := s.deps.Ops.FindPlayers(ctx, r.URL.Query().Get("q"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, found)
}

// opsPlayerReply is GET /api/ops/players/{id}: the player's file, with
// their live match if any.
type opsPlayerReply struct {
	leaderboard.OpsPlayer
	Live []string `json:"live"`
}

func (s *Server) opsPlayer(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	id := r.PathValue("id")
	p, err := s.deps.Ops.OpsPlayer(ctx, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	flags, err := s.deps.Ops.Flags(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, f := range flags {
		if f.Player.ID == id {
			p.Flags = f.Flags
		}
	}
	writeJSON(w, http.StatusOK, opsPlayerReply{OpsPlayer: p, Live: s.deps.Matches.Active(id)})
}

func (s *Server) opsBan(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	var b opsBody
	if err := s.readJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if id == a.ID {
		s.writeError(w, r, fmt.Errorf("%w: an operator cannot ban themselves", ErrBadRequest))
		return
	}
	var until *time.Time
	if b.Until != nil {
		t := time.UnixMilli(*b.Until)
		until = &t
	}
	if err := s.deps.Ops.Ban(ctx, a, id, b.Reason, until); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The ban is stored: now the player goes. Their sockets close, their
	// live matches end aborted and unrated, and their queue ticket and
	// challenges go.
	closed := len(s.closePlayer(id, closeBadToken, "banned")) // its hello is refused from now on
	aborted := []string{}
	for _, mid := range s.deps.Matches.Active(id) {
		if s.abortMatch(ctx, a, mid, "ban: "+b.Reason) == nil {
			aborted = append(aborted, mid)
		}
	}
	if _, err := s.deps.Lobby.Leave(ctx, id); err != nil {
		s.logger.Warn("banned player: leave queue", "player_id", id, "err", err)
	}
	s.deps.Lobby.CancelChallenges(ctx, id)
	writeJSON(w, http.StatusOK, map[string]any{"banned": true, "sockets_closed": closed, "aborted": aborted})
}

func (s *Server) opsUnban(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	var b opsBody
	if err := s.readJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Ops.Unban(ctx, a, r.PathValue("id"), b.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"banned": false})
}

func (s *Server) opsRename(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	var b opsBody
	if err := s.readJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.deps.Ops.Rename(ctx, a, r.PathValue("id"), b.Name, b.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": b.Name})
}

func (s *Server) opsReset(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	var b opsBody
	if err := s.readJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, ok := s.deps.Games.Lookup(b.Game); !ok {
		s.writeError(w, r, fmt.Errorf("%w: %q", ErrUnknownGame, b.Game))
		return
	}
	if err := s.deps.Ops.ResetRating(ctx, a, r.PathValue("id"), b.Game, b.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"reset": b.Game})
}

func (s *Server) opsVoid(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	var b opsBody
	if err := s.readJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.deps.Ops.Void(ctx, a, b.IDs, b.Reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// liveMatch is a line of GET /api/ops/matches/live.
type liveMatch struct {
	match.Summary
	Moves int   `json:"moves"`
	AgeMS int64 `json:"age_ms"`
}

func (s *Server) opsLive(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	live := s.deps.Matches.List(match.StatusLive)
	ids := make([]string, len(live))
	for i, m := range live {
		ids[i] = m.ID
	}
	moves, err := s.deps.Ops.MoveCounts(ctx, ids)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now().UnixMilli()
	out := make([]liveMatch, 0, len(live))
	for _, m := range live {
		out = append(out, liveMatch{Summary: m, Moves: moves[m.ID], AgeMS: now - m.StartedMS})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) opsAbort(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	var b opsBody
	if err := s.readJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(b.Reason) == "" {
		s.writeError(w, r, fmt.Errorf("%w: a reason is required", ErrBadRequest))
		return
	}
	if err := s.abortMatch(ctx, a, r.PathValue("id"), b.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": match.StatusAborted, "reason": match.ReasonOperator})
}

// abortMatch ends a live match of this process as an operator's abort,
// and logs it.
func (s *Server) abortMatch(ctx context.Context, a leaderboard.Actor, matchID, reason string) error {
	ab, ok := s.deps.Matches.(aborter)
	if !ok {
		return fmt.Errorf("%w: aborting matches is not supported here", ErrBadRequest)
	}
	before, ok := s.deps.Matches.Get(matchID)
	if !ok {
		return fmt.Errorf("match %s: %w", matchID, match.ErrNotFound)
	}
	if err := ab.Abort(ctx, matchID); err != nil {
		return err
	}
	if err := s.deps.Ops.RecordAbort(ctx, a, matchID, reason, before); err != nil {
		s.logger.Error("log an operator's abort", "match_id", matchID, "err", err)
	}
	return nil
}

func (s *Server) opsAudit(w http.ResponseWriter, r *http.Request, ctx context.Context, a leaderboard.Actor) {
	q := r.URL.Query()
	limit, err := optInt(q.Get("limit"))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("%w: limit is a number", ErrBadRequest))
		return
	}
	entries, err := s.deps.Ops.Audit(ctx, leaderboard.AuditFilter{Action: q.Get("action"), Operator: q.Get("operator"), Target: q.Get("target"), Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if q.Get("format") == "csv" {
		rows := [][]string{{"id", "at", "operator", "action", "target_kind", "target", "reason", "before", "after"}}
		for _, e := range entries {
			rows = append(rows, []string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339), e.OperatorName, e.Action,
				e.TargetKind, e.TargetID, e.Reason, string(e.Before), string(e.After)})
		}
		writeCSV(w, "audit.csv", rows)
		return
	}
	writeJSON(w, http.StatusOK, entries)
}

func optInt(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// writeCSV answers rows as a CSV download. Cells that a spreadsheet would
// take for a formula are prefixed with a quote.
func writeCSV(w http.ResponseWriter, name string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	for _, row := range rows {
		for i, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				if _, err := strconv.ParseFloat(c, 64); err != nil {
					row[i] = "'" + c
				}
			}
		}
		cw.Write(row)
	}
	cw.Flush()
}
