// Browser checks of what a newcomer ran into: a short network drop that
// left the page "Offline" for good, a saved account told its own name is
// taken, a long name cut short without a word, and a wrong invite code
// called only "expired". Screenshots go to web/e2e/screenshots/newcomer-*.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launch, newPage, snap, uniqueName, DESKTOP } from './lib/browser.mjs';
import { quickMatch, signIn, seatOf, cell, play } from './lib/play.mjs';

let server;
let browser;
const pages = [];

async function open(opts = { viewport: DESKTOP }) {
  const p = await newPage(browser, server.base, opts);
  pages.push(p);
  return p;
}

// The page's own connection object (the module the app loaded).
const tagSocket = (page, tag) => page.evaluate(async (t) => {
  const { conn } = await import('/js/conn.js');
  conn.ws.tag = t;
}, tag);
const socketTag = (page) => page.evaluate(async () => {
  const { conn } = await import('/js/conn.js');
  return conn.ws ? conn.ws.tag || 'new' : 'none';
});

before(async () => {
  server = await startServer({ env: { TURNBASE_MOVE_TIMEOUT: '60s', TURNBASE_GRACE: '60s' } });
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

describe('newcomer', { timeout: 10 * 60 * 1000 }, () => {
  test('a short network drop: online again within seconds, and the player can move', async () => {
    const a = await open();
    const b = await open();
    await signIn(a, uniqueName('net_a'));
    await signIn(b, uniqueName('net_b'));
    await quickMatch(a, b, 'tictactoe');
    const [x, o] = (await seatOf(a)) === 0 ? [a, b] : [b, a];
    await x.waitForSelector(`${cell(0)}:not([disabled])`);

    // 1. The socket lives through the drop: it is kept, the status comes back.
    await tagSocket(x, 'first');
    await x.context().setOffline(true);
    await x.waitForSelector('#conn[data-state="offline"]');
    await x.waitForTimeout(5000);
    await x.context().setOffline(false);
    const t0 = Date.now();
    await x.waitForSelector('#conn[data-state="online"]', { timeout: 4000 });
    const took = Date.now() - t0;
    assert.ok(took < 4000, `online again in ${took} ms`);
    assert.equal(await socketTag(x), 'first', 'the working socket is kept');
    await play(x, 0, 'X', [x, o]);

    // 2. The socket died silently while offline (no pong, no close event):
    // it is replaced, and the player still plays on.
    await o.waitForSelector(`${cell(4)}:not([disabled])`);
    await tagSocket(o, 'dead');
    await o.context().setOffline(true);
    await o.waitForSelector('#conn[data-state="offline"]');
    await o.evaluate(async () => {
      const { conn } = await import('/js/conn.js');
      conn.ws.send = () => {}; // nothing goes out...
      conn.ws.onmessage = null; // ...and nothing comes in
    });
    await o.waitForTimeout(3000);
    await o.context().setOffline(false);
    await o.waitForSelector('#conn[data-state="online"]', { timeout: 8000 });
    assert.equal(await socketTag(o), 'new', 'the dead socket was replaced');
    await play(o, 4, 'O', [x, o]);
    await snap(x, 'newcomer-back-online');
    for (const p of [x, o]) assert.deepEqual(p.problems, []);
  });

  test('a saved account that signed out comes back to Log in; a guest taking its name is offered Log in', async () => {
    const name = uniqueName('saved');
    const password = 'correct horse 1';
    const p = await open();
    await signIn(p, name);
    await p.fill('#upgrade-pass', password);
    await p.click('.upgrade-form button[type=submit]');
    await p.waitForFunction(() => JSON.parse(localStorage.getItem('turnbase.session')).player.guest === false);
    await p.click('#account button[aria-label="Sign out"]');
    await p.waitForSelector('.auth-form');

    // Back on the same browser: Log in, the name filled, the password focused.
    assert.equal((await p.textContent('.segmented-btn[aria-pressed="true"]')).trim(), 'Log in');
    assert.equal(await p.inputValue('#auth-name'), name);
    await p.waitForSelector('#auth-pass:focus');
    await snap(p, 'newcomer-welcome-back');
    await p.reload();
    await p.waitForSelector('.auth-form');
    assert.equal((await p.textContent('.segmented-btn[aria-pressed="true"]')).trim(), 'Log in', 'also after a reload');
    await p.fill('#auth-pass', password);
    await p.click('.auth-form button[type=submit]');
    await p.waitForSelector('.play-card');
    assert.equal((await p.textContent('#account .account-name')).trim(), name);

    // Another browser tries the name as a guest.
    const q = await open();
    await q.goto('/');
    assert.equal((await q.textContent('.segmented-btn[aria-pressed="true"]')).trim(), 'Guest', 'a new browser starts as a guest');
    await q.fill('#auth-name', name);
    await q.click('.auth-form button[type=submit]');
    await q.waitForSelector('[data-action="to-login"]');
    const err = await q.textContent('.auth-form .form-error');
    assert.match(err, /belongs to a saved account/);
    assert.doesNotMatch(err, /Try another one/);
    await snap(q, 'newcomer-name-saved');
    await q.click('[data-action="to-login"]');
    assert.equal((await q.textContent('.segmented-btn[aria-pressed="true"]')).trim(), 'Log in');
    assert.equal(await q.inputValue('#auth-name'), name, 'the name is kept');
    assert.ok(await q.isVisible('#auth-pass'));
    await q.waitForSelector('#auth-pass:focus');
    for (const pg of [p, q]) assert.deepEqual(pg.problems, []);
  });

  test('names: the limit is shown, a long name is refused whole, bad ones are explained before sending', async () => {
    const p = await open();
    let sent = 0;
    p.on('request', (r) => { if (r.url().includes('/api/auth/')) sent += 1; });
    await p.goto('/');
    await p.waitForSelector('.auth-form');
    assert.match(await p.textContent('.auth-form .hint'), /3–20 letters, digits, _ or -/);

    const long = 'abcdefghijklmnopqrstuvwxyz'; // 26
    await p.click('#auth-name');
    await p.keyboard.type(long);
    assert.equal(await p.inputValue('#auth-name'), long, 'nothing is cut off');
    assert.match(await p.textContent('.auth-form .hint'), /26\/20/);
    assert.match(await p.textContent('.auth-form .form-error'), /at most 20 characters/);
    assert.equal(await p.getAttribute('#auth-name', 'aria-invalid'), 'true');
    await snap(p, 'newcomer-name-too-long');
    await p.click('.auth-form button[type=submit]');
    await p.waitForTimeout(300);
    assert.equal(await p.evaluate(() => localStorage.getItem('turnbase.session')), null, 'not signed in');

    await p.fill('#auth-name', 'bad name!');
    assert.match(await p.textContent('.auth-form .form-error'), /only letters, digits, _ and -.*(spaces|“!”)/);
    await p.fill('#auth-name', 'ab');
    assert.equal((await p.textContent('.auth-form .form-error')).trim(), '', 'a short name is not wrong while typing');
    await p.click('.auth-form button[type=submit]');
    assert.match(await p.textContent('.auth-form .form-error'), /at least 3 characters/);
    assert.equal(sent, 0, 'no bad name was sent');

    const ok = uniqueName('fits');
    await p.fill('#auth-name', ok);
    assert.equal((await p.textContent('.auth-form .form-error')).trim(), '');
    await p.click('.auth-form button[type=submit]');
    await p.waitForSelector('.play-card');
    assert.equal((await p.textContent('#account .account-name')).trim(), ok);
    assert.deepEqual(p.problems, []);
  });

  test('a wrong invite code is not called only "expired", and leads to the lobby', async () => {
    const p = await open();
    await p.goto('/c/bogus123');
    await p.waitForSelector('.auth-form');
    await p.fill('#auth-name', uniqueName('visit'));
    await p.click('.auth-form button[type=submit]');
    await p.waitForSelector('.empty-title');
    assert.equal((await p.textContent('.empty-title')).trim(), 'This invite link has expired or is not valid');
    await snap(p, 'newcomer-invite-bad');
    await p.click('.empty-actions a:has-text("lobby")');
    await p.waitForSelector('.play-card');
    assert.equal(new URL(p.url()).pathname, '/');
    assert.deepEqual(p.problems, []);
  });
});
