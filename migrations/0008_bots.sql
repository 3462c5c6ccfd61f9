-- 0008: computer players.
--
-- A computer player is a players row like any other, so that matches
-- (seat0, seat1 REFERENCES players) can seat it. Its id is
-- 'bot:<game>:<level>' (account ids never hold a colon) and its name
-- '<game>-<level>'. It is not a guest, so no person can register or take
-- that name (players_registered_name_key), and it has no password, so no
-- one can log in as it. Matches with a computer player are created with
-- rated = false, so it never gets a ratings row and never shows on a
-- leaderboard.
ALTER TABLE players
    ADD COLUMN bot boolean NOT NULL DEFAULT false,
    DROP CONSTRAINT players_password_iff_registered,
    ADD CONSTRAINT players_password_iff_registered CHECK (bot OR guest = (password_hash IS NULL)),
    ADD CONSTRAINT players_bot_shape CHECK (NOT bot OR (password_hash IS NULL AND id LIKE 'bot:%'));

-- The levels of today. A level added later is created on demand by the
-- journal (as a guest row with bot = true) until a migration adds it here.
-- A name a person registered before this migration keeps it: that bot
-- row is then created on demand instead.
INSERT INTO players (id, name, guest, bot)
SELECT id, name, false, true
FROM (VALUES
    ('bot:tictactoe:easy', 'tictactoe-easy'),
    ('bot:tictactoe:medium', 'tictactoe-medium'),
    ('bot:tictactoe:perfect', 'tictactoe-perfect'),
    ('bot:rps:fair', 'rps-fair'),
    ('bot:rps:reader', 'rps-reader'),
    ('bot:connectfour:easy', 'connectfour-easy'),
    ('bot:connectfour:medium', 'connectfour-medium'),
    ('bot:connectfour:strong', 'connectfour-strong')
) AS v(id, name)
WHERE NOT EXISTS (SELECT FROM players p WHERE p.name_key = lower(v.name) AND NOT p.guest)
ON CONFLICT (id) DO NOTHING;
