// /leaderboard/{game}: ranks, ratings and records, with paging. Built to be
// scanned quickly: tabular numbers, right-aligned, provisional players marked.
import { api, getGames } from '../api.js';
import { session } from '../session.js';
import { h, svg, setTitle, emptyState, link, rating, avatar, errorText } from '../ui.js';
import { icons } from '../icons.js';
import { gameTitle, gameIcon } from '../games/index.js';

const PAGE = 50;

export function mount(root, ctx) {
  let game = ctx.params[0];
  const page = h('div', { class: 'page leaderboard-page' });
  root.append(page);
  let alive = true;

  if (!game) {
    // /leaderboard: the first game.
    page.append(h('div', { class: 'loading-block' }));
    getGames().then((gs) => {
      if (!alive) return;
      ctx.navigate(`/leaderboard/${encodeURIComponent((gs[0] && gs[0].id) || 'tictactoe')}`, { replace: true });
    }).catch(() => alive && ctx.navigate('/leaderboard/tictactoe', { replace: true }));
    return () => { alive = false; };
  }

  const offset = Math.max(0, parseInt(ctx.query.get('offset') || '0', 10) || 0);
  const provisional = ctx.query.get('provisional') !== 'false'; // shown by default: new servers have few settled players
  setTitle(`Leaderboard · ${gameTitle(game)}`);

  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Games' });
  const tableSlot = h('div', { class: 'lb-slot' });
  const toggle = h('input', { type: 'checkbox', id: 'lb-prov', checked: provisional, class: 'switch-input' });
  toggle.addEventListener('change', () => go(0, toggle.checked));

  page.append(
    h('div', { class: 'page-head' },
      h('div', {},
        h('p', { class: 'eyebrow', text: 'Leaderboard' }),
        h('h1', { class: 'page-title', text: gameTitle(game) })),
      h('label', { class: 'switch', for: 'lb-prov' }, toggle, h('span', { class: 'switch-track', 'aria-hidden': 'true' }),
        h('span', { class: 'switch-label', text: 'Include provisional' }))),
    tabs, tableSlot);

  function url(off, prov) {
    const q = new URLSearchParams();
    if (off) q.set('offset', String(off));
    if (!prov) q.set('provisional', 'false');
    const s = q.toString();
    return `/leaderboard/${encodeURIComponent(game)}${s ? `?${s}` : ''}`;
  }
  function go(off, prov) { ctx.navigate(url(off, prov)); }

  getGames().then((gs) => {
    if (!alive) return;
    tabs.replaceChildren(...gs.map((g) => h('a', {
      class: ['tab', g.id === game && 'active'], href: `/leaderboard/${encodeURIComponent(g.id)}${provisional ? '' : '?provisional=false'}`, 'data-link': true,
      'aria-current': g.id === game ? 'page' : null,
    }, svg(gameIcon(g.id), 'tab-icon'), h('span', { text: g.name || gameTitle(g.id, gs) }))));
    page.querySelector('.page-title').textContent = gameTitle(game, gs);
  }).catch(() => {});

  tableSlot.append(skeletonTable());
  api(`/api/leaderboard/${encodeURIComponent(game)}?limit=${PAGE}&offset=${offset}&provisional=${provisional}`)
    .then((data) => { if (alive) renderTable(data); })
    .catch((err) => {
      if (!alive) return;
      tableSlot.replaceChildren(err.missing && !err.routeMissing ? emptyState({
        icon: icons.ghost, title: 'No leaderboard for this game', text: 'This game isn’t ranked here. Pick another one above.',
      }) : err.routeMissing ? emptyState({
        icon: icons.chart, title: 'Leaderboards are coming soon',
        text: 'Rankings will appear here once the server keeps them. Your games already count.',
        actions: [link('/', 'Play a game', 'btn btn-primary')],
      }) : emptyState({ icon: icons.ghost, title: 'Couldn’t load the leaderboard', text: errorText(err.code, err.message), actions: [link(url(offset, provisional), 'Try again', 'btn btn-secondary')] }));
    });

  function renderTable(data) {
    const entries = Array.isArray(data.entries) ? data.entries : [];
    const total = typeof data.total === 'number' ? data.total : entries.length;
    if (!entries.length) {
      tableSlot.replaceChildren(emptyState({
        icon: icons.trophy, title: offset ? 'No more players' : 'No ranked players yet',
        text: offset ? 'You’ve reached the end of the list.' : provisional ? 'Play a few games to get on the board.' : 'Players show here after a few rated games. Include provisional players to see everyone.',
        actions: [offset ? link(url(0, provisional), 'Back to the top', 'btn btn-secondary') : link('/', 'Play a game', 'btn btn-primary')],
      }));
      return;
    }
    const me = session.player && session.player.id;
    const rows = entries.map((e) => {
      const p = e.player || {};
      const isMe = p.id === me;
      const winPct = e.games ? Math.round((e.wins / e.games) * 100) : 0;
      return h('tr', { class: [isMe && 'me', e.provisional && 'provisional'] },
        h('td', { class: ['num', 'rank', e.rank <= 3 && `rank-${e.rank}`] }, h('span', { class: 'rank-badge', text: String(e.rank) })),
        h('td', { class: 'who' },
          h('a', { href: `/players/${encodeURIComponent(p.id)}`, 'data-link': true, class: 'who-link' },
            avatar(p, 'sm'), h('span', { class: 'who-name', text: p.name || '—' })),
          isMe ? h('span', { class: 'tag tag-accent', text: 'you' }) : null,
          e.provisional ? h('span', { class: 'tag tag-warn', title: 'Provisional: rating still settling (few games played)', text: 'provisional' }) : null),
        h('td', { class: 'num rating-cell' }, h('b', { text: rating(e.rating) }), h('span', { class: 'rd', text: e.rd !== undefined ? `±${Math.round(e.rd)}` : '' })),
        h('td', { class: 'num wins', text: String(e.wins ?? 0) }),
        h('td', { class: 'num losses', text: String(e.losses ?? 0) }),
        h('td', { class: 'num draws', text: String(e.draws ?? 0) }),
        h('td', { class: 'num games hide-sm', text: String(e.games ?? 0) }),
        h('td', { class: 'num pct hide-sm' }, h('span', { class: 'pct-bar' }, bar(winPct)), h('span', { class: 'pct-text', text: `${winPct}%` })));
    });
    const from = offset + 1;
    const to = offset + entries.length;
    const prev = offset > 0;
    const next = to < total;
    tableSlot.replaceChildren(
      h('div', { class: 'card table-card' }, h('div', { class: 'table-scroll' },
        h('table', { class: 'table lb-table' },
          h('caption', { class: 'sr-only', text: `${gameTitle(game)} leaderboard, players ${from} to ${to} of ${total}` }),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col', class: 'num', text: '#' }),
            h('th', { scope: 'col', text: 'Player' }),
            h('th', { scope: 'col', class: 'num', text: 'Rating' }),
            h('th', { scope: 'col', class: 'num', title: 'Wins' }, 'W'),
            h('th', { scope: 'col', class: 'num', title: 'Losses' }, 'L'),
            h('th', { scope: 'col', class: 'num', title: 'Draws' }, 'D'),
            h('th', { scope: 'col', class: 'num hide-sm', text: 'Games' }),
            h('th', { scope: 'col', class: 'num hide-sm', text: 'Win %' }))),
          h('tbody', {}, rows)))),
      h('div', { class: 'pager' },
        h('span', { class: 'pager-info' }, `${from}–${to} of ${total}`,
          entries.some((e) => e.provisional) ? h('span', { class: 'legend' }, h('span', { class: 'legend-dot' }), 'provisional') : null),
        h('div', { class: 'pager-btns' },
          prev ? link(url(Math.max(0, offset - PAGE), provisional), '← Previous', 'btn btn-secondary btn-sm') : h('span', { class: 'btn btn-secondary btn-sm', 'aria-disabled': 'true', text: '← Previous' }),
          next ? link(url(offset + PAGE, provisional), 'Next →', 'btn btn-secondary btn-sm') : h('span', { class: 'btn btn-secondary btn-sm', 'aria-disabled': 'true', text: 'Next →' }))));
  }

  return () => { alive = false; };
}

function bar(pct) {
  const fill = h('span', { class: 'pct-fill' });
  fill.style.width = `${pct}%`;
  return fill;
}

function skeletonTable() {
  return h('div', { class: 'card table-card' }, h('div', { class: 'skeleton-list pad' },
    Array.from({ length: 6 }, () => h('div', { class: 'skeleton' }))));
}
