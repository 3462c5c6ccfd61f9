// /m/{id}: a live match, for its players and for spectators. Everything
// shown is derived from the latest match.state (and match.over) that the
// connection holds, so a reconnect or reload lands exactly where it was.
import { api, getGames } from '../api.js';
import { conn } from '../conn.js';
import { h, svg, append, clock, toast, errorText, rating, signed, avatar, setTitle, confirmDialog, emptyState, link, spinner, botLevel, botTag } from '../ui.js';
import { icons } from '../icons.js';
import { gameModule, gameTitle, gameIcon, winnerFromState } from '../games/index.js';
import { alert as raiseAlert } from '../alerts.js';

const URGENT_MS = 5000;
const LOW_TIME_MS = 10000; // said once per turn to screen readers

export function mount(root, ctx) {
  const id = ctx.params[0];
  const offs = [];
  let games = [];
  let board = null; // the game component
  let boardGame = null;
  let pending = null; // the wire move sent and not yet reflected in a state
  let sentFrom = null; // {state, turn} when pending was sent
  let iOfferedRematch = false;
  let watchError = null;
  let summary = null; // GET /api/matches/{id} for a finished match without match.over
  let summaryAsked = false;
  let disconnectedSince = [0, 0]; // server time when each seat was first seen away
  let lastVersion = -1;
  let iAborted = false; // this viewer resigned before moving: the server aborts
  let provisional = {}; // player id -> true/false, from /api/players/{id}
  let provisionalAsked = false;
  let said = ''; // the last turn or result line given to screen readers
  let lowSaidFor = 0; // the deadline whose low time was said
  let owedBefore = null; // the viewer owed a move at the last render
  let liveStatusHeight = 0; // px: the result takes at least the live status line's room

  setTitle('Game');
  const page = h('div', { class: 'page match-page' });
  root.append(page);

  // The skeleton; render() fills each part from the latest match.state.
  const head = h('div', { class: 'match-head' });
  const playersEl = h('div', { class: 'players' });
  // The status line is not a live region (its countdown changes every
  // second): the announcer says turn changes, low time and the result.
  const statusEl = h('div', { class: 'status' });
  const announcer = h('div', { class: 'sr-only announcer', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
  const boardSlot = h('div', { class: 'board-slot' });
  // At the end the status line says the result in the same place, and the
  // rest (ratings, rematch) goes below the board: the board never moves.
  const resultSlot = h('div', { class: 'result-slot' });
  const actionsEl = h('div', { class: 'match-actions' });
  const body = h('div', { class: 'match' }, head, playersEl, statusEl, boardSlot, resultSlot, actionsEl, announcer);

  const entry = () => conn.matches.get(id) || null;

  // ---- derived view ----

  function view() {
    const m = entry();
    const st = m && m.state;
    const found = m && m.found;
    const game = (st && st.game) || (found && found.game) || (summary && summary.game) || null;
    const players = (st && st.players) || (found && found.players) || (summary && summary.players) || [];
    let you = st ? st.you : found ? found.you : null;
    if (you === undefined) you = null;
    const status = st ? st.status : summary ? summary.status : null;
    const over = (m && m.over) || null;
    return { m, st, game, players, you, status, over, live: status === 'live' };
  }

  // gameView is what the game module is asked about (see games/index.js).
  function gameView(v) {
    const st = v.st;
    return {
      state: st ? st.state : null, turn: st && st.turn !== undefined ? st.turn : null, you: v.you,
      live: v.live, names: [nameOf(v, 0), nameOf(v, 1)], pending,
    };
  }

  function opponentSeat(v) { return v.you === 0 ? 1 : v.you === 1 ? 0 : null; }

  function nameOf(v, seat) {
    const p = v.players[seat];
    return p ? p.name : `Player ${seat + 1}`;
  }

  // ---- rendering ----

  function render() {
    const v = view();
    if (!v.st) {
      if (watchError) { renderGone(); return; }
      renderLoading();
      return;
    }
    if (!body.isConnected) page.replaceChildren(body);
    trackConnections(v);
    renderHead(v);
    renderPlayers(v);
    renderBoard(v);
    renderStatus(v);
    renderResult(v);
    renderActions(v);
    renderTitle(v);
    speak(v);
    alertTurn(v);
    askProvisional(v);
    tick();
  }

  function announce(text) {
    if (text) announcer.textContent = text;
  }

  function sayOnce(text) {
    if (!text || text === said) return;
    said = text;
    announce(text);
  }

  // speak gives screen readers the turn when it changes, and the result.
  function speak(v) {
    if (!v.live) {
      const r = resultInfo(v);
      sayOnce([r.title, r.reason].filter(Boolean).join('. '));
      return;
    }
    const mod = gameModule(v.game);
    if (!mod) return;
    const line = conn.online ? mod.statusLine(gameView(v)) : offlineLine(v);
    sayOnce([line.title, line.sub].filter(Boolean).join('. '));
  }

  // alertTurn rings (when the player asked for it) as the turn becomes
  // theirs while the tab is hidden.
  function alertTurn(v) {
    const mod = gameModule(v.game);
    const owes = !!mod && v.live && v.you !== null && mod.owesMove(gameView(v));
    if (owes && owedBefore === false) {
      raiseAlert('Your move', `${gameTitle(v.game, games)} against ${nameOf(v, opponentSeat(v))}`, `/m/${encodeURIComponent(id)}`);
    }
    owedBefore = owes;
  }

  // askProvisional learns, once, which players' ratings in this game are
  // still provisional (a player without a rating there yet is).
  function askProvisional(v) {
    if (provisionalAsked || !v.game || v.players.length < 2) return;
    provisionalAsked = true;
    for (const p of v.players) {
      if (!p || !p.id) continue;
      api(`/api/players/${encodeURIComponent(p.id)}`).then((res) => {
        const r = res && res.ratings ? res.ratings[v.game] : null;
        provisional[p.id] = r ? !!r.provisional : true;
        if (page.isConnected) renderPlayers(view());
      }).catch(() => { /* bots and unknown players: no mark */ });
    }
  }

  function renderLoading() {
    page.replaceChildren(h('div', { class: 'loading-block', role: 'status' }, spinner(), h('p', { text: conn.online ? 'Loading the game…' : 'Connecting…' })));
  }

  function renderGone() {
    const code = watchError && watchError.code;
    page.replaceChildren(emptyState({
      icon: icons.ghost,
      title: code === 'not_found' ? 'This game isn’t running' : 'Couldn’t open this game',
      text: code === 'not_found' ? 'It may have finished a while ago, or the link is wrong. Finished games can be replayed.' : errorText(code, watchError.message),
      actions: [link('/', 'Back to the lobby', 'btn btn-primary'), link(`/replay/${encodeURIComponent(id)}`, 'Open the replay', 'btn btn-secondary')],
    }));
  }

  function renderHead(v) {
    const st = v.st;
    const statusPill = v.live ? h('span', { class: 'pill pill-live' }, h('span', { class: 'live-dot' }), 'Live')
      : v.status === 'aborted' ? h('span', { class: 'pill pill-muted', text: 'Aborted' })
        : v.status ? h('span', { class: 'pill pill-done', text: 'Finished' }) : null;
    const spect = st ? st.spectators || 0 : 0;
    const found = v.m && v.m.found;
    const rated = st && st.rated !== undefined ? st : found;
    const unratedPill = rated && rated.rated === false ? unratedChip(rated.unrated_reason || '') : null;
    head.replaceChildren();
    append(head, [
      h('a', { class: 'back-link', href: '/', 'data-link': true }, svg(icons.back), h('span', { text: 'Lobby' })),
      h('div', { class: 'match-title' },
        h('span', { class: ['match-game-icon', `game-art-${v.game}`] }, svg(gameIcon(v.game))),
        h('div', { class: 'match-title-text' }, h('h1', { text: gameTitle(v.game, games) }), statusPill, unratedPill)),
      h('span', { class: 'spectators', title: 'People watching', 'data-count': String(spect) },
        svg(icons.eye, 'inline-icon'), h('span', { text: `${spect}` }), h('span', { class: 'spectators-word', text: ' watching' })),
    ]);
  }

  // unratedChip says that this game's result will not change ratings, and why.
  function unratedChip(reason) {
    const why = reason === 'pair_limit' ? 'You two have played your rated games for today; this one doesn’t count for ratings.'
      : reason === 'computer' ? 'Games against the computer don’t count for ratings.'
        : `This game doesn’t count for ratings${reason ? ` (${reason.replace(/_/g, ' ')})` : ''}.`;
    const short = reason === 'pair_limit' ? 'daily limit for this pair' : reason === 'computer' ? '' : reason.replace(/_/g, ' ');
    return h('span', { class: 'pill pill-muted pill-unrated', title: why, 'data-reason': reason, text: short ? `Unrated · ${short}` : 'Unrated' });
  }

  function trackConnections(v) {
    const now = conn.serverNow();
    (v.st ? v.st.players : []).forEach((p, i) => {
      if (p.connected === false && v.live) { if (!disconnectedSince[i]) disconnectedSince[i] = now; }
      else disconnectedSince[i] = 0;
    });
  }

  // Seats in display order: the viewer first, else seat 0 first.
  function order(v) { return v.you === 1 ? [1, 0] : [0, 1]; }

  function renderPlayers(v) {
    const st = v.st;
    playersEl.replaceChildren(...order(v).flatMap((seat, idx) => {
      const p = v.players[seat] || { name: '…' };
      const sp = st && st.players ? st.players[seat] : null;
      const isYou = v.you === seat;
      const toMove = v.live && st && st.turn === seat;
      const away = sp && sp.connected === false && v.live;
      const change = ratingChange(v, p.id);
      const prov = provisional[p.id] === true;
      const shown = change ? change.after : p.rating;
      const card = h('div', { class: ['player', idx === 1 && 'player-right', toMove && 'to-move', away && 'away', isYou && 'is-you'], 'data-seat': String(seat) },
        h('div', { class: 'player-avatar' }, avatar(p), seatBadge(v.game, seat)),
        h('div', { class: 'player-info' },
          h('div', { class: 'player-name' },
            h('span', { class: 'player-name-text', text: p.name }),
            isYou ? h('span', { class: 'tag tag-accent', text: 'you' }) : null),
          h('div', { class: 'player-sub' },
            botLevel(p) ? botTag(p) : h('span', { class: 'player-rating', title: prov ? 'Provisional rating: it settles after a few more games' : change ? 'Rating after this game' : 'Rating this game can change' },
              change ? h('b', { text: rating(shown) }) : rating(shown), prov ? h('span', { class: 'provisional', 'aria-label': ' (provisional)', text: '?' }) : null),
            change ? h('span', { class: ['delta', change.d > 0 ? 'up' : change.d < 0 ? 'down' : ''], text: signed(change.d) }) : null),
          h('div', { class: 'player-state', dataset: { seat: String(seat) } }, playerStateText(v, seat, sp, toMove))));
      return idx === 0 ? [card, h('div', { class: 'players-vs', 'aria-hidden': 'true', text: 'vs' })] : [card];
    }));
  }

  function playerStateText(v, seat, sp, toMove) {
    if (!v.live) return '';
    if (sp && sp.connected === false) return h('span', { class: 'conn-away' }, h('span', { class: 'dot dot-away' }), h('span', { class: 'away-text', text: 'Disconnected' }));
    if (toMove) return h('span', { class: 'conn-turn' }, h('span', { class: 'dot dot-turn' }), botLevel(sp) ? 'Thinking…' : 'To move');
    const mod = gameModule(v.game);
    const note = mod && mod.seatNote ? mod.seatNote(gameView(v), seat) : null;
    if (note === 'choosing') return h('span', { class: 'muted' }, 'Choosing…');
    if (note === 'ready') return h('span', { class: 'conn-ready' }, svg(icons.check, 'inline-icon'), 'Ready');
    return h('span', { class: 'muted' }, h('span', { class: 'dot dot-on' }), 'Online');
  }

  function seatBadge(game, seat) {
    const mod = gameModule(game);
    const b = mod ? mod.seatBadge(seat) : null;
    return b ? h('span', { class: ['seat-badge', b.className], text: b.text, 'aria-label': b.label }) : null;
  }

  function ratingChange(v, playerId) {
    const r = v.over && Array.isArray(v.over.ratings) ? v.over.ratings.find((x) => x.player === playerId) : null;
    if (!r) return null;
    return { before: r.before, after: r.after, d: Math.round(r.after) - Math.round(r.before) };
  }

  function renderBoard(v) {
    const mod = gameModule(v.game);
    if (!mod) {
      if (boardGame !== v.game) {
        boardSlot.replaceChildren(emptyState({ icon: icons.ghost, title: 'This game can’t be shown here yet', text: 'You can still watch the score in the lobby.' }));
        boardGame = v.game;
      }
      return;
    }
    if (boardGame !== v.game) {
      if (board && board.destroy) board.destroy();
      board = mod.createBoard({ onMove: play });
      boardGame = v.game;
      boardSlot.replaceChildren(h('div', { class: ['board-wrap', `board-${v.game}`] }, board.el));
    }
    if (!v.st) return;
    board.update({ ...gameView(v), live: v.live && conn.online });
    const cut = v.live && !conn.online;
    boardSlot.classList.toggle('board-offline', cut);
    if (cut) boardSlot.setAttribute('aria-disabled', 'true'); else boardSlot.removeAttribute('aria-disabled');
  }

  // offlineLine is the status line while this tab is not connected: the
  // game goes on at the server, and this player's moves wait.
  function offlineLine(v) {
    const back = conn.status === 'offline' ? 'when the network is back' : 'as soon as you’re back';
    return {
      title: conn.status === 'offline' ? 'You’re offline — reconnecting…' : 'Reconnecting…',
      sub: v.you === null ? `The game goes on; you’ll see it again ${back}.` : 'Your moves wait until you’re back online.',
      mine: false,
    };
  }

  function renderStatus(v) {
    const st = v.st;
    statusEl.replaceChildren();
    statusEl.className = 'status';
    if (!st) return;
    if (!v.live) {
      // The result, in the status line's place and at least its height,
      // so that nothing below it moves.
      if (liveStatusHeight) statusEl.style.minHeight = `${liveStatusHeight}px`;
      const r = resultInfo(v);
      statusEl.classList.add(`status-${r.kind}`, 'status-over');
      statusEl.dataset.turn = 'over';
      append(statusEl, [
        h('div', { class: 'status-art', 'aria-hidden': 'true' }, svg(resultIcon(v, r))),
        h('div', { class: 'status-main' },
          h('h2', { class: 'status-title result-title', text: r.title }),
          r.reason ? h('p', { class: 'status-sub result-reason', text: r.reason }) : null),
        // Spectators of a match that ends in a rematch: where the players went.
        v.m && v.m.next && v.you === null ? h('div', { class: 'rematch-next' },
          h('a', { class: 'btn btn-primary btn-sm', href: `/m/${encodeURIComponent(v.m.next)}`, 'data-link': true, 'data-action': 'watch-rematch', title: 'They’re playing again' },
            svg(icons.eye), h('span', { text: 'Watch the rematch' }))) : null]);
      return;
    }
    statusEl.style.minHeight = '';
    const mod = gameModule(v.game);
    const line = !conn.online ? offlineLine(v) : mod ? mod.statusLine(gameView(v)) : { title: 'Live', sub: '', mine: false };
    const { title, sub, mine } = line;
    statusEl.classList.add(!conn.online ? 'status-offline' : mine ? 'status-mine' : 'status-theirs');
    statusEl.dataset.turn = mine ? 'you' : 'other';
    const awayNotes = [0, 1].filter((s) => st.players && st.players[s] && st.players[s].connected === false)
      .map((s) => h('div', { class: 'status-away', dataset: { seat: String(s) } }, svg(icons.wifiOff, 'inline-icon'),
        h('span', { class: 'away-line' })));
    append(statusEl, [
      h('div', { class: 'status-main' },
        h('span', { class: 'status-title', text: title }),
        h('span', { class: 'status-sub', text: sub })),
      st.deadline_ms ? h('div', { class: 'countdown', title: 'Time left for this move' },
        svg(icons.clock, 'inline-icon'), h('span', { class: 'countdown-text', text: '' })) : null,
      st.deadline_ms ? h('div', { class: 'timebar', 'aria-hidden': 'true' }, h('div', { class: 'timebar-fill' })) : null,
      awayNotes]);
    if (!awayNotes.length) liveStatusHeight = statusEl.offsetHeight || liveStatusHeight;
  }

  function resultIcon(v, r) {
    if (r.kind === 'win' || r.kind === 'neutral') return icons.trophy;
    if (r.kind === 'lose') return icons.flag;
    return isAborted(v) ? icons.hourglass : icons.users;
  }

  function isAborted(v) { return v.status === 'aborted' || (!!v.over && v.over.result === 'aborted'); }

  // resultInfo describes the end for this viewer: {kind, title, reason}.
  function resultInfo(v) {
    const over = v.over;
    const st = v.st;
    const status = v.status;
    let winner = over ? over.winner : summary && summary.winner !== undefined ? summary.winner : winnerFromState(v.game, st && st.state);
    if (winner === undefined) winner = null;
    const reason = (over && over.reason) || (summary && summary.reason) || '';
    const aborted = isAborted(v);
    let kind;
    let title;
    if (aborted) { kind = 'draw'; title = 'Game aborted'; }
    else if (winner === null || winner === undefined) {
      const mod = gameModule(v.game);
      const known = over || summary || (reason === '' && !!mod && !!mod.isDraw && !!st && mod.isDraw(st.state));
      kind = 'draw';
      title = known ? 'It’s a draw' : 'Game over';
    } else if (v.you === null) { kind = 'neutral'; title = `${nameOf(v, winner)} wins`; }
    else if (winner === v.you) { kind = 'win'; title = 'You won!'; }
    else { kind = 'lose'; title = 'You lost'; }
    return { kind, title, reason: aborted ? abortText(reason) : reasonText(reason, winner, v) };
  }

  function abortText(reason) {
    switch (reason) {
      case 'resign': return iAborted ? 'You left before your first move, so it doesn’t count for ratings.' : 'A player left before their first move, so it doesn’t count for ratings.';
      case 'server_error': return 'The server couldn’t continue this game. It doesn’t count for ratings.';
      default: return 'Nobody moved, so it doesn’t count for ratings.';
    }
  }

  function reasonText(reason, winner, v) {
    const loser = winner === 0 ? 1 : winner === 1 ? 0 : null;
    const lname = loser === null ? '' : v.you === loser ? 'You' : nameOf(v, loser);
    const wname = winner === null ? '' : v.you === winner ? 'You' : nameOf(v, winner);
    const mod = gameModule(v.game);
    const own = mod && mod.endText && reason ? mod.endText(reason, { winnerName: wname, loserName: lname, winner, state: v.st && v.st.state }) : null;
    if (own) return own.text;
    switch (reason) {
      case 'timeout': return loser === null ? 'Both players ran out of time.' : `${lname} ran out of time.`;
      case 'resign': return loser === null ? 'A player resigned before their first move, so it doesn’t count for ratings.' : `${lname} resigned.`;
      case 'abandoned': return `${lname} left the game and didn’t come back.`;
      case 'no_moves': return 'Nobody moved, so it doesn’t count for ratings.';
      case 'server_error': return 'The server couldn’t continue this game. It doesn’t count for ratings.';
      case '': return '';
      default: return reason.replace(/_/g, ' ');
    }
  }

  // renderResult fills the card below the board at the end: the rating
  // changes and what to do next (the title is in the status line).
  function renderResult(v) {
    resultSlot.replaceChildren();
    if (v.live || !v.st) return;
    const seatOf = (r) => v.players.findIndex((p) => p.id === r.player);
    const rank = (r) => { const s = seatOf(r); return s < 0 ? 9 : v.you !== null && s === v.you ? -1 : s; };
    const rows = v.over && Array.isArray(v.over.ratings) && v.over.ratings.length ? [...v.over.ratings].sort((a, b) => rank(a) - rank(b)).map((r) => {
      const seat = seatOf(r);
      const d = Math.round(r.after) - Math.round(r.before);
      return h('li', { class: 'rating-row' },
        h('span', { class: 'rating-who', text: seat === v.you && v.you !== null ? 'You' : seat >= 0 ? nameOf(v, seat) : 'Player' }),
        h('span', { class: 'rating-nums' }, h('span', { text: rating(r.before) }), svg(icons.next, 'inline-icon'), h('b', { text: rating(r.after) })),
        h('span', { class: ['delta', d > 0 ? 'up' : d < 0 ? 'down' : ''], text: signed(d) }));
    }) : null;
    const r = resultInfo(v);
    resultSlot.append(h('section', { class: ['result', `result-${r.kind}`], 'aria-label': 'Result' },
      resultActions(v),
      rows ? h('ul', { class: 'rating-rows', 'aria-label': 'Rating changes' }, rows) : null));
  }

  // resultActions: rematch (players only), back to the lobby, the replay.
  function resultActions(v) {
    const m = v.m;
    const opp = opponentSeat(v);
    const seated = v.you !== null;
    const theyOffered = !!m && seated && (m.rematch.has(opp) || (m.rematch.has('unknown') && !iOfferedRematch));
    const iOffered = iOfferedRematch || (!!m && seated && m.rematch.has(v.you));
    const oppSp = seated && v.st && v.st.players ? v.st.players[opp] : null;
    const left = !!oppSp && oppSp.connected === false && !(m && m.next);
    const box = h('div', { class: 'result-actions' });
    if (seated && left) {
      box.append(h('div', { class: 'rematch-offer rematch-gone', role: 'status' },
        svg(icons.wifiOff, 'inline-icon'), h('span', {}, h('b', { text: nameOf(v, opp) }), ' left the game, so a rematch isn’t possible.')));
    } else if (seated && theyOffered && !iOffered) {
      box.append(h('div', { class: 'rematch-offer', role: 'status' },
        svg(icons.refresh, 'inline-icon'), h('span', {}, h('b', { text: nameOf(v, opp) }), ' wants a rematch')));
    }
    if (seated) {
      box.append(h('button', {
        class: ['btn', theyOffered && !iOffered ? 'btn-primary pulse' : iOffered ? 'btn-secondary' : 'btn-primary'],
        type: 'button', disabled: iOffered || left || !conn.online, onclick: rematch, 'data-action': 'rematch',
        title: left ? `${nameOf(v, opp)} has left` : null,
      }, svg(icons.refresh), h('span', { text: iOffered && !left ? `Waiting for ${nameOf(v, opp)}…` : theyOffered && !left ? 'Accept rematch' : 'Rematch' })));
    }
    box.append(
      link('/', 'Back to lobby', 'btn btn-secondary'),
      h('a', { class: 'btn btn-ghost', href: `/replay/${encodeURIComponent(id)}`, 'data-link': true }, svg(icons.film), h('span', { text: 'Replay' })));
    return box;
  }

  // renderActions: below the board while the match is live.
  function renderActions(v) {
    actionsEl.replaceChildren();
    if (!v.st || !v.live || v.you === null) return;
    const abort = notMovedYet(v);
    actionsEl.append(h('button', { class: 'btn btn-ghost btn-danger-text', type: 'button', onclick: resign, disabled: !conn.online, 'data-action': 'resign', dataset: { abort: String(abort) } },
      svg(abort ? icons.close : icons.flag), h('span', { text: abort ? 'Abort' : 'Resign' })));
  }

  // notMovedYet: the viewer has made no move, so leaving aborts the match
  // unrated (as a timeout before the first move does) instead of losing it.
  function notMovedYet(v) {
    const mod = gameModule(v.game);
    return !!mod && !!mod.movesBy && !!v.st && mod.movesBy(v.st.state, v.you) === 0;
  }

  function renderTitle(v) {
    const name = gameTitle(v.game, games);
    if (!v.live) { setTitle(`${resultInfo(v).title} · ${name}`); return; }
    const st = v.st;
    const mod = gameModule(v.game);
    const mine = !!st && !!mod && mod.owesMove(gameView(v));
    setTitle(mine ? `● Your move · ${name}` : name);
  }

  // ---- clocks ----

  function tick() {
    const v = view();
    const st = v.st;
    const now = conn.serverNow();
    if (st && st.deadline_ms && v.live) {
      const left = st.deadline_ms - now;
      const total = moveMs(v.game) || Math.max(left, 1);
      const text = statusEl.querySelector('.countdown-text');
      const fill = statusEl.querySelector('.timebar-fill');
      const cd = statusEl.querySelector('.countdown');
      if (text) text.textContent = clock(left);
      const mod = gameModule(v.game);
      if (left <= LOW_TIME_MS && left > 0 && lowSaidFor !== st.deadline_ms && mod && mod.owesMove(gameView(v))) {
        lowSaidFor = st.deadline_ms;
        announce(`${Math.ceil(left / 1000)} seconds left to move`);
      }
      if (cd) cd.classList.toggle('urgent', left <= URGENT_MS);
      if (fill) {
        fill.style.transform = `scaleX(${Math.max(0, Math.min(1, left / total))})`;
        fill.classList.toggle('urgent', left <= URGENT_MS);
      }
    }
    // Disconnected opponents: elapsed, or what is left of the grace if the server says.
    for (const s of [0, 1]) {
      if (!disconnectedSince[s]) continue;
      const sp = st && st.players && st.players[s];
      // grace_ms (an addition, docs/protocol.md) is the Unix time at which
      // the grace ends; without it, the time waited so far is shown.
      const graceEnd = (sp && typeof sp.grace_ms === 'number' && sp.grace_ms) || 0;
      const text = graceEnd ? `${clock(graceEnd - now)} left to return` : `waiting ${clock(now - disconnectedSince[s])}`;
      const who = v.you === s ? 'You are' : `${nameOf(v, s)} is`;
      playersEl.querySelectorAll(`.player-state[data-seat="${s}"] .away-text`).forEach((el) => { el.textContent = `Disconnected · ${clock(graceEnd ? graceEnd - now : now - disconnectedSince[s])}`; });
      statusEl.querySelectorAll(`.status-away[data-seat="${s}"] .away-line`).forEach((el) => { el.textContent = `${who} disconnected — ${text}`; });
    }
  }

  function moveMs(game) {
    const g = games.find((x) => x.id === game);
    return g && g.move_ms ? g.move_ms : 0;
  }

  // ---- actions ----

  // play sends the move the board made (a wire move object).
  function play(move) {
    const v = view();
    const mod = gameModule(v.game);
    if (!mod || !v.live || v.you === null || pending !== null || !mod.owesMove(gameView(v))) return;
    pending = move;
    sentFrom = { state: v.st.state, turn: v.st.turn };
    const ok = conn.send({ type: 'match.move', match: id, move }, moveFailed);
    if (!ok) { pending = null; toast(`Not connected — your ${mod.moveNoun || 'move'} wasn’t sent.`, 'error'); }
    render();
  }

  function moveFailed(err) {
    pending = null;
    toast(errorText(err.code, err.message), 'error');
    render();
  }

  async function resign() {
    const v = view();
    const abort = notMovedYet(v);
    const ok = await confirmDialog(abort ? {
      title: 'Abort this game?',
      text: 'You haven’t moved yet, so the game ends without a result and no rating changes.',
      ok: 'Abort', cancel: 'Keep playing',
    } : {
      title: 'Resign this game?',
      text: botLevel(v.players[opponentSeat(v)]) ? 'The computer wins. Games against the computer are unrated.' : `${nameOf(v, opponentSeat(v))} wins, and it counts for ratings.`,
      ok: 'Resign', cancel: 'Keep playing',
    });
    if (!ok) return;
    iAborted = abort;
    if (!conn.send({ type: 'match.resign', match: id }, (err) => toast(errorText(err.code, err.message), 'error'))) {
      toast('Not connected — try again in a moment.', 'error');
    }
  }

  function rematch() {
    iOfferedRematch = true;
    const ok = conn.send({ type: 'match.rematch', match: id }, (err) => {
      iOfferedRematch = false;
      toast(err.code === 'match_over' || err.code === 'not_found' ? 'A rematch isn’t possible any more.' : errorText(err.code, err.message), 'error');
      render();
    });
    if (!ok) { iOfferedRematch = false; toast('Not connected — try again in a moment.', 'error'); }
    render();
  }

  // ---- wiring ----

  function mine(msg) { return msg && msg.match === id; }

  offs.push(conn.on('match.state', (msg) => {
    if (!mine(msg)) return;
    watchError = null;
    if (msg.version !== lastVersion) {
      // The move we sent shows up (or the turn moved on): it is no longer pending.
      if (pending !== null && moveLanded(msg)) pending = null;
      lastVersion = msg.version;
    }
    render();
    if (msg.status !== 'live' && !entry().over) fetchSummarySoon();
  }));
  offs.push(conn.on('match.over', (msg) => { if (mine(msg)) { pending = null; render(); } }));
  offs.push(conn.on('match.found', (msg) => { if (mine(msg)) render(); }));
  offs.push(conn.on('match.rematch_offered', (msg) => { if (mine(msg)) render(); }));
  offs.push(conn.on('match.rematch_started', (msg) => { if (mine(msg)) render(); }));
  offs.push(conn.on('watch.error', async ({ match, err }) => {
    if (match !== id || (entry() && entry().state)) return;
    // Not running (any more): a finished match that the server kept opens as its replay.
    try {
      const s = await api(`/api/matches/${encodeURIComponent(id)}`);
      if (s && s.status && s.status !== 'live' && page.isConnected) {
        ctx.navigate(`/replay/${encodeURIComponent(id)}`, { replace: true });
        return;
      }
    } catch { /* no stored match either */ }
    watchError = err;
    if (page.isConnected) render();
  }));
  offs.push(conn.on('status', render));
  offs.push(conn.on('closed', () => { pending = null; }));

  // moveLanded says whether a state shows the move we sent as done.
  function moveLanded(msg) {
    if (msg.status !== 'live') return true;
    const mod = gameModule(view().game);
    return !mod || mod.moveLanded(pending, sentFrom || {}, { state: msg.state, turn: msg.turn }, msg.you);
  }

  function fetchSummarySoon() {
    if (summaryAsked) return;
    summaryAsked = true;
    setTimeout(async () => {
      if (entry() && entry().over) return;
      try {
        summary = await api(`/api/matches/${encodeURIComponent(id)}`);
        if (page.isConnected) render();
      } catch { /* the result falls back to what the state shows */ }
    }, 600);
  }

  getGames().then((g) => { games = g; if (page.isConnected && entry()) render(); }).catch(() => {});
  conn.watch(id);
  render();
  const ticker = setInterval(() => { if (body.isConnected) tick(); }, 200);

  return () => {
    clearInterval(ticker);
    offs.forEach((f) => f());
    if (board && board.destroy) board.destroy();
    conn.unwatch(id);
  };
}

