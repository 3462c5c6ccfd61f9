-- 0005: a resumed match continues above every version it sent, with the
-- deadline its players were shown.
--
-- Each stored move records the match.state version it produced and the
-- turn deadline shown after it (null: none runs, the move ended the
-- match). Moves stored before this migration have neither.
--
-- A live match may send versions up to its durable ceiling, the greater
-- of matches.version and (its last move's version + the server's headroom,
-- 64); before a change that is not a move would pass that, the owner
-- raises matches.version (never lowers it). A new owner starts above the
-- ceiling. So matches.version is not "the version last sent" as 0001
-- says, but a bound on every version sent; it costs a match-row update
-- only every 64 changes between two moves, not one per move (0004).
-- matches.deadline_at stays unused: the deadline of a match with no move
-- yet is its start plus the move timeout.
-- Both columns are nullable without a default and the check is NOT VALID,
-- so the migration neither rewrites nor scans match_moves; new rows are
-- checked.
ALTER TABLE match_moves
    ADD COLUMN version integer,
    ADD COLUMN deadline_at timestamptz,
    ADD CONSTRAINT match_moves_version_positive CHECK (version >= 1) NOT VALID;
