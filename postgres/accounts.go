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
	"runtime"
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

// Defaults for the zero fields of AccountsConfig.
const (
	DefaultQueryTimeout = 3 * time.Second
	// DefaultHashQueuePerSlot is, times HashSlots, the default HashQueue.
	DefaultHashQueuePerSlot = 8
)

// AccountsConfig configures Accounts. The zero value is ready to use.
type AccountsConfig struct {
	// BcryptCost is the cost of new password hashes, between bcrypt.MinCost
	// and bcrypt.MaxCost; 0 means bcrypt.DefaultCost. Tests use
	// bcrypt.MinCost. A login rehashes a password stored at another cost.
	BcryptCost int
	// QueryTimeout bounds each database round of a call (a statement or a
	// transaction); the password hashing around them is not counted, so a
	// call that waited for a hashing slot still gets the whole of it.
	// 0 means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// HashSlots is how many bcrypt computations run at once; 0 means
	// runtime.GOMAXPROCS (one per core).
	HashSlots int
	// HashQueue is how many logins may wait for a hashing slot (sign-ups:
	// a quarter of it, at least one); past it a call fails at once with
	// leaderboard.ErrBusy. 0 means DefaultHashQueuePerSlot * HashSlots.
	HashQueue int
}

// Accounts stores players in PostgreSQL and checks their passwords.
// Its fields are set by NewAccounts and never change; it is safe for
// concurrent use.
type Accounts struct {
	pool         *pgxpool.Pool
	logger       *slog.Logger
	cost         int
	queryTimeout time.Duration
	gate         *hashGate // every bcrypt computation but NewAccounts' own goes through it
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
	slots := cfg.HashSlots
	if slots <= 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	queue := cfg.HashQueue
	if queue <= 0 {
		queue = DefaultHashQueuePerSlot * slots
	}
	timeout := cfg.QueryTimeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	a := &Accounts{pool: pool, logger: logger, cost: cost, queryTimeout: timeout, gate: newHashGate(slots, queue)}
	dummy, err := a.newHash(rand.Text())
	if err != nil {
		panic(fmt.Sprintf("leaderboard: %v", err)) // the cost is valid: unreachable
	}
	a.dummyHash = dummy
	return a
}

