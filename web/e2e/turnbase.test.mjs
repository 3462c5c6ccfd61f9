// End-to-end tests of the browser client against the real server: guests,
// quick match, a full tic-tac-toe and rps match with a spectator, a reload
// mid-game, rematch, resign, a challenge link, and (once the server has
// them) the leaderboard, player and replay pages. Screenshots go to
// web/e2e/screenshots/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launch, newPage, reopen, snap, uniqueName, DESKTOP, PHONE } from './lib/browser.mjs';
import { matchIdOf, pickGame, quickMatch, signIn, seatOf, cell, play, resultTitle } from './lib/play.mjs';

let server;
let browser;
const pages = [];
let alice; let bob; let watcher;
const names = { alice: uniqueName('alice'), bob: uniqueName('bob'), carol: uniqueName('carol') };
let tttMatch = null;

async function open(opts) {
  const p = await newPage(browser, server.base, opts);
  pages.push(p);
  return p;
}

before(async () => {
  server = await startServer();
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

describe('turnbase in the browser', { timeout: 10 * 60 * 1000 }, () => {
  test('a visitor sees the lobby and can pick a name', async () => {
    const visitor = await open({ viewport: DESKTOP });
    await visitor.goto('/');
    await visitor.waitForSelector('.auth-card');
    await visitor.waitForSelector('.live-card');
    await visitor.waitForSelector('#conn[data-state="online"]');
    // A bad name is refused in the form, not by a dead page.
    await visitor.fill('#auth-name', 'x');
    await visitor.click('.auth-form button[type=submit]');
    assert.match(await visitor.textContent('.form-error'), /at least 3/);
    // Accounts may not exist yet: a clear message either way, never a dead page.
    await visitor.click('.segmented-btn:has-text("Log in")');
    await visitor.fill('#auth-name', uniqueName('nobody'));
    await visitor.fill('#auth-pass', 'correct horse battery');
    await visitor.click('.auth-form button[type=submit]');
    await visitor.waitForFunction(() => document.querySelector('.form-error')?.textContent.trim().length > 0);
    await visitor.click('.segmented-btn:has-text("Guest")');
    await visitor.fill('#auth-name', '');
    await snap(visitor, 'lobby-visitor');

    // A token the server refuses (WebSocket close 4001) is dropped: the name form comes back.
    await visitor.evaluate(() => localStorage.setItem('turnbase.session', JSON.stringify({
      token: 'not-a-valid-token', expires_ms: Date.now() + 3600e3, player: { id: 'nobody', name: 'ghost', guest: true } })));
    await visitor.reload();
    await visitor.waitForSelector('.auth-card');
    await visitor.waitForFunction(() => !localStorage.getItem('turnbase.session'));
    await visitor.waitForSelector('#conn[data-state="online"]'); // back as a spectator
    assert.deepEqual(visitor.problems, []);
  });

  test('two guests quick-match and play tic-tac-toe to a win, watched move by move; a reload comes back', async () => {
    alice = await open({ viewport: DESKTOP });
    bob = await open({ viewport: PHONE });
    watcher = await open({ viewport: DESKTOP, colorScheme: 'dark' });
    await signIn(alice, names.alice);
    await signIn(bob, names.bob);
    assert.equal((await alice.textContent('.account-name')).trim(), names.alice);

    // The waiting state shows the time waited and can be cancelled.
    await pickGame(alice, 'tictactoe');
    await alice.click('[data-action="quick-match"]');
    await alice.waitForSelector('.waiting[data-mode="queued"]');
    await alice.waitForFunction(() => /0:0[1-9]/.test(document.querySelector('.waiting-time')?.textContent || ''), null, { timeout: 5000 });
    await snap(alice, 'lobby-waiting');
    await alice.click('[data-action="cancel-queue"]');
    await alice.waitForSelector('[data-action="quick-match"]:not([disabled])');
    await snap(alice, 'lobby-signed-in');

    tttMatch = await quickMatch(alice, bob, 'tictactoe');
    const x = (await seatOf(alice)) === 0 ? alice : bob;
    const o = x === alice ? bob : alice;
    await x.waitForSelector('.status[data-turn="you"]');
    assert.match(await x.textContent('.status-title'), /Your move/);
    assert.match(await o.textContent('.status-title'), /Opponent’s move/);
    assert.ok(await o.isDisabled(cell(0)), 'the board is closed while it is not your turn');

    // A spectator, not signed in, opens the match link.
    await watcher.goto(`/m/${tttMatch}`);
    await watcher.waitForSelector('.ttt');
    await x.waitForSelector('.spectators[data-count="1"]');
    assert.equal(await watcher.locator('.ttt-cell:not([disabled])').count(), 0, 'spectators cannot move');

    // A visitor's lobby lists the live game.
    const lobbyVisitor = await open({ viewport: DESKTOP });
    await lobbyVisitor.goto('/');
    await lobbyVisitor.waitForSelector(`.live-item[href="/m/${tttMatch}"]`, { timeout: 10000 });
    await snap(lobbyVisitor, 'lobby-live');

    const all = [alice, bob, watcher];
    await play(x, 4, 'X', all);
    await play(o, 0, 'O', all);
    await play(x, 2, 'X', all);
    assert.ok(await o.isDisabled(cell(4)), 'occupied cells are not offered');

    // Reload mid-game: the same position comes back and play goes on.
    await o.reload();
    for (const [i, m] of [[4, 'X'], [0, 'O'], [2, 'X']]) await o.waitForSelector(cell(i, m));
    await o.waitForSelector('.status[data-turn="you"]');
    await snap(x, 'game-tictactoe-opponent-turn');
    await snap(o, 'game-tictactoe-your-turn');
    await snap(watcher, 'game-tictactoe-spectator');
    await play(o, 6, 'O', all);
    await play(x, 1, 'X', all);
    await play(o, 8, 'O', all);
    await play(x, 7, 'X', all); // 1-4-7: a column for X

    assert.equal(await resultTitle(x), 'You won!');
    assert.equal(await resultTitle(o), 'You lost');
    const xName = x === alice ? names.alice : names.bob;
    assert.equal(await resultTitle(watcher), `${xName} wins`);
    assert.match(await watcher.textContent('.result-reason'), /three in a row/);
    assert.equal(await watcher.locator('.ttt-cell.ttt-win').count(), 3);
    // The rating change, when the server reports one.
    await x.waitForSelector('.rating-row', { timeout: 5000 }).catch(() => {});
    await snap(x, 'game-tictactoe-won');
    await snap(o, 'game-tictactoe-lost');
    await snap(watcher, 'game-tictactoe-finished-spectator');

    // Rematch: one offers, the other sees it and accepts, both move on.
    await x.click('[data-action="rematch"]');
    await o.waitForSelector('.rematch-offer');
    await snap(o, 'game-rematch-offered');
    await o.click('[data-action="rematch"]');
    await Promise.all([x.waitForURL((u) => !u.pathname.endsWith(tttMatch)), o.waitForURL((u) => !u.pathname.endsWith(tttMatch))]);
    const again = matchIdOf(x);
    assert.notEqual(again, tttMatch);
    assert.equal(matchIdOf(o), again);
    await x.waitForSelector('.player.is-you');
    // Seats swap in a rematch: the old O moves first now.
    await o.waitForSelector('.status[data-turn="you"]');
    await play(o, 4, 'X', [x, o]);
    // x moves once: a resign before one's own first move is an unrated abort.
    await play(x, 0, 'O', [x, o]);

    // Resign, with a confirmation.
    await x.click('[data-action="resign"]');
    await x.waitForSelector('dialog#confirm[open]');
    await x.click('dialog#confirm [data-role="cancel"]');
    assert.equal(await x.locator('.result').count(), 0, 'cancel keeps playing');
    await x.click('[data-action="resign"]');
    await x.click('dialog#confirm [data-role="ok"]');
    assert.equal(await resultTitle(o), 'You won!');
    assert.match(await o.textContent('.result-reason'), /resigned/);

    for (const p of all) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });

  test('rock-paper-scissors: hidden choices, reveals, round history, a winner', async () => {
    await alice.goto('/');
    await bob.goto('/');
    const id = await quickMatch(alice, bob, 'rps');
    await watcher.goto(`/m/${id}`);
    await watcher.waitForSelector('.rps');
    const choose = async (page, c) => {
      await page.waitForSelector(`.rps-choice[data-choice="${c}"]:not([disabled])`);
      await page.click(`.rps-choice[data-choice="${c}"]`);
    };
    const rounds = (page, n) => page.waitForFunction((k) => document.querySelectorAll('.rps-round').length === k, n);

    // Round 1: Alice picks; nobody else can see what.
    await choose(alice, 'rock');
    await alice.waitForSelector('.status-title:has-text("Waiting for opponent")');
    await bob.waitForSelector('.hand-right .hand-q-ready');
    await watcher.waitForSelector('.hand-q-ready');
    assert.equal(await bob.locator('.rps-stage .hand').count(), 0, 'the opponent does not see the choice');
    assert.equal(await watcher.locator('.rps-stage .hand').count(), 0, 'spectators do not see the choice');
    await snap(alice, 'game-rps-waiting');
    await snap(bob, 'game-rps-choose');
    await choose(bob, 'scissors');
    for (const p of [alice, bob, watcher]) await rounds(p, 1);
    await watcher.waitForSelector('.rps-stage .hand-rock');
    await snap(watcher, 'game-rps-reveal-spectator');

    // Round 2: a tie is replayed.
    await choose(alice, 'paper');
    await choose(bob, 'paper');
    for (const p of [alice, bob, watcher]) await rounds(p, 2);
    assert.match(await watcher.textContent('.rps-history'), /Tie/);

    // Reload mid-match: the score and history come back.
    await bob.reload();
    await rounds(bob, 2);
    assert.match(await bob.textContent('.rps-score-num'), /0\s*–\s*1/);

    // Round 3: Alice wins 2-0.
    await choose(alice, 'scissors');
    await choose(bob, 'paper');
    assert.equal(await resultTitle(alice), 'You won!');
    assert.equal(await resultTitle(bob), 'You lost');
    assert.equal(await resultTitle(watcher), `${names.alice} wins`);
    for (const p of [alice, bob, watcher]) await rounds(p, 3);
    await alice.waitForSelector('.rating-row', { timeout: 5000 }).catch(() => {});
    await snap(alice, 'game-rps-won', { fullPage: true });
    await snap(watcher, 'game-rps-finished-spectator', { fullPage: true });
    for (const p of [alice, bob, watcher]) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });

  test('a challenge link brings a new player straight into the game', async () => {
    await alice.goto('/');
    await alice.waitForSelector('[data-action="challenge"]:not([disabled])');
    await pickGame(alice, 'tictactoe');
    await alice.click('[data-action="challenge"]');
    await alice.waitForSelector('#challenge-link');
    const link = await alice.inputValue('#challenge-link');
    assert.match(link, /\/c\/[^/]+$/);
    await snap(alice, 'lobby-challenge');

    let carol = await open({ viewport: PHONE });
    await carol.goto(link);
    await carol.waitForSelector('.auth-card');
    await snap(carol, 'challenge-invite');
    await carol.fill('#auth-name', names.carol);
    await carol.click('.auth-form button[type=submit]');
    await Promise.all([carol.waitForURL(/\/m\//), alice.waitForURL(/\/m\//)]);
    assert.equal(matchIdOf(carol), matchIdOf(alice));
    await carol.waitForSelector('.ttt');
    await carol.waitForSelector('.player.is-you');
    const names2 = await carol.locator('.player-name-text').allTextContents();
    assert.ok(names2.includes(names.alice) && names2.includes(names.carol), `both names shown: ${names2}`);

    // The same invite cannot be used twice.
    const dave = await open({ viewport: DESKTOP });
    await dave.goto(link);
    await dave.fill('#auth-name', uniqueName('dave'));
    await dave.click('.auth-form button[type=submit]');
    await dave.waitForSelector('.empty-title');
    await snap(dave, 'challenge-expired');

    // Carol closes her tab: Alice sees her away, with the time waited; she comes back.
    const carolProblems = carol.problems;
    await carol.close();
    await alice.waitForSelector('.player.away');
    await alice.waitForSelector('.status-away');
    await alice.waitForFunction(() => /0:0[1-9]|left/.test(document.querySelector('.status-away')?.textContent || ''));
    await snap(alice, 'game-opponent-disconnected');
    carol = await reopen(carol);
    pages.push(carol);
    await carol.goto('/');
    await carol.waitForSelector('.resume'); // the lobby offers the game in progress
    await snap(carol, 'lobby-resume');
    await carol.click('.resume');
    await carol.waitForSelector('.player.is-you');
    await alice.waitForSelector('.player.away', { state: 'detached' });

    // Nobody has moved: resigning now aborts the game, unrated.
    await carol.click('[data-action="resign"]');
    await carol.click('dialog#confirm [data-role="ok"]');
    assert.equal(await resultTitle(alice), 'Game aborted');
    assert.match(await alice.textContent('.result-reason'), /before their first move/);
    assert.deepEqual(carolProblems, []);
    for (const p of [alice, carol, dave]) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });

  test('unknown pages, and pages whose API is not there yet, show a tidy page', async () => {
    const p = await open({ viewport: DESKTOP });
    await p.goto('/no/such/page');
    await p.waitForSelector('.empty-title:has-text("Nothing here")');
    await p.goto('/m/no-such-match');
    await p.waitForSelector('.empty-title', { timeout: 10000 });
    // Each of these shows its content, or a short "not available" note: never a blank page.
    for (const [path, content] of [
      ['/leaderboard/tictactoe', '.lb-table, .empty-title'],
      [`/replay/${tttMatch}`, '.replay-controls, .empty-title'],
      ['/players/no-such-player', '.rating-cards, .empty-title'],
    ]) {
      await p.goto(path);
      await p.waitForSelector(content, { timeout: 10000 });
      if (path.startsWith('/leaderboard')) await snap(p, 'leaderboard-or-placeholder');
    }
    assert.deepEqual(p.problems, []);
  });

  test('leaderboard, player page and replay', async (t) => {
    const res = await fetch(`${server.base}/api/leaderboard/tictactoe?provisional=true&limit=50`);
    if (res.status === 404) { t.skip('the server has no leaderboard yet (/api/leaderboard answers 404)'); return; }
    assert.equal(res.status, 200);
    const board = await res.json();
    const page = await open({ viewport: DESKTOP });
    await signIn(page, uniqueName('erin'));
    await page.goto('/leaderboard/tictactoe');
    if (!board.entries.length) {
      await page.waitForSelector('.empty-title');
    } else {
      // The page shows what the API ranks, in its order.
      await page.waitForSelector('.lb-table');
      const shown = await page.locator('.lb-table .who-name').allTextContents();
      assert.deepEqual(shown, board.entries.map((e) => e.player.name));
      assert.equal(await page.locator('.lb-table .tag-warn').count(), board.entries.filter((e) => e.provisional).length);
      // Only settled players when provisional ones are left out.
      await page.click('label.switch');
      await page.waitForURL(/provisional=false/);
      await page.waitForSelector('.lb-table, .empty-title');
    }
    await page.goto('/leaderboard/tictactoe');
    await page.waitForSelector('.lb-table, .empty-title');
    await snap(page, 'leaderboard', { fullPage: true });

    // A player's page: one from the board, or Alice (who has played).
    const who = board.entries[0] ? board.entries[0].player.id
      : (await (await fetch(`${server.base}/api/matches/${tttMatch}`)).json().catch(() => null))?.players?.[0]?.id;
    if (who) {
      await page.goto(`/players/${encodeURIComponent(who)}`);
      await page.waitForSelector('.rating-cards, .empty-title');
      await snap(page, 'player', { fullPage: true });
    }

    const replay = await fetch(`${server.base}/api/matches/${tttMatch}`);
    if (replay.status === 200) {
      await page.goto(`/replay/${tttMatch}`);
      await page.waitForSelector('.replay-controls');
      await page.click('[data-action="first"]');
      assert.equal(await page.locator('.ttt-cell[data-mark="X"], .ttt-cell[data-mark="O"]').count(), 0);
      await page.click('[data-action="next"]');
      await page.waitForSelector(cell(4, 'X'));
      await page.click('[data-action="last"]');
      await page.waitForSelector(cell(7, 'X'));
      assert.equal(await page.locator('.ttt-cell[data-mark]:not([data-mark=""])').count(), 7);
      await snap(page, 'replay');
    }
    assert.deepEqual(page.problems, []);
  });

  test('accounts: register, sign out, log in, a wrong password, and a guest who keeps their name', async (t) => {
    const probe = await fetch(`${server.base}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    if (probe.status === 404) { t.skip('the server has no accounts yet (/api/auth/login answers 404)'); return; }
    const p = await open({ viewport: PHONE });
    const name = uniqueName('gina');
    const password = 'a long enough secret';
    await p.goto('/');
    await p.click('.segmented-btn:has-text("Register")');
    await p.fill('#auth-name', name);
    await p.fill('#auth-pass', password);
    await p.click('.auth-form button[type=submit]');
    await p.waitForSelector('.play-card');
    const id = await p.evaluate(() => JSON.parse(localStorage.getItem('turnbase.session')).player.id);
    assert.equal(await p.locator('.upgrade-card').count(), 0, 'registered players are not offered to keep their name');

    await p.click('#account button[aria-label="Sign out"]');
    await p.waitForSelector('.auth-card');
    await p.click('.segmented-btn:has-text("Log in")');
    await p.fill('#auth-name', name);
    await p.fill('#auth-pass', 'not the password');
    await p.click('.auth-form button[type=submit]');
    await p.waitForSelector('.form-error:has-text("don’t match")');
    await snap(p, 'login-failed');
    await p.fill('#auth-pass', password);
    await p.click('.auth-form button[type=submit]');
    await p.waitForSelector('.play-card');
    assert.equal(await p.evaluate(() => JSON.parse(localStorage.getItem('turnbase.session')).player.id), id, 'the same player');

    // A guest keeps their name with a password.
    const g = await open({ viewport: DESKTOP });
    await signIn(g, uniqueName('hugo'));
    const guestId = await g.evaluate(() => JSON.parse(localStorage.getItem('turnbase.session')).player.id);
    await g.fill('#upgrade-pass', password);
    await g.click('.upgrade-card button[type=submit]');
    await g.waitForSelector('.upgrade-card', { state: 'detached' });
    const after = await g.evaluate(() => JSON.parse(localStorage.getItem('turnbase.session')).player);
    assert.equal(after.id, guestId);
    assert.equal(after.guest, false);
    await g.waitForSelector('#conn[data-state="online"]');
    for (const x of [p, g]) assert.deepEqual(x.problems, [], `no page errors on ${x.url()}`);
  });

  test('the client reconnects by itself after a server restart', async () => {
    const p = await open({ viewport: DESKTOP });
    await signIn(p, uniqueName('frank'));
    await server.restart({
      pause: async () => {
        await p.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 10000 });
        await snap(p, 'connection-reconnecting');
      },
    });
    await p.waitForSelector('#conn[data-state="online"]', { timeout: 20000 });
    // The token outlives the restart: still signed in, ready to play.
    await p.waitForSelector('[data-action="quick-match"]:not([disabled])');
    assert.deepEqual(p.problems, []);
  });
});
