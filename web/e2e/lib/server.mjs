// Builds the real server from the repository and runs it on a free
// loopback port with a fresh data folder. Nothing here is mocked.
import { spawn, execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');

// freePort is a loopback port nobody listens on now.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(url, { timeoutMs, proc, okStatus = (s) => s === 200 }) {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`server exited with code ${proc.exitCode} before ${url} answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (okStatus(res.status)) return res.status;
      last = `status ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer in ${timeoutMs} ms (${last})`);
}

// startServer builds cmd/turnbase (or takes $TURNBASE_BIN) and starts it.
// The returned object has the base URL, the log path, stop() and restart().
// args are extra command-line flags for serve.
export async function startServer({ env = {}, args = [] } = {}) {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'turnbase-e2e-'));
  // TURNBASE_BIN runs a server binary built beforehand instead of building one.
  let bin = process.env.TURNBASE_BIN;
  if (!bin) {
    bin = path.join(tmp, 'turnbase');
    await run('go', ['build', '-o', bin, './cmd/turnbase'], { cwd: repoRoot, maxBuffer: 16 << 20, timeout: 10 * 60 * 1000 });
  }

  const port = await freePort();
  const opsPort = await freePort();
  const logPath = path.join(tmp, 'server.log');
  const log = createWriteStream(logPath);
  const base = `http://127.0.0.1:${port}`;
  let proc = null;

  function spawnServer() {
    proc = spawn(bin, ['serve', '-addr', `127.0.0.1:${port}`, '-ops-addr', `127.0.0.1:${opsPort}`, '-data', path.join(tmp, 'data'), ...args], {
      cwd: tmp,
      env: { ...process.env, TURNBASE_MOVE_TIMEOUT: '20s', TURNBASE_GRACE: '20s', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.pipe(log, { end: false });
    proc.stderr.pipe(log, { end: false });
  }

  // halt stops the server: SIGTERM (a graceful stop, SIGKILL after 15 s),
  // or SIGKILL at once (a crash: nothing is finished or flushed).
  async function halt(signal = 'SIGTERM') {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    const done = await Promise.race([exited.then(() => true), sleep(15000).then(() => false)]);
    if (!done) { proc.kill('SIGKILL'); await exited; }
  }

  async function stop({ keep = false } = {}) {
    await halt();
    await new Promise((r) => log.end(r)); // flushed, so the tail below is complete
    if (!keep) await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }

  async function logTail(lines = 60) {
    try {
      const text = await readFile(logPath, 'utf8');
      return text.split('\n').slice(-lines).join('\n');
    } catch { return ''; }
  }

  async function ready() {
    await waitFor(`${base}/healthz`, { timeoutMs: 90000, proc });
    // Ready means the database answers; a server without /readyz is taken as ready.
    await waitFor(`${base}/readyz`, { timeoutMs: 90000, proc, okStatus: (s) => s === 200 || s === 404 });
  }

  // restart stops the server (as a deploy would; with signal 'SIGKILL', as
  // a crash would) and starts it again on the same port and data folder.
  // pause runs while it is down.
  async function restart({ pause, signal = 'SIGTERM' } = {}) {
    await halt(signal);
    if (pause) await pause();
    spawnServer();
    await ready();
  }

  spawnServer();
  try {
    await ready();
  } catch (e) {
    await stop({ keep: true });
    const tail = await logTail(80);
    throw new Error(`${e.message}\n--- server log (${logPath}) ---\n${tail}`);
  }
  // operator runs "turnbase operator ARGS..." on the server's data folder
  // (DATABASE_URL if env has one). With the embedded PostgreSQL the folder
  // is locked while the server runs: stop it first, or use DATABASE_URL.
  async function operator(...opArgs) {
    const { stdout } = await run(bin, ['operator', ...opArgs, '-data', path.join(tmp, 'data')], {
      cwd: tmp, env: { ...process.env, ...env }, timeout: 120000,
    });
    return stdout;
  }

  return { base, port, opsBase: `http://127.0.0.1:${opsPort}`, logPath, stop, restart, operator, logTail, get proc() { return proc; } };
}
