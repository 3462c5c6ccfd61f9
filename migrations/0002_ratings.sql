-- 0002: applying results to ratings, and the indexes of the read side
-- (leaderboards, player pages, match listings).
--
-- A finished, rated match is rated exactly once, in one transaction that
-- locks the match row, updates both players' ratings rows, inserts their
-- rating_changes and sets matches.rated_at. The journal ends a match first
-- (status, ended_at, winner, reason); rating follows, possibly much later
-- when the journal had to spool the end while the database was down.

-- When the result was applied to the players' ratings; null while pending,
-- and for matches whose result moves no rating (aborted, unrated). It is
-- not one of the columns matches_result_once freezes, so it can be set
-- after the end; matches_rated_once below keeps it from changing after.
ALTER TABLE matches ADD COLUMN rated_at timestamptz;

ALTER TABLE matches ADD CONSTRAINT matches_rated_only_finished_rated
    CHECK (rated_at IS NULL OR (status = 'finished' AND rated));

-- Once set, rated_at stays: a result is rated once. Voiding a match does
-- not touch it (the void is recorded in voided_at).
CREATE FUNCTION matches_rated_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.rated_at IS DISTINCT FROM OLD.rated_at THEN
        RAISE EXCEPTION 'match % was rated at %; rated_at cannot change', OLD.id, OLD.rated_at
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER matches_rated_once
    BEFORE UPDATE ON matches
    FOR EACH ROW
    WHEN (OLD.rated_at IS NOT NULL)
    EXECUTE FUNCTION matches_rated_once();

-- Results waiting to be rated, in end order (RatePending). Small: a row
-- leaves it when it is rated.
CREATE INDEX matches_rating_pending ON matches (ended_at, id)
    WHERE status = 'finished' AND rated AND rated_at IS NULL AND voided_at IS NULL;

-- The default leaderboard: established players only (RD <= 110, the
-- constant leaderboard.ProvisionalRD), best first, ties by id. Queries
-- must spell the predicate "rd <= 110" as a literal for the planner to
-- use it. ratings_leaderboard (0001) serves the board with provisional
-- players included.
CREATE INDEX ratings_leaderboard_established ON ratings (game, rating DESC, player_id)
    WHERE rd <= 110;

-- Banned players, few: leaderboards and rank counts leave them out with an
-- anti-join on this index instead of reading every player row.
CREATE INDEX players_banned ON players (id) WHERE banned_at IS NOT NULL;

-- Ended matches (finished or aborted), newest end first, all games and
-- per game: GET /api/matches?status=finished. Queries say
-- "status <> 'live'" to match the predicate.
CREATE INDEX matches_ended ON matches (ended_at DESC, id DESC) WHERE status <> 'live';
CREATE INDEX matches_ended_game ON matches (game, ended_at DESC, id DESC) WHERE status <> 'live';
