// One WebSocket per tab. It says hello with the session token (or none, to
// watch as a spectator), reconnects with exponential backoff and jitter,
// re-watches every match it was following, keeps a server clock offset, and
// holds the latest state of each match it heard about.
import { session } from './session.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 10000;
const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 45000; // no frame at all for this long: the socket is dead
const WELCOME_WAIT_MS = 10000;
const PING_WAIT_MS = 10000; // a ping with no pong for this long: the socket is dead
// After the network comes back (or the tab is shown again) the open socket
// must answer a ping this fast, or it is replaced by a new one.
const PROBE_WAIT_MS = 2500;

// Types whose answer carries "re" and is a direct reply.
const REPLY_TYPES = new Set(['welcome', 'queue.joined', 'queue.left', 'challenge.created', 'pong']);

class Conn extends EventTarget {
  constructor() {
    super();
    this.ws = null;
    this.status = 'idle'; // idle | connecting | online | reconnecting | offline
    this.attempt = 0; // failed attempts since the last welcome
    this.retryAt = 0; // when the next attempt starts (ms, local clock)
    this.retryTimer = 0;
    this.player = null; // from welcome: {id, name} | null
    this.helloToken = null; // the token the open socket said hello with
    this.helloPlayerId = null; // and the player it belongs to
    this.offset = 0; // server clock minus local clock, ms
    this.rtt = 0;
    this.seq = 0;
    this.pending = new Map(); // id -> {resolve, reject, timer, onError}
    this.watched = new Set(); // matches on screen: re-watched after reconnect
    this.active = new Set(); // live matches this player sits in
    this.matches = new Map(); // id -> {found, state, over, rematch: Set<seat>, next: rematch id | null}
    this.queue = null; // {game, since_ms} while in the matchmaking queue
    this.lastFrameAt = 0;
    this.pingTimer = 0;
    this.welcomeTimer = 0;
    this.helloAt = 0;
    this.welcomed = false; // the open socket has had its welcome
    this.probing = null; // the socket a probe ping is checking

    session.addEventListener('change', () => {
      // Signed in, out, or as someone else: say hello again with the new
      // token. A refreshed token for the same player waits for the next hello.
      const pid = session.player ? session.player.id : null;
      if (pid !== this.helloPlayerId || !session.token !== !this.helloToken) this.restart();
    });
    // The network is back: the socket may have lived through the drop, or
    // died without a close event. Either way the status is not left at
    // "offline": check the socket, and reconnect if it does not answer.
    window.addEventListener('online', () => this.connectNow());
    window.addEventListener('offline', () => this.setStatus('offline'));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible' || navigator.onLine === false) return; // 'online' will do it
      if (!this.ws || this.status !== 'online') this.connectNow();
    });
  }

  // ---- events ----

  on(type, fn) {
    const h = (e) => fn(e.detail);
    this.addEventListener(type, h);
    return () => this.removeEventListener(type, h);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setStatus(s) {
    if (this.status === s && s !== 'reconnecting') return;
    this.status = s;
    this.emit('status', s);
  }

  get online() { return this.status === 'online'; }

  // serverNow is the server's clock, corrected for skew.
  serverNow() { return Date.now() + this.offset; }

  // ---- lifecycle ----

  start() {
    if (!this.ws && !this.retryTimer) this.open();
  }

  // connectNow makes sure there is a working connection now: it opens one
  // if there is none, and checks an open one with a ping (a socket can stay
  // open for the browser yet be dead after a network drop).
  connectNow() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    const ws = this.ws;
    if (!ws) { this.open(); return; }
    if (ws.readyState === WebSocket.CONNECTING) return; // its open or close follows
    if (ws.readyState !== WebSocket.OPEN) { this.reconnect(); return; }
    if (!this.welcomed) {
      // Hello sent, welcome not yet here: the welcome timer gives up on it.
      this.setStatus(this.attempt > 0 ? 'reconnecting' : 'connecting');
      return;
    }
    this.probe();
  }

  // probe pings the open socket: a pong in time puts the status back to
  // online; silence replaces the socket.
  probe() {
    const ws = this.ws;
    if (!ws || this.probing === ws) return;
    this.probing = ws;
    const id = this.nextId();
    const t0 = Date.now();
    const done = () => { if (this.probing === ws) this.probing = null; };
    const timer = setTimeout(() => {
      this.pending.delete(id);
      done();
      if (ws === this.ws) this.reconnect();
    }, PROBE_WAIT_MS);
    this.pending.set(id, {
      timer,
      resolve: (pong) => {
        done();
        if (ws !== this.ws) return;
        this.clockSample(pong.server_ms, t0, Date.now());
        if (typeof navigator !== 'undefined' && navigator.onLine === false) return;
        this.setStatus('online');
      },
      reject: done,
    });
    if (!this.raw({ type: 'ping', id })) {
      clearTimeout(timer);
      this.pending.delete(id);
      done();
      this.reconnect();
    }
  }

  // reconnect replaces the socket at once.
  reconnect() {
    this.drop();
    this.attempt = Math.max(this.attempt, 1); // shown as "reconnecting"
    this.open();
  }

  restart() {
    this.drop();
    this.attempt = 0;
    this.open();
  }

  open() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/ws`);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    this.helloToken = session.token || null;
    this.helloPlayerId = this.helloToken && session.player ? session.player.id : null;
    this.setStatus(this.attempt > 0 ? 'reconnecting' : 'connecting');

    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastFrameAt = Date.now();
      this.helloAt = Date.now();
      const hello = { type: 'hello', v: 1 };
      if (this.helloToken) hello.token = this.helloToken;
      this.raw(hello);
      this.welcomeTimer = setTimeout(() => { if (ws === this.ws) this.kill(); }, WELCOME_WAIT_MS);
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastFrameAt = Date.now();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg && typeof msg.type === 'string') this.handle(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.onClosed(ev.code, ev.reason);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  // drop closes the socket on purpose, without scheduling a retry.
  drop() {
    const ws = this.ws;
    this.ws = null;
    this.cleanup();
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch { /* ignore */ }
    }
  }

  // kill gives up on a socket that went silent and reconnects.
  kill() {
    this.drop();
    this.scheduleRetry();
  }

  cleanup() {
    this.welcomed = false;
    this.probing = null;
    clearInterval(this.pingTimer);
    clearTimeout(this.welcomeTimer);
    this.pingTimer = 0;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      if (p.reject) p.reject(Object.assign(new Error('Connection lost'), { code: 'network' }));
    }
    this.pending.clear();
    if (this.queue) { this.queue = null; this.emit('queue', null); }
  }

  onClosed(code) {
    this.ws = null;
    this.cleanup();
    this.emit('closed', code);
    if (code === 4001 && this.helloToken) {
      // The token was refused: forget it (the views show the name form
      // again) and come straight back as a spectator.
      this.helloToken = null;
      this.helloPlayerId = null;
      this.attempt = 0;
      this.emit('unauthorized');
      session.clear();
      if (!this.ws) this.open();
      return;
    }
    this.scheduleRetry(code === 4008 ? 3 : 0);
  }

  scheduleRetry(extraSteps = 0) {
    if (this.ws) return;
    if (typeof navigator !== 'undefined' && navigator.onLine === false) {
      this.setStatus('offline');
      return; // the 'online' event reconnects
    }
    const n = this.attempt + extraSteps;
    this.attempt += 1;
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** n);
    // "Equal jitter": at least half the step, so retries spread but still back off.
    const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    this.retryAt = Date.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => { this.retryTimer = 0; this.open(); }, delay);
    this.setStatus('reconnecting');
  }

  // ---- sending ----

  raw(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  nextId() {
    this.seq += 1;
    return `c${this.seq}`;
  }

  // request sends a message that has a direct reply and resolves with it.
  request(msg, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      if (!this.online) { reject(Object.assign(new Error('Not connected'), { code: 'network' })); return; }
      const id = this.nextId();
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error('No answer from the server'), { code: 'timeout' }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.raw({ ...msg, id });
    });
  }

  // send sends a message whose answer is a broadcast (a move, a resign...).
  // onError, if given, receives an error that answers it; otherwise the
  // app's global handler shows it. Returns false when not connected.
  send(msg, onError) {
    if (!this.online) return false;
    const id = this.nextId();
    const timer = setTimeout(() => this.pending.delete(id), 15000);
    this.pending.set(id, { onError, timer });
    return this.raw({ ...msg, id });
  }

  ping() {
    const t0 = Date.now();
    const ws = this.ws;
    this.request({ type: 'ping' }, PING_WAIT_MS).then((pong) => {
      const t1 = Date.now();
      this.clockSample(pong.server_ms, t0, t1);
    }).catch((err) => {
      // No pong: the socket died without a close event. Replace it.
      if (err.code === 'timeout' && ws === this.ws) this.kill();
    });
  }

  clockSample(serverMs, t0, t1) {
    if (typeof serverMs !== 'number') return;
    const rtt = t1 - t0;
    // Prefer samples with a small round trip: their midpoint is closest to truth.
    if (this.rtt === 0 || rtt <= this.rtt * 1.5 + 20) {
      this.offset = serverMs - (t0 + t1) / 2;
      this.rtt = rtt;
    }
    this.emit('clock', this.offset);
  }

  // ---- watching ----

  watch(id) {
    this.watched.add(id);
    if (this.online) this.send({ type: 'match.watch', match: id }, (err) => this.emit('watch.error', { match: id, err }));
  }

  unwatch(id) {
    if (!this.watched.delete(id)) return;
    if (this.active.has(id)) return; // still ours: keep receiving it
    if (this.online) this.send({ type: 'match.unwatch', match: id }, () => {});
  }

  matchEntry(id) {
    let m = this.matches.get(id);
    if (!m) {
      m = { found: null, state: null, over: null, rematch: new Set(), next: null };
      this.matches.set(id, m);
    }
    return m;
  }

  // ---- receiving ----

  handle(msg) {
    if (msg.re && this.pending.has(msg.re)) {
      const p = this.pending.get(msg.re);
      if (msg.type === 'error') {
        this.pending.delete(msg.re);
        clearTimeout(p.timer);
        const err = Object.assign(new Error(msg.message || msg.code), { code: msg.code, msg });
        if (p.reject) p.reject(err);
        else if (p.onError) p.onError(err);
        else this.emit('error', msg);
        return;
      } else if (REPLY_TYPES.has(msg.type)) {
        this.pending.delete(msg.re);
        clearTimeout(p.timer);
        if (p.resolve) p.resolve(msg);
      }
    } else if (msg.type === 'error') {
      this.emit('error', msg);
      return;
    }

    switch (msg.type) {
      case 'welcome': this.onWelcome(msg); break;
      case 'queue.joined': this.queue = { game: msg.game, since_ms: msg.since_ms }; this.emit('queue', this.queue); break;
      case 'queue.left': this.queue = null; this.emit('queue', null); break;
      case 'match.found': {
        const m = this.matchEntry(msg.match);
        m.found = msg;
        this.active.add(msg.match);
        if (this.queue) { this.queue = null; this.emit('queue', null); }
        break;
      }
      case 'match.state': {
        const m = this.matchEntry(msg.match);
        if (m.state && typeof msg.version === 'number' && msg.version < m.state.version) return; // stale
        m.state = msg;
        if (msg.status !== 'live') this.active.delete(msg.match);
        else if (msg.you !== null && msg.you !== undefined) this.active.add(msg.match);
        break;
      }
      case 'match.over': {
        const m = this.matchEntry(msg.match);
        m.over = msg;
        this.active.delete(msg.match);
        break;
      }
      case 'match.rematch_offered': {
        const m = this.matchEntry(msg.match);
        const who = rematchSeat(msg, m);
        m.rematch.add(who);
        break;
      }
      case 'match.rematch_started': {
        if (typeof msg.next === 'string' && msg.next) this.matchEntry(msg.match).next = msg.next;
        break;
      }
      default: break;
    }
    this.emit(msg.type, msg);
    this.emit('message', msg);
  }

  onWelcome(msg) {
    clearTimeout(this.welcomeTimer);
    this.welcomed = true;
    this.clockSample(msg.server_ms, this.helloAt || Date.now(), Date.now());
    this.attempt = 0;
    this.player = msg.player || null;
    if (this.player) session.updatePlayer(this.player);
    this.active = new Set(Array.isArray(msg.active) ? msg.active : []);
    this.setStatus('online');
    // Bring back every match we were following, and the player's own.
    const ids = new Set([...this.active, ...this.watched]);
    for (const id of ids) this.send({ type: 'match.watch', match: id }, (err) => this.emit('watch.error', { match: id, err }));
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) { this.kill(); return; }
      if (this.status === 'online') this.ping();
      else if (typeof navigator === 'undefined' || navigator.onLine !== false) this.probe(); // missed 'online' event
    }, PING_EVERY_MS);
    setTimeout(() => this.ping(), 1500); // a second clock sample, off the busy start
  }
}

// rematchSeat finds who offered a rematch. PROTOCOL.md does not fix the
// field, so accept the likely shapes: seat, by (seat or player id), player.
function rematchSeat(msg, m) {
  for (const k of ['seat', 'by', 'from', 'player', 'offered_by']) {
    const v = msg[k];
    if (typeof v === 'number') return v;
    if (typeof v === 'string') {
      const players = (m.state && m.state.players) || (m.found && m.found.players) || [];
      const i = players.findIndex((p) => p.id === v);
      if (i >= 0) return i;
    }
  }
  if (Array.isArray(msg.offered)) {
    // e.g. "offered": [true, false]
    const i = msg.offered.findIndex(Boolean);
    if (i >= 0) return i;
  }
  return 'unknown';
}

export const conn = new Conn();
