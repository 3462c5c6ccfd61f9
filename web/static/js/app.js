// Entry point: client-side routing, the header (connection indicator and
// account), and the handlers every page shares.
import { conn } from './conn.js';
import { session } from './session.js';
import { h, clear, toast, dismissToasts, errorText, avatar, svg, emptyState, link, setTitle, confirmDialog } from './ui.js';
import { gameTitle } from './games/index.js';
import { icons } from './icons.js';
import { api } from './api.js';
import { alertsOn, setAlerts, alertEvents, alert as raiseAlert, notificationsBlocked } from './alerts.js';
import * as lobby from './views/lobby.js';
import * as matchView from './views/match.js';
import * as challenge from './views/challenge.js';
import * as leaderboard from './views/leaderboard.js';
import * as player from './views/player.js';
import * as replayView from './views/replay.js';
import * as ops from './views/ops.js';

const routes = [
  { re: /^\/$/, view: lobby, nav: 'home' },
  { re: /^\/m\/([^/]+)\/?$/, view: matchView, nav: 'home' },
  { re: /^\/c\/([^/]+)\/?$/, view: challenge, nav: 'home' },
  { re: /^\/leaderboard(?:\/([^/]+))?\/?$/, view: leaderboard, nav: 'leaderboard' },
  { re: /^\/players\/([^/]+)\/?$/, view: player, nav: '' },
  { re: /^\/replay\/([^/]+)\/?$/, view: replayView, nav: '' },
  { re: /^\/ops(?:\/([^/]+)(?:\/([^/]+))?)?\/?$/, view: ops, nav: 'ops' },
];

const notFound = {
  mount(root) {
    setTitle('Not found');
    root.append(h('div', { class: 'page' }, emptyState({
      icon: icons.ghost, title: 'Nothing here',
      text: "This page doesn’t exist. It may have been a mistyped link.",
      actions: [link('/', 'Go to the lobby', 'btn btn-primary')],
    })));
  },
};

let unmount = null;
let currentPath = null;
const main = document.getElementById('main');

export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname + location.search && !replace) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render(true);
}

function render(userNav = false) {
  const path = location.pathname;
  if (unmount) { try { unmount(); } catch (e) { console.error(e); } }
  unmount = null;
  clear(main);
  let route = null;
  let params = [];
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) { route = r; params = m.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p))); break; }
  }
  document.querySelectorAll('[data-nav]').forEach((a) => {
    const on = route && a.dataset.nav === route.nav;
    a.classList.toggle('active', !!on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  const view = route ? route.view : notFound;
  const ctx = { navigate, params, query: new URLSearchParams(location.search), path };
  try {
    unmount = view.mount(main, ctx) || null;
  } catch (e) {
    console.error(e);
    clear(main);
    main.append(h('div', { class: 'page' }, emptyState({ icon: icons.ghost, title: 'Something went wrong', text: 'Reload the page to try again.' })));
  }
  if (userNav && path !== currentPath) {
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }
  currentPath = path;
}

// ---- links ----

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname === '/ws') return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => render(true));

// ---- header: connection indicator ----

const connEl = document.getElementById('conn');
const connText = connEl.querySelector('.conn-text');
const connBanner = document.getElementById('conn-banner'); // phones: the header has room for the dot only
let connTick = 0;
function showConn() {
  const s = conn.status;
  connEl.dataset.state = s;
  clearInterval(connTick);
  const text = () => {
    switch (conn.status) {
      case 'online': return 'Online';
      case 'connecting': return 'Connecting…';
      case 'offline': return 'Offline';
      case 'reconnecting': {
        const left = Math.ceil((conn.retryAt - Date.now()) / 1000);
        return conn.ws ? 'Reconnecting…' : left > 0 ? `Reconnecting in ${left}s` : 'Reconnecting…';
      }
      default: return 'Connecting…';
    }
  };
  const show = () => {
    connText.textContent = text();
    connBanner.textContent = s === 'offline' ? 'You’re offline — we’ll reconnect when the network is back.' : `Connection lost · ${text()}`;
  };
  show();
  connBanner.hidden = !(s === 'reconnecting' || s === 'offline');
  connEl.title = s === 'online' ? `Connected · clock offset ${Math.round(conn.offset)} ms` : text();
  if (s === 'reconnecting') connTick = setInterval(show, 500);
}
conn.on('status', showConn);

// ---- header: account ----