// CreateGuest creates a guest with a new random id. Guests may share a name
// with one another, but not with a registered player (ErrNameTaken). from
// is the client's address block, kept as the account's first ("" none).
func (a *Accounts) CreateGuest(ctx context.Context, name, from string) (leaderboard.Player, error) {
	if err := leaderboard.ValidName(name); err != nil {
		return leaderboard.Player{}, err
	}
	p := leaderboard.Player{ID: strings.ToLower(rand.Text()), Name: name, Guest: true}
	ctx, cancel := a.query(ctx)
	defer cancel()
	// One round trip: the pipeline runs as one implicit transaction, so
	// the name's lock holds until the insert commits, and the insert's
	// statement, which starts after the lock is granted, sees any
	// registration of the name committed before it (READ COMMITTED takes
	// a snapshot per statement). A registration that takes the lock after
	// us starts after this guest exists, and renames it.
	b := &pgx.Batch{}
	b.Queue(lockNameSQL, nameLockClass, name)
	b.Queue(`
		INSERT INTO players (id, name, guest, first_addr_block)
		SELECT $1, $2, true, NULLIF($3, '')
		WHERE NOT EXISTS (SELECT FROM players WHERE name_key = lower($2) AND NOT guest)
		RETURNING created_at, token_gen`, p.ID, name, from).QueryRow(func(row pgx.Row) error {
		return row.Scan(&p.CreatedAt, &p.TokenGen)
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
// already, ignoring case (ErrNameTaken). Guests holding it are renamed
// (see renameGuests). from is as for CreateGuest.
func (a *Accounts) Register(ctx context.Context, name, password, from string) (leaderboard.Player, error) {
	if err := leaderboard.ValidName(name); err != nil {
		return leaderboard.Player{}, err
	}
	if err := leaderboard.ValidPassword(password); err != nil {
		return leaderboard.Player{}, err
	}
	hash, err := a.hashPassword(ctx, hashSignup, password) // before the transaction: it takes a while
	if err != nil {
		return leaderboard.Player{}, err
	}
	p := leaderboard.Player{ID: strings.ToLower(rand.Text()), Name: name}
	ctx, cancel := a.query(ctx)
	defer cancel()
	err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		// The unique index decides; the lock keeps CreateGuest's check
		// of the name true until its guest is stored, and so lets
		// renameGuests find every guest of the name.
		if err := lockName(ctx, tx, name); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO players (id, name, guest, password_hash, first_addr_block)
			VALUES ($1, $2, false, $3, NULLIF($4, ''))
			RETURNING created_at, token_gen`, p.ID, name, hash, from).Scan(&p.CreatedAt, &p.TokenGen)
		if err != nil {
			return err
		}
		return renameGuests(ctx, tx, name, p.ID)
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
	qctx, cancel := a.query(ctx)
	err := a.pool.QueryRow(qctx, `
		SELECT id, name, created_at, token_gen, password_hash, banned_at IS NOT NULL
		FROM players WHERE name_key = lower($1) AND NOT guest AND NOT bot`, name).
		Scan(&p.ID, &p.Name, &p.CreatedAt, &p.TokenGen, &hash, &banned)
	cancel()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// As long as a wrong password.
		if _, err := a.checkPassword(ctx, a.dummyHash, password); err != nil {
			return leaderboard.Player{}, err
		}
		return leaderboard.Player{}, leaderboard.ErrBadCredentials
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("look up player: %w", err)
	}
	ok, err := a.checkPassword(ctx, hash, password)
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
// and so its ratings, and raises its token generation: the guest's tokens
// were its only credential, and stop working. Guests sharing the name are
// renamed (see renameGuests). It fails with ErrNameTaken if a registered
// player took the name meanwhile, ErrNotGuest if the player has registered
// already, ErrNotFound and ErrBanned.
func (a *Accounts) Upgrade(ctx context.Context, playerID, password string) (leaderboard.Player, error) {
	if err := leaderboard.ValidPassword(password); err != nil {
		return leaderboard.Player{}, err
	}
	hash, err := a.hashPassword(ctx, hashSignup, password)
	if err != nil {
		return leaderboard.Player{}, err
	}
	p := leaderboard.Player{ID: playerID}
	var guest, banned bool
	ctx, cancel := a.query(ctx)
	defer cancel()
	err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		// The name's lock before the row's, as Register takes them (it
		// renames guests under its name's lock), so the two never wait
		// for each other in a cycle.
		var name string
		err := tx.QueryRow(ctx, `SELECT name FROM players WHERE id = $1`, playerID).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return leaderboard.ErrNotFound
		}
		if err == nil {
			err = lockName(ctx, tx, name)
		}
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `
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
		case p.Name != name:
			return errRenamed // by a registration of its name, meanwhile
		}
		err = tx.QueryRow(ctx, `
			UPDATE players SET guest = false, password_hash = $2, token_gen = token_gen + 1
			WHERE id = $1 RETURNING token_gen`,
			playerID, hash).Scan(&p.TokenGen)
		if err != nil {
			return err
		}
		return renameGuests(ctx, tx, p.Name, playerID)
	})
	switch {
	case errors.Is(err, leaderboard.ErrNotFound), errors.Is(err, leaderboard.ErrNotGuest), errors.Is(err, leaderboard.ErrBanned):
		return leaderboard.Player{}, err
	case isNameTaken(err), errors.Is(err, errRenamed):
		return leaderboard.Player{}, fmt.Errorf("%w: %s was registered meanwhile", leaderboard.ErrNameTaken, p.Name)
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("upgrade player %s: %w", playerID, err)
	}
	return p, nil
}

