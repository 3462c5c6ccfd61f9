// Two browsers on different nodes of a cluster, through a proxy: three
// turnbase nodes on one PostgreSQL behind a round-robin TCP proxy
// (lib/cluster.mjs). Two guests open the site through the proxy, each in
// a context of its own; the nodes' own /metrics show their sockets on two
// different nodes. They find each other through the quick-match queue
// (matchmaking is one for the whole cluster), and play tic-tac-toe to the
// end with real clicks, each seeing the other's moves. Screenshots:
// screenshots/cluster-*.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './lib/cluster.mjs';
import { launch, newPage, snap, uniqueName, DESKTOP, PHONE } from './lib/browser.mjs';
import { matchIdOf, signIn, cell, play, resultTitle } from './lib/play.mjs';

let cluster;
let browser;
const pages = [];

before(async () => {
  cluster = await startCluster({ nodes: 3 });
  browser = await launch();
}, { timeout: 12 * 60 * 1000 });

after(async () => {
  for (const p of pages) await p.context().close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  if (cluster) await cluster.stop();
});

async function open(opts) {
  const p = await newPage(browser, cluster.base, opts);
  pages.push(p);
  return p;
}

// socketsSettle waits until the nodes hold `total` player sockets in all
// (a page's socket from before signing in, or from before a reload, may
// take a moment to close) and returns the count on each node.
async function socketsSettle(total) {
  const until = Date.now() + 15000;
  let counts = [];
  while (Date.now() < until) {
    counts = await cluster.playerSockets();
    if (counts.reduce((a, b) => a + b, 0) === total) return counts;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`the nodes hold ${counts.join(' + ')} player sockets, want ${total} in all`);
}

// nodeOf returns the node that gained a socket between two counts.
function nodeOf(before, after) {
  const i = after.findIndex((n, k) => n === (before[k] || 0) + 1);
  assert.ok(i >= 0, `no node gained one socket: ${before} -> ${after}`);
  return i;
}

describe('a cluster of three nodes behind a proxy', { timeout: 5 * 60 * 1000 }, () => {
  test('two browsers on different nodes find each other in the queue and play tic-tac-toe to the end', async (t) => {
    const names = { ann: uniqueName('ann'), ben: uniqueName('ben') };
    const ann = await open({ viewport: DESKTOP });
    const ben = await open({ viewport: PHONE });

    await signIn(ann, names.ann);
    const one = await socketsSettle(1);
    const annNode = nodeOf([], one);
    await signIn(ben, names.ben);
    let two = await socketsSettle(2);
    let benNode = nodeOf(one, two);
    // The proxy takes the nodes in turn; should both sockets still share
    // a node, a reload opens Ben's socket again on the next one.
    for (let i = 0; benNode === annNode && i < 3; i++) {
      await ben.reload();
      await ben.waitForSelector('#conn[data-state="online"]');
      two = await socketsSettle(2);
      benNode = two.findIndex((n, k) => k !== annNode && n === 1);
      if (benNode < 0) benNode = annNode;
    }
    assert.notEqual(benNode, annNode, `both sockets on node ${annNode}`);
    t.diagnostic(`ann's socket on node ${annNode} (${cluster.nodes[annNode].base}), ben's on node ${benNode} (${cluster.nodes[benNode].base}); player sockets per node ${two.join(', ')}`);

    for (const p of [ann, ben]) {
      await p.click('.game-option:has(input[value="tictactoe"])');
      await p.waitForSelector('.game-option.selected:has(input[value="tictactoe"])');
    }
    await ann.click('[data-action="quick-match"]');
    await ann.waitForSelector('.waiting[data-mode="queued"]');
    await ben.click('[data-action="quick-match"]');
    try {
      await Promise.all([ann.waitForURL(/\/m\//, { timeout: 20000 }), ben.waitForURL(/\/m\//, { timeout: 20000 })]);
    } catch (e) {
      throw new Error(`the two players on nodes ${annNode} and ${benNode} were not paired: is matchmaking one for the cluster? ${e.message}`);
    }
    const id = matchIdOf(ann);
    assert.equal(matchIdOf(ben), id, 'both players land in the same match');
    await Promise.all([ann, ben].map((p) => p.waitForSelector('.player.is-you')));
    // Still on the nodes they were on: nothing reconnected to pair them.
    assert.deepEqual(await cluster.playerSockets(), two, 'the sockets did not move');

    const annSeat = Number(await ann.getAttribute('.player.is-you', 'data-seat'));
    const x = annSeat === 0 ? ann : ben;
    const o = x === ann ? ben : ann;
    await x.waitForSelector('.status[data-turn="you"]');
    const both = [ann, ben];
    await play(x, 4, 'X', both);
    await play(o, 0, 'O', both);
    await play(x, 2, 'X', both);
    await play(o, 6, 'O', both);
    await play(x, 1, 'X', both);
    await snap(o, 'cluster-your-turn');
    await play(o, 8, 'O', both);
    await play(x, 7, 'X', both); // 1-4-7: a column for X

    assert.equal(await resultTitle(x), 'You won!');
    assert.equal(await resultTitle(o), 'You lost');
    for (const p of both) assert.equal(await p.locator('.ttt-cell.ttt-win').count(), 3);
    await snap(x, 'cluster-won');
    await snap(o, 'cluster-lost');
    assert.deepEqual(await cluster.playerSockets(), two, 'the sockets stayed where they were to the end');
    for (const p of both) assert.deepEqual(p.problems, []);
  });
});