const accountEl = document.getElementById('account');
function showAccount() {
  clear(accountEl);
  const p = session.player;
  document.getElementById('nav-ops').hidden = !(p && p.operator);
  if (!p) return;
  dismissToasts('Signed out'); // signed back in: the note is stale
  accountEl.append(
    h('a', { class: 'account-link', href: `/players/${encodeURIComponent(p.id)}`, 'data-link': true, title: 'Your profile' },
      avatar(p, 'sm'),
      h('span', { class: 'account-name', text: p.name }),
      p.guest ? h('span', { class: 'tag tag-muted account-guest', text: 'guest' }) : null),
    h('button', {
      class: 'icon-btn', type: 'button', 'aria-label': 'Sign out', title: 'Sign out',
      onclick: async () => {
        const game = liveGame();
        if (game && !(await confirmDialog({
          title: 'Sign out during a game?',
          text: `Your ${game.title} game${game.opp ? ` against ${game.opp}` : ''} goes on without you: if you don’t come back in time, you lose it.`,
          ok: 'Sign out', cancel: 'Keep playing',
        }))) return;
        if (!session.player || session.player.id !== p.id) return; // signed out (or in again) meanwhile
        session.clear();
        dismissToasts(''); // the old notes were for the player who left
        toast(p.guest ? 'Signed out. Your guest name is free again.' : 'Signed out.');
        if (location.pathname !== '/') navigate('/');
      },
    }, svg(icons.logout)));
}
session.addEventListener('change', showAccount);

// liveGame: a live match the signed-in player sits in, as {title, opp}, or null.
function liveGame() {
  for (const id of conn.active) {
    const m = conn.matches.get(id);
    const st = m && m.state;
    if (!m || (!st && !m.found) || (st && st.status !== 'live')) continue;
    const players = (st && st.players) || (m.found && m.found.players) || [];
    const you = st ? st.you : m.found.you;
    const opp = players[you === 0 ? 1 : 0];
    return { title: gameTitle((st && st.game) || m.found.game).toLowerCase(), opp: opp ? opp.name : '' };
  }
  return null;
}

// ---- header: sound and notifications (off by default) ----

const alertsBtn = h('button', { class: 'icon-btn alerts-btn', type: 'button', id: 'alerts-toggle', onclick: () => setAlerts(!alertsOn()) });
function showAlerts() {
  const on = alertsOn();
  alertsBtn.replaceChildren(svg(on ? icons.bell : icons.bellOff));
  alertsBtn.setAttribute('aria-pressed', String(on));
  alertsBtn.setAttribute('aria-label', 'Sound and notifications');
  alertsBtn.title = on
    ? `Sound${notificationsBlocked() ? '' : ' and notifications'} on when a game is found or it’s your move while this tab is hidden`
    : 'Sound and notifications are off';
}
alertEvents.addEventListener('change', showAlerts);
document.querySelector('.topbar-right').insertBefore(alertsBtn, accountEl);

// ---- shared handlers ----

conn.on('error', (msg) => toast(errorText(msg.code, msg.message), 'error'));
conn.on('match.found', (msg) => {
  const target = `/m/${encodeURIComponent(msg.match)}`;
  const opp = Array.isArray(msg.players) ? msg.players[msg.you === 0 ? 1 : 0] : null;
  raiseAlert('Your game is ready', opp ? `You play ${opp.name}` : 'An opponent was found', target);
  if (location.pathname !== target) navigate(target);
});
conn.on('unauthorized', () => toast('Your session ended. Pick a name to play again.', 'error', 6000));
conn.on('closed', (code) => {
  if (code === 4008) toast('Too many messages — reconnecting slowly.', 'error');
  if (code === 1008) toast('The server refused this page’s origin.', 'error');
});

// Tokens last a day by default (the server's token TTL). At load and
// every 30 minutes, a token with less than 12 hours left is swapped for a
// fresh one (POST /api/auth/refresh, which the server offers). A token the
// server refuses (401) signs the player out (api.js clears the session);
// any other failure leaves the token as it is until the next check.
const REFRESH_BELOW_MS = 12 * 3600e3;
async function refreshToken() {
  if (!session.token || !session.expiresMs || session.expiresMs - Date.now() > REFRESH_BELOW_MS) return;
  try {
    const res = await api('/api/auth/refresh', { method: 'POST', auth: true });
    if (res && res.token && res.player && session.player && res.player.id === session.player.id) session.set(res);
  } catch { /* 401 already signed out; anything else: try again later */ }
}
setInterval(refreshToken, 30 * 60e3);
refreshToken();

showConn();
showAccount();
showAlerts();
render();
conn.start();
