-- 0009: many nodes on one database.
--
-- Every server started with a DATABASE_URL keeps a row here and beats its
-- heartbeat (heartbeat_at = now()) every second or so. A node whose
-- heartbeat is older than the cluster's dead-after setting (default 5 s)
-- is dead: the surviving nodes take over its live matches (matches.owner
-- names a node id) without waiting for their leases to run out. A node
-- that stops cleanly releases its live matches (owner NULL) and deletes
-- its row; a dead node's row is deleted by a survivor once it owns no
-- live match. A restarted node keeps its id (it is kept in its data
-- folder) and so takes back what nobody took over yet.
CREATE TABLE nodes (
    id           text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
