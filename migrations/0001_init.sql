-- 0001: players, ratings, matches and their moves, rating changes.
--
-- Several server processes share this database. Each live match is owned by
-- one process at a time through a lease on its row (matches.owner and
-- matches.lease_until); when the owner dies its lease runs out and another
-- process takes the match over, rebuilding it from match_moves. Operators ban
-- players and void matches; both are recorded, nothing is deleted.
--
-- Ids are opaque random text chosen by the server. Times are timestamptz.
-- Rules the server states in the protocol are repeated here as constraints
-- where the database can hold them cheaply, so that a bug cannot store what
-- the protocol says cannot happen.

CREATE TABLE players (
    id            text PRIMARY KEY CHECK (id <> ''),
    name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9_-]{3,20}$'),
    -- What registered names must not share. Names are ASCII, so lower()
    -- does not depend on the database's collation.
    name_key      text NOT NULL GENERATED ALWAYS AS (lower(name)) STORED,
    guest         boolean NOT NULL,
    -- The password hasher's own encoding (e.g. bcrypt's "$2a$..."); a guest
    -- has none, a registered player must.
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz,
    -- Set by an operator. A banned player can neither log in nor play, and
    -- is left out of leaderboards.
    banned_at     timestamptz,
    ban_reason    text,

    CONSTRAINT players_password_iff_registered CHECK (guest = (password_hash IS NULL)),
    CONSTRAINT players_ban_reason_needs_ban CHECK (ban_reason IS NULL OR banned_at IS NOT NULL)
);

-- Registered names are unique ignoring case. Guests may share a name with
-- one another; that a guest cannot take a registered name is up to the
-- statement that creates the guest (INSERT ... SELECT ... WHERE NOT EXISTS a
-- registered player with that name_key), which this index serves too. A
-- guest who registers (upgrade) keeps id and name, and now counts here.
CREATE UNIQUE INDEX players_registered_name_key ON players (name_key) WHERE NOT guest;

-- One Glicko-2 rating per player and game, created by the first rated
-- result. The defaults are Glicko-2's starting values.
CREATE TABLE ratings (
    player_id  text NOT NULL REFERENCES players (id),
    game       text NOT NULL,
    rating     double precision NOT NULL DEFAULT 1500,
    rd         double precision NOT NULL DEFAULT 350 CHECK (rd > 0 AND rd <= 350),
    volatility double precision NOT NULL DEFAULT 0.06 CHECK (volatility > 0),
    wins       integer NOT NULL DEFAULT 0 CHECK (wins >= 0),
    losses     integer NOT NULL DEFAULT 0 CHECK (losses >= 0),
    draws      integer NOT NULL DEFAULT 0 CHECK (draws >= 0),
    games      integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (player_id, game),
    CONSTRAINT ratings_games_sum CHECK (games = wins + losses + draws)
);

-- Leaderboard order: best first, ties broken by id so that pages are
-- stable.
CREATE INDEX ratings_leaderboard ON ratings (game, rating DESC, player_id);

CREATE TABLE matches (
    id          text PRIMARY KEY CHECK (id <> ''),
    game        text NOT NULL,
    status      text NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'finished', 'aborted')),
    seat0       text NOT NULL REFERENCES players (id),
    seat1       text NOT NULL REFERENCES players (id),
    -- Whether a finished match's result moves ratings; an aborted one
    -- never does, whatever this says.
    rated       boolean NOT NULL,
    -- The match this one is a rematch of.
    rematch_of  text REFERENCES matches (id),
    started_at  timestamptz NOT NULL DEFAULT now(),

    -- The process that runs the match, and until when: the owner renews
    -- its lease well before lease_until; once that has passed, any process
    -- may take the match over by setting both in one UPDATE that checks the
    -- old values (compare-and-set). Every write the owner makes about a
    -- live match checks owner = itself in the same statement, so a process
    -- that lost its lease without noticing cannot write any more. Owner ids
    -- must be unique per process start. Null once the match has ended.
    owner       text,
    lease_until timestamptz,
    -- When the current turn (round, in rps) times out: a new owner keeps
    -- the deadline the players were shown. Null when no turn runs.
    deadline_at timestamptz,
    -- The match.state version last sent, so that a new owner continues
    -- above it.
    version     integer NOT NULL DEFAULT 0 CHECK (version >= 0),
    -- The seq of the last stored move (0: none); the next move is
    -- last_seq + 1. The owner bumps it in the transaction that inserts the
    -- move, with "WHERE last_seq = $expected AND owner = $me".
    last_seq    integer NOT NULL DEFAULT 0 CHECK (last_seq >= 0),

    -- The result, set once, when the match ends (see matches_result_once).
    ended_at    timestamptz,
    winner      smallint CHECK (winner IN (0, 1)), -- the seat; null for a draw or an abort
    reason      text,     -- as in the protocol: line, board_full, rounds, timeout, resign, abandoned, no_moves, server_error

    -- Set by an operator. A voided match stays listed but counts for no
    -- one: its rating_changes are to be undone.
    voided_at   timestamptz,
    void_reason text,

    CONSTRAINT matches_two_players CHECK (seat0 <> seat1),
    CONSTRAINT matches_lease_pair CHECK ((owner IS NULL) = (lease_until IS NULL)),
    CONSTRAINT matches_live_or_ended CHECK (
        CASE status
            WHEN 'live' THEN ended_at IS NULL AND winner IS NULL AND reason IS NULL
            ELSE ended_at IS NOT NULL AND reason IS NOT NULL
                AND owner IS NULL AND deadline_at IS NULL
        END),
    CONSTRAINT matches_aborted_no_winner CHECK (status <> 'aborted' OR winner IS NULL),
    CONSTRAINT matches_void_after_end CHECK (voided_at IS NULL OR status <> 'live'),
    CONSTRAINT matches_void_reason_needs_void CHECK (void_reason IS NULL OR voided_at IS NOT NULL)
);

