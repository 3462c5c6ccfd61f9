// /players/{id}: a player's ratings per game and their recent matches.
import { api, getGames } from '../api.js';
import { session } from '../session.js';
import { h, svg, setTitle, emptyState, link, rating, avatar, ago, fullDate, errorText } from '../ui.js';
import { icons } from '../icons.js';
import { gameTitle, gameIcon } from '../games/index.js';

export function mount(root, ctx) {
  const id = ctx.params[0];
  const page = h('div', { class: 'page player-page' });
  root.append(page);
  let alive = true;
  setTitle('Player');
  page.append(h('div', { class: 'loading-block' }, h('div', { class: 'skeleton skeleton-title' }), h('div', { class: 'skeleton' }), h('div', { class: 'skeleton' })));

  Promise.all([api(`/api/players/${encodeURIComponent(id)}`), getGames().catch(() => [])])
    .then(([data, games]) => { if (alive) render(data, games); })
    .catch((err) => {
      if (!alive) return;
      const me = session.player && session.player.id === id ? session.player : null;
      page.replaceChildren(err.routeMissing || (err.missing && me) ? emptyState({
        icon: icons.user, title: me ? `Hi, ${me.name}` : 'Player pages are coming soon',
        text: 'Ratings and recent games will show here once the server keeps them.',
        actions: [link('/', 'Play a game', 'btn btn-primary')],
      }) : err.missing ? emptyState({
        icon: icons.ghost, title: 'No such player', text: 'This player doesn’t exist, or the link is wrong.',
        actions: [link('/', 'Go to the lobby', 'btn btn-primary')],
      }) : emptyState({ icon: icons.ghost, title: 'Couldn’t load this player', text: errorText(err.code, err.message) }));
    });

  function render(data, games) {
    const p = data.player || {};
    setTitle(p.name || 'Player');
    const isMe = session.player && session.player.id === p.id;
    const ratings = data.ratings || {};
    const gameIds = [...new Set([...games.map((g) => g.id), ...Object.keys(ratings)])];
    const recent = Array.isArray(data.recent) ? data.recent : [];

    const cards = gameIds.map((g) => {
      const r = ratings[g];
      if (!r) {
        return h('div', { class: 'rating-card rating-card-empty' },
          h('div', { class: 'rating-card-head' }, h('span', { class: ['rating-card-icon', `game-art-${g}`] }, svg(gameIcon(g))), h('span', { class: 'rating-card-game', text: gameTitle(g, games) })),
          h('p', { class: 'muted small', text: 'No games yet' }));
      }
      const total = r.games || (r.wins + r.losses + r.draws) || 0;
      const seg = (n, cls) => { if (!n) return null; const s = h('span', { class: cls }); s.style.flexGrow = String(n); return s; };
      return h('div', { class: 'rating-card' },
        h('div', { class: 'rating-card-head' },
          h('span', { class: ['rating-card-icon', `game-art-${g}`] }, svg(gameIcon(g))),
          h('span', { class: 'rating-card-game', text: gameTitle(g, games) }),
          h('a', { class: 'rating-card-lb', href: `/leaderboard/${encodeURIComponent(g)}`, 'data-link': true, text: 'Leaderboard' })),
        h('div', { class: 'rating-big' }, h('b', { text: rating(r.rating) }), h('span', { class: 'rd', text: `±${Math.round(r.rd || 0)}` }),
          r.provisional ? h('span', { class: 'tag tag-warn', title: 'Rating still settling', text: 'provisional' }) : null),
        h('div', { class: 'wld-bar', 'aria-hidden': 'true' }, total ? [seg(r.wins, 'w'), seg(r.draws, 'd'), seg(r.losses, 'l')] : null),
        h('dl', { class: 'wld' },
          h('div', {}, h('dt', { text: 'Won' }), h('dd', { class: r.wins ? 'w' : '', text: String(r.wins || 0) })),
          h('div', {}, h('dt', { text: 'Drawn' }), h('dd', { text: String(r.draws || 0) })),
          h('div', {}, h('dt', { text: 'Lost' }), h('dd', { class: r.losses ? 'l' : '', text: String(r.losses || 0) })),
          h('div', {}, h('dt', { text: 'Games' }), h('dd', { text: String(total) }))));
    });

    const rows = recent.map((m) => {
      const seat = (m.players || []).findIndex((x) => x.id === p.id);
      const opp = (m.players || [])[seat === 0 ? 1 : 0];
      let res = 'aborted';
      if (m.status === 'live') res = 'live';
      else if (m.status === 'finished') res = m.winner === null || m.winner === undefined ? 'draw' : m.winner === seat ? 'win' : 'loss';
      const label = { win: 'Won', loss: 'Lost', draw: 'Draw', aborted: 'Aborted', live: 'Live' }[res];
      const href = m.status === 'live' ? `/m/${encodeURIComponent(m.id)}` : `/replay/${encodeURIComponent(m.id)}`;
      return h('tr', {},
        h('td', {}, h('a', { class: ['result-chip', `result-chip-${res}`], href, 'data-link': true, text: label, title: m.status === 'live' ? 'Watch' : 'Replay' })),
        h('td', {}, h('span', { class: 'game-cell' }, svg(gameIcon(m.game), 'inline-icon'), h('span', { class: 'hide-sm', text: gameTitle(m.game, games) }))),
        h('td', { class: 'who' }, opp ? h('a', { href: `/players/${encodeURIComponent(opp.id)}`, 'data-link': true, class: 'who-link' }, avatar(opp, 'sm'), h('span', { class: 'who-name', text: opp.name }), h('span', { class: 'muted small', text: rating(opp.rating) })) : '—'),
        h('td', { class: 'muted hide-sm' }, reasonShort(m.reason), m.voided ? h('span', { class: 'tag tag-muted', title: 'Voided by an operator: it counts for no one', text: 'voided' }) : null),
        h('td', { class: 'muted nowrap', title: fullDate(m.ended_ms || m.started_ms), text: ago(m.ended_ms || m.started_ms) }),
        h('td', { class: 'num hide-sm' }, h('a', { href, 'data-link': true, class: 'btn btn-ghost btn-sm', text: m.status === 'live' ? 'Watch' : 'Replay' })));
    });

    page.replaceChildren(
      h('div', { class: 'profile-head' },
        avatar(p, 'lg'),
        h('div', {},
          h('h1', { class: 'page-title' }, p.name || 'Player', isMe ? h('span', { class: 'tag tag-accent', text: 'you' }) : null),
          h('p', { class: 'muted', text: p.guest ? 'Guest player' : 'Registered player' }))),
      h('section', { class: 'rating-cards', 'aria-label': 'Ratings' }, cards),
      h('section', { class: 'card table-card', 'aria-labelledby': 'recent-title' },
        h('h2', { id: 'recent-title', class: 'card-title-sm pad-x', text: 'Recent games' }),
        rows.length ? h('div', { class: 'table-scroll' }, h('table', { class: 'table recent-table' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col', text: 'Result' }), h('th', { scope: 'col', text: 'Game' }), h('th', { scope: 'col', text: 'Opponent' }),
            h('th', { scope: 'col', class: 'hide-sm', text: 'How' }), h('th', { scope: 'col', text: 'When' }), h('th', { scope: 'col', class: 'num hide-sm' }, h('span', { class: 'sr-only', text: 'Open' })))),
          h('tbody', {}, rows))) : h('p', { class: 'muted pad', text: 'No games played yet.' })));
  }

  return () => { alive = false; };
}

function reasonShort(r) {
  return {
    line: 'Three in a row', board_full: 'Board full', timeout: 'Time ran out', resign: 'Resigned', abandoned: 'Abandoned',
    rounds: 'On rounds', no_moves: 'No moves', server_error: 'Server error',
  }[r] || (r ? r.replace(/_/g, ' ') : '');
}
