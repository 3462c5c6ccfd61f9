package web

import (
	"errors"
	"net/http"

	"github.com/turnbase/turnbase/game"
	"github.com/turnbase/turnbase/leaderboard"
	"github.com/turnbase/turnbase/lobby"
	"github.com/turnbase/turnbase/match"
)

// Errors of the transport itself. Wrap them with detail for the client:
// fmt.Errorf("%w: missing field %q", ErrBadRequest, "game").
var (
	ErrBadRequest       = errors.New("bad request")
	ErrUnauthorized     = errors.New("unauthorized")
	ErrForbidden        = errors.New("forbidden")
	ErrRateLimited      = errors.New("rate limited")
	ErrTooLarge         = errors.New("request body too large")
	ErrRouteNotFound    = errors.New("not found")
	ErrMethodNotAllowed = errors.New("method not allowed")
	ErrNotReady         = errors.New("not ready")
	ErrShuttingDown     = errors.New("server is shutting down")
	// ErrNoNewMatches: the server is not ready (ReadyFunc fails), so
	// nothing that would start a match is accepted.
	ErrNoNewMatches = errors.New("no new matches for now")
	// ErrServerFull: the server holds Config.MaxConns WebSockets.
	ErrServerFull = errors.New("server is full")
	// ErrUnknownGame: an HTTP path names a game the server does not offer.
	ErrUnknownGame = errors.New("unsupported game")
)

// Wire error codes (PROTOCOL.md, "Error codes" and "HTTP API"); those from
// codeForbidden on are HTTP only, and those from codeTooLarge on are this
// server's additions to the protocol.
const (
	codeBadRequest       = "bad_request"
	codeUnauthorized     = "unauthorized"
	codeNotFound         = "not_found"
	codeUnsupportedGame  = "unsupported_game"
	codeAlreadyQueued    = "already_queued"
	codeInMatch          = "in_match"
	codeNotYourTurn      = "not_your_turn"
	codeIllegalMove      = "illegal_move"
	codeMatchOver        = "match_over"
	codeNotAPlayer       = "not_a_player"
	codeRateLimited      = "rate_limited"
	codeServerBusy       = "server_busy"
	codeInternal         = "internal"
	codeForbidden        = "forbidden"
	codeNameTaken        = "name_taken"
	codeBadCredentials   = "bad_credentials"
	codeTooLarge         = "too_large"
	codeMethodNotAllowed = "method_not_allowed"
	codeNotReady         = "not_ready"
	// codeAlreadyRegistered: an upgrade of a player who has a password.
	codeAlreadyRegistered = "already_registered"
)

// Code returns the wire code of err ("internal" for an error nobody
// expected), for callers outside web that label what they count, such as
// metrics of refused moves.
func Code(err error) string {
	code, _, known := classify(err)
	if !known {
		return "internal"
	}
	return code
}

// classify returns the wire code and HTTP status for err. This is the only
// place where errors become codes. known is false for an error nobody
// expected: its caller logs it, and the client sees only "internal".
func classify(err error) (code string, status int, known bool) {
	is := func(targets ...error) bool {
		for _, t := range targets {
			if errors.Is(err, t) {
				return true
			}
		}
		return false
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return "", http.StatusOK, true
	case is(ErrBadRequest, match.ErrNoRematch, game.ErrBadMove, lobby.ErrOwnChallenge, leaderboard.ErrBadRequest):
		return codeBadRequest, http.StatusBadRequest, true
	case is(ErrUnauthorized):
		return codeUnauthorized, http.StatusUnauthorized, true
	case is(leaderboard.ErrBadCredentials):
		return codeBadCredentials, http.StatusUnauthorized, true
	case is(ErrForbidden, leaderboard.ErrBanned):
		return codeForbidden, http.StatusForbidden, true
	case is(leaderboard.ErrNameTaken):
		return codeNameTaken, http.StatusConflict, true
	case is(leaderboard.ErrNotGuest):
		return codeAlreadyRegistered, http.StatusConflict, true
	case is(ErrUnknownGame):
		return codeUnsupportedGame, http.StatusNotFound, true
	case is(ErrRateLimited, match.ErrWatchLimit, leaderboard.ErrBusy):
		return codeRateLimited, http.StatusTooManyRequests, true
	case is(ErrTooLarge) || errors.As(err, &tooBig):
		return codeTooLarge, http.StatusRequestEntityTooLarge, true
	case is(ErrRouteNotFound, match.ErrNotFound, lobby.ErrNotFound, leaderboard.ErrNotFound):
		return codeNotFound, http.StatusNotFound, true
	case is(ErrMethodNotAllowed):
		return codeMethodNotAllowed, http.StatusMethodNotAllowed, true
	case is(ErrNotReady):
		return codeNotReady, http.StatusServiceUnavailable, true
	case is(ErrShuttingDown, ErrNoNewMatches, ErrServerFull, match.ErrBusy, match.ErrShuttingDown, lobby.ErrClosed,
		match.ErrUnavailable, match.ErrJournalClosed):
		return codeServerBusy, http.StatusServiceUnavailable, true
	case is(match.ErrNotAPlayer):
		return codeNotAPlayer, http.StatusForbidden, true
	case is(match.ErrMatchOver, game.ErrGameOver):
		return codeMatchOver, http.StatusConflict, true
	case is(match.ErrInMatch, lobby.ErrInMatch):
		return codeInMatch, http.StatusConflict, true
	case is(match.ErrUnsupported, lobby.ErrUnsupportedGame):
		return codeUnsupportedGame, http.StatusBadRequest, true
	case is(game.ErrNotYourTurn):
		return codeNotYourTurn, http.StatusConflict, true
	case is(game.ErrIllegalMove):
		return codeIllegalMove, http.StatusBadRequest, true
	case is(lobby.ErrAlreadyQueued):
		return codeAlreadyQueued, http.StatusConflict, true
	}
	return codeInternal, http.StatusInternalServerError, false
}

// publicError returns the code and the message a client may see for err.
// An unexpected error's text stays in the server log.
func publicError(err error) (code, message string, status int, known bool) {
	code, status, known = classify(err)
	if !known {
		return code, "internal error", status, false
	}
	return code, err.Error(), status, true
}
