-- 0009 belongs to another branch. This placeholder only lets the cluster
-- branch migrate on its own (tern refuses a gap before 0010): delete it
-- when merging, once the branch whose 0009 takes its place is in.
SELECT 1;
