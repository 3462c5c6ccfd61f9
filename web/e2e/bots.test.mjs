// Computer players in the browser against the real server: each level of
// each game is played from the lobby to the end; a player waiting in the
// queue is offered a computer game and takes it in one click; the bot is
// labelled on the match, to a spectator, in the live list and the replay;
// a rematch against it starts at once. Screenshots: screenshots/bots-*.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launch, newPage, snap, shotsDir, uniqueName, DESKTOP } from './lib/browser.mjs';
import { pickGame, signIn } from './lib/play.mjs';

let server;
let browser;
const pages = [];

async function open(opts) {
  const p = await newPage(browser, server.base, opts);
  pages.push(p);
  return p;
}

// What a player may press in each game when it is their move.
const moves = {
  tictactoe: '.ttt-cell:not([disabled])',
  rps: '.rps-choice:not([disabled])',
  connectfour: '.c4-col[aria-disabled="false"]',
};

// playToEnd presses a random allowed move whenever there is one, until the
// result shows. It returns the result title and how many moves it made.
async function playToEnd(page, game, { shotAt = -1, shotName = '' } = {}) {
  let made = 0;
  for (let i = 0; i < 400; i++) {
    if (await page.locator('.result-title').count()) break;
    const options = page.locator(moves[game]);
    const n = await options.count();
    if (n > 0) {
      await options.nth(Math.floor(Math.random() * n)).click({ timeout: 2000 }).catch(() => {});
      made++;
      if (made === shotAt && shotName) {
        await page.waitForTimeout(1200); // the bot's answer
        await snap(page, shotName);
      }
    }
    await page.waitForTimeout(150);
  }
  await page.waitForSelector('.result-title', { timeout: 30000 });
  return { title: (await page.textContent('.result-title')).trim(), made };
}

before(async () => {
  server = await startServer({
    env: { TURNBASE_BOT_OFFER_AFTER: '2s', TURNBASE_BOT_DELAY_MIN: '200ms', TURNBASE_BOT_DELAY_MAX: '500ms' },
  });
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

describe('computer players', { timeout: 10 * 60 * 1000 }, () => {
  test('every level of every game, from the lobby', async () => {
    const games = await (await fetch(`${server.base}/api/games`)).json();
    const page = await open({ viewport: DESKTOP });
    await signIn(page, uniqueName('solo'));
    let shotLobby = false;
    for (const g of games) {
      assert.ok(Array.isArray(g.bots) && g.bots.length >= 2, `${g.id} lists its levels`);
      for (const level of g.bots) {
        await page.goto('/');
        await page.waitForSelector('#conn[data-state="online"]');
        await pickGame(page, g.id);
        const button = page.locator(`.computer-row [data-action="computer"][data-level="${level.id}"]`);
        await button.waitFor();
        if (!shotLobby) { await snap(page, 'bots-lobby'); shotLobby = true; }
        await button.click();
        await page.waitForURL(/\/m\//);
        const tag = page.locator('.player .tag-bot');
        await tag.waitFor();
        assert.equal((await tag.textContent()).trim().replace(/\u00a0/g, ' '), `Computer · ${level.name}`);
        const first = g.id === 'connectfour' && level.id === 'strong' ? 4
          : g.id === 'tictactoe' && level.id === 'perfect' ? 2 : -1;
        const { title, made } = await playToEnd(page, g.id, { shotAt: first, shotName: `bots-${g.id}-${level.id}` });
        assert.ok(made > 0, `${g.id}/${level.id}: made a move`);
        if (g.id === 'tictactoe' && level.id === 'perfect') assert.notEqual(title, 'You won!', 'perfect never loses');
        assert.match(await page.textContent('.result-card, .result, body'), /You won!|You lost|draw|Draw/);
        assert.equal(await page.locator('.rating-rows').count(), 0, 'no rating changes');
        if (g.id === 'connectfour' && level.id === 'strong') await snap(page, 'bots-connectfour-strong-over');
      }
    }
    assert.deepEqual(page.problems, []);
  });

  test('the queue offers a computer game; one click takes it; spectator, rematch and replay label the bot', async () => {
    const page = await open({ viewport: DESKTOP });
    const name = uniqueName('wait');
    await signIn(page, name);
    await pickGame(page, 'tictactoe');
    await page.click('[data-action="quick-match"]');
    await page.waitForSelector('.waiting[data-mode="queued"]');
    const offer = page.locator('[data-state="bot-offer"]');
    await offer.waitFor({ timeout: 10000 });
    await snap(page, 'bots-queue-offer');
    await page.setViewportSize({ width: 390, height: 844 });
    await offer.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${shotsDir}/bots-queue-offer-phone.png` });
    await page.setViewportSize(DESKTOP);
    await offer.locator('[data-level="medium"]').click();
    await page.waitForURL(/\/m\//);
    const matchId = page.url().split('/m/')[1];

    // A spectator sees the bot labelled, in the live list and the match.
    const watcher = await open({ viewport: DESKTOP });
    await watcher.goto('/');
    const item = watcher.locator(`.live-item[href="/m/${matchId}"]`);
    await item.waitFor({ timeout: 15000 });
    assert.match((await item.textContent()).replace(/\u00a0/g, ' '), /Computer · Medium/);
    await snap(watcher, 'bots-live-list');
    await item.click();
    await watcher.waitForSelector('.player .tag-bot');

    const { made } = await playToEnd(page, 'tictactoe');
    assert.ok(made > 0);
    await watcher.waitForSelector('.result-title');
    await snap(page, 'bots-tictactoe-over');

    // Rematch: the bot accepts at once.
    await page.click('[data-action="rematch"]');
    await page.waitForURL((u) => !u.pathname.endsWith(matchId) && /\/m\//.test(u.pathname));
    await page.waitForSelector('.player .tag-bot');

    // The replay of the first game labels the bot too.
    await page.goto(`/replay/${matchId}`);
    await page.waitForSelector('.tag-bot');
    await snap(page, 'bots-replay');
    assert.deepEqual(page.problems, []);
    assert.deepEqual(watcher.problems, []);
  });
});