// ChangePassword replaces the password of the registered player playerID,
// given its current one, and raises its token generation: every token
// issued before stops working, and the caller issues a new one for the
// player returned. A wrong current password (or one changed meanwhile) is
// ErrBadCredentials; a guest's is ErrBadRequest (a guest upgrades); also
// ErrNotFound and ErrBanned.
func (a *Accounts) ChangePassword(ctx context.Context, playerID, current, next string) (leaderboard.Player, error) {
	if err := leaderboard.ValidPassword(next); err != nil {
		return leaderboard.Player{}, err
	}
	if len(current) > leaderboard.MaxPasswordBytes {
		return leaderboard.Player{}, leaderboard.ErrBadCredentials
	}
	p := leaderboard.Player{ID: playerID}
	var stored *string
	var banned bool
	qctx, cancel := a.query(ctx)
	err := a.pool.QueryRow(qctx, `
		SELECT name, created_at, password_hash, banned_at IS NOT NULL FROM players WHERE id = $1`, playerID).
		Scan(&p.Name, &p.CreatedAt, &stored, &banned)
	cancel()
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return leaderboard.Player{}, leaderboard.ErrNotFound
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("look up player %s: %w", playerID, err)
	case stored == nil:
		return leaderboard.Player{}, fmt.Errorf("%w: a guest has no password; upgrade instead", leaderboard.ErrBadRequest)
	case banned:
		return leaderboard.Player{}, leaderboard.ErrBanned
	}
	ok, err := a.checkPassword(ctx, *stored, current)
	switch {
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("check password of player %s: %w", playerID, err)
	case !ok:
		return leaderboard.Player{}, leaderboard.ErrBadCredentials
	}
	hash, err := a.hashPassword(ctx, hashLogin, next)
	if err != nil {
		return leaderboard.Player{}, err
	}
	qctx, cancel = a.query(ctx)
	defer cancel()
	err = a.pool.QueryRow(qctx, `
		UPDATE players SET password_hash = $2, token_gen = token_gen + 1
		WHERE id = $1 AND password_hash = $3 AND banned_at IS NULL
		RETURNING token_gen`, playerID, hash, *stored).Scan(&p.TokenGen)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return leaderboard.Player{}, fmt.Errorf("%w: the password or the player changed meanwhile", leaderboard.ErrBadCredentials)
	case err != nil:
		return leaderboard.Player{}, fmt.Errorf("change password of player %s: %w", playerID, err)
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
	ctx, cancel := a.query(ctx)
	defer cancel()
	// last_seen_at is a note, not a promise: its commit does not wait
	// for the disk (see asyncCommit).
	b := &pgx.Batch{}
	b.Queue(asyncCommit)
	b.Queue(`
		WITH seen AS (
			UPDATE players SET last_seen_at = now()
			WHERE id = $1 AND banned_at IS NULL
				AND (last_seen_at IS NULL OR last_seen_at < now() - make_interval(secs => $2))
		)
		SELECT name, guest, created_at, token_gen, banned_at IS NOT NULL
		FROM players WHERE id = $1`, playerID, touchEvery.Seconds()).QueryRow(func(row pgx.Row) error {
		return row.Scan(&p.Name, &p.Guest, &p.CreatedAt, &p.TokenGen, &banned)
	})
	err := a.pool.SendBatch(ctx, b).Close()
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

// renameGuests renames, in tx, the guests other than except that hold
// name (ignoring case), which has just become registered in tx: a guest
// cannot keep a registered name. Each keeps its id, ratings and tokens,
// under its name cut to 14 characters, "-" and 5 random hex digits,
// shown from its next hello or refresh. The caller holds the name's lock,
// so no guest of that name appears meanwhile. A new name that happens to
// be registered already is drawn again.
func renameGuests(ctx context.Context, tx pgx.Tx, name, except string) error {
	const rename = `
		WITH renamed AS (
			UPDATE players g SET name = left(g.name, 14) || '-' || left(md5(random()::text || g.id), 5)
			WHERE g.guest AND %s
			RETURNING g.id, g.name_key
		)
		SELECT coalesce(array_agg(r.id), '{}') FROM renamed r
		WHERE EXISTS (SELECT FROM players p WHERE p.name_key = r.name_key AND NOT p.guest)`
	var clash []string
	err := tx.QueryRow(ctx, fmt.Sprintf(rename, "g.name_key = lower($1) AND g.id <> $2"), name, except).Scan(&clash)
	for range 10 {
		if err != nil || len(clash) == 0 {
			break
		}
		err = tx.QueryRow(ctx, fmt.Sprintf(rename, "g.id = ANY($1)"), clash).Scan(&clash)
	}
	switch {
	case err != nil:
		return fmt.Errorf("rename guests named %s: %w", name, err)
	case len(clash) > 0:
		return fmt.Errorf("rename guests named %s: no free name for %d of them", name, len(clash))
	}
	return nil
}

