-- 0004: make a match cost the database less.
--
-- last_seq: the journal used to bump it in every batch of a match's moves,
-- which made a new version of the match row per batch (and pruning work
-- later). Nothing reads it: match_moves' primary key (match_id, seq) keeps
-- a move from being stored twice, and the journal now checks that it owns
-- a match with a row lock (SELECT ... FOR SHARE), which holds off a
-- takeover until the moves are committed just as the UPDATE did.
-- BenchmarkGroupCommit at 200 matches: 21-24 -> 13-17 us of PostgreSQL CPU
-- per move.
ALTER TABLE matches DROP COLUMN last_seq;

-- matches_result_once fired, as a PL/pgSQL call, for every update of an
-- ended match (its WHEN only asked OLD.status <> 'live'), and rating one
-- sets rated_at. The comparison moves into WHEN, which the executor
-- evaluates without calling the function; the function still raises the
-- same error when a frozen column changes.
DROP TRIGGER matches_result_once ON matches;
CREATE TRIGGER matches_result_once
    BEFORE UPDATE ON matches
    FOR EACH ROW
    WHEN (OLD.status <> 'live' AND
        (NEW.status, NEW.winner, NEW.reason, NEW.ended_at, NEW.rated, NEW.seat0, NEW.seat1, NEW.game)
        IS DISTINCT FROM
        (OLD.status, OLD.winner, OLD.reason, OLD.ended_at, OLD.rated, OLD.seat0, OLD.seat1, OLD.game))
    EXECUTE FUNCTION matches_result_once();
