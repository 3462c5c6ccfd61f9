// /ops/...: the operator pages. Overview, review queue, leaderboards,
// player file, live matches and the audit log, over /api/ops. Every action
// asks for a reason and is written to the audit log by the server.
import { api, getGames } from '../api.js';
import { session } from '../session.js';
import { h, setTitle, emptyState, link, rating, avatar, ago, fullDate, errorText, toast, SVG_NS } from '../ui.js';
import { icons } from '../icons.js';
import { gameTitle } from '../games/index.js';

const SECTIONS = [
  ['', 'Overview'], ['review', 'Review queue'], ['leaderboard', 'Leaderboards'],
  ['live', 'Live matches'], ['audit', 'Audit log'],
];

const opsApi = (path, opts = {}) => api(`/api/ops${path}`, { auth: true, ...opts });

// mount dispatches /ops/{section}/{arg}.
export function mount(root, ctx) {
  const section = ctx.params[0] || '';
  const arg = ctx.params[1];
  const page = h('div', { class: 'page ops-page' });
  root.append(page);
  const state = { alive: true, timers: [] };
  const nav = h('nav', { class: 'tabs ops-tabs', 'aria-label': 'Operator pages' },
    SECTIONS.map(([s, label]) => h('a', {
      class: ['tab', section === s && 'active'],
      href: `/ops${s ? `/${s}` : ''}`, 'data-link': true, 'aria-current': section === s ? 'page' : null, text: label,
    })));
  const body = h('div', { class: 'ops-body' });
  page.append(h('div', { class: 'page-head' }, h('div', {},
    h('p', { class: 'eyebrow', text: 'Operators' }),
    h('h1', { class: 'page-title', text: titleOf(section) }))), nav, body);
  setTitle(`Ops · ${titleOf(section)}`);

  if (!session.signedIn) {
    body.append(denied({ code: 'unauthorized' }));
    return () => {};
  }
  const views = { '': overview, review, leaderboard: board, players: player, live, audit };
  const view = views[section];
  if (!view) body.append(emptyState({ icon: icons.ghost, title: 'No such page', text: 'Pick one of the pages above.' }));
  else view(body, ctx, arg, state);
  return () => { state.alive = false; state.timers.forEach(clearInterval); };
}

function titleOf(section) {
  if (section === 'players') return 'Player';
  const s = SECTIONS.find(([k]) => k === section);
  return s ? s[1] : 'Operators';
}

function denied(err) {
  if (err.status === 403 || err.code === 'forbidden') {
    return emptyState({ icon: icons.lock, title: 'Operators only', text: 'Your account is not an operator. An operator is made with “turnbase operator grant NAME”, then signs in again.' });
  }
  if (err.status === 401 || err.code === 'unauthorized') {
    return emptyState({ icon: icons.lock, title: 'Sign in as an operator', text: 'These pages need an operator’s account.', actions: [link('/', 'Sign in', 'btn btn-primary')] });
  }
  return emptyState({ icon: icons.ghost, title: 'Couldn’t load this page', text: errorText(err.code, err.message) });
}

function load(body, state, promise, render) {
  body.replaceChildren(h('div', { class: 'loading-block' }, h('div', { class: 'skeleton skeleton-title' }), h('div', { class: 'skeleton' }), h('div', { class: 'skeleton' })));
  return promise.then((data) => { if (state.alive) render(data); })
    .catch((err) => { if (state.alive) body.replaceChildren(denied(err)); });
}

// ---- shared bits ----

function card(title, ...children) {
  return h('section', { class: 'card ops-card' }, title ? h('h2', { class: 'card-title-sm', text: title }) : null, children);
}

function table(cls, head, rows, caption) {
  return h('div', { class: 'card table-card' }, h('div', { class: 'table-scroll' },
    h('table', { class: ['table', 'ops-table', cls] },
      caption ? h('caption', { class: 'sr-only', text: caption }) : null,
      h('thead', {}, h('tr', {}, head.map((c) => (typeof c === 'string'
        ? h('th', { scope: 'col', text: c }) : h('th', { scope: 'col', class: c.cls, text: c.text }))))),
      h('tbody', {}, rows))));
}

