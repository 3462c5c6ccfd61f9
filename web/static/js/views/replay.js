// /replay/{id}: a finished match, rebuilt move by move in the browser from
// GET /api/matches/{id}. Step with the buttons, the slider or the arrow keys.
import { api, getGames } from '../api.js';
import { h, svg, setTitle, emptyState, link, rating, avatar, fullDate, errorText } from '../ui.js';
import { icons } from '../icons.js';
import { gameModule, gameTitle, gameIcon } from '../games/index.js';

const AUTOPLAY_MS = 900;

export function mount(root, ctx) {
  const id = ctx.params[0];
  const page = h('div', { class: 'page replay-page' });
  root.append(page);
  let alive = true;
  let cleanup = () => {};
  setTitle('Replay');
  page.append(h('div', { class: 'loading-block' }, h('div', { class: 'skeleton skeleton-title' }), h('div', { class: 'skeleton skeleton-board' })));

  Promise.all([api(`/api/matches/${encodeURIComponent(id)}`), getGames().catch(() => [])])
    .then(([data, games]) => { if (alive) cleanup = render(data, games) || cleanup; })
    .catch((err) => {
      if (!alive) return;
      page.replaceChildren(err.missing ? emptyState({
        icon: icons.film, title: err.routeMissing ? 'Replays are coming soon' : 'Replay not available',
        text: err.routeMissing ? 'Finished games will be viewable move by move here.' : 'This match isn’t stored, or the link is wrong.',
        actions: [link('/', 'Go to the lobby', 'btn btn-primary'), link(`/m/${encodeURIComponent(id)}`, 'Open live view', 'btn btn-secondary')],
      }) : emptyState({ icon: icons.ghost, title: 'Couldn’t load this replay', text: errorText(err.code, err.message) }));
    });

  function render(data, games) {
    const game = data.game;
    const mod = gameModule(game);
    const players = data.players || [];
    const moves = (Array.isArray(data.moves) ? data.moves : []).slice().sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    const names = [players[0] ? players[0].name : 'Player 1', players[1] ? players[1].name : 'Player 2'];
    setTitle(`Replay · ${gameTitle(game, games)}`);

    if (data.status === 'live') {
      page.replaceChildren(emptyState({
        icon: icons.eye, title: 'This game is still being played', text: 'Watch it live — the replay is ready when it ends.',
        actions: [link(`/m/${encodeURIComponent(id)}`, 'Watch live', 'btn btn-primary')],
      }));
      return null;
    }
    if (!mod) {
      page.replaceChildren(emptyState({ icon: icons.ghost, title: 'This game can’t be replayed here yet' }));
      return null;
    }

    const steps = mod.replayFrames(moves);
    let at = steps.length - 1; // open at the final position
    let timer = 0;

    const board = mod.createReplayBoard({ names });
    const badge = (seat, cls, labelled) => {
      const b = mod.seatBadge(seat);
      return b ? h('span', { class: [cls, b.className], text: b.text, 'aria-label': labelled ? b.label : null }) : null;
    };
    const caption = h('p', { class: 'replay-caption', 'aria-live': 'polite' });
    const counter = h('span', { class: 'replay-counter' });
    const slider = h('input', { type: 'range', min: '0', max: String(steps.length - 1), value: String(at), class: 'replay-slider', 'aria-label': 'Move' });
    slider.addEventListener('input', () => { stop(); show(Number(slider.value)); });
    const btn = (icon, label, fn, action) => h('button', { class: 'icon-btn icon-btn-lg', type: 'button', 'aria-label': label, title: label, onclick: fn, 'data-action': action }, svg(icon));
    const first = btn(icons.first, 'First position', () => { stop(); show(0); }, 'first');
    const prev = btn(icons.back, 'Previous move', () => { stop(); show(at - 1); }, 'prev');
    const playBtn = btn(icons.play, 'Play', () => (timer ? stop() : play()), 'play');
    const next = btn(icons.next, 'Next move', () => { stop(); show(at + 1); }, 'next');
    const last = btn(icons.last, 'Last position', () => { stop(); show(steps.length - 1); }, 'last');

    const moveList = h('ol', { class: 'move-list' }, moves.map((mv, i) => h('li', {},
      h('button', { type: 'button', class: 'move-btn', onclick: () => { stop(); show(i + 1); } },
        h('span', { class: 'move-n', text: `${i + 1}.` }),
        badge(mv.seat, 'seat-dot', false),
        h('span', { text: mod.describeMove(mv.move, mv.seat, names) })))));

    const winner = data.winner;
    const resultText = data.status === 'aborted' ? 'Aborted' : winner === null || winner === undefined ? 'Draw' : `${names[winner]} won`;

    page.replaceChildren(
      h('div', { class: 'match-head' },
        h('a', { class: 'back-link', href: '/', 'data-link': true }, svg(icons.back), h('span', { text: 'Lobby' })),
        h('div', { class: 'match-title' },
          h('span', { class: ['match-game-icon', `game-art-${game}`] }, svg(gameIcon(game))),
          h('h1', { text: `Replay · ${gameTitle(game, games)}` }))),
      h('div', { class: 'replay-grid' },
        h('div', { class: 'replay-main' },
          h('div', { class: 'players players-compact' },
            ...[0, 1].flatMap((s) => {
              const p = players[s] || { name: names[s] };
              const card = h('a', { class: ['player', s === 1 && 'player-right', winner === s && 'winner'], href: p.id ? `/players/${encodeURIComponent(p.id)}` : null, 'data-link': p.id ? true : null },
                h('div', { class: 'player-avatar' }, avatar(p), badge(s, 'seat-badge', true)),
                h('div', { class: 'player-info' },
                  h('div', { class: 'player-name' }, h('span', { class: 'player-name-text', text: p.name }), winner === s ? svg(icons.trophy, 'inline-icon trophy') : null),
                  h('div', { class: 'player-sub' }, h('span', { class: 'player-rating', text: rating(p.rating) }))));
              return s === 0 ? [card, h('div', { class: 'players-vs', 'aria-hidden': 'true', text: 'vs' })] : [card];
            })),
          h('div', { class: ['board-wrap', `board-${game}`] }, board.el),
          caption,
          h('div', { class: 'replay-controls' }, first, prev, playBtn, next, last),
          h('div', { class: 'replay-scrub' }, slider, counter)),
        h('aside', { class: 'card replay-side' },
          h('div', { class: 'replay-result' },
            h('span', { class: 'eyebrow', text: 'Result' }),
            h('strong', { text: resultText }),
            data.reason ? h('span', { class: 'muted small', text: reasonWords(mod, data) }) : null,
            h('span', { class: 'muted small', text: fullDate(data.ended_ms || data.started_ms) })),
          h('h2', { class: 'card-title-sm', text: `Moves (${moves.length})` }),
          moves.length ? moveList : h('p', { class: 'muted small', text: 'No moves were made.' }))));

    function show(i) {
      at = Math.max(0, Math.min(steps.length - 1, i));
      const st = steps[at];
      board.show(st);
      slider.value = String(at);
      counter.textContent = `${at} / ${steps.length - 1}`;
      caption.textContent = at === 0 ? 'Start position' : `Move ${at}: ${mod.describeMove(moves[at - 1].move, moves[at - 1].seat, names)}`;
      first.disabled = prev.disabled = at === 0;
      next.disabled = last.disabled = at === steps.length - 1;
      moveList.querySelectorAll('.move-btn').forEach((b, k) => {
        b.classList.toggle('current', k === at - 1);
        if (k === at - 1) b.setAttribute('aria-current', 'step'); else b.removeAttribute('aria-current');
      });
      const cur = moveList.querySelector('.move-btn.current');
      if (cur && timer) cur.scrollIntoView({ block: 'nearest' });
    }
    function play() {
      if (at >= steps.length - 1) show(0);
      playBtn.replaceChildren(svg(icons.pause));
      playBtn.setAttribute('aria-label', 'Pause');
      timer = setInterval(() => { if (at >= steps.length - 1) stop(); else show(at + 1); }, AUTOPLAY_MS);
    }
    function stop() {
      clearInterval(timer);
      timer = 0;
      playBtn.replaceChildren(svg(icons.play));
      playBtn.setAttribute('aria-label', 'Play');
    }
    function onKey(e) {
      if (e.target && (e.target.tagName === 'INPUT' || e.target.tagName === 'TEXTAREA')) return;
      if (e.target && e.target.closest && e.target.closest('.board-wrap')) return; // the board's own keys
      if (e.key === 'ArrowLeft') { stop(); show(at - 1); e.preventDefault(); }
      else if (e.key === 'ArrowRight') { stop(); show(at + 1); e.preventDefault(); }
      else if (e.key === 'Home') { stop(); show(0); e.preventDefault(); }
      else if (e.key === 'End') { stop(); show(steps.length - 1); e.preventDefault(); }
    }
    document.addEventListener('keydown', onKey);
    show(at);
    return () => { stop(); document.removeEventListener('keydown', onKey); if (board.destroy) board.destroy(); };
  }

  return () => { alive = false; cleanup(); };
}

// reasonWords: the game's own words for its end reasons, else these.
function reasonWords(mod, data) {
  const r = data.reason;
  const own = mod.endText ? mod.endText(r, { winnerName: '', loserName: '', winner: data.winner ?? null, state: null }) : null;
  if (own) return own.short;
  return {
    timeout: 'Ran out of time', resign: 'By resignation',
    abandoned: 'A player left', no_moves: 'No moves — unrated', server_error: 'Server error — unrated',
  }[r] || r.replace(/_/g, ' ');
}
