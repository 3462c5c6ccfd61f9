// Browser checks of the newcomer review of the lobby and the match page:
// arrow keys through the game picker, a board that says it is out of play
// while offline, one computer offer on a phone while queued, the front
// page naming every game, whole game titles, "You" first in the rating
// changes, described computer levels, "Resume your game" instead of a
// quick match, and a confirmation to sign out during a game.
// Screenshots go to web/e2e/screenshots/lobbyux-*.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launch, newPage, snap, uniqueName, DESKTOP, PHONE } from './lib/browser.mjs';
import { quickMatch, signIn, seatOf, cell, play } from './lib/play.mjs';
import { checkA11y } from './lib/axe.mjs';

let server;
let browser;
const pages = [];

async function open(opts) {
  const p = await newPage(browser, server.base, opts);
  pages.push(p);
  return p;
}

// snapBoth saves NAME at both sizes, light and dark.
async function snapBoth(page, name, opts) {
  await snap(page, `lobbyux-${name}`, opts);
  await page.emulateMedia({ colorScheme: 'dark' });
  await snap(page, `lobbyux-${name}-dark`, opts);
  await page.emulateMedia({ colorScheme: 'light' });
}

// cut says whether an element's text is clipped (ellipsis or overflow).
const cut = (page, sel) => page.locator(sel).evaluate((el) => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1);