function playerLink(p) {
  return h('a', { href: `/ops/players/${encodeURIComponent(p.id)}`, 'data-link': true, class: 'who-link' },
    avatar(p, 'sm'), h('span', { class: 'who-name', text: p.name || p.id }));
}

function num(n, digits = 0) {
  return n === undefined || n === null ? '—' : Number(n).toFixed(digits);
}

function span(d) { return d < 120e3 ? `${Math.round(d / 1000)} s` : `${Math.round(d / 60e3)} min`; }

function ms(n) { return n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`; }

// reasonForm is a small form: extra fields, a reason, a submit button.
// onSubmit(values) returns a promise; the form shows its error inline.
function reasonForm({ id, title, fields = [], submit, danger = false, onSubmit }) {
  const err = h('p', { class: 'form-error', role: 'alert' });
  const reason = h('input', { class: 'input', name: 'reason', id: `${id}-reason`, required: true, maxlength: '500', placeholder: 'Why (kept in the audit log)' });
  const btn = h('button', { class: ['btn', danger ? 'btn-danger' : 'btn-primary', 'btn-sm'], type: 'submit', text: submit });
  const form = h('form', { class: 'ops-form', id, 'aria-label': title },
    h('h3', { class: 'ops-form-title', text: title }),
    fields.map((f) => h('div', { class: 'field' }, h('label', { class: 'label', for: `${id}-${f.name}`, text: f.label }), f.input(`${id}-${f.name}`))),
    h('div', { class: 'field' }, h('label', { class: 'label', for: `${id}-reason`, text: 'Reason' }), reason),
    h('div', { class: 'ops-form-actions' }, btn), err);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!reason.value.trim()) { err.textContent = 'A reason is required.'; reason.focus(); return; }
    const values = Object.fromEntries(new FormData(form).entries());
    btn.disabled = true;
    Promise.resolve(onSubmit(values)).catch((e2) => { err.textContent = errorText(e2.code, e2.message); })
      .finally(() => { btn.disabled = false; });
  });
  return form;
}

// download fetches an export with the operator's token and saves it.
async function download(path, name) {
  const res = await fetch(`/api/ops${path}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!res.ok) { toast('Export failed.', 'error'); return; }
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

