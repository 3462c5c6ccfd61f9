package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/turnbase/turnbase/leaderboard"
)

// Identity is who a bearer token speaks for.
type Identity struct {
	ID    string // opaque player id; never empty
	Name  string
	Guest bool
	// Operator: the token says the player is an operator. Operator
	// requests check the database too (ops.go), so a revoke is immediate.
	Operator bool
	// Gen is the player's token generation when the token was issued
	// (leaderboard.Player.TokenGen): the token is revoked once the
	// player's is higher. Tokens from before generations carry none: 0.
	Gen int64
}

// Tokens issues and verifies the server's bearer tokens (JWT, HS256).
// Immutable after newTokens; safe for concurrent use.
type Tokens struct {
	secret   []byte
	ttl      time.Duration
	issuer   string
	audience string
	maxLen   int
	now      func() time.Time
	parser   *jwt.Parser
}

// claims is the JWT payload: sub is the player id.
type claims struct {
	Name     string `json:"name"`
	Guest    bool   `json:"guest"`
	Operator bool   `json:"op,omitempty"`
	Gen      int64  `json:"gen,omitempty"`
	jwt.RegisteredClaims
}

// newTokens returns Tokens configured by cfg (with defaults applied).
func newTokens(cfg Config, now func() time.Time) *Tokens {
	return &Tokens{
		secret:   cfg.JWTSecret,
		ttl:      cfg.TokenTTL,
		issuer:   cfg.TokenIssuer,
		audience: cfg.TokenAudience,
		maxLen:   cfg.MaxTokenLen,
		now:      now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(cfg.TokenIssuer),
			jwt.WithAudience(cfg.TokenAudience),
			jwt.WithLeeway(cfg.TokenLeeway),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
		),
	}
}

// Issue returns a signed token for id and when it expires.
func (t *Tokens) Issue(id Identity) (token string, expires time.Time, err error) {
	now := t.now().Truncate(time.Second)
	expires = now.Add(t.ttl)
	c := claims{
		Name:     id.Name,
		Guest:    id.Guest,
		Operator: id.Operator,
		Gen:      id.Gen,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   id.ID,
			Issuer:    t.issuer,
			Audience:  jwt.ClaimStrings{t.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expires),
			// Each token is new, even two issued for one player in the
			// same second (a refresh right after a sign-in).
			ID: tokenID(),
		},
	}
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token for %s: %w", id.ID, err)
	}
	return token, expires, nil
}

// tokenID is a token's unique id (jti): 72 random bits.
func tokenID() string {
	var b [9]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Verify returns the identity a token speaks for. Every refusal wraps
// ErrUnauthorized.
func (t *Tokens) Verify(token string) (Identity, error) {
	if token == "" {
		return Identity{}, fmt.Errorf("%w: no token", ErrUnauthorized)
	}
	if len(token) > t.maxLen {
		return Identity{}, fmt.Errorf("%w: token too long", ErrUnauthorized)
	}
	var c claims
	_, err := t.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		return t.secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, fmt.Errorf("%w: token expired", ErrUnauthorized)
	case err != nil:
		return Identity{}, fmt.Errorf("%w: invalid token", ErrUnauthorized)
	case c.Subject == "" || leaderboard.ValidName(c.Name) != nil || c.Gen < 0:
		return Identity{}, fmt.Errorf("%w: invalid token claims", ErrUnauthorized)
	}
	return Identity{ID: c.Subject, Name: c.Name, Guest: c.Guest, Operator: c.Operator, Gen: c.Gen}, nil
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: want Authorization: Bearer <token>", ErrUnauthorized)
	}
	return strings.TrimSpace(token), nil
}

// authenticate returns the identity of the request's bearer token.
func (s *Server) authenticate(r *http.Request) (Identity, error) {
	token, err := bearerToken(r)
	if err != nil {
		return Identity{}, err
	}
	return s.tokens.Verify(token)
}

// authReply is the answer of every endpoint that hands out a token.
type authReply struct {
	Token     string     `json:"token"`
	ExpiresMS int64      `json:"expires_ms"`
	Player    authPlayer `json:"player"`
}

type authPlayer struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Guest bool   `json:"guest"`
	// Operator is an addition to PROTOCOL.md: present and true for an
	// operator (the client shows the operator pages).
	Operator bool `json:"operator,omitempty"`
}

// identityOf is who a token issued now for p speaks for.
func identityOf(p leaderboard.Player) Identity {
	return Identity{ID: p.ID, Name: p.Name, Guest: p.Guest, Gen: p.TokenGen}
}

// checkGen refuses a token issued at an older token generation than the
// player's, p as stored now: an upgrade, a password change or a ban
// revoked it.
func checkGen(id Identity, p leaderboard.Player) error {
	if id.Gen != p.TokenGen {
		return fmt.Errorf("%w: token revoked", ErrUnauthorized)
	}
	return nil
}

// issue writes a fresh token for p with the given status.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, status int, p leaderboard.Player) {
	id := identityOf(p)
	id.Operator = s.isOperator(r, p.ID)
	token, expires, err := s.tokens.Issue(id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, authReply{
		Token:     token,
		ExpiresMS: expires.UnixMilli(),
		Player:    authPlayer{ID: id.ID, Name: id.Name, Guest: id.Guest, Operator: id.Operator},
	})
}
