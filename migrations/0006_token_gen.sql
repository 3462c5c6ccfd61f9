-- 0006: tokens that can be revoked, and guests that give way to a
-- registered name.
--
-- token_gen is the player's token generation. Every token the server
-- issues carries the generation its player had then, and the server
-- refuses a token of an older generation wherever it reads the player
-- (hello, refresh, me, upgrade). Whatever must end the sessions that came
-- before bumps it: an upgrade (the guest token was the only credential),
-- a password change, and a ban (by the trigger below, so that a ban made
-- by any process or by hand counts). Tokens issued before this column
-- existed carry no generation, read as 0, the default: they stay valid.
ALTER TABLE players ADD COLUMN token_gen bigint NOT NULL DEFAULT 0;

CREATE FUNCTION players_ban_revokes_tokens() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.token_gen := OLD.token_gen + 1;
    RETURN NEW;
END
$$;

-- Only the change from not banned to banned: an unban leaves the
-- generation as the ban made it, so tokens from before the ban stay dead.
CREATE TRIGGER players_ban_revokes_tokens
    BEFORE UPDATE OF banned_at ON players
    FOR EACH ROW
    WHEN (OLD.banned_at IS NULL AND NEW.banned_at IS NOT NULL)
    EXECUTE FUNCTION players_ban_revokes_tokens();

-- A guest may not hold a registered name, ignoring case (PROTOCOL.md).
-- The server now renames the guests holding a name when it becomes
-- registered (register, upgrade): they keep their id, ratings and
-- sessions, under the name cut to 14 characters plus "-" and 5 hex
-- digits. Guests that already share a registered name are renamed the
-- same way here, with digits taken from their id.
UPDATE players g
SET name = left(g.name, 14) || '-' || left(md5(g.id), 5)
WHERE g.guest AND EXISTS (
    SELECT FROM players r WHERE r.name_key = g.name_key AND NOT r.guest);