before(async () => {
  // A bot offer soon after queueing alone, so the phone check need not wait long.
  server = await startServer({ env: { TURNBASE_MOVE_TIMEOUT: '60s' }, args: ['-bot-offer-after', '2s'] });
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

describe('lobby and match, as a newcomer sees them', { timeout: 10 * 60 * 1000 }, () => {
  test('the front page names every game and the computer', async () => {
    const p = await open({ viewport: DESKTOP });
    await p.goto('/');
    const games = await (await fetch(`${server.base}/api/games`)).json();
    await p.waitForFunction((n) => document.querySelector('.hero-text').textContent.includes(n), games[games.length - 1].name);
    const text = await p.textContent('.hero-text');
    for (const g of games) assert.match(text.toLowerCase(), new RegExp(g.name.toLowerCase()), `the hero names ${g.name}`);
    assert.match(text, /computer/, 'the hero mentions the computer');
    await snapBoth(p, 'hero');
  });

  test('arrow keys move through the game picker and keep the focus', async () => {
    const p = await open({ viewport: DESKTOP });
    await signIn(p, uniqueName('keys'));
    await p.waitForSelector('.computer-row');
    const ids = await p.$$eval('.game-picker input[name="game"]', (xs) => xs.map((x) => x.value));
    assert.ok(ids.length >= 3, 'three games to pick from');
    await p.click(`.game-option:has(input[value="${ids[0]}"])`);
    await p.focus(`.game-picker input[value="${ids[0]}"]`);
    for (const id of ids.slice(1)) {
      await p.keyboard.press('ArrowRight');
      await p.waitForSelector(`.game-option.selected:has(input[value="${id}"])`);
      const focus = await p.evaluate(() => {
        const el = document.activeElement;
        const opt = el && el.closest('.game-option');
        return { name: el && el.name, value: el && el.value, ring: opt ? getComputedStyle(opt).outlineStyle : 'none' };
      });
      assert.deepEqual([focus.name, focus.value], ['game', id], `the focus stays on ${id}`);
      assert.notEqual(focus.ring, 'none', 'the focused option shows a ring');
    }
    await snapBoth(p, 'picker-focus');

    // Computer levels say what they do, and no "·" dangles on a phone.
    const titles = await p.$$eval('[data-action="computer"]', (bs) => bs.map((b) => b.title));
    assert.ok(titles.length > 0 && titles.every((t) => t.length > 10), `every level is described: ${titles}`);
    await p.setViewportSize(PHONE);
    const label = await p.textContent('.play-card .computer-label');
    assert.doesNotMatch(label, /·/, 'no dot in the computer label');
    await p.setViewportSize(DESKTOP);
  });

  test('on a phone, one computer offer while queued, on the screen', async () => {
    const p = await open({ viewport: PHONE });
    await signIn(p, uniqueName('phone'));
    await p.click('.game-option:has(input[value="connectfour"])');
    await p.click('[data-action="quick-match"]');
    await p.waitForSelector('.waiting[data-mode="queued"]');
    await p.waitForSelector('[data-state="bot-offer"]', { timeout: 20000 });
    await p.waitForSelector('.queue-alone:not([hidden])', { timeout: 20000 });
    assert.equal(await p.locator('[data-action="queue-to-computer"]').count(), 0, 'the hint offers no second computer game');
    assert.equal(await p.locator('.play-slot [data-state="computer"]').count(), 1, 'one computer offer');
    const box = await p.locator('[data-state="bot-offer"]').evaluate((el) => {
      const r = el.getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, h: innerHeight, scroll: scrollY };
    });
    assert.equal(box.scroll, 0, 'the page did not scroll');
    assert.ok(box.top >= 0 && box.bottom <= box.h, `the offer is on the screen: ${JSON.stringify(box)}`);
    await snapBoth(p, 'phone-bot-offer');
    await checkA11y(p, 'queued with a computer offer (phone)');
    await p.click('[data-action="cancel-queue"]');
  });

  test('a computer game: the whole title at both sizes', async () => {
    const p = await open({ viewport: DESKTOP });
    await signIn(p, uniqueName('title'));
    await p.click('.game-option:has(input[value="rps"])');
    await p.click('[data-action="computer"][data-level="fair"]');
    await p.waitForURL(/\/m\//);
    await p.waitForSelector('.pill-unrated');
    for (const vp of [DESKTOP, PHONE]) {
      await p.setViewportSize(vp);
      assert.equal(await cut(p, '.match-title h1'), false, `the title is whole at ${vp.width}px`);
    }
    await p.setViewportSize(DESKTOP);
    await snapBoth(p, 'computer-title');
    await p.click('[data-action="resign"]');
    await p.click('#confirm [data-role=ok]');
    await p.waitForSelector('.status-over');
    for (const vp of [DESKTOP, PHONE]) {
      await p.setViewportSize(vp);
      assert.equal(await cut(p, '.match-title h1'), false, `the finished game's title is whole at ${vp.width}px`);
    }
    await p.setViewportSize(DESKTOP);
  });

  test('a live game: resume instead of a quick match, offline says so, sign-out asks, "You" first in ratings', async () => {
    const a = await open({ viewport: DESKTOP });
    const b = await open({ viewport: DESKTOP });
    await signIn(a, uniqueName('ann'));
    await signIn(b, uniqueName('ben'));
    const id = await quickMatch(a, b, 'tictactoe');
    const [x, o] = (await seatOf(a)) === 0 ? [a, b] : [b, a];

    // In the lobby with a game on: the way back, not a quick match.
    await x.click('.back-link');
    await x.waitForSelector('[data-action="resume-game"]');
    assert.equal(await x.locator('[data-action="quick-match"]').count(), 0, 'no quick match while a game is on');
    await snapBoth(x, 'resume-game');
    await checkA11y(x, 'lobby during a game');
    await x.click('[data-action="resume-game"]');
    await x.waitForURL(new RegExp(`/m/${id}`));
    await x.waitForSelector('.status[data-turn="you"]');

    // Offline: the status line says it and the board is out of play.
    await x.context().setOffline(true);
    await x.waitForSelector('#conn[data-state="offline"], #conn[data-state="reconnecting"]');
    await x.waitForSelector('.status.status-offline');
    assert.match(await x.textContent('.status .status-title'), /reconnecting/i);
    assert.match(await x.textContent('.status .status-sub'), /back online/);
    await x.waitForSelector('.board-slot.board-offline');
    assert.equal(await x.locator(`${cell(4)}:not([disabled])`).count(), 0, 'no cell can be played');
    await snapBoth(x, 'offline');
    await checkA11y(x, 'match while offline');
    await x.context().setOffline(false);
    // Back online by itself (newcomer.test.mjs checks how in detail).
    await x.waitForSelector('#conn[data-state="online"]', { timeout: 10000 });
    await x.waitForSelector('.status[data-turn="you"]:not(.status-offline)');
    assert.equal(await x.locator('.board-slot.board-offline').count(), 0, 'the board is back in play');

    // Signing out during the game asks first; "Keep playing" keeps it.
    await x.click('#account button[aria-label="Sign out"]');
    await x.waitForSelector('dialog#confirm[open]');
    assert.match(await x.textContent('#confirm .dialog-title'), /Sign out/);
    await snapBoth(x, 'signout-confirm');
    await x.click('#confirm [data-role=cancel]');
    await x.waitForSelector('dialog#confirm', { state: 'hidden' });
    assert.equal(await x.locator('#account .account-link').count(), 1, 'still signed in');

    // X wins on the top row; both see themselves first in the rating changes.
    await play(x, 0, 'X', [o]);
    await play(o, 3, 'O', [x]);
    await play(x, 1, 'X', [o]);
    await play(o, 4, 'O', [x]);
    await play(x, 2, 'X', [o]);
    for (const p of [x, o]) {
      await p.waitForSelector('.rating-row');
      assert.equal((await p.textContent('.rating-row .rating-who')).trim(), 'You', 'the viewer is listed first');
    }
    await snapBoth(o, 'ratings-you-first');

    // After the game: no question, and the old toasts go with the player.
    await o.evaluate(() => document.getElementById('toasts').append(Object.assign(document.createElement('div'), { className: 'toast', textContent: 'stale note' })));
    await o.click('#account button[aria-label="Sign out"]');
    await o.waitForSelector('.auth-card');
    assert.equal(await o.locator('dialog#confirm[open]').count(), 0, 'no confirmation after the game');
    assert.equal(await o.locator('.toast:has-text("stale note")').count(), 0, 'old toasts are cleared');
    await o.waitForSelector('.toast:has-text("Signed out")');
    for (const p of pages) assert.deepEqual(p.problems, [], 'no page errors');
  });
});
