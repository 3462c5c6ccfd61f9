-- 0007: operators, their audit log, integrity flags, timed bans and the
-- address block an account was created from.

-- When the account was made an operator (turnbase operator grant); null
-- for everyone else. Operator requests check it on every call, so a
-- revoke takes effect at once.
ALTER TABLE players ADD COLUMN operator_since timestamptz;
CREATE INDEX players_operators ON players (id) WHERE operator_since IS NOT NULL;

-- The client's address block when the account was created: the /24 of an
-- IPv4 address, the /64 of an IPv6 one (e.g. '203.0.113.0/24'). Null for
-- accounts made before this column, or by other means.
ALTER TABLE players ADD COLUMN first_addr_block text;
CREATE INDEX players_first_addr_block ON players (first_addr_block, created_at)
    WHERE first_addr_block IS NOT NULL;

-- A ban ends at banned_until (null: for good). A timed ban past its end
-- is lifted by the server's sweep (Ops.LiftExpiredBans), which logs it.
ALTER TABLE players ADD COLUMN banned_until timestamptz;
ALTER TABLE players ADD CONSTRAINT players_ban_until_needs_ban
    CHECK (banned_until IS NULL OR banned_at IS NOT NULL);

-- Every operator action, append-only: who, when, what, on what, why, and
-- the target before and after.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    -- Null for the server itself (a timed ban running out) and the CLI.
    operator_id   text REFERENCES players (id),
    operator_name text NOT NULL,
    action        text NOT NULL CHECK (action ~ '^[a-z_.]{1,40}$'),
    target_kind   text NOT NULL CHECK (target_kind IN ('player', 'match', 'flag', 'operator')),
    target_id     text NOT NULL,
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    before        jsonb,
    after         jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_target ON audit_log (target_id, at DESC);

-- The log is append-only: UPDATE, DELETE and TRUNCATE are refused, for
-- everyone, the server included.
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- What an operator decided about a signal raised for a player. Signals are
-- computed from the match history each time the review queue is read
-- (postgres/signals.go); this table only remembers decisions. evidence_key
-- fingerprints the evidence decided on: a dismissed flag stays hidden until
-- the signal's evidence differs from it.
CREATE TABLE review_flags (
    player_id    text NOT NULL REFERENCES players (id),
    signal       text NOT NULL,
    status       text NOT NULL CHECK (status IN ('reviewed', 'dismissed')),
    evidence_key text NOT NULL,
    decided_by   text REFERENCES players (id),
    decided_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (player_id, signal)
);

-- Voiding: the rater's pending index leaves voided matches out already
-- (0002). Ratings of the players a void touches are recomputed from
-- rating_changes in end order, by player and game.
CREATE INDEX rating_changes_game_at ON rating_changes (game, at);
