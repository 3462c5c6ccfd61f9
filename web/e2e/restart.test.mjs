// A server crash mid-game: two players are in a tic-tac-toe match when the
// server is SIGKILLed and started again on the same port and data folder.
// Both pages reconnect by themselves, the board shows the game as it was,
// and the players click on to the end. Before the resumed match continued
// above the versions sent before the crash, the clients (which keep the
// newest version) ignored its states and the board froze.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launch, newPage, snap, uniqueName, DESKTOP, PHONE } from './lib/browser.mjs';
import { signIn, cell, play } from './lib/play.mjs';

let server;
let browser;
const pages = [];

before(async () => {
  // A long move timeout, so that a slow restart does not decide the game.
  server = await startServer({ env: { TURNBASE_MOVE_TIMEOUT: '2m', TURNBASE_GRACE: '1m' } });
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

async function open(opts) {
  const p = await newPage(browser, server.base, opts);
  pages.push(p);
  return p;
}

describe('a server crash mid-game', { timeout: 10 * 60 * 1000 }, () => {
  test('both players reconnect by themselves after a SIGKILL and finish the game', async () => {
    const a = await open({ viewport: DESKTOP });
    const b = await open({ viewport: PHONE });
    await signIn(a, uniqueName('ann'));
    await signIn(b, uniqueName('ben'));
    for (const p of [a, b]) {
      await p.click('.game-option:has(input[value="tictactoe"])');
      await p.waitForSelector('.game-option.selected:has(input[value="tictactoe"])');
    }
    await a.click('[data-action="quick-match"]');
    await a.waitForSelector('.waiting[data-mode="queued"]');
    await b.click('[data-action="quick-match"]');
    await Promise.all([a.waitForURL(/\/m\//), b.waitForURL(/\/m\//)]);
    await Promise.all([a, b].map((p) => p.waitForSelector('.player.is-you')));
    const x = Number(await a.getAttribute('.player.is-you', 'data-seat')) === 0 ? a : b;
    const o = x === a ? b : a;

    await play(x, 4, 'X', [x, o]);
    await play(o, 0, 'O', [x, o]);
    await play(x, 2, 'X', [x, o]);
    // Changes after the last move: two spectators come and go, so the
    // players have seen versions above the last move's.
    for (let k = 0; k < 2; k++) {
      const spec = await open({ viewport: DESKTOP });
      await spec.goto(new URL(x.url()).pathname);
      await spec.waitForSelector(cell(2, 'X'));
      await x.waitForSelector('.spectators[data-count="1"]');
      await spec.context().close();
      await x.waitForSelector('.spectators[data-count="0"]');
    }

    await server.restart({
      signal: 'SIGKILL',
      pause: async () => {
        for (const p of [x, o]) await p.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 10000 });
      },
    });
    for (const p of [x, o]) await p.waitForSelector('#conn[data-state="online"]', { timeout: 30000 });
    // The game is back as it was: O to move.
    for (const p of [x, o]) {
      for (const [i, mark] of [[4, 'X'], [0, 'O'], [2, 'X']]) await p.waitForSelector(cell(i, mark));
    }
    await o.waitForSelector('.status[data-turn="you"]', { timeout: 15000 });

    // On to the end: X completes the diagonal 2-4-6.
    await play(o, 3, 'O', [x, o]);
    await play(x, 6, 'X', [x, o]);
    const titles = [];
    for (const p of [x, o]) {
      await p.waitForSelector('.result-title');
      titles.push((await p.textContent('.result-title')).trim());
    }
    assert.match(titles[0], /You won/, 'X sees the win');
    assert.match(titles[1], /You lost/, 'O sees the loss');
    await snap(x, 'restart-sigkill-x-won');
    await snap(o, 'restart-sigkill-o-lost');
    for (const p of [x, o]) assert.deepEqual(p.problems, [], `no page errors on ${p.url()}`);
  });
});
