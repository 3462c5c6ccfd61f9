package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/turnbase/turnbase/leaderboard"
	"golang.org/x/crypto/bcrypt"
)

const (
	// passwordScheme prefixes every stored hash, so that a later hasher can
	// tell the hashes it did not make.
	passwordScheme = "bcrypt-sha256$"
	// prehashKey keys the HMAC-SHA256 that a password goes through before
	// bcrypt. It is no secret (no pepper): it only makes the pre-hash
	// differ from a plain SHA-256 of the password, which other sites'
	// leaked databases may hold, so that those cannot be tried as bcrypt
	// inputs directly ("hash shucking").
	prehashKey = "turnbase password v1"

	// nameLockClass is the first key of the transaction-level advisory lock
	// taken on a name (the second is the name's hash), "name" in ASCII.
	nameLockClass = 0x6e616d65

	// touchEvery is how stale last_seen_at may get: Get writes it at most
	// this often per player.
	touchEvery = time.Minute
)

// AccountsConfig configures Accounts. The zero value is ready to use.
type AccountsConfig struct {
	// BcryptCost is the cost of new password hashes, between bcrypt.MinCost
	// and bcrypt.MaxCost; 0 means bcrypt.DefaultCost. Tests use
	// bcrypt.MinCost. A login rehashes a password stored at another cost.
	BcryptCost int
}

// Accounts stores players in PostgreSQL and checks their passwords.
// Its fields are set by NewAccounts and never change; it is safe for
// concurrent use.
type Accounts struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	cost   int
	// dummyHash is a stored-form hash, at cost, of a random password no one
	// knows. Login checks the password against it when the name is
	// unknown, so that it takes as long as a wrong password does.
	dummyHash string
}

