// The operator pages in the browser, against the real server: an operator
// made with the CLI, a farming run (one registered player winning 50 rated
// games in a few minutes against three fresh guests who resign after one move; the rated-pair limit is off)
// found at the top of the review queue, voided and banned in under a
// minute; then every other page and action. Screenshots go to
// docs/screenshots/ops-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startServer, repoRoot } from './lib/server.mjs';
import { launch, newPage, uniqueName, DESKTOP, PHONE } from './lib/browser.mjs';

let server;
let browser;
const pages = [];
const PASSWORD = 'correct horse battery';
const names = { op: uniqueName('op'), farmer: uniqueName('farm'), g: [1, 2, 3].map((i) => uniqueName(`g${i}`)) };
const ids = {};
let farm; // the page whose sockets play the farming games
let livePage; // the page whose sockets hold a live match open
let opPage;

const shots = path.join(repoRoot, 'docs', 'screenshots');
async function snap(page, name) {
  await mkdir(shots, { recursive: true });
  const was = page.viewportSize();
  for (const [label, vp] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(200);
    await page.screenshot({ path: path.join(shots, `${name}-${label}.png`), fullPage: label === 'desktop' });
  }
  await page.setViewportSize(was);
}

async function open(opts) {
  const p = await newPage(browser, server.base, opts);
  pages.push(p);
  return p;
}

