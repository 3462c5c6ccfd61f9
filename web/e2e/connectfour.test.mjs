// Connect Four in the browser against the real server: two guests
// quick-match, red plays with the keyboard (keys 1-7, and arrow keys +
// Enter on a focused column), yellow taps columns on a phone, red wins
// with four in a column while a spectator sees every disc; then the replay.
// Screenshots go to web/e2e/screenshots/connectfour-*.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startServer } from './lib/server.mjs';
import { launch, newPage, shotsDir, uniqueName, DESKTOP } from './lib/browser.mjs';
import { signIn } from './lib/play.mjs';

const PHONE = { width: 375, height: 812 };

let server;
let browser;
const pages = [];

async function open(opts) {
  const p = await newPage(browser, server.base, opts);
  pages.push(p);
  return p;
}

// shot saves the page at desktop and at a 375px-wide phone size.
async function shot(page, name, { fullPage = false } = {}) {
  await mkdir(shotsDir, { recursive: true });
  const was = page.viewportSize();
  for (const [label, vp] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(shotsDir, `connectfour-${name}-${label}.png`), fullPage });
  }
  await page.setViewportSize(was);
}

// disc is the hole at (row from the top, col) holding colour ('R' or 'Y').
const disc = (row, col, colour) => `.c4-cell[data-cell="${row * 7 + col}"][data-disc="${colour}"]`;
const discs = '.c4-cell[data-disc="R"], .c4-cell[data-disc="Y"]';

