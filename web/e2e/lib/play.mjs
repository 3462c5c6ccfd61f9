// What a player does in the browser, shared by the test files: sign in as
// a guest, pick a game, quick-match two pages.
import assert from 'node:assert/strict';

// signIn plays as a guest from the lobby's name form.
export async function signIn(page, name) {
  await page.goto('/');
  await page.fill('#auth-name', name);
  await page.click('.auth-form button[type=submit]');
  await page.waitForSelector('.play-card');
  await page.waitForSelector('#conn[data-state="online"]');
}

export async function pickGame(page, game) {
  await page.click(`.game-option:has(input[value="${game}"])`);
  await page.waitForSelector(`.game-option.selected:has(input[value="${game}"])`);
}

// matchIdOf is the match a page shows (/m/<id>), '' elsewhere.
export const matchIdOf = (page) => decodeURIComponent(new URL(page.url()).pathname.split('/')[2] || '');

// quickMatch queues both pages for game and returns the match id.
export async function quickMatch(a, b, game) {
  for (const p of [a, b]) {
    if (new URL(p.url()).pathname !== '/') await p.goto('/');
    await p.waitForSelector('[data-action="quick-match"]:not([disabled])');
    await pickGame(p, game);
  }
  await a.click('[data-action="quick-match"]');
  await a.waitForSelector('.waiting[data-mode="queued"]');
  await b.click('[data-action="quick-match"]');
  await Promise.all([a.waitForURL(/\/m\//), b.waitForURL(/\/m\//)]);
  const id = matchIdOf(a);
  assert.equal(matchIdOf(b), id, 'both players land in the same match');
  await Promise.all([a, b].map((p) => p.waitForSelector('.player.is-you')));
  return id;
}

// seatOf is the seat (0 or 1) a player's match page shows as theirs.
export async function seatOf(page) {
  return Number(await page.getAttribute('.player.is-you', 'data-seat'));
}

// cell selects tic-tac-toe cell i, holding mark when one is given.
export const cell = (i, mark) => `.ttt-cell[data-cell="${i}"]${mark === undefined ? '' : `[data-mark="${mark}"]`}`;

// play makes a tic-tac-toe move and waits until every viewer shows it.
export async function play(mover, i, mark, viewers) {
  await mover.waitForSelector(`${cell(i)}:not([disabled])`);
  await mover.click(cell(i));
  for (const v of viewers) await v.waitForSelector(cell(i, mark));
}

// resultTitle is the title of the result a finished match page shows.
export async function resultTitle(page) {
  await page.waitForSelector('.result-title');
  return (await page.textContent('.result-title')).trim();
}
