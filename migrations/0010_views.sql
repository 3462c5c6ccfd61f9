-- 0011: views that are the same whichever node answers.
--
-- Each node of a cluster writes, at most once a second and only when it
-- changed, what it alone knows of itself into its nodes row: its open
-- player and spectator sockets, its live matches, players seated and
-- queued per game, and the spectators of each match it runs (those with
-- any). Every node reads the rows of the living nodes (heartbeat within
-- dead-after) to answer the cluster's counts and live list; a dead or
-- stopped node's row counts for nothing. NULL: the node wrote nothing yet
-- (or runs as one node, embedded, where nothing is written).
ALTER TABLE nodes ADD COLUMN views jsonb;

-- The live list, newest first over every game (matches_listing serves
-- one game's).
CREATE INDEX matches_live_started ON matches (started_at DESC, id) WHERE status = 'live';