before(async () => {
  server = await startServer();
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

describe('Connect Four in the browser', { timeout: 5 * 60 * 1000 }, () => {
  let matchId = null;
  let redName = '';

  test('quick match, keyboard against taps, a vertical four, watched by a spectator', async (t) => {
    const games = await (await fetch(`${server.base}/api/games`)).json().catch(() => []);
    if (!Array.isArray(games) || !games.some((g) => g.id === 'connectfour')) {
      t.skip('the server does not offer connectfour (GET /api/games)');
      return;
    }

    const a = await open({ viewport: DESKTOP });
    const b = await open({ viewport: PHONE });
    const names = [uniqueName('ann'), uniqueName('ben')];
    await signIn(a, names[0]);
    await signIn(b, names[1]);
    for (const p of [a, b]) {
      await p.click('.game-option:has(input[value="connectfour"])');
      await p.waitForSelector('.game-option.selected:has(input[value="connectfour"])');
    }
    await a.click('[data-action="quick-match"]');
    await a.waitForSelector('.waiting[data-mode="queued"]');
    await b.click('[data-action="quick-match"]');
    await Promise.all([a.waitForURL(/\/m\//), b.waitForURL(/\/m\//)]);
    matchId = decodeURIComponent(new URL(a.url()).pathname.split('/')[2]);
    await Promise.all([a, b].map((p) => p.waitForSelector('.player.is-you')));
    await Promise.all([a, b].map((p) => p.waitForSelector('.c4')));

    // Red (seat 0) moves first and plays with the keyboard; yellow taps.
    const seatA = Number(await a.getAttribute('.player.is-you', 'data-seat'));
    const red = seatA === 0 ? a : b;
    const yellow = seatA === 0 ? b : a;
    redName = names[seatA === 0 ? 0 : 1];
    await red.setViewportSize(DESKTOP);
    await yellow.setViewportSize(PHONE);
    assert.equal(await red.getAttribute('.player.is-you .seat-badge', 'aria-label'), 'plays red');

    const spectator = await open({ viewport: DESKTOP, colorScheme: 'dark' });
    await spectator.goto(`/m/${encodeURIComponent(matchId)}`);
    await spectator.waitForSelector('.c4');
    await spectator.waitForSelector('.status-title');
    const watchers = [red, yellow, spectator];

    // Keys do nothing out of turn.
    await yellow.waitForSelector('.status[data-turn="other"]');
    await yellow.keyboard.press('1');
    await red.waitForSelector('.c4.c4-live');
    assert.equal(await red.locator(discs).count(), 0);
    await shot(red, 'your-turn');

    const seen = async (row, col, colour) => { for (const p of watchers) await p.waitForSelector(disc(row, col, colour)); };

    // 1. Red: key 4 drops in the fourth column (col 3), to the bottom row.
    await red.keyboard.press('4');
    await seen(5, 3, 'R');
    // 2. Yellow taps the first column.
    await yellow.waitForSelector('.c4.c4-live');
    await yellow.click('.c4-col[data-col="0"]');
    await seen(5, 0, 'Y');
    // 3. Red: arrow keys and Enter on a focused column. One column is in
    // the tab order (roving tabindex).
    await red.waitForSelector('.c4.c4-live');
    assert.equal(await red.locator('.c4-col[tabindex="0"]').count(), 1);
    await red.focus('.c4-col[tabindex="0"]');
    await red.keyboard.press('Home');
    for (let i = 0; i < 3; i++) await red.keyboard.press('ArrowRight');
    assert.equal(await red.evaluate(() => document.activeElement.dataset.col), '3');
    assert.match(await red.getAttribute('.c4-col[data-col="3"]', 'aria-label'), /^Column 4: red from the bottom, 5 free$/);
    await red.keyboard.press('Enter');
    await seen(4, 3, 'R');
    // 4. Yellow taps the second column.
    await yellow.waitForSelector('.c4.c4-live');
    await yellow.click('.c4-col[data-col="1"]');
    await seen(5, 1, 'Y');
    await shot(spectator, 'spectator');
    // 5. Red: key 4 again.
    await red.waitForSelector('.c4.c4-live');
    await red.keyboard.press('4');
    await seen(3, 3, 'R');
    // 6. Yellow stacks on the first column.
    await yellow.waitForSelector('.c4.c4-live');
    await shot(yellow, 'tap-turn');
    await yellow.click('.c4-col[data-col="0"]');
    await seen(4, 0, 'Y');
    // 7. Red: the fourth in column 4 wins.
    await red.waitForSelector('.c4.c4-live');
    await red.keyboard.press('4');
    await seen(2, 3, 'R');

    for (const p of watchers) await p.waitForSelector('.result-title');
    assert.equal((await red.textContent('.result-title')).trim(), 'You won!');
    assert.equal((await yellow.textContent('.result-title')).trim(), 'You lost');
    assert.equal((await spectator.textContent('.result-title')).trim(), `${redName} wins`);
    assert.match(await spectator.textContent('.result-reason'), /four in a row/);
    for (const p of watchers) {
      assert.equal(await p.locator('.c4-cell.c4-win').count(), 4);
      assert.equal(await p.locator('.c4-cell.c4-last[data-cell="17"]').count(), 1);
    }
    await shot(red, 'won');
    await shot(yellow, 'lost');
    await shot(spectator, 'finished-spectator');
    for (const p of watchers) assert.deepEqual(p.problems, []);
  });

  test('the replay shows the moves', async (t) => {
    if (!matchId) { t.skip('no match was played'); return; }
    const res = await fetch(`${server.base}/api/matches/${encodeURIComponent(matchId)}`);
    if (res.status === 404) { t.skip('the server keeps no matches (/api/matches answers 404)'); return; }
    const page = await open({ viewport: DESKTOP });
    await page.goto(`/replay/${encodeURIComponent(matchId)}`);
    await page.waitForSelector('.replay-controls');
    const moves = await page.locator('.move-list .move-btn').allTextContents();
    assert.equal(moves.length, 7);
    assert.match(moves[0], /Red in column 4/);
    assert.match(moves[1], /Yellow in column 1/);
    assert.match(await page.textContent('.replay-result'), new RegExp(`${redName} won[\\s\\S]*Four in a row`));
    assert.equal(await page.locator('.c4-cell.c4-win').count(), 4);
    await shot(page, 'replay');

    await page.click('[data-action="first"]');
    assert.equal(await page.locator(discs).count(), 0);
    await page.click('[data-action="next"]');
    await page.waitForSelector(disc(5, 3, 'R'));
    assert.equal(await page.locator(discs).count(), 1);
    await page.keyboard.press('ArrowRight');
    await page.waitForSelector(disc(5, 0, 'Y'));
    await page.click('.move-list li:nth-child(5) .move-btn');
    assert.equal(await page.locator(discs).count(), 5);
    assert.equal(await page.locator('.c4-cell.c4-last[data-cell="24"]').count(), 1);
    await shot(page, 'replay-step');
    assert.deepEqual(page.problems, []);
  });
});