async function call(method, p, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(server.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch { data = text; }
  return { status: res.status, data };
}

async function account(kind, name) {
  const r = kind === 'guest'
    ? await call('POST', '/api/auth/guest', { name })
    : await call('POST', `/api/auth/${kind}`, { name, password: PASSWORD });
  assert.ok(r.status === 200 || r.status === 201, `${kind} ${name}: ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

// The sockets run in a page: Node 20 has no WebSocket. client() is
// defined in the page; it queues frames and waits for those asked for.
const CLIENT = `
window.client = (token) => new Promise((resolve, reject) => {
  const ws = new WebSocket('ws://' + location.host + '/ws');
  const frames = []; const waiters = [];
  const c = {
    ws, frames, closed: null,
    send: (f) => ws.send(JSON.stringify(f)),
    next: (type, pred = () => true, ms = 15000) => new Promise((res, rej) => {
      const i = frames.findIndex((f) => f.type === type && pred(f));
      if (i >= 0) { res(frames.splice(i, 1)[0]); return; }
      const w = { type, pred, res };
      waiters.push(w);
      setTimeout(() => { const k = waiters.indexOf(w); if (k >= 0) { waiters.splice(k, 1); rej(new Error('no ' + type + ' in ' + ms + ' ms')); } }, ms);
    }),
  };
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    const k = waiters.findIndex((w) => w.type === f.type && w.pred(f));
    if (k >= 0) waiters.splice(k, 1)[0].res(f); else frames.push(f);
  };
  ws.onclose = (e) => { c.closed = e.code; };
  ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token }));
  c.next('welcome').then(() => resolve(c), reject);
});
`;

before(async () => {
  // The rated-pair limit is off: this is the farming that gets past the
  // server's own limits (a site that raised them, or many accounts), which
  // is what the review queue is for.
  server = await startServer({ env: { TURNBASE_HTTP_RATE: '1000', TURNBASE_HTTP_BURST: '1000', TURNBASE_OPS_SAMPLE: '1s', TURNBASE_MOVE_TIMEOUT: '300s', TURNBASE_GRACE: '300s', TURNBASE_RATED_PAIR_LIMIT: '0' } });
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
});

describe('the operator pages', { timeout: 12 * 60 * 1000 }, () => {
  test('turnbase operator grant makes a registered account an operator', async () => {
    const op = await account('register', names.op);
    ids.op = op.player.id;
    const farmer = await account('register', names.farmer);
    ids.farmer = farmer.player.id;
    ids.farmerToken = farmer.token;
    ids.guests = [];
    for (const g of names.g) {
      const a = await account('guest', g);
      ids.guests.push({ id: a.player.id, token: a.token, name: g });
    }
    // The embedded PostgreSQL belongs to the running server: the CLI runs
    // while it is stopped.
    let granted = '';
    let listed = '';
    await server.restart({ pause: async () => {
      granted = await server.operator('grant', names.op);
      listed = await server.operator('list');
    } });
    assert.match(granted, new RegExp(`${names.op}.*is an operator`));
    assert.match(listed, new RegExp(names.op));
    // The old token does not say operator: 403 until the operator signs in again.
    const r = await call('GET', '/api/ops/overview', undefined, op.token);
    assert.equal(r.status, 403);
    assert.equal(r.data.error.code, 'forbidden');
  });

  test('a guest and a visitor are refused the operator pages', async () => {
    const p = await open({ viewport: DESKTOP });
    await p.goto('/ops');
    await p.waitForSelector('.empty-title:has-text("Sign in as an operator")');
    await p.evaluate((s) => localStorage.setItem('turnbase.session', JSON.stringify(s)),
      { token: ids.guests[0].token, expires_ms: Date.now() + 3600e3, player: { id: ids.guests[0].id, name: names.g[0], guest: true } });
    await p.goto('/ops/review');
    await p.waitForSelector('.empty-title:has-text("Operators only")');
    assert.equal(await p.isVisible('#nav-ops'), false);
    assert.deepEqual(p.problems, []);
  });

  test('a farming run: 50 rated wins in a few minutes against fresh guests who resign as early as the server allows', async () => {
    farm = await open({ viewport: DESKTOP });
    await farm.goto('/ops'); // any page of the site, for its origin
    await farm.evaluate(CLIENT);
    const started = Date.now();
    const n = await farm.evaluate(async ({ farmerToken, guests }) => {
      const f = await window.client(farmerToken);
      window.farmer = f;
      const gs = [];
      for (const g of guests) gs.push(await window.client(g.token));
      // A resign before one's own first move aborts (unrated), so a guest
      // who moves first (seat 0) plays one move and resigns: a rated win
      // for the farmer that still ends before move 2. A guest in seat 1
      // resigns at once: an abort. Until the farmer has 50 rated wins.
      let won = 0;
      for (let i = 0; won < 50 && i < 400; i++) {
        const g = gs[i % gs.length];
        f.send({ type: 'challenge.create', game: 'tictactoe' });
        const { code } = await f.next('challenge.created');
        g.send({ type: 'challenge.accept', code });
        const found = await g.next('match.found');
        await f.next('match.found', (x) => x.match === found.match);
        if (found.you === 0) {
          g.send({ type: 'match.move', match: found.match, move: { cell: 0 } });
          await f.next('match.state', (x) => x.match === found.match && x.state.moves === 1);
        }
        g.send({ type: 'match.resign', match: found.match });
        const over = await f.next('match.over', (x) => x.match === found.match);
        if (over.result === 'win' && over.ratings.length === 2) won++;
      }
      return won;
    }, { farmerToken: ids.farmerToken, guests: ids.guests });
    assert.equal(n, 50);
    assert.ok(Date.now() - started < 5 * 60e3, 'the run took a few minutes at most');
    const me = await call('GET', `/api/players/${ids.farmer}`);
    assert.equal(me.data.ratings.tictactoe.wins, 50);
    ids.farmerRating = me.data.ratings.tictactoe.rating;
    assert.ok(ids.farmerRating > 1600, `the farmer's rating climbed (${ids.farmerRating})`);
  });

  test('a live match between two other guests', async () => {
    livePage = await open({ viewport: DESKTOP });
    await livePage.goto('/ops');
    await livePage.evaluate(CLIENT);
    const a = await account('guest', uniqueName('la'));
    const b = await account('guest', uniqueName('lb'));
    ids.live = await livePage.evaluate(async ({ ta, tb }) => {
      const x = await window.client(ta); const y = await window.client(tb);
      window.live = [x, y];
      x.send({ type: 'challenge.create', game: 'tictactoe' });
      const { code } = await x.next('challenge.created');
      y.send({ type: 'challenge.accept', code });
      const found = await y.next('match.found');
      return found.match;
    }, { ta: a.token, tb: b.token });
    assert.ok(ids.live);
  });

  test('the operator signs in and sees the overview', async () => {
    opPage = await open({ viewport: DESKTOP });
    await opPage.goto('/');
    await opPage.click('.segmented-btn:has-text("Log in")');
    await opPage.fill('#auth-name', names.op);
    await opPage.fill('#auth-pass', PASSWORD);
    await opPage.click('.auth-form button[type=submit]');
    await opPage.waitForSelector('#nav-ops:not([hidden])');
    await opPage.click('#nav-ops');
    await opPage.waitForSelector('.ops-stat[data-stat="players"]');
    await opPage.waitForTimeout(2500); // a few samples for the charts
    await opPage.waitForSelector('.ops-stat[data-stat="live"] .ops-stat-value:has-text("1")');
    await opPage.waitForSelector('.ops-stat[data-stat="db"] .ops-stat-value:has-text("Healthy")');
    assert.ok(Number(await opPage.textContent('.ops-stat[data-stat="players"] .ops-stat-value')) >= 5);
    await snap(opPage, 'ops-overview');
  });

  test('the farmer tops the review queue with the evidence, and is voided and banned in under a minute', async () => {
    const t0 = Date.now();
    await opPage.click('.ops-tabs a:has-text("Review queue")');
    await opPage.waitForSelector('.ops-flagged');
    assert.equal(await opPage.getAttribute('.ops-flagged >> nth=0', 'data-player'), ids.farmer);
    const top = await opPage.textContent('.ops-flagged >> nth=0');
    for (const want of ['Many games against one opponent', 'High win rate against one opponent', 'Resigns or aborts before move 2', 'Rating gain far above history', '50 games won']) {
      assert.ok(top.includes(want), `the top flag shows "${want}"`);
    }
    await snap(opPage, 'ops-review');

    await opPage.click('.ops-flagged >> nth=0 >> a:has-text("Open file")');
    await opPage.waitForSelector('#select-wins');
    await opPage.click('#select-wins');
    assert.match(await opPage.textContent('.ops-toolbar .muted'), /^50 selected/);
    await opPage.click('#act-void');
    await opPage.fill('#void-reason', 'win trading: 50 wins against guests who resigned after one move');
    await opPage.click('#void button[type=submit]');
    await opPage.waitForFunction(() => document.querySelectorAll('.ops-recent tr.ops-voided').length >= 50);
    await opPage.click('#act-ban');
    await opPage.fill('#ban-reason', 'win trading');
    await opPage.click('#ban button[type=submit]');
    await opPage.waitForSelector('#banned-tag');
    const took = Date.now() - t0;
    assert.ok(took < 60e3, `void and ban took ${took} ms`);
    await snap(opPage, 'ops-player');

    // The ban: the farmer's socket closed at once, no login, off the
    // default leaderboard. The void: the guests are back to a new
    // player's rating, the farmer too (all their games were voided).
    const closed = await farm.evaluate(() => new Promise((r) => {
      const t = setInterval(() => { if (window.farmer.closed) { clearInterval(t); r(window.farmer.closed); } }, 50);
    }));
    assert.equal(closed, 4001);
    const login = await call('POST', '/api/auth/login', { name: names.farmer, password: PASSWORD });
    assert.equal(login.status, 403);
    const board = await call('GET', '/api/leaderboard/tictactoe?provisional=true&limit=100');
    assert.ok(!board.data.entries.some((e) => e.player.id === ids.farmer), 'the banned farmer is off the leaderboard');
    for (const g of ids.guests) {
      const p = await call('GET', `/api/players/${g.id}`);
      assert.equal(p.data.ratings.tictactoe.rating, 1500);
      assert.equal(p.data.ratings.tictactoe.games, 0);
    }
    assert.ok(await opPage.isVisible('.ops-recent tr.ops-voided .tag:has-text("voided")'));
    // The public profile shows the voided matches as voided.
    await opPage.goto(`/players/${ids.guests[0].id}`);
    await opPage.waitForSelector('.recent-table .tag:has-text("voided")');
  });

  test('leaderboards: filters, search and CSV export', async () => {
    await opPage.goto('/ops');
    await opPage.click('.ops-tabs a:has-text("Leaderboards")');
    await opPage.waitForSelector('.ops-toolbar');
    await opPage.click('.segmented-btn:has-text("Banned")');
    await opPage.waitForSelector(`.ops-board tr[data-player="${ids.farmer}"]`);
    await opPage.click('.segmented-btn:has-text("All")');
    await opPage.fill('#ops-search', names.g[1]);
    await opPage.press('#ops-search', 'Enter');
    await opPage.waitForSelector(`.ops-board tr[data-player="${ids.guests[1].id}"]`);
    assert.equal(await opPage.locator('.ops-board tbody tr').count(), 1);
    await opPage.click('.segmented-btn:has-text("Provisional")');
    await opPage.fill('#ops-search', '');
    await opPage.press('#ops-search', 'Enter');
    await opPage.waitForSelector('.ops-board tbody tr');
    const [download] = await Promise.all([opPage.waitForEvent('download'), opPage.click('button:has-text("Export CSV")')]);
    const csv = await (await download.createReadStream()).toArray();
    assert.match(Buffer.concat(csv).toString(), /^player_id,name,rating,rd,provisional,games,wins,losses,draws,last_played,banned,flags/);
    await snap(opPage, 'ops-leaderboard');
  });

  test('flags are marked reviewed or dismissed; a dismissed one stays away', async () => {
    await opPage.click('.ops-tabs a:has-text("Review queue")');
    const g = ids.guests[0].id;
    await opPage.waitForSelector(`.ops-flagged[data-player="${g}"]`);
    const item = `.ops-flagged[data-player="${g}"]`;
    const signals = await opPage.locator(`${item} .ops-flag`).evaluateAll((els) => els.map((e) => e.dataset.signal));
    assert.ok(signals.length >= 1);
    await opPage.click(`${item} .ops-flag[data-signal="${signals[0]}"] button:has-text("Dismiss")`);
    await opPage.fill(`${item} #decide-${signals[0]}-reason`, 'a test account');
    await opPage.click(`${item} #decide-${signals[0]} button[type=submit]`);
    await opPage.waitForSelector(`${item} .ops-flag[data-signal="${signals[0]}"]`, { state: 'detached' });
    await opPage.reload();
    await opPage.waitForSelector('.ops-flagged');
    assert.equal(await opPage.locator(`${item} .ops-flag[data-signal="${signals[0]}"]`).count(), 0);
  });

  test('player actions: rename, reset a rating, a timed ban and unban', async () => {
    const g = ids.guests[2];
    await opPage.goto(`/ops/players/${g.id}`);
    await opPage.waitForSelector('#act-rename');
    await opPage.click('#act-rename');
    const newName = uniqueName('renamed');
    await opPage.fill('#rename-name', newName);
    await opPage.fill('#rename-reason', 'offensive name');
    await opPage.click('#rename button[type=submit]');
    await opPage.waitForSelector(`.ops-player-head .ops-stat-value:has-text("${newName}")`);
    await opPage.click('#act-reset');
    await opPage.fill('#reset-reason', 'fresh start');
    await opPage.click('#reset button[type=submit]');
    await opPage.waitForSelector('.toast:has-text("Rating reset")');
    await opPage.click('#act-ban');
    await opPage.selectOption('#ban-duration', '3600');
    await opPage.fill('#ban-reason', 'cool off');
    await opPage.click('#ban button[type=submit]');
    await opPage.waitForSelector('#banned-tag');
    assert.match(await opPage.textContent('.ops-facts'), /until/);
    await opPage.click('#act-unban');
    await opPage.fill('#unban-reason', 'appeal accepted');
    await opPage.click('#unban button[type=submit]');
    await opPage.waitForSelector('#act-ban');
    assert.equal(await opPage.isVisible('#banned-tag'), false);
  });

  test('live matches: watch, then abort (unrated, reason operator, both players told)', async () => {
    await opPage.goto('/ops/live');
    await opPage.waitForSelector(`.ops-live tr[data-match="${ids.live}"]`);
    await snap(opPage, 'ops-live');
    await opPage.click(`.ops-live tr[data-match="${ids.live}"] a:has-text("Watch")`);
    await opPage.waitForURL(/\/m\//);
    await opPage.waitForSelector('.match');
    await opPage.goBack();
    await opPage.waitForSelector(`.ops-live tr[data-match="${ids.live}"]`);
    await opPage.click(`.ops-live tr[data-match="${ids.live}"] button:has-text("Abort")`);
    await opPage.fill('#abort-reason', 'stuck match');
    await opPage.click('#abort button[type=submit]');
    await opPage.waitForSelector('.empty-title:has-text("No live matches")');
    const overs = await livePage.evaluate((id) => Promise.all(window.live.map((c) => c.next('match.over', (f) => f.match === id))), ids.live);
    for (const o of overs) {
      assert.equal(o.result, 'aborted');
      assert.equal(o.reason, 'operator');
      assert.deepEqual(o.ratings, []);
    }
  });

  test('the audit log lists every action, filters and exports', async () => {
    await opPage.click('.ops-tabs a:has-text("Audit log")');
    await opPage.waitForSelector('.ops-audit');
    const actions = await opPage.locator('.ops-audit tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.action));
    for (const a of ['operator.grant', 'match.void', 'player.ban', 'player.unban', 'player.rename', 'rating.reset', 'flag.dismissed', 'match.abort']) {
      assert.ok(actions.includes(a), `the audit log has ${a}`);
    }
    await snap(opPage, 'ops-audit');
    await opPage.selectOption('#audit-action', 'match.void');
    await opPage.click('.ops-toolbar button:has-text("Filter")');
    await opPage.waitForURL(/action=match.void/);
    await opPage.waitForFunction(() => {
      const rows = [...document.querySelectorAll('.ops-audit tbody tr')];
      return rows.length > 0 && rows.every((r) => r.dataset.action === 'match.void');
    });
    assert.equal(await opPage.locator('.ops-audit tbody tr').count(), 50);
    const [download] = await Promise.all([opPage.waitForEvent('download'), opPage.click('button:has-text("Export CSV")')]);
    const csv = Buffer.concat(await (await download.createReadStream()).toArray()).toString();
    assert.match(csv, /^id,at,operator,action,target_kind,target,reason,before,after/);
    assert.equal(csv.trim().split('\n').length, 51);
    assert.deepEqual(opPage.problems, []);
  });

  test('a revoke takes effect at the next request', async () => {
    let out = '';
    await server.restart({ pause: async () => { out = await server.operator('revoke', names.op); } });
    assert.match(out, /no operator now/);
    await opPage.goto('/ops');
    await opPage.waitForSelector('.empty-title:has-text("Operators only")');
  });
});