// query bounds one database round of a call.
func (a *Accounts) query(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.queryTimeout)
}

// rehashIfStale stores a new hash of password if the stored one was made
// at another cost than the configured one. A failure is logged: the login
// succeeded anyway, and the next one tries again.
func (a *Accounts) rehashIfStale(ctx context.Context, playerID, stored, password string) {
	cost, err := bcrypt.Cost([]byte(strings.TrimPrefix(stored, passwordScheme)))
	if err != nil || cost == a.cost {
		return
	}
	hash, err := a.hashPassword(ctx, hashLogin, password)
	if err == nil {
		// Only if no one changed the hash meanwhile. The token generation
		// stays: the password is the same.
		qctx, cancel := a.query(ctx)
		_, err = a.pool.Exec(qctx, `
			UPDATE players SET password_hash = $2 WHERE id = $1 AND password_hash = $3`,
			playerID, hash, stored)
		cancel()
	}
	if err != nil {
		a.logger.WarnContext(ctx, "rehash password", "player_id", playerID, "err", err)
	}
}

// hashPassword is newHash of password, in a slot of the hashing gate.
func (a *Accounts) hashPassword(ctx context.Context, class hashClass, password string) (string, error) {
	release, err := a.gate.acquire(ctx, class)
	if err != nil {
		return "", err
	}
	defer release()
	return a.newHash(password)
}

// checkPassword is matchHash, in a slot of the hashing gate (a login's).
func (a *Accounts) checkPassword(ctx context.Context, stored, password string) (bool, error) {
	release, err := a.gate.acquire(ctx, hashLogin)
	if err != nil {
		return false, err
	}
	defer release()
	return matchHash(stored, password)
}

// newHash returns the stored form of a new hash of password.
//
// Passwords are stored as "bcrypt-sha256$" followed by bcrypt's own
// encoding ("$2a$<cost>$<salt and hash>") of a pre-hash of the password:
// base64(HMAC-SHA256(prehashKey, password)), 44 bytes. bcrypt reads only
// the first 72 bytes of its input (x/crypto's bcrypt refuses longer ones),
// so without the pre-hash two long passwords that differ only after byte
// 72 would match each other; with it, every byte counts. Base64 keeps NUL
// bytes, which some bcrypt implementations stop at, out of bcrypt's input.
func (a *Accounts) newHash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(prehash(password), a.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return passwordScheme + string(h), nil
}

// matchHash reports whether password matches the stored hash, in time
// that depends on the hash's cost and not on the password.
func matchHash(stored, password string) (bool, error) {
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

// errRenamed: the guest being upgraded was renamed while Upgrade waited
// for its name's lock.
var errRenamed = errors.New("guest renamed meanwhile")

// lockNameSQL takes the transaction's advisory lock on name $2 (class $1).
// asyncCommit, first in a pipeline (one implicit transaction), lets that
// transaction commit without waiting for its WAL to reach the disk: for
// writes that are notes, not promises (when a player was last seen, the
// address block an account came from), which a crash may lose without
// harm. Each such wait is an fsync of its own at human pace; the WAL
// writer flushes these within 200 ms, together.
const asyncCommit = `SELECT set_config('synchronous_commit', 'off', true)`

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
