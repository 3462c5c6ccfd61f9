// A cluster of real turnbase nodes for browser tests: a throwaway
// PostgreSQL (cmd/pgtmp), several nodes on it with the same DATABASE_URL
// and token secret, and a small round-robin TCP proxy in front of them,
// as a load balancer would be. Nothing is mocked.
//
// The proxy looks at the first bytes of each connection only to keep two
// turns: WebSocket upgrades (GET /ws) take the nodes in turn among
// themselves, everything else (pages, scripts, the API) in another turn.
// So two browsers' sockets land on different nodes whatever number of
// plain requests their pages made; which node each socket is on is read
// from the nodes themselves (playerSockets), not assumed.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { freePort, repoRoot } from './server.mjs';

const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// withDeathSignal runs a child under setpriv --pdeathsig, when there is
// one: the child is killed if this test process dies without cleaning up
// (a runner's SIGKILL), so no node outlives the test.
let hasSetpriv = null;
function withDeathSignal(bin, args) {
  if (hasSetpriv === null) {
    try {
      hasSetpriv = /pdeathsig/.test(execFileSync('setpriv', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      hasSetpriv = false;
    }
  }
  return hasSetpriv ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', bin, ...args]] : [bin, args];
}

function exited(proc) {
  return proc.exitCode !== null || proc.signalCode !== null;
}

// stopProcess sends signal and waits up to ms for the exit, then SIGKILL.
async function stopProcess(proc, signal = 'SIGTERM', ms = 15000) {
  if (!proc || exited(proc)) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  if (!(await Promise.race([gone.then(() => true), sleep(ms).then(() => false)]))) {
    proc.kill('SIGKILL');
    await gone;
  }
}

async function waitReady(base, proc, timeoutMs) {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    if (exited(proc)) throw new Error(`node exited (code ${proc.exitCode}, signal ${proc.signalCode}) before ${base}/readyz answered`);
    try {
      const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(200);
  }
  throw new Error(`${base}/readyz did not answer 200 in ${timeoutMs} ms (${last})`);
}

// startPostgres runs pgtmp and resolves with its DSN once the server is
// up. pgtmp stops the server when its stdin closes: when we end it, or
// when this process dies.
async function startPostgres(bin, logPath) {
  const log = createWriteStream(logPath);
  const proc = spawn(bin, ['-stdin', '-nosync'], { stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stderr.pipe(log);
  const dsn = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('PostgreSQL did not start in 120 s')), 120000);
    proc.stdout.on('data', (b) => {
      out += b;
      const nl = out.indexOf('\n');
      if (nl >= 0) { clearTimeout(timer); resolve(out.slice(0, nl).trim()); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`pgtmp exited with code ${code} before it printed the database URL`)); });
  });
  async function stop() {
    if (!exited(proc)) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.stdin.end();
      if (!(await Promise.race([gone.then(() => true), sleep(30000).then(() => false)]))) {
        proc.kill('SIGKILL');
        await gone;
      }
    }
    await new Promise((r) => log.end(r));
  }
  return { dsn, proc, stop };
}

