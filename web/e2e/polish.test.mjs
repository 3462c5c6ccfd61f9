// Browser checks of the polish issue (#17): a board that stays still at the
// end, spectators who follow a rematch, Abort before one's first move, no
// rematch against someone who left, ratings on the player cards, screen
// reader announcements and one tab stop per board, lobby counts and hints,
// alerts, the rock-paper-scissors layout, and axe-core on every page.
// Screenshots go to web/e2e/screenshots/polish-*.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launch, newPage, snap, uniqueName, DESKTOP, PHONE } from './lib/browser.mjs';
import { a11yProblems } from './lib/axe.mjs';
import { matchIdOf, pickGame, quickMatch, signIn, seatOf, cell, play } from './lib/play.mjs';

let server;
let browser;
const pages = [];
const names = { alice: uniqueName('alice'), bob: uniqueName('bob') };
let alice; let bob; let watcher;

async function open(opts) {
  const p = await newPage(browser, server.base, opts);
  pages.push(p);
  return p;
}

// xo returns [the page that plays X, the one that plays O].
async function xo(a, b) {
  return (await seatOf(a)) === 0 ? [a, b] : [b, a];
}

const boardTop = (page, sel = '.board-wrap') => page.locator(sel).evaluate((el) => el.getBoundingClientRect().top + window.scrollY);

async function ratingOf(id, game) {
  const res = await fetch(`${server.base}/api/players/${encodeURIComponent(id)}`);
  const body = await res.json();
  return body.ratings && body.ratings[game] ? body.ratings[game] : null;
}

const playerId = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('turnbase.session')).player.id);

