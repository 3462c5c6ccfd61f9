// Small DOM and formatting helpers shared by every view. No framework:
// h() builds elements, views replace their own subtree when data changes.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h(tag, props, ...children) creates an element. props: class, text, on*
// handlers, dataset (object), aria-* and other attributes; a boolean true
// sets an empty attribute, false/null/undefined omits it. Children may be
// strings, nodes, arrays or null.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

function applyProps(el, props) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'html') el.innerHTML = v; // only ever static, trusted markup (icons)
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// svg parses a static, trusted SVG string (icons written in this code base).
export function svg(markup, cls) {
  const tpl = document.createElement('template');
  tpl.innerHTML = markup.trim();
  const el = tpl.content.firstElementChild;
  if (cls) el.classList.add(...cls.split(' '));
  el.setAttribute('aria-hidden', 'true');
  el.setAttribute('focusable', 'false');
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export { SVG_NS };

// ---- toasts ----

export function toast(message, kind = 'info', ms = 3800) {
  const box = document.getElementById('toasts');
  if (!box) return;
  // Drop an identical toast that is already showing instead of stacking it.
  for (const t of box.children) if (t.dataset.msg === message) t.remove();
  const t = h('div', { class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : 'status', dataset: { msg: message } },
    h('span', { class: 'toast-text', text: message }),
    h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss', text: '×', onclick: () => dismiss() }));
  box.append(t);
  while (box.children.length > 3) box.firstElementChild.remove();
  let timer = setTimeout(dismiss, ms);
  function dismiss() {
    clearTimeout(timer);
    t.classList.add('toast-out');
    setTimeout(() => t.remove(), 200);
  }
}

// dismissToasts removes the toasts whose message starts with prefix (e.g.
// a "Signed out" note once the player has signed back in).
export function dismissToasts(prefix) {
  const box = document.getElementById('toasts');
  if (!box) return;
  for (const t of [...box.children]) if ((t.dataset.msg || '').startsWith(prefix)) t.remove();
}

// ---- confirm dialog ----

export function confirmDialog({ title, text, ok = 'OK', cancel = 'Cancel', danger = true }) {
  const dlg = document.getElementById('confirm');
  if (!dlg || typeof dlg.showModal !== 'function') return Promise.resolve(window.confirm(text || title));
  dlg.querySelector('.dialog-title').textContent = title;
  dlg.querySelector('.dialog-text').textContent = text || '';
  const okBtn = dlg.querySelector('[data-role=ok]');
  okBtn.textContent = ok;
  okBtn.className = danger ? 'btn btn-danger' : 'btn btn-primary';
  dlg.querySelector('[data-role=cancel]').textContent = cancel;
  dlg.returnValue = '';
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.showModal();
    dlg.querySelector('[data-role=cancel]').focus();
  });
}

// ---- formatting ----

// clock formats a duration in ms as m:ss (rounded up, so 0:00 means done).
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function secondsWord(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  return `${m} min`;
}

const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat
  ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' })
  : null;

export function ago(ms, now = Date.now()) {
  if (!ms) return '';
  const d = Math.round((ms - now) / 1000);
  const a = Math.abs(d);
  if (!rtf) return new Date(ms).toLocaleString();
  if (a < 45) return d <= 0 ? 'just now' : 'in a moment';
  if (a < 3600) return rtf.format(Math.round(d / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(d / 3600), 'hour');
  if (a < 86400 * 30) return rtf.format(Math.round(d / 86400), 'day');
  return new Date(ms).toLocaleDateString();
}

export function fullDate(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

export function rating(r) {
  return r === undefined || r === null ? '—' : String(Math.round(r));
}

// botLevel returns the level of a computer player ("perfect"), or null for
// a person. Live frames say it ("bot"); stored records show it in the id
// ("bot:<game>:<level>").
export function botLevel(p) {
  if (!p) return null;
  if (p.bot) return p.bot;
  const m = /^bot:[^:]+:([^:]+)$/.exec(p.id || '');
  return m ? m[1] : null;
}

export function levelName(level) {
  return level ? level.charAt(0).toUpperCase() + level.slice(1) : '';
}

// botTag labels a computer player's seat: "Computer · Perfect".
export function botTag(p) {
  const level = botLevel(p);
  return level ? h('span', { class: 'tag tag-bot', title: `A computer player (${levelName(level)}); the game is unrated` },
    'Computer', h('span', { class: 'tag-bot-level', text: `\u00a0· ${levelName(level)}` })) : null;
}

export function signed(n) {
  const r = Math.round(n);
  return r > 0 ? `+${r}` : r < 0 ? `−${Math.abs(r)}` : '±0';
}

export function initial(name) {
  return (name || '?').slice(0, 1).toUpperCase();
}

// avatarHue gives each player a stable colour from their id or name.
export function avatarHue(key) {
  let x = 0;
  for (const ch of String(key || '')) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  return x % 360;
}

export function avatar(player, size = '') {
  const a = h('span', { class: ['avatar', size && `avatar-${size}`], 'aria-hidden': 'true', text: initial(player && player.name) });
  a.style.setProperty('--hue', String(avatarHue(player && (player.id || player.name))));
  return a;
}

// ---- errors ----

// errorText turns a wire error code into a short sentence for people.
export function errorText(code, message) {
  switch (code) {
    case 'not_your_turn': return "It’s not your turn yet.";
    case 'illegal_move': return "That move isn’t allowed.";
    case 'match_over': return 'This game is already over.';
    case 'not_a_player': return "You’re watching this game, not playing in it.";
    case 'in_match': return "You’re already in a game. Finish it first.";
    case 'already_queued': return "You’re already looking for a game.";
    case 'unsupported_game': return "That game isn’t offered here.";
    case 'rate_limited': return 'Slow down a little and try again.';
    case 'server_busy': return 'The server is busy. Try again in a moment.';
    case 'not_found': return message || 'Not found.';
    case 'unauthorized': return 'Please sign in again.';
    case 'internal': return 'Something went wrong on the server.';
    case 'network': return "Can’t reach the server. Check your connection.";
    default: return message || 'Something went wrong.';
  }
}

// ---- page helpers ----

export function setTitle(t) {
  document.title = t ? `${t} · turnbase` : 'turnbase';
}

export function spinner(label) {
  return h('span', { class: 'spinner', role: label ? 'img' : null, 'aria-label': label || null, 'aria-hidden': label ? null : 'true' });
}

// emptyState renders a friendly block for "nothing here" and "not yet".
export function emptyState({ icon, title, text, actions = [] }) {
  return h('div', { class: 'empty' },
    icon ? svg(icon, 'empty-icon') : null,
    h('h2', { class: 'empty-title', text: title }),
    text ? h('p', { class: 'empty-text', text }) : null,
    actions.length ? h('div', { class: 'empty-actions' }, actions) : null);
}

export function link(href, text, cls) {
  return h('a', { href, 'data-link': true, class: cls, text });
}