// startProxy listens on a free loopback port and sends each connection
// to the next node in turn (WebSocket upgrades and other requests in
// separate turns, see above). conns lists where each WebSocket went.
async function startProxy(ports) {
  const open = new Set();
  const turns = { ws: 0, http: 0 };
  const wsLog = [];
  const server = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    client.once('data', (first) => {
      client.pause();
      const kind = /^GET \/ws[ ?]/.test(first.toString('latin1', 0, 16)) ? 'ws' : 'http';
      const node = turns[kind]++ % ports.length;
      if (kind === 'ws') wsLog.push(node);
      const upstream = net.connect(ports[node], '127.0.0.1');
      open.add(upstream);
      upstream.on('close', () => { open.delete(upstream); client.destroy(); });
      upstream.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.once('connect', () => {
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  async function stop() {
    const closed = new Promise((r) => server.close(r));
    for (const s of open) s.destroy();
    await closed;
  }
  return { port: server.address().port, wsLog, stop };
}

// startCluster builds cmd/turnbase and cmd/pgtmp (or takes $TURNBASE_BIN
// and $TURNBASE_PGTMP_BIN), starts PostgreSQL, `nodes` nodes on it and the
// proxy. env is added to every node's environment. The result has the
// proxy's base URL, the nodes (base, opsBase, logPath), playerSockets(),
// logTail(i) and stop().
export async function startCluster({ nodes = 3, env = {} } = {}) {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'turnbase-e2e-cluster-'));
  let bin = process.env.TURNBASE_BIN;
  let pgBin = process.env.TURNBASE_PGTMP_BIN;
  if (!bin || !pgBin) {
    await run('go', ['build', '-o', tmp + path.sep, './cmd/turnbase', './cmd/pgtmp'], { cwd: repoRoot, maxBuffer: 16 << 20, timeout: 10 * 60 * 1000 });
    bin ||= path.join(tmp, 'turnbase');
    pgBin ||= path.join(tmp, 'pgtmp');
  }

  const started = [];
  let pg = null;
  let proxy = null;
  const logs = [];

  async function stop({ keep = false } = {}) {
    if (proxy) await proxy.stop();
    await Promise.all(started.map((n) => stopProcess(n.proc)));
    await Promise.all(logs.map((l) => new Promise((r) => l.end(r))));
    if (pg) await pg.stop();
    if (!keep) await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }

  async function logTail(i, lines = 40) {
    try {
      return (await readFile(started[i].logPath, 'utf8')).split('\n').slice(-lines).join('\n');
    } catch { return ''; }
  }

  try {
    pg = await startPostgres(pgBin, path.join(tmp, 'postgres.log'));
    const secret = randomBytes(32).toString('hex');
    for (let i = 0; i < nodes; i++) {
      const port = await freePort();
      const opsPort = await freePort();
      const logPath = path.join(tmp, `node${i}.log`);
      const log = createWriteStream(logPath);
      logs.push(log);
      const [cmd, args] = withDeathSignal(bin, ['serve', '-addr', `127.0.0.1:${port}`, '-ops-addr', `127.0.0.1:${opsPort}`, '-data', path.join(tmp, `node${i}`)]);
      const proc = spawn(cmd, args, {
        cwd: tmp,
        env: {
          ...process.env,
          DATABASE_URL: pg.dsn,
          TURNBASE_JWT_SECRET: secret,
          TURNBASE_MOVE_TIMEOUT: '20s',
          TURNBASE_GRACE: '20s',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc.stdout.pipe(log, { end: false });
      proc.stderr.pipe(log, { end: false });
      started.push({ port, opsPort, proc, logPath, base: `http://127.0.0.1:${port}`, opsBase: `http://127.0.0.1:${opsPort}` });
    }
    // The nodes migrate the database one at a time (tern's lock): wait
    // for all of them together.
    await Promise.all(started.map((n) => waitReady(n.base, n.proc, 120000)));
    proxy = await startProxy(started.map((n) => n.port));
  } catch (e) {
    const tails = await Promise.all(started.map(async (n, i) => `--- node ${i} (${n.logPath}) ---\n${await logTail(i)}`));
    await stop({ keep: true });
    throw new Error(`${e.message}\n${tails.join('\n')}`);
  }

  // playerSockets reads each node's open player sockets (past hello,
  // signed in) from its /metrics.
  async function playerSockets() {
    return Promise.all(started.map(async (n) => {
      const text = await (await fetch(`${n.opsBase}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      const m = text.match(/^turnbase_connections\{kind="player"\} (\S+)$/m);
      return m ? Number(m[1]) : 0;
    }));
  }

  return {
    base: `http://127.0.0.1:${proxy.port}`,
    nodes: started.map(({ base, opsBase, logPath }) => ({ base, opsBase, logPath })),
    wsLog: proxy.wsLog,
    playerSockets,
    logTail,
    stop,
  };
}