// NewAccounts returns accounts stored in pool. It computes one hash at the
// configured cost, and panics if that cost is out of bcrypt's range: a
// configuration error that the program cannot run with.
func NewAccounts(pool *pgxpool.Pool, logger *slog.Logger, cfg AccountsConfig) *Accounts {
	cost := cfg.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		panic(fmt.Sprintf("leaderboard: bcrypt cost %d is outside %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	a := &Accounts{pool: pool, logger: logger, cost: cost}
	dummy, err := a.hashPassword(rand.Text())
	if err != nil {
		panic(fmt.Sprintf("leaderboard: %v", err)) // the cost is valid: unreachable
	}
	a.dummyHash = dummy
	return a
}

// CreateGuest creates a guest with a new random id. Guests may share a name
// with one another, but not with a registered player (ErrNameTaken).
func (a *Accounts) CreateGuest(ctx context.Context, name string) (leaderboard.Player, error) {
	if err := leaderboard.ValidName(name); err != nil {
		return leaderboard.Player{}, err
	}
	p := leaderboard.Player{ID: strings.ToLower(rand.Text()), Name: name, Guest: true}
	// One round trip: the pipeline runs as one implicit transaction, so
	// the name's lock holds until the insert commits, and the insert's
	// statement, which starts after the lock is granted, sees any
	// registration of the name committed before it (READ COMMITTED takes
	// a snapshot per statement). A registration that takes the lock after
	// us starts after this guest exists; guests may share a name with it.
	b := &pgx.Batch{}
	b.Queue(lockNameSQL, nameLockClass, name)
	b.Queue(`
		INSERT INTO players (id, name, guest)
		SELECT $1, $2, true
		WHERE NOT EXISTS (SELECT FROM players WHERE name_key = lower($2) AND NOT guest)
		RETURNING created_at`, p.ID, name).QueryRow(func(row pgx.Row) error {
		return row.Scan(&p.CreatedAt)
	})
	err := a.pool.SendBatch(ctx, b).Close()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return leaderboard.Player{}, fmt.Errorf("%w: %s is a registered name", leaderboard.ErrNameTaken, name)
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("create guest: %w", err)
	}
	return p, nil
}

// Register creates a registered player. The name must not be registered
// already, ignoring case (ErrNameTaken); guests may hold it.
func (a *Accounts) Register(ctx context.Context, name, password string) (leaderboard.Player, error) {
	if err := leaderboard.ValidName(name); err != nil {
		return leaderboard.Player{}, err
	}
	if err := leaderboard.ValidPassword(password); err != nil {
		return leaderboard.Player{}, err
	}
	hash, err := a.hashPassword(password) // before the transaction: it takes a while
	if err != nil {
		return leaderboard.Player{}, err
	}
	p := leaderboard.Player{ID: strings.ToLower(rand.Text()), Name: name}
	err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		// The unique index decides; the lock only keeps CreateGuest's
		// check of the name true until its guest is stored.
		if err := lockName(ctx, tx, name); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO players (id, name, guest, password_hash)
			VALUES ($1, $2, false, $3)
			RETURNING created_at`, p.ID, name, hash).Scan(&p.CreatedAt)
	})
	switch {
	case isNameTaken(err):
		return leaderboard.Player{}, fmt.Errorf("%w: %s", leaderboard.ErrNameTaken, name)
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("register player: %w", err)
	}
	return p, nil
}

// Login returns the registered player with that name (ignoring case) and
// password. An unknown name and a wrong password both give
// ErrBadCredentials, after the same work. A banned player who gives the
// right password gets ErrBanned.
func (a *Accounts) Login(ctx context.Context, name, password string) (leaderboard.Player, error) {
	// The rules are public: refusing what breaks them tells nothing about
	// accounts. The password's length is not checked, so that stricter
	// rules would not lock anyone out; its bytes are bounded.
	if err := leaderboard.ValidName(name); err != nil {
		return leaderboard.Player{}, err
	}
	if len(password) > leaderboard.MaxPasswordBytes {
		return leaderboard.Player{}, fmt.Errorf("%w: a password is at most %d characters", leaderboard.ErrBadRequest, leaderboard.MaxPasswordLen)
	}
	p := leaderboard.Player{}
	var hash string
	var banned bool
	err := a.pool.QueryRow(ctx, `
		SELECT id, name, created_at, password_hash, banned_at IS NOT NULL
		FROM players WHERE name_key = lower($1) AND NOT guest AND NOT bot`, name).
		Scan(&p.ID, &p.Name, &p.CreatedAt, &hash, &banned)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, _ = checkPassword(a.dummyHash, password) // as long as a wrong password
		return leaderboard.Player{}, leaderboard.ErrBadCredentials
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("look up player: %w", err)
	}
	ok, err := checkPassword(hash, password)
	switch {
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("check password of player %s: %w", p.ID, err)
	case !ok:
		return leaderboard.Player{}, leaderboard.ErrBadCredentials
	case banned:
		return leaderboard.Player{}, leaderboard.ErrBanned
	}
	a.rehashIfStale(ctx, p.ID, hash, password)
	return p, nil
}

// Upgrade registers the guest playerID with password, keeping its id, name
// and so its ratings. It fails with ErrNameTaken if a registered player
// took the name meanwhile, ErrNotGuest if the player has registered
// already, ErrNotFound and ErrBanned.
func (a *Accounts) Upgrade(ctx context.Context, playerID, password string) (leaderboard.Player, error) {
	if err := leaderboard.ValidPassword(password); err != nil {
		return leaderboard.Player{}, err
	}
	hash, err := a.hashPassword(password)
	if err != nil {
		return leaderboard.Player{}, err
	}
	p := leaderboard.Player{ID: playerID}
	var guest, banned bool
	err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			SELECT name, created_at, guest, banned_at IS NOT NULL
			FROM players WHERE id = $1 FOR UPDATE`, playerID).
			Scan(&p.Name, &p.CreatedAt, &guest, &banned)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return leaderboard.ErrNotFound
		case err != nil:
			return err
		case !guest:
			return leaderboard.ErrNotGuest
		case banned:
			return leaderboard.ErrBanned
		}
		if err := lockName(ctx, tx, p.Name); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE players SET guest = false, password_hash = $2 WHERE id = $1`,
			playerID, hash)
		return err
	})
	switch {
	case errors.Is(err, leaderboard.ErrNotFound), errors.Is(err, leaderboard.ErrNotGuest), errors.Is(err, leaderboard.ErrBanned):
		return leaderboard.Player{}, err
	case isNameTaken(err):
		return leaderboard.Player{}, fmt.Errorf("%w: %s was registered meanwhile", leaderboard.ErrNameTaken, p.Name)
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("upgrade player %s: %w", playerID, err)
	}
	return p, nil
}

// Get returns the player with that id: ErrNotFound if there is none,
// ErrBanned if an operator banned it. The server asks when a player comes
// (hello, a token refresh, /api/me), so Get also records that the player
// was seen (players.last_seen_at), at most once a minute, in the same
// statement.
func (a *Accounts) Get(ctx context.Context, playerID string) (leaderboard.Player, error) {
	p := leaderboard.Player{ID: playerID}
	var banned bool
	err := a.pool.QueryRow(ctx, `
		WITH seen AS (
			UPDATE players SET last_seen_at = now()
			WHERE id = $1 AND banned_at IS NULL
				AND (last_seen_at IS NULL OR last_seen_at < now() - make_interval(secs => $2))
		)
		SELECT name, guest, created_at, banned_at IS NOT NULL
		FROM players WHERE id = $1`, playerID, touchEvery.Seconds()).
		Scan(&p.Name, &p.Guest, &p.CreatedAt, &banned)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return leaderboard.Player{}, leaderboard.ErrNotFound
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("get player %s: %w", playerID, err)
	case banned:
		return leaderboard.Player{}, leaderboard.ErrBanned
	}
	return p, nil
}

// rehashIfStale stores a new hash of password if the stored one was made
// at another cost than the configured one. A failure is logged: the login
// succeeded anyway, and the next one tries again.
func (a *Accounts) rehashIfStale(ctx context.Context, playerID, stored, password string) {
	cost, err := bcrypt.Cost([]byte(strings.TrimPrefix(stored, passwordScheme)))
	if err != nil || cost == a.cost {
		return
	}
	hash, err := a.hashPassword(password)
	if err == nil {
		// Only if no one changed the hash meanwhile.
		_, err = a.pool.Exec(ctx, `
			UPDATE players SET password_hash = $2 WHERE id = $1 AND password_hash = $3`,
			playerID, hash, stored)
	}
	if err != nil {
		a.logger.WarnContext(ctx, "rehash password", "player_id", playerID, "err", err)
	}
}

// hashPassword returns the stored form of a new hash of password.
//
// Passwords are stored as "bcrypt-sha256$" followed by bcrypt's own
// encoding ("$2a$<cost>$<salt and hash>") of a pre-hash of the password:
// base64(HMAC-SHA256(prehashKey, password)), 44 bytes. bcrypt reads only
// the first 72 bytes of its input (x/crypto's bcrypt refuses longer ones),
// so without the pre-hash two long passwords that differ only after byte
// 72 would match each other; with it, every byte counts. Base64 keeps NUL
// bytes, which some bcrypt implementations stop at, out of bcrypt's input.
func (a *Accounts) hashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(prehash(password), a.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return passwordScheme + string(h), nil
}

// checkPassword reports whether password matches the stored hash, in time
// that depends on the hash's cost and not on the password.
func checkPassword(stored, password string) (bool, error) {
	h, ok := strings.CutPrefix(stored, passwordScheme)
	if !ok {
		return false, errors.New("unknown password hash scheme")
	}
	err := bcrypt.CompareHashAndPassword([]byte(h), prehash(password))
	switch {
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

func prehash(password string) []byte {
	mac := hmac.New(sha256.New, []byte(prehashKey))
	mac.Write([]byte(password))
	return base64.StdEncoding.AppendEncode(nil, mac.Sum(nil))
}

// lockNameSQL takes the transaction's advisory lock on name $2 (class $1).
const lockNameSQL = `SELECT pg_advisory_xact_lock($1::int4, hashtext(lower($2)))`

// lockName takes the transaction's advisory lock on a name, ignoring case.
// Statements that make a name registered, and CreateGuest's check that a
// name is not, take it first.
func lockName(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, lockNameSQL, nameLockClass, name)
	if err != nil {
		return fmt.Errorf("lock name: %w", err)
	}
	return nil
}

// isNameTaken reports whether err is a violation of the unique index on
// registered names.
func isNameTaken(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "players_registered_name_key"
}