before(async () => {
  // A longer move time than the other files: these checks look around
  // before the first move, and a match with no move aborts at its deadline.
  server = await startServer({ env: { TURNBASE_MOVE_TIMEOUT: '60s' } });
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

describe('polish (issue 17)', { timeout: 10 * 60 * 1000 }, () => {
  test('the end keeps the board still; ratings on the cards; abort before moving; spectators follow the rematch; no rematch once the opponent left', async () => {
    alice = await open({ viewport: DESKTOP });
    bob = await open({ viewport: DESKTOP });
    watcher = await open({ viewport: DESKTOP });
    await signIn(alice, names.alice);
    await signIn(bob, names.bob);
    const id = await quickMatch(alice, bob, 'tictactoe');
    const [x, o] = await xo(alice, bob);
    await watcher.goto(`/m/${id}`);
    await watcher.waitForSelector('.ttt');

    // Before moving, leaving is an abort (unrated), not a resign.
    for (const p of [x, o]) await p.waitForSelector('[data-action="resign"][data-abort="true"]:has-text("Abort")');
    await x.click('[data-action="resign"]');
    await x.waitForSelector('dialog#confirm[open]');
    assert.match(await x.textContent('dialog#confirm .dialog-text'), /no rating changes/);
    assert.equal((await x.textContent('dialog#confirm [data-role="ok"]')).trim(), 'Abort');
    await x.click('dialog#confirm [data-role="cancel"]');

    // Provisional ratings are marked: new guests are.
    await x.waitForSelector('.player.is-you .player-rating .provisional');
    assert.match(await x.textContent('.player.is-you .player-rating'), /^\d+\?$/);

    // Screen readers: the status line is not a live region; the announcer says whose move it is.
    assert.equal(await x.locator('[aria-live] .countdown, [role="status"] .countdown').count(), 0, 'the countdown is not in a live region');
    await x.waitForFunction(() => /Your move/.test(document.querySelector('.announcer')?.textContent || ''));
    await o.waitForFunction(() => /Opponent’s move/.test(document.querySelector('.announcer')?.textContent || ''));
    // One tab stop for the board, arrow keys move within it.
    const stops = () => x.evaluate(() => [...document.querySelectorAll('.ttt-cell')].filter((b) => !b.disabled && b.tabIndex >= 0).length);
    assert.equal(await stops(), 1, 'the board is one tab stop');
    await x.focus('.ttt-cell[tabindex="0"]');
    const first = await x.evaluate(() => document.activeElement.dataset.cell);
    await x.keyboard.press('ArrowRight');
    const second = await x.evaluate(() => document.activeElement.dataset.cell);
    assert.equal(Number(second), Number(first) + 1, 'ArrowRight moves to the next cell');
    assert.equal(await stops(), 1, 'still one tab stop after moving');

    const tops = {};
    for (const [k, p] of Object.entries({ x, o, watcher })) tops[k] = await boardTop(p);
    const all = [x, o, watcher];
    await play(x, 0, 'X', all);
    await x.waitForSelector('[data-action="resign"][data-abort="false"]:has-text("Resign")');
    await play(o, 3, 'O', all);
    await play(x, 1, 'X', all);
    await play(o, 4, 'O', all);
    await play(x, 2, 'X', all); // the top row

    for (const p of all) await p.waitForSelector('.status-over .result-title');
    assert.equal((await x.textContent('.result-title')).trim(), 'You won!');
    await x.waitForSelector('.rating-row');
    await x.waitForTimeout(400); // the status animation settles
    for (const [k, p] of Object.entries({ x, o, watcher })) {
      const top = await boardTop(p);
      assert.ok(Math.abs(top - tops[k]) <= 1, `${k}: the board stays put at the end (${tops[k]} -> ${top})`);
      const bottom = await p.locator('.ttt-cell.ttt-win').last().evaluate((el) => el.getBoundingClientRect().bottom);
      assert.ok(bottom <= DESKTOP.height, `${k}: the winning line is on screen (bottom ${bottom})`);
    }
    await x.waitForFunction(() => /You won/.test(document.querySelector('.announcer')?.textContent || ''));
    // The cards show the new rating and the change.
    for (const p of [x, o]) await p.waitForSelector('.player .delta');
    const xSub = (await x.textContent('.player.is-you .player-sub')).replace(/\s+/g, ' ').trim();
    const xr = await ratingOf(await playerId(x), 'tictactoe');
    assert.match(xSub, /^\d+\?? ?\+\d+$/, `the winner's card: ${xSub}`);
    assert.equal(Number(xSub.match(/^\d+/)[0]), Math.round(xr.rating), 'the card shows the new rating');
    await snap(x, 'polish-ttt-won');
    await snap(watcher, 'polish-ttt-finished-spectator');

    // The rematch: the spectator is told and follows.
    await x.click('[data-action="rematch"]');
    await o.waitForSelector('.rematch-offer');
    await o.click('[data-action="rematch"]');
    await Promise.all([x.waitForURL((u) => !u.pathname.endsWith(id)), o.waitForURL((u) => !u.pathname.endsWith(id))]);
    const again = matchIdOf(x);
    await watcher.waitForSelector('.rematch-next');
    await snap(watcher, 'polish-rematch-spectator');
    await watcher.click('[data-action="watch-rematch"]');
    await watcher.waitForURL((u) => u.pathname === `/m/${again}`);
    await watcher.waitForSelector('.ttt');
    await x.waitForSelector('.spectators[data-count="1"]');

    // The old O moves first now; X (now O) has not moved: Abort for them only.
    await o.waitForSelector('.status[data-turn="you"]');
    await play(o, 4, 'X', [x, o, watcher]);
    await x.waitForSelector('[data-action="resign"][data-abort="true"]');
    await o.waitForSelector('[data-action="resign"][data-abort="false"]');
    await o.click('[data-action="resign"]');
    await o.click('dialog#confirm [data-role="ok"]');
    await x.waitForSelector('.status-over .result-title');

    // The loser goes back to the lobby: the winner is told no rematch is possible.
    await o.click('.result-actions a[href="/"]');
    await x.waitForSelector('.rematch-gone');
    assert.ok(await x.isDisabled('[data-action="rematch"]'), 'no rematch against someone who left');
    assert.match(await x.textContent('.rematch-gone'), /left the game/);
    await snap(x, 'polish-rematch-gone');
    for (const p of all) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });

  test('a challenge acceptor’s card shows their real rating', async () => {
    await alice.goto('/');
    await alice.waitForSelector('[data-action="challenge"]:not([disabled])');
    await pickGame(alice, 'tictactoe');
    await alice.click('[data-action="challenge"]');
    const link = await alice.inputValue('#challenge-link');
    await bob.goto(link);
    await Promise.all([alice.waitForURL(/\/m\//), bob.waitForURL(/\/m\//)]);
    const bobId = await playerId(bob);
    const r = await ratingOf(bobId, 'tictactoe');
    assert.ok(r && Math.round(r.rating) !== 1500, `bob has a rating of his own by now: ${JSON.stringify(r)}`);
    for (const p of [alice, bob]) {
      const seat = await p.evaluate((pid) => {
        const cards = [...document.querySelectorAll('.player')];
        return cards.findIndex((c) => c.querySelector('.player-name-text')?.textContent.length && c.dataset.seat !== undefined && c.textContent.includes(pid));
      }, names.bob);
      assert.ok(seat >= 0);
      const shown = await p.locator(`.player:has(.player-name-text:text-is("${names.bob}")) .player-rating`).textContent();
      assert.equal(Number(shown.replace('?', '')), Math.round(r.rating), `the acceptor's card shows ${Math.round(r.rating)}`);
    }
    await bob.click('[data-action="resign"]');
    await bob.click('dialog#confirm [data-role="ok"]');
    await alice.waitForSelector('.status-over');
    for (const p of [alice, bob]) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });
  test('the lobby: true counts while queued, a hint when alone, your ratings and last games, the sign-in form', async () => {
    const carol = await open({ viewport: DESKTOP });
    await carol.goto('/');
    await carol.waitForSelector('.auth-card');
    // The name field has the focus on the sign-in form.
    await carol.waitForFunction(() => document.activeElement && document.activeElement.id === 'auth-name');
    await signIn(carol, uniqueName('carol'));
    await pickGame(carol, 'rps');
    await carol.click('[data-action="quick-match"]');
    await carol.waitForSelector('.waiting[data-mode="queued"]');
    // The server counts the queued player, and the card says so.
    const games = await (await fetch(`${server.base}/api/games`)).json();
    const rps = games.find((g) => g.id === 'rps');
    assert.equal(rps.queued, 1, `/api/games while queued: ${JSON.stringify(rps)}`);
    assert.equal(rps.online, 1);
    await carol.waitForSelector('.game-option:has(input[value="rps"]) .count[data-online="1"]');
    // Alone for a few seconds: the page says so and offers a link.
    await carol.waitForSelector('.queue-alone:not([hidden])', { timeout: 12000 });
    assert.match(await carol.textContent('.queue-alone'), /Nobody else is looking/);
    assert.match(await carol.textContent('.queue-alone'), /private window/);
    await snap(carol, 'polish-queue-alone');
    await carol.click('[data-action="queue-to-challenge"]');
    await carol.waitForSelector('#challenge-link');
    const after = (await (await fetch(`${server.base}/api/games`)).json()).find((g) => g.id === 'rps');
    assert.equal(after.queued, 0, 'leaving for a link leaves the queue');

    // Alice has played: her lobby shows her rating per game and her last games.
    await alice.goto('/');
    await alice.waitForSelector('.recent-card .recent-item');
    const r = await ratingOf(await playerId(alice), 'tictactoe');
    assert.equal(Number(await alice.textContent('.my-rating[data-game="tictactoe"]')), Math.round(r.rating));
    // Her two decided games (a win and a loss, or two wins: seats are drawn at random) are listed.
    assert.ok(await alice.locator('.recent-item .result-chip-win, .recent-item .result-chip-loss').count() >= 2, 'her decided games are listed');
    await snap(alice, 'polish-lobby');

    // A guest who saves the account is told so; "Signed out" goes once back in.
    const dan = await open({ viewport: DESKTOP });
    const dname = uniqueName('dan');
    await signIn(dan, dname);
    await dan.fill('#upgrade-pass', 'a long enough secret');
    await dan.click('.upgrade-card button[type=submit]');
    await dan.waitForSelector('.toast:has-text("Account saved")');
    await dan.click('#account button[aria-label="Sign out"]');
    await dan.waitForSelector('.toast:has-text("Signed out")');
    await dan.waitForSelector('.auth-card');
    await dan.click('.segmented-btn:has-text("Log in")');
    await dan.fill('#auth-name', dname);
    await dan.fill('#auth-pass', 'a long enough secret');
    await dan.click('.auth-form button[type=submit]');
    await dan.waitForSelector('.play-card');
    assert.equal(await dan.locator('.toast:has-text("Signed out")').count(), 0, 'the signed-out note is gone');
    for (const p of [carol, alice, dan]) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });

  test('rock-paper-scissors fits a whole round at 1280x800', async () => {
    const id = await quickMatch(alice, bob, 'rps');
    for (const p of [alice, bob]) {
      await p.waitForSelector('.rps-choice:not([disabled])');
      const bottom = await p.evaluate(() => Math.max(...[...document.querySelectorAll('.rps-choice, [data-action="resign"]')].map((e) => e.getBoundingClientRect().bottom)));
      assert.ok(bottom <= 800, `the choices and Resign are on screen (bottom ${bottom})`);
    }
    await snap(alice, 'polish-rps-choose');
    await alice.click('.rps-choice[data-choice="rock"]');
    await bob.click('.rps-choice[data-choice="scissors"]');
    for (const p of [alice, bob]) await p.waitForFunction(() => document.querySelectorAll('.rps-round').length === 1);
    await alice.waitForSelector('.rps-choice:not([disabled])');
    const bottom = await alice.evaluate(() => Math.max(...[...document.querySelectorAll('.rps-choice, [data-action="resign"]')].map((e) => e.getBoundingClientRect().bottom)));
    assert.ok(bottom <= 800, `with a round in the history too (bottom ${bottom})`);
    await snap(alice, 'polish-rps-round2');
    await alice.click('[data-action="resign"]');
    await alice.click('dialog#confirm [data-role="ok"]');
    await bob.waitForSelector('.status-over');
    assert.ok(id);
    for (const p of [alice, bob]) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });

  test('sound and notifications, off by default: a match found and your move while the tab is hidden', async () => {
    const pages2 = [];
    for (const n of ['erin', 'fred']) {
      const p = await open({ viewport: DESKTOP });
      // A stand-in Notification and an AudioContext that counts its notes,
      // and a switch for document.visibilityState.
      await p.addInitScript(() => {
        window.__alerts = { notes: [], tones: 0, hidden: false };
        class FakeNotification {
          constructor(title, opts) { window.__alerts.notes.push({ title, body: opts && opts.body }); }
          close() {}
          static permission = 'default';
          static requestPermission() { FakeNotification.permission = 'granted'; return Promise.resolve('granted'); }
        }
        window.Notification = FakeNotification;
        const make = AudioContext.prototype.createOscillator;
        AudioContext.prototype.createOscillator = function () { window.__alerts.tones += 1; return make.call(this); };
        Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (window.__alerts.hidden ? 'hidden' : 'visible') });
        Object.defineProperty(Document.prototype, 'hidden', { get: () => window.__alerts.hidden });
      });
      await signIn(p, uniqueName(n));
      pages2.push(p);
    }
    const [erin, fred] = pages2;
    assert.equal(await erin.getAttribute('#alerts-toggle', 'aria-pressed'), 'false', 'off by default');
    await erin.click('#alerts-toggle');
    await erin.waitForSelector('#alerts-toggle[aria-pressed="true"]');
    assert.ok(await erin.evaluate(() => window.__alerts.tones > 0), 'turning it on plays the chime once');
    await erin.evaluate(() => { window.__alerts.tones = 0; });
    await pickGame(erin, 'tictactoe');
    await pickGame(fred, 'tictactoe');
    await erin.click('[data-action="quick-match"]');
    await erin.waitForSelector('.waiting[data-mode="queued"]');
    await erin.evaluate(() => { window.__alerts.hidden = true; document.dispatchEvent(new Event('visibilitychange')); });
    await fred.click('[data-action="quick-match"]');
    await erin.waitForFunction(() => window.__alerts.notes.some((n) => n.title === 'Your game is ready'));
    await erin.waitForURL(/\/m\//);
    await erin.waitForSelector('.player.is-you');
    const erinSeat = await seatOf(erin);
    if (erinSeat === 1) {
      // Fred moves; Erin's tab is hidden: she is told it is her move.
      await play(fred, 4, 'X', [fred, erin]);
    } else {
      await erin.evaluate(() => { window.__alerts.hidden = false; });
      await play(erin, 4, 'X', [erin, fred]);
      await erin.evaluate(() => { window.__alerts.hidden = true; });
      await play(fred, 0, 'O', [fred, erin]);
    }
    await erin.waitForFunction(() => window.__alerts.notes.some((n) => n.title === 'Your move'));
    assert.ok(await erin.evaluate(() => window.__alerts.tones > 0), 'the chime played');
    // Fred never turned it on: nothing for him.
    assert.equal(await fred.evaluate(() => window.__alerts.notes.length), 0);
    await erin.evaluate(() => { window.__alerts.hidden = false; });
    await fred.click('[data-action="resign"]');
    await fred.click('dialog#confirm [data-role="ok"]');
    await erin.waitForSelector('.status-over');
    for (const p of pages2) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });

  test('axe-core finds no WCAG A/AA violation on any page, light or dark', async () => {
    // Every page is checked; the problems are reported together at the end.
    const found = [];
    const checkA11y = async (page, label) => { found.push(...await a11yProblems(page, label)); };
    const v = await open({ viewport: DESKTOP });
    const ann = await open({ viewport: DESKTOP });
    const ben = await open({ viewport: DESKTOP });
    await signIn(ann, uniqueName('ann'));
    await signIn(ben, uniqueName('ben'));
    await v.goto('/');
    await v.waitForSelector('.auth-card');
    await v.waitForSelector('.live-card .live-list, .live-card .live-empty');
    await checkA11y(v, 'the lobby, signed out');
    await v.goto('/no/such/page');
    await v.waitForSelector('.empty-title');
    await checkA11y(v, 'not found');
    await v.goto('/c/NOSUCHCODE');
    await v.waitForSelector('.auth-card');
    await checkA11y(v, 'an invite');

    // Signed in: the lobby, queued, a challenge link, a live match, the end.
    const id = await quickMatch(ann, ben, 'tictactoe');
    // The signed-out lobby again, now listing a live game.
    await v.goto('/');
    await v.waitForSelector(`.live-item[href="/m/${id}"]`, { timeout: 10000 });
    await checkA11y(v, 'the lobby, signed out, with a live game');
    await v.goto(`/m/${id}`);
    await v.waitForSelector('.ttt');
    const [x, o] = await xo(ann, ben);
    await play(x, 0, 'X', [x, o]);
    await play(o, 4, 'O', [x, o, v]); // a fresh deadline for the checks
    for (const p of [x, o, v]) await checkA11y(p, `a live match (${p === v ? 'spectator' : p === x ? 'to move' : 'waiting'})`);
    await x.click('[data-action="resign"]');
    await x.click('dialog#confirm [data-role="ok"]');
    for (const p of [x, o, v]) await p.waitForSelector('.status-over');
    await o.waitForSelector('.rating-row');
    for (const p of [x, o, v]) await checkA11y(p, `a finished match (${p === v ? 'spectator' : 'player'})`);

    await x.goto('/');
    await x.waitForSelector('.recent-card');
    await checkA11y(x, 'the lobby, signed in');
    await pickGame(x, 'rps');
    await x.click('[data-action="challenge"]');
    await x.waitForSelector('#challenge-link');
    await checkA11y(x, 'the lobby with a challenge link');
    await x.click('.challenge-actions button:has-text("Close")');
    await x.click('[data-action="quick-match"]');
    await x.waitForSelector('.queue-alone:not([hidden])', { timeout: 12000 });
    await checkA11y(x, 'the lobby, queued alone');
    await x.click('[data-action="cancel-queue"]');

    // rock-paper-scissors, live and with a round played.
    const rpsId = await quickMatch(ann, ben, 'rps');
    await ann.click('.rps-choice[data-choice="paper"]');
    await checkA11y(ann, 'rps, chosen');
    await ben.click('.rps-choice[data-choice="rock"]');
    await ben.waitForFunction(() => document.querySelectorAll('.rps-round').length === 1);
    await checkA11y(ben, 'rps, a round revealed');
    await ann.click('[data-action="resign"]');
    await ann.click('dialog#confirm [data-role="ok"]');
    await ben.waitForSelector('.status-over');
    await checkA11y(ben, 'rps, finished');

    await v.goto('/leaderboard/tictactoe');
    await v.waitForSelector('.lb-table, .empty-title');
    await checkA11y(v, 'the leaderboard');
    await v.goto(`/players/${encodeURIComponent(await playerId(ann))}`);
    await v.waitForSelector('.rating-cards, .empty-title');
    await checkA11y(v, 'a player');
    await v.goto(`/replay/${id}`);
    await v.waitForSelector('.replay-controls');
    await checkA11y(v, 'a tic-tac-toe replay');
    await v.goto(`/replay/${rpsId}`);
    await v.waitForSelector('.replay-controls');
    await checkA11y(v, 'an rps replay');
    for (const p of [v, ann, ben]) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
    assert.deepEqual(found, [], `axe found:\n${JSON.stringify(found, null, 1)}`);
  });
});