-- Live matches by lease, for the takeover scan ("lease_until < now()").
CREATE INDEX matches_live_lease ON matches (lease_until) WHERE status = 'live';
-- Listings: live or finished matches of a game, newest first.
CREATE INDEX matches_listing ON matches (status, game, started_at DESC);
-- A player's matches, newest first (recent matches, active matches).
CREATE INDEX matches_seat0 ON matches (seat0, started_at DESC);
CREATE INDEX matches_seat1 ON matches (seat1, started_at DESC);
CREATE INDEX matches_rematch_of ON matches (rematch_of) WHERE rematch_of IS NOT NULL;

-- A match's result never changes once set: ending a match is an UPDATE
-- "... WHERE id = $1 AND status = 'live'", and any later UPDATE that would
-- change the result fails here, whoever makes it. Operators void a match
-- instead (voided_at), which this allows.
CREATE FUNCTION matches_result_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.status, NEW.winner, NEW.reason, NEW.ended_at, NEW.rated, NEW.seat0, NEW.seat1, NEW.game)
        IS DISTINCT FROM
       (OLD.status, OLD.winner, OLD.reason, OLD.ended_at, OLD.rated, OLD.seat0, OLD.seat1, OLD.game)
    THEN
        RAISE EXCEPTION 'match % has already ended (%); its result cannot change', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER matches_result_once
    BEFORE UPDATE ON matches
    FOR EACH ROW
    WHEN (OLD.status <> 'live')
    EXECUTE FUNCTION matches_result_once();

-- Each accepted move of a match, in order; replaying them through the
-- game's rules rebuilds the match (a new owner does so). The primary key
-- makes storing a move idempotent: a retried insert of the same seq fails
-- (or, with ON CONFLICT (match_id, seq) DO NOTHING, inserts nothing and
-- the caller compares the stored move), so a move is never stored twice.
CREATE TABLE match_moves (
    match_id text NOT NULL REFERENCES matches (id),
    seq      integer NOT NULL CHECK (seq >= 1),
    seat     smallint NOT NULL CHECK (seat IN (0, 1)),
    move     jsonb NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (match_id, seq)
);

-- What a rated result did to each player's rating: one row per player and
-- match. Recording a result inserts these rows in the same transaction
-- that ends the match and updates ratings; the primary key makes a second
-- recording of the same result fail, and with it the rating updates of
-- that transaction, so a result moves ratings exactly once. The rows also
-- allow undoing the change when an operator voids the match.
CREATE TABLE rating_changes (
    match_id          text NOT NULL REFERENCES matches (id),
    player_id         text NOT NULL REFERENCES players (id),
    game              text NOT NULL,
    seat              smallint NOT NULL CHECK (seat IN (0, 1)),
    -- The player's score: 1 win, 0.5 draw, 0 loss.
    score             double precision NOT NULL CHECK (score IN (0, 0.5, 1)),
    rating_before     double precision NOT NULL,
    rating_after      double precision NOT NULL,
    rd_before         double precision NOT NULL,
    rd_after          double precision NOT NULL,
    volatility_before double precision NOT NULL,
    volatility_after  double precision NOT NULL,
    at                timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (match_id, player_id),
    CONSTRAINT rating_changes_one_per_seat UNIQUE (match_id, seat)
);

-- A player's rating history, newest first.
CREATE INDEX rating_changes_player ON rating_changes (player_id, game, at DESC);
