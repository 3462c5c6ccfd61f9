-- 0006 is sec-accounts' migration (0006_token_gen.sql). This placeholder
-- only lets the ops branch migrate on its own: delete it when merging
-- sec-accounts, whose 0006 takes its place.
SELECT 1;
