-- 0010: reserved for the cross-node matchmaking branch, which adds its
-- own 0010; this placeholder only keeps the numbering whole (tern refuses
-- a gap) until that branch is merged. Delete this file at that merge.
SELECT 1;
