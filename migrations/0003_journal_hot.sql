-- 0003: keep the journal's updates of live matches cheap.
--
-- A live match's row is updated at every batch of its moves (last_seq) and
-- again at its end. With full pages PostgreSQL must put each new version
-- on another page and add it to all nine indexes of matches; with room
-- left on the page the update is heap-only (HOT) and touches no index,
-- since last_seq is in none. Under load (200 games, no think time) 41% of
-- the updates were not HOT before this.
ALTER TABLE matches SET (fillfactor = 50);

-- Each stored move checked its foreign key to matches: a lookup and a row
-- lock on the match per move, 40% of a journal batch's time
-- (BenchmarkGroupCommit at 200 matches: 58 -> 35 us per move). The key is
-- redundant: the journal's only statement that inserts moves joins them
-- to the match rows its own UPDATE of matches returns, so a move is stored
-- only for a match row that exists and is locked by that statement, and
-- match rows are never deleted.
ALTER TABLE match_moves DROP CONSTRAINT match_moves_match_id_fkey;