// spark draws a small line chart of values (an hour of samples).
function spark(values, label) {
  const w = 240; const hgt = 48;
  const s = document.createElementNS(SVG_NS, 'svg');
  s.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  s.setAttribute('class', 'spark');
  s.setAttribute('role', 'img');
  s.setAttribute('aria-label', label);
  if (values.length < 2) {
    const t = document.createElementNS(SVG_NS, 'line');
    t.setAttribute('x1', '0'); t.setAttribute('x2', String(w)); t.setAttribute('y1', String(hgt - 2)); t.setAttribute('y2', String(hgt - 2));
    t.setAttribute('class', 'spark-base');
    s.append(t);
    return s;
  }
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * w},${hgt - 3 - (v / max) * (hgt - 6)}`).join(' ');
  const area = document.createElementNS(SVG_NS, 'polygon');
  area.setAttribute('points', `0,${hgt} ${pts} ${w},${hgt}`);
  area.setAttribute('class', 'spark-area');
  const line = document.createElementNS(SVG_NS, 'polyline');
  line.setAttribute('points', pts);
  line.setAttribute('class', 'spark-line');
  s.append(area, line);
  return s;
}

// ---- overview ----

function overview(body, ctx, arg, state) {
  const refresh = () => opsApi('/overview').then((d) => { if (state.alive) render(d); })
    .catch((err) => { if (state.alive) body.replaceChildren(denied(err)); });
  body.append(h('div', { class: 'loading-block' }, h('div', { class: 'skeleton' })));
  refresh();
  state.timers.push(setInterval(refresh, 5000));

  function render(d) {
    const n = d.now || {};
    const hist = d.history || [];
    const series = (k) => hist.map((x) => x[k] || 0);
    const stat = (key, label, value, values, sub) => h('div', { class: 'card ops-stat', dataset: { stat: key } },
      h('p', { class: 'ops-stat-label', text: label }),
      h('p', { class: 'ops-stat-value', text: value }),
      sub ? h('p', { class: 'ops-stat-sub', text: sub }) : null,
      values ? spark(values, `${label}, last hour`) : null);
    const dbText = n.db_healthy ? 'Healthy' : 'Writing to the spool';
    body.replaceChildren(
      h('div', { class: 'ops-stats' },
        stat('players', 'Players connected', String(n.players ?? 0), series('players')),
        stat('spectators', 'Spectators', String(n.spectators ?? 0), series('spectators')),
        stat('live', 'Live matches', String(n.live_matches ?? 0), series('live_matches')),
        stat('queued', 'In the queues', String(n.queued ?? 0), series('queued'),
          Object.entries(n.queues || {}).map(([g, c]) => `${gameTitle(g)} ${c}`).join(' · ') || 'no queues'),
        stat('wait', 'Pairing wait p50 / p90', `${ms(n.wait_p50_ms || 0)} / ${ms(n.wait_p90_ms || 0)}`, series('wait_p90_ms')),
        stat('moves', 'Moves per second', num(n.moves_per_sec, 1), series('moves_per_sec')),
        h('div', { class: ['card', 'ops-stat', n.db_healthy ? 'ops-ok' : 'ops-bad'], dataset: { stat: 'db' } },
          h('p', { class: 'ops-stat-label', text: 'Database' }),
          h('p', { class: 'ops-stat-value', text: dbText }),
          h('p', { class: 'ops-stat-sub', text: n.db_healthy ? 'Moves are stored in PostgreSQL.' : 'PostgreSQL does not answer: moves go to the fsynced spool, no new matches start.' }))),
      h('p', { class: 'muted small', text: hist.length > 1 ? `Charts: the last ${span(hist[hist.length - 1].at_ms - hist[0].at_ms)}, sampled in the server (an hour is kept).` : 'Charts fill in as the server takes samples (every 10 s, an hour kept).' }));
  }
}

// ---- review queue ----

const SIGNAL_NAMES = {
  same_opponent: 'Many games against one opponent',
  win_rate: 'High win rate against one opponent',
  early_end: 'Resigns or aborts before move 2',
  addr_block: 'Accounts from one address block',
  rating_gain: 'Rating gain far above history',
};

function review(body, ctx, arg, state) {
  const refresh = () => load(body, state, opsApi('/flags'), render);
  refresh();
  function render(list) {
    if (!list.length) {
      body.replaceChildren(emptyState({ icon: icons.check, title: 'Nothing to review', text: 'No integrity signal is raised. Signals are computed from the match history each time this page loads.' }));
      return;
    }
    body.replaceChildren(h('ol', { class: 'ops-review' }, list.map((fp, i) => h('li', { class: 'card ops-flagged', dataset: { player: fp.player.id, rank: String(i + 1) } },
      h('div', { class: 'ops-flagged-head' },
        playerLink(fp.player),
        fp.banned ? h('span', { class: 'tag tag-muted', text: 'banned' }) : null,
        h('span', { class: 'tag tag-warn', title: 'Sum of the flags’ severities', text: `severity ${num(fp.severity, 1)}` }),
        h('a', { class: 'btn btn-secondary btn-sm', href: `/ops/players/${encodeURIComponent(fp.player.id)}`, 'data-link': true, text: 'Open file' })),
      h('ul', { class: 'ops-flags' }, fp.flags.map((f) => flagItem(fp.player, f, refresh)))))));
  }
}

function flagItem(p, f, after) {
  const decide = (status) => {
    const form = reasonForm({
      id: `decide-${f.signal}`, title: status === 'dismissed' ? 'Dismiss this flag' : 'Mark reviewed', submit: status === 'dismissed' ? 'Dismiss' : 'Mark reviewed',
      onSubmit: (v) => opsApi(`/flags/${encodeURIComponent(p.id)}/${encodeURIComponent(f.signal)}`, { method: 'POST', body: { status, key: f.key, reason: v.reason } })
        .then(() => { toast(status === 'dismissed' ? 'Flag dismissed until new evidence.' : 'Flag marked reviewed.'); after(); }),
    });
    slot.replaceChildren(form);
    form.querySelector('input').focus();
  };
  const slot = h('div', { class: 'ops-form-slot' });
  return h('li', { class: ['ops-flag', `ops-flag-${f.status}`], dataset: { signal: f.signal } },
    h('div', { class: 'ops-flag-head' },
      h('b', { text: SIGNAL_NAMES[f.signal] || f.signal }),
      h('span', { class: 'tag tag-muted', text: f.status }),
      h('span', { class: 'muted small', text: `severity ${num(f.severity, 1)}` })),
    h('p', { class: 'ops-evidence', text: f.summary }),
    h('details', { class: 'ops-details' }, h('summary', { text: 'Evidence' }), h('pre', { class: 'ops-json', text: JSON.stringify(f.evidence, null, 1) })),
    h('div', { class: 'ops-actions' },
      h('button', { class: 'btn btn-ghost btn-sm', type: 'button', text: 'Mark reviewed', onclick: () => decide('reviewed') }),
      h('button', { class: 'btn btn-ghost btn-sm', type: 'button', text: 'Dismiss', onclick: () => decide('dismissed') })),
    slot);
}

// ---- leaderboards ----

const FILTERS = [['established', 'Established'], ['provisional', 'Provisional'], ['banned', 'Banned'], ['flagged', 'Flagged'], ['all', 'All']];

function board(body, ctx, arg, state) {
  const game = arg || 'tictactoe';
  const filter = ctx.query.get('filter') || 'established';
  const q = ctx.query.get('q') || '';
  const url = (g, f, s) => {
    const p = new URLSearchParams();
    if (f && f !== 'established') p.set('filter', f);
    if (s) p.set('q', s);
    const qs = p.toString();
    return `/ops/leaderboard/${encodeURIComponent(g)}${qs ? `?${qs}` : ''}`;
  };
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Games' });
  getGames().then((gs) => {
    tabs.replaceChildren(...gs.map((g) => h('a', { class: ['tab', g.id === game && 'active'], href: url(g.id, filter, q), 'data-link': true, text: g.name || gameTitle(g.id, gs) })));
  }).catch(() => {});
  const search = h('input', { class: 'input', type: 'search', id: 'ops-search', name: 'q', value: q, placeholder: 'Search by name', 'aria-label': 'Search by name' });
  const form = h('form', { class: 'ops-toolbar', role: 'search' },
    h('div', { class: 'segmented', role: 'group', 'aria-label': 'Filter' }, FILTERS.map(([f, label]) => h('a', {
      class: 'segmented-btn', href: url(game, f, q), 'data-link': true, 'aria-pressed': f === filter ? 'true' : 'false', text: label,
    }))),
    search,
    h('button', { class: 'btn btn-secondary btn-sm', type: 'submit', text: 'Search' }),
    h('button', { class: 'btn btn-ghost btn-sm', type: 'button', text: 'Export CSV', onclick: () => download(`/leaderboard/${encodeURIComponent(game)}?filter=${filter}&q=${encodeURIComponent(q)}&limit=1000&format=csv`, `leaderboard-${game}.csv`) }));
  form.addEventListener('submit', (e) => { e.preventDefault(); ctx.navigate(url(game, filter, search.value.trim())); });
  const slot = h('div', {});
  body.append(tabs, form, slot);
  load(slot, state, opsApi(`/leaderboard/${encodeURIComponent(game)}?filter=${encodeURIComponent(filter)}&q=${encodeURIComponent(q)}`), (list) => {
    if (!list.length) { slot.replaceChildren(emptyState({ icon: icons.trophy, title: 'No players here', text: 'Try another filter or search.' })); return; }
    slot.replaceChildren(table('ops-board', ['Player', { text: 'Rating', cls: 'num' }, { text: 'RD', cls: 'num' }, { text: 'Games', cls: 'num' },
      { text: 'W / L / D', cls: 'num' }, { text: 'Last played', cls: 'hide-sm' }, { text: 'Flags', cls: 'num' }],
    list.map((e) => h('tr', { class: [e.banned && 'ops-banned'], dataset: { player: e.player.id } },
      h('td', { class: 'who' }, playerLink(e.player),
        e.banned ? h('span', { class: 'tag tag-muted', text: 'banned' }) : null,
        e.provisional ? h('span', { class: 'tag tag-warn', text: 'provisional' }) : null),
      h('td', { class: 'num', text: rating(e.rating) }),
      h('td', { class: 'num', text: `±${Math.round(e.rd)}` }),
      h('td', { class: 'num', text: String(e.games) }),
      h('td', { class: 'num', text: `${e.wins} / ${e.losses} / ${e.draws}` }),
      h('td', { class: 'hide-sm', title: e.last_played ? fullDate(Date.parse(e.last_played)) : '', text: e.last_played ? ago(Date.parse(e.last_played)) : '—' }),
      h('td', { class: 'num' }, e.flags ? h('span', { class: 'tag tag-warn', text: String(e.flags) }) : '0'))), `${gameTitle(game)} leaderboard for operators`));
  });
}

// ---- player ----

function player(body, ctx, id, state) {
  const refresh = () => load(body, state, Promise.all([opsApi(`/players/${encodeURIComponent(id)}`), getGames().catch(() => [])]), ([p, games]) => render(p, games));
  refresh();

  function render(p, games) {
    setTitle(`Ops · ${p.name}`);
    document.querySelector('.ops-page .page-title').textContent = p.name;
    const banned = !!p.banned_at;
    const facts = h('dl', { class: 'ops-facts' },
      fact('Id', p.id), fact('Account', p.guest ? 'guest' : 'registered'), fact('Operator', p.operator ? 'yes' : 'no'),
      fact('Created', fullDate(Date.parse(p.created_at))), fact('Last seen', p.last_seen_at ? fullDate(Date.parse(p.last_seen_at)) : '—'),
      fact('First address block', p.first_addr_block || '—'),
      fact('Ban', banned ? `since ${fullDate(Date.parse(p.banned_at))}${p.banned_until ? `, until ${fullDate(Date.parse(p.banned_until))}` : ', for good'} — ${p.ban_reason || ''}` : 'not banned'),
      fact('Live match', (p.live || []).length ? p.live.join(', ') : 'none'));
    const actions = h('div', { class: 'ops-form-slot', id: 'ops-action-slot' });
    const open = (form) => { actions.replaceChildren(form); const i = form.querySelector('input, select'); if (i) i.focus(); };
    const done = (msg) => { toast(msg); refresh(); };
    const gameSelect = (fid) => h('select', { class: 'input', id: fid, name: 'game' },
      (games.length ? games.map((g) => g.id) : Object.keys(p.ratings)).map((g) => h('option', { value: g, text: gameTitle(g, games) })));
    const buttons = h('div', { class: 'ops-actions' },
      banned
        ? h('button', { class: 'btn btn-secondary btn-sm', type: 'button', id: 'act-unban', text: 'Unban', onclick: () => open(reasonForm({ id: 'unban', title: `Unban ${p.name}`, submit: 'Unban',
          onSubmit: (v) => opsApi(`/players/${encodeURIComponent(p.id)}/unban`, { method: 'POST', body: { reason: v.reason } }).then(() => done(`${p.name} is unbanned.`)) })) })
        : h('button', { class: 'btn btn-danger btn-sm', type: 'button', id: 'act-ban', text: 'Ban', onclick: () => open(reasonForm({ id: 'ban', title: `Ban ${p.name}`, submit: 'Ban', danger: true,
          fields: [{ name: 'duration', label: 'For', input: (fid) => h('select', { class: 'input', id: fid, name: 'duration' },
            [['', 'For good'], ['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']].map(([v, t]) => h('option', { value: v, text: t }))) }],
          onSubmit: (v) => opsApi(`/players/${encodeURIComponent(p.id)}/ban`, { method: 'POST', body: { reason: v.reason, until_ms: v.duration ? Date.now() + Number(v.duration) * 1000 : null } })
            .then((r) => done(`${p.name} is banned: ${r.sockets_closed} socket(s) closed, ${r.aborted.length} live match(es) aborted.`)) })) }),
      h('button', { class: 'btn btn-secondary btn-sm', type: 'button', id: 'act-rename', text: 'Rename', onclick: () => open(reasonForm({ id: 'rename', title: `Rename ${p.name}`, submit: 'Rename',
        fields: [{ name: 'name', label: 'New name', input: (fid) => h('input', { class: 'input', id: fid, name: 'name', required: true, maxlength: '20', pattern: '[A-Za-z0-9_\\-]{3,20}' }) }],
        onSubmit: (v) => opsApi(`/players/${encodeURIComponent(p.id)}/rename`, { method: 'POST', body: { name: v.name, reason: v.reason } }).then(() => done(`Renamed to ${v.name}.`)) })) }),
      h('button', { class: 'btn btn-secondary btn-sm', type: 'button', id: 'act-reset', text: 'Reset a rating', onclick: () => open(reasonForm({ id: 'reset', title: 'Reset a rating to 1500 ±350', submit: 'Reset',
        fields: [{ name: 'game', label: 'Game', input: gameSelect }],
        onSubmit: (v) => opsApi(`/players/${encodeURIComponent(p.id)}/reset`, { method: 'POST', body: { game: v.game, reason: v.reason } }).then(() => done('Rating reset.')) })) }));

    // Ratings, with a chart of the history per game.
    const ratingCards = Object.keys(p.ratings).map((g) => {
      const r = p.ratings[g];
      const hist = (p.history[g] || []).map((x) => x.rating);
      return h('div', { class: 'card ops-rating', dataset: { game: g } },
        h('p', { class: 'ops-stat-label', text: gameTitle(g, games) }),
        h('p', { class: 'ops-stat-value' }, rating(r.rating), h('span', { class: 'rd', text: ` ±${Math.round(r.rd)}` })),
        h('p', { class: 'ops-stat-sub', text: `${r.wins} W · ${r.losses} L · ${r.draws} D · ${r.games} games` }),
        chart(hist, `${gameTitle(g, games)} rating history`));
    });

    // Recent matches, selectable for voiding.
    const selected = new Set();
    const voidBtn = h('button', { class: 'btn btn-danger btn-sm', type: 'button', id: 'act-void', disabled: true, text: 'Void selected' });
    const countEl = h('span', { class: 'muted small', text: '0 selected' });
    const boxes = [];
    const sync = () => { countEl.textContent = `${selected.size} selected`; voidBtn.disabled = selected.size === 0; };
    const rows = p.recent.map((m) => {
      const voidable = m.status !== 'live' && !m.voided;
      const box = voidable ? h('input', { type: 'checkbox', class: 'ops-check', 'aria-label': `Select match ${m.id}`, dataset: { id: m.id, result: m.result, rated: String(m.rated), opp: m.opponent.id } }) : null;
      if (box) {
        boxes.push(box);
        box.addEventListener('change', () => { if (box.checked) selected.add(m.id); else selected.delete(m.id); sync(); });
      }
      return h('tr', { class: [m.voided && 'ops-voided'], dataset: { match: m.id } },
        h('td', {}, box),
        h('td', {}, h('a', { href: `/replay/${encodeURIComponent(m.id)}`, 'data-link': true, text: gameTitle(m.game, games) })),
        h('td', { class: 'who' }, playerLink(m.opponent)),
        h('td', { class: ['ops-result', `r-${m.result}`], text: m.result }),
        h('td', { class: 'hide-sm', text: `${m.reason || ''}${m.rated ? '' : ' · unrated'}` }),
        h('td', { class: 'num', text: String(m.moves) }),
        h('td', { class: 'num', text: m.change === null || m.change === undefined ? '' : `${m.change > 0 ? '+' : ''}${Math.round(m.change)}` }),
        h('td', { class: 'hide-sm', text: ago(Date.parse(m.started_at)) }),
        h('td', {}, m.voided ? h('span', { class: 'tag tag-muted', title: m.void_reason || '', text: 'voided' }) : null));
    });
    const selectWins = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', id: 'select-wins', text: 'Select rated wins', onclick: () => {
      boxes.forEach((b) => { if (b.dataset.result === 'win' && b.dataset.rated === 'true') { b.checked = true; selected.add(b.dataset.id); } });
      sync();
    } });
    voidBtn.addEventListener('click', () => open(reasonForm({ id: 'void', title: `Void ${selected.size} match(es)`, submit: 'Void', danger: true,
      onSubmit: (v) => opsApi('/matches/void', { method: 'POST', body: { ids: [...selected], reason: v.reason } })
        .then((r) => done(`${r.voided.length} match(es) voided; ${r.changes.length} rating(s) recomputed.`)) })));

    const opponents = table('ops-opponents', ['Opponent', { text: 'Games', cls: 'num' }, { text: 'W / L / D', cls: 'num' }, { text: 'Voided', cls: 'num' }],
      p.opponents.map((o) => h('tr', {}, h('td', { class: 'who' }, playerLink(o.opponent)), h('td', { class: 'num', text: String(o.games) }),
        h('td', { class: 'num', text: `${o.wins} / ${o.losses} / ${o.draws}` }), h('td', { class: 'num', text: String(o.voided) }))), 'Counts per opponent');

    body.replaceChildren(
      h('div', { class: 'ops-player-head' }, avatar(p, 'lg'),
        h('div', {}, h('p', { class: 'ops-stat-value', text: p.name }),
          h('p', {}, banned ? h('span', { class: 'tag tag-muted', id: 'banned-tag', text: 'banned' }) : null,
            p.guest ? h('span', { class: 'tag tag-muted', text: 'guest' }) : h('span', { class: 'tag tag-accent', text: 'registered' }),
            p.flags.length ? h('span', { class: 'tag tag-warn', text: `${p.flags.length} flag(s)` }) : null))),
      buttons, actions,
      card('Account', facts),
      p.flags.length ? card('Flags', h('ul', { class: 'ops-flags' }, p.flags.map((f) => flagItem(p, f, refresh)))) : null,
      h('h2', { class: 'section-label', text: 'Ratings' }),
      h('div', { class: 'ops-stats' }, ratingCards.length ? ratingCards : h('p', { class: 'muted', text: 'No rated games.' })),
      h('h2', { class: 'section-label', text: 'Recent matches' }),
      h('div', { class: 'ops-toolbar' }, selectWins, voidBtn, countEl),
      table('ops-recent', [{ text: '', cls: '' }, 'Game', 'Opponent', 'Result', { text: 'How', cls: 'hide-sm' }, { text: 'Moves', cls: 'num' }, { text: 'Δ', cls: 'num' }, { text: 'Started', cls: 'hide-sm' }, ''], rows, 'Recent matches'),
      h('h2', { class: 'section-label', text: 'Against each opponent' }),
      opponents);
  }
}

function fact(k, v) { return h('div', {}, h('dt', { text: k }), h('dd', { text: v })); }

// chart draws a rating history with its range.
function chart(values, label) {
  const wrap = h('div', { class: 'ops-chart' });
  if (!values.length) { wrap.append(h('p', { class: 'muted small', text: 'No rated games.' })); return wrap; }
  const lo = Math.min(...values); const hi = Math.max(...values);
  wrap.append(spark(values.map((v) => v - lo + 1), label), h('p', { class: 'muted small', text: `${Math.round(lo)} – ${Math.round(hi)} over ${values.length} games` }));
  return wrap;
}

// ---- live matches ----

function live(body, ctx, arg, state) {
  const refresh = () => load(body, state, opsApi('/matches/live'), render);
  refresh();
  function render(list) {
    if (!list.length) { body.replaceChildren(emptyState({ icon: icons.play, title: 'No live matches', text: 'Matches show here while they are played.' })); return; }
    const slot = h('div', { class: 'ops-form-slot' });
    body.replaceChildren(slot, table('ops-live', ['Game', 'Players', { text: 'Moves', cls: 'num' }, { text: 'Age', cls: 'num' }, ''],
      list.map((m) => h('tr', { dataset: { match: m.id } },
        h('td', { text: gameTitle(m.game) }),
        h('td', {}, m.players.map((p, i) => [i ? h('span', { class: 'muted', text: ' vs ' }) : null, playerLink(p), h('span', { class: 'muted small', text: ` ${rating(p.rating)}` })])),
        h('td', { class: 'num', text: String(m.moves) }),
        h('td', { class: 'num', text: `${Math.round(m.age_ms / 1000)} s` }),
        h('td', { class: 'ops-actions' },
          h('a', { class: 'btn btn-ghost btn-sm', href: `/m/${encodeURIComponent(m.id)}`, 'data-link': true, text: 'Watch' }),
          h('button', { class: 'btn btn-danger btn-sm', type: 'button', text: 'Abort', onclick: () => {
            slot.replaceChildren(reasonForm({ id: 'abort', title: `Abort ${m.players.map((p) => p.name).join(' vs ')} (unrated; both players are told)`, submit: 'Abort', danger: true,
              onSubmit: (v) => opsApi(`/matches/${encodeURIComponent(m.id)}/abort`, { method: 'POST', body: { reason: v.reason } }).then(() => { toast('Match aborted.'); refresh(); }) }));
            slot.querySelector('input').focus();
          } })))), 'Live matches'));
  }
}

// ---- audit log ----

function audit(body, ctx, arg, state) {
  const action = ctx.query.get('action') || '';
  const operator = ctx.query.get('operator') || '';
  const target = ctx.query.get('target') || '';
  const qs = () => new URLSearchParams(Object.entries({ action: actionSel.value, operator: opIn.value.trim(), target: targetIn.value.trim() }).filter(([, v]) => v)).toString();
  const actionSel = h('select', { class: 'input', id: 'audit-action', 'aria-label': 'Action' },
    ['', 'player.ban', 'player.unban', 'player.rename', 'rating.reset', 'match.void', 'match.abort', 'flag.reviewed', 'flag.dismissed', 'operator.grant', 'operator.revoke']
      .map((a) => h('option', { value: a, selected: a === action, text: a || 'Every action' })));
  const opIn = h('input', { class: 'input', id: 'audit-operator', value: operator, placeholder: 'Operator', 'aria-label': 'Operator' });
  const targetIn = h('input', { class: 'input', id: 'audit-target', value: target, placeholder: 'Target id', 'aria-label': 'Target id' });
  const form = h('form', { class: 'ops-toolbar' }, actionSel, opIn, targetIn,
    h('button', { class: 'btn btn-secondary btn-sm', type: 'submit', text: 'Filter' }),
    h('button', { class: 'btn btn-ghost btn-sm', type: 'button', text: 'Export CSV', onclick: () => download(`/audit?${qs()}&limit=1000&format=csv`, 'audit.csv') }));
  form.addEventListener('submit', (e) => { e.preventDefault(); const s = qs(); ctx.navigate(`/ops/audit${s ? `?${s}` : ''}`); });
  const slot = h('div', {});
  body.append(form, slot);
  const params = new URLSearchParams(Object.entries({ action, operator, target }).filter(([, v]) => v)).toString();
  load(slot, state, opsApi(`/audit${params ? `?${params}` : ''}`), (list) => {
    if (!list.length) { slot.replaceChildren(emptyState({ icon: icons.film, title: 'No entries', text: 'Operator actions show here, newest first.' })); return; }
    slot.replaceChildren(table('ops-audit', ['When', 'Operator', 'Action', 'Target', 'Reason', { text: 'Before → after', cls: 'hide-sm' }],
      list.map((e) => h('tr', { dataset: { action: e.action } },
        h('td', { class: 'nowrap', title: fullDate(Date.parse(e.at)), text: ago(Date.parse(e.at)) }),
        h('td', { text: e.operator_name }),
        h('td', {}, h('code', { text: e.action })),
        h('td', {}, e.target_kind === 'player' ? h('a', { href: `/ops/players/${encodeURIComponent(e.target_id)}`, 'data-link': true, text: e.target_id }) : h('code', { text: e.target_id })),
        h('td', { text: e.reason }),
        h('td', { class: 'hide-sm' }, h('details', { class: 'ops-details' }, h('summary', { text: 'Show' }),
          h('pre', { class: 'ops-json', text: `${JSON.stringify(e.before)}\n→ ${JSON.stringify(e.after)}` }))))), 'Audit log'));
  });
}

