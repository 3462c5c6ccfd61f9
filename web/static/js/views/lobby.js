// Home: sign in, pick a game, quick match or challenge a friend, and the
// list of live matches to watch.
import { api, getGames } from '../api.js';
import { conn } from '../conn.js';
import { session } from '../session.js';
import { h, svg, append, clock, ago, toast, errorText, rating, setTitle, spinner, botLevel, botTag, levelName, avatar } from '../ui.js';
import { icons } from '../icons.js';
import { gameModule, gameTitle, gameIcon, knownGames } from '../games/index.js';
import { authCard, upgradeCard } from './auth.js';

const GAME_KEY = 'turnbase.game';
const LIVE_REFRESH_MS = 4000;
const ALONE_AFTER_MS = 6000; // waiting this long alone: say so, and offer a link

// What each known computer level does, said on its button (levels the
// server adds later go without).
const LEVEL_NOTES = {
  easy: 'Easy: plays any legal move at random',
  medium: 'Medium: wins when it can and blocks when it must',
  perfect: 'Perfect: never loses — the best you can do is a draw',
  strong: 'Strong: looks several moves ahead',
  fair: 'Fair: plays each hand at random, so no strategy beats it',
  reader: 'Reader: learns from your last hands and plays what beats your next',
};

export function mount(root, ctx) {
  setTitle('');
  const offs = [];
  const timers = [];
  let games = [];
  let live = []; // MatchSummary[] or null when unavailable
  let liveState = 'loading'; // loading | ok | missing | error
  let selected = (() => { try { return localStorage.getItem(GAME_KEY) || 'tictactoe'; } catch { return 'tictactoe'; } })();
  let mode = conn.queue ? 'queue' : 'idle'; // idle | joining | queue | challenge
  let wantQueue = conn.queue ? conn.queue.game : null; // re-join after a reconnect
  let challengeInfo = null; // {code, game, expires_ms}
  let botOffer = null; // queue.bot_offer {game, levels} while queued
  let computerPending = false; // a match.computer was sent, no answer yet
  let me = null; // GET /api/players/{own id}: {ratings, recent}

  const page = h('div', { class: 'page lobby' });
  root.append(page);

  // Sections re-rendered on their own.
  const playSlot = h('div', { class: 'play-slot' });
  const liveSlot = h('div', { class: 'live-slot' });
  const resumeSlot = h('div', { class: 'resume-slot' });
  const recentSlot = h('div', { class: 'recent-slot' });
  const heroText = h('p', { class: 'hero-text' });
  let hadActive = false; // renderPlay offered "Resume your game" instead of a quick match

  function layout() {
    page.replaceChildren();
    if (!session.signedIn) {
      page.append(
        h('section', { class: 'hero' },
          h('div', { class: 'hero-copy' },
            h('p', { class: 'eyebrow', text: 'Turn-based games, live' }),
            h('h1', { class: 'hero-title', text: 'Play a quick game against a real person.' }),
            heroText,
            h('ul', { class: 'hero-points' },
              h('li', {}, svg(icons.bolt, 'inline-icon'), 'Quick match in seconds'),
              h('li', {}, svg(icons.cpu, 'inline-icon'), 'Practise against the computer'),
              h('li', {}, svg(icons.link, 'inline-icon'), 'Challenge a friend by link'),
              h('li', {}, svg(icons.eye, 'inline-icon'), 'Watch any live game'))),
          authCard({})),
        liveSection());
    } else {
      page.append(
        h('div', { class: 'lobby-grid' },
          h('div', { class: 'lobby-main' }, resumeSlot, playCard()),
          h('div', { class: 'lobby-side' }, recentSlot, liveSection(), session.player && session.player.guest ? upgradeCard() : null)));
      renderResume();
      renderRecent();
    }
    renderHero();
    renderPlay();
    renderLive();
  }

  // renderHero names the games the server lists (the built-in ones until
  // it answers), and the computer when any game has one.
  function renderHero() {
    const list = games.length ? games : knownGames();
    const names = list.map((g, i) => heroName(g.name || gameTitle(g.id), i === 0));
    const said = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names[0] || 'Board games';
    const bots = !games.length || games.some((g) => Array.isArray(g.bots) && g.bots.length);
    heroText.textContent = `${said}: an opponent in seconds${bots ? ', or play the computer any time' : ''}. Pick a name and you’re in — or invite a friend with a link.`;
  }

  // ---- play card ----

  function playCard() {
    const name = session.player ? session.player.name : '';
    return h('section', { class: 'card play-card', 'aria-labelledby': 'play-title' },
      h('div', { class: 'play-head' },
        h('h1', { id: 'play-title', class: 'card-title' }, 'Ready to play, ', h('span', { class: 'accent', text: name }), '?'),
        h('p', { class: 'card-sub', text: 'Pick a game, then find an opponent or invite a friend.' })),
      playSlot);
  }

  function gamePicker(disabled) {
    const list = games.length ? games : knownGames();
    if (!list.some((g) => g.id === selected)) selected = list[0].id;
    return h('fieldset', { class: 'game-picker', disabled },
      h('legend', { class: 'sr-only', text: 'Game' }),
      list.map((g) => {
        const playing = live ? live.filter((m) => m.game === g.id).length * 2 : 0;
        const mod = gameModule(g.id);
        const meta = [];
        if (g.move_ms) meta.push(`${Math.round(g.move_ms / 1000)} s per move`);
        const waiting = firstNumber(g, ['queued', 'waiting', 'in_queue']);
        const online = firstNumber(g, ['online', 'players_online']);
        const mine = me && me.ratings ? me.ratings[g.id] : null;
        const input = h('input', {
          type: 'radio', name: 'game', value: g.id, class: 'sr-only', checked: g.id === selected,
          onchange: () => {
            selected = g.id;
            try { localStorage.setItem(GAME_KEY, g.id); } catch { /* ignore */ }
            // renderPlay rebuilds the radio that had focus: give it to the
            // new one, so that arrow keys go on through the games.
            const refocus = playSlot.contains(document.activeElement);
            renderPlay();
            const now = refocus && [...playSlot.querySelectorAll('input[name="game"]')].find((x) => x.value === g.id);
            if (now) now.focus();
          },
        });
        return h('label', { class: ['game-option', g.id === selected && 'selected', !mod && 'unsupported'] },
          input,
          h('span', { class: ['game-art', `game-art-${g.id}`] }, svg(gameIcon(g.id))),
          h('span', { class: 'game-info' },
            h('span', { class: 'game-name', text: g.name || gameTitle(g.id) }),
            h('span', { class: 'game-blurb', text: mod ? mod.blurb : 'Not playable in the browser yet.' }),
            h('span', { class: 'game-meta' },
              meta.length ? h('span', { text: meta.join(' · ') }) : null,
              online ? h('span', { class: 'count', dataset: { online: String(online) } }, h('span', { class: 'dot dot-on' }), `${online} online`)
                : online === null && playing > 0 ? h('span', { class: 'count' }, h('span', { class: 'dot dot-on' }), `${playing} playing`) : null,
              waiting ? h('span', { class: 'count', dataset: { waiting: String(waiting) }, text: `${waiting} waiting` }) : null),
            h('span', { class: 'game-mine' }, h('span', { class: 'muted', text: 'Your rating ' }),
              h('b', { class: 'my-rating', dataset: { game: g.id }, text: mine ? rating(mine.rating) : '1500' }),
              !mine || mine.provisional ? h('span', { class: 'provisional', title: 'Provisional: it settles after a few games', text: '?' }) : null)),
          h('span', { class: 'game-check', 'aria-hidden': 'true' }, svg(icons.check)));
      }));
  }

  function renderPlay() {
    if (!session.signedIn) return;
    playSlot.replaceChildren();
    const offline = !conn.online;
    if (mode === 'queue' || mode === 'joining') {
      playSlot.append(gamePicker(true), queuePanel());
    } else if (mode === 'challenge' && challengeInfo) {
      playSlot.append(gamePicker(true), challengePanel());
    } else {
      const mod = gameModule(selected);
      const active = activeMatches()[0];
      hadActive = !!active;
      append(playSlot, [gamePicker(false),
        h('div', { class: 'play-actions' },
          // One live game at a time: while there is one, go back to it.
          active ? h('a', { class: 'btn btn-primary btn-lg', href: `/m/${encodeURIComponent(active.id)}`, 'data-link': true, 'data-action': 'resume-game', title: `${gameTitle(active.game, games)}${active.opp ? ` against ${active.opp.name}` : ''}` },
            svg(icons.next), h('span', { text: 'Resume your game' }))
            : h('button', { class: 'btn btn-primary btn-lg', type: 'button', disabled: offline || !mod, onclick: joinQueue, 'data-action': 'quick-match' },
              svg(icons.bolt), h('span', { text: 'Quick match' })),
          h('button', { class: 'btn btn-secondary btn-lg', type: 'button', disabled: offline || !mod, onclick: createChallenge, 'data-action': 'challenge' },
            svg(icons.link), h('span', { text: 'Play a friend' }))),
        computerRow(selected, levelsOf(selected), offline || !mod, 'Or play the computer', 'Unrated practice'),
        offline ? h('p', { class: 'hint center', text: 'Connecting to the server…' }) : null]);
    }
  }

  function levelsOf(gameId) {
    const g = games.find((x) => x.id === gameId);
    return g && Array.isArray(g.bots) ? g.bots : [];
  }

  // computerRow: one button per level of the game's computer player.
  function computerRow(gameId, levels, disabled, label, note) {
    if (!levels.length) return null;
    return h('div', { class: 'computer-row', 'data-state': 'computer' },
      h('div', { class: 'computer-label' },
        h('span', { class: 'computer-icon' }, svg(icons.cpu)),
        h('span', { class: 'computer-text' }, h('strong', { text: label }), h('span', { class: 'computer-note muted small', text: note }))),
      h('div', { class: 'computer-levels', role: 'group', 'aria-label': `Computer levels for ${gameTitle(gameId, games)}` },
        levels.map((l) => h('button', {
          class: 'btn btn-secondary btn-sm', type: 'button', disabled: disabled || computerPending,
          'data-action': 'computer', 'data-level': l.id, onclick: () => playComputer(gameId, l.id),
          title: LEVEL_NOTES[l.id] || null,
        }, l.name || levelName(l.id)))));
  }

  function playComputer(gameId, level) {
    if (computerPending) return;
    computerPending = true;
    renderPlay();
    // Success is the match.found that follows (the app opens the match);
    // a player who was waiting leaves the queue on the server's side.
    const ok = conn.send({ type: 'match.computer', game: gameId, level }, (err) => {
      computerPending = false;
      toast(errorText(err.code, err.message), 'error');
      renderPlay();
    });
    if (!ok) { computerPending = false; toast('Not connected — try again in a moment.', 'error'); renderPlay(); }
  }

  function queuePanel() {
    const since = conn.queue ? conn.queue.since_ms : null;
    const waited = h('span', { class: 'waiting-time', text: since ? clock(conn.serverNow() - since) : '0:00' });
    const tick = setInterval(() => {
      if (!waited.isConnected) { clearInterval(tick); return; }
      if (conn.queue) waited.textContent = clock(conn.serverNow() - conn.queue.since_ms);
    }, 250);
    timers.push(tick);
    // Alone for a while: say so, and offer the ways forward.
    const hint = h('div', { class: 'queue-alone', role: 'status', hidden: true });
    const offer = botOffer && botOffer.game === (wantQueue || selected) && mode === 'queue' ? botOffer : null;
    const game = wantQueue || selected;
    const showHint = () => {
      if (!hint.isConnected || !conn.queue) return;
      const g = games.find((x) => x.id === game);
      const others = g && typeof g.queued === 'number' ? Math.max(0, g.queued - 1) : null;
      hint.replaceChildren(
        h('p', { class: 'queue-alone-title' }, others === 0 || others === null
          ? `Nobody else is looking for a ${heroName(gameTitle(game, games), false)} game right now.`
          : 'Still looking — the others waiting are far from your rating.'),
        h('p', { class: 'queue-alone-text', text: 'Trying it by yourself? Other tabs of this browser are you too: open the game in a private window, or send a friend a link.' }),
        h('div', { class: 'queue-alone-actions' },
          h('button', { class: 'btn btn-secondary btn-sm', type: 'button', onclick: queueToChallenge, 'data-action': 'queue-to-challenge' }, svg(icons.link), h('span', { text: 'Send a challenge link' })),
          // The server's bot offer, once it came, offers every level: one offer is enough.
          !offer && g && Array.isArray(g.bots) && g.bots.length ? h('button', {
            class: 'btn btn-secondary btn-sm', type: 'button', disabled: computerPending, 'data-action': 'queue-to-computer',
            onclick: () => playComputer(game, g.bots[0].id), title: LEVEL_NOTES[g.bots[0].id] || null,
          }, svg(icons.cpu), h('span', { text: `Play the computer (${g.bots[0].name || levelName(g.bots[0].id)})` })) : null));
      hint.hidden = false;
      if (!offer) hint.scrollIntoView({ block: 'nearest' });
    };
    const waitedMs = since ? conn.serverNow() - since : 0;
    timers.push(setTimeout(async () => {
      try { games = await api('/api/games'); } catch { /* keep what we had */ }
      showHint();
    }, Math.max(0, ALONE_AFTER_MS - waitedMs)));
    // Not a live region: its clock ticks. Screen readers hear the title once.
    return h('div', { class: 'queue-box' }, h('div', { class: 'waiting', 'data-state': 'queue', 'data-mode': mode === 'joining' ? 'joining' : 'queued' },
      h('span', { class: 'sr-only', role: 'status', text: mode === 'joining' ? '' : 'Looking for an opponent' }),
      h('div', { class: 'radar', 'aria-hidden': 'true' }, h('span'), h('span'), svg(gameIcon(wantQueue || selected))),
      h('div', { class: 'waiting-copy' },
        h('strong', { class: 'waiting-title', text: mode === 'joining' ? (conn.online ? 'Joining the queue…' : 'Reconnecting…') : 'Looking for an opponent…' }),
        h('span', { class: 'waiting-sub' }, gameTitle(wantQueue || selected, games), ' · waited ', waited)),
      h('button', { class: 'btn btn-ghost', type: 'button', onclick: leaveQueue, 'data-action': 'cancel-queue' }, 'Cancel')),
    // The offer right below the waiting box, where a phone still shows it.
    offer ? h('div', { class: 'bot-offer', role: 'status', 'data-state': 'bot-offer' },
      computerRow(offer.game, offer.levels || [], !conn.online, 'No one around? Play the computer', 'You keep your place until you pick')) : null, hint);
  }

  async function queueToChallenge() {
    const game = wantQueue || selected;
    await leaveQueue();
    selected = game;
    createChallenge();
  }

  function challengePanel() {
    const url = `${location.origin}/c/${encodeURIComponent(challengeInfo.code)}`;
    const input = h('input', { class: 'input input-mono', type: 'text', readonly: true, value: url, 'aria-label': 'Invite link', id: 'challenge-link', onfocus: (e) => e.target.select() });
    const copyBtn = h('button', { class: 'btn btn-primary', type: 'button', 'data-action': 'copy-link' }, svg(icons.copy), h('span', { text: 'Copy' }));
    copyBtn.addEventListener('click', async () => {
      const ok = await copyText(url, input);
      copyBtn.replaceChildren(svg(ok ? icons.check : icons.copy), h('span', { text: ok ? 'Copied' : 'Copy' }));
      if (ok) setTimeout(() => { if (copyBtn.isConnected) copyBtn.replaceChildren(svg(icons.copy), h('span', { text: 'Copy' })); }, 1800);
      else toast('Select the link and copy it by hand.', 'info');
    });
    const share = navigator.share ? h('button', {
      class: 'btn btn-ghost', type: 'button',
      onclick: () => navigator.share({ title: 'Play me on turnbase', text: `Play ${gameTitle(challengeInfo.game, games)} with me`, url }).catch(() => {}),
    }, 'Share…') : null;
    const expires = h('span', { class: 'expires' });
    const upd = () => {
      const left = challengeInfo ? challengeInfo.expires_ms - conn.serverNow() : 0;
      expires.textContent = left > 0 ? `Link expires in ${clock(left)}` : 'This link has expired';
      if (left <= 0 && challengeInfo) { clearInterval(tick); }
    };
    const tick = setInterval(() => { if (!expires.isConnected) { clearInterval(tick); return; } upd(); }, 500);
    timers.push(tick);
    upd();
    return h('div', { class: 'challenge-box', 'data-state': 'challenge' },
      h('div', { class: 'challenge-head' },
        h('span', { class: 'challenge-icon' }, svg(icons.link)),
        h('div', {},
          h('strong', { text: 'Invite a friend' }),
          h('p', { class: 'card-sub', text: `Send this link. The ${heroName(gameTitle(challengeInfo.game, games), false)} game starts as soon as they open it.` }))),
      h('div', { class: 'copy-row' }, input, copyBtn),
      h('div', { class: 'challenge-foot' },
        h('span', { class: 'waiting-inline' }, spinner(), 'Waiting for your friend…'),
        expires),
      h('div', { class: 'challenge-actions' }, share,
        h('button', { class: 'btn btn-ghost', type: 'button', onclick: () => { mode = 'idle'; challengeInfo = null; renderPlay(); } }, 'Close')));
  }

  async function joinQueue() {
    if (mode !== 'idle') return;
    wantQueue = selected;
    mode = 'joining';
    renderPlay();
    try {
      await conn.request({ type: 'queue.join', game: selected });
      // conn emits 'queue' and we switch to the waiting panel there.
    } catch (err) {
      if (err.code === 'already_queued') {
        conn.queue = conn.queue || { game: selected, since_ms: conn.serverNow() };
        mode = 'queue';
      } else if (err.code === 'network' && !conn.online) {
        mode = 'joining'; // the welcome after the reconnect joins again
      } else {
        wantQueue = null;
        mode = 'idle';
        toast(errorText(err.code, err.message), 'error');
      }
      renderPlay();
    }
  }

  async function leaveQueue() {
    wantQueue = null;
    mode = 'idle';
    renderPlay();
    if (!conn.online) return;
    try { await conn.request({ type: 'queue.leave' }); } catch { /* the server drops the ticket with the socket anyway */ }
  }

  async function createChallenge() {
    if (mode !== 'idle') return;
    try {
      const res = await conn.request({ type: 'challenge.create', game: selected });
      challengeInfo = { code: res.code, game: res.game || selected, expires_ms: res.expires_ms };
      mode = 'challenge';
      renderPlay();
      const input = document.getElementById('challenge-link');
      if (input) input.focus();
    } catch (err) {
      toast(errorText(err.code, err.message), 'error');
    }
  }

  // ---- resume banner ----

  // activeMatches: the live matches this player sits in, as {id, game, opp, yourTurn}.
  function activeMatches() {
    const out = [];
    for (const id of conn.active) {
      const m = conn.matches.get(id);
      const st = m && m.state;
      if (!m || (!st && !m.found) || (st && st.status !== 'live')) continue; // its state follows the welcome
      const players = (st && st.players) || (m.found && m.found.players) || [];
      const you = st ? st.you : m.found ? m.found.you : null;
      out.push({ id, game: (st && st.game) || m.found.game, opp: players[you === 0 ? 1 : 0], yourTurn: !!st && st.turn !== null && st.turn === you });
    }
    return out;
  }

  // onActive redraws what depends on the player's live games; the play
  // card only when having one changed (it holds the focus of the picker).
  function onActive() {
    renderResume();
    if (session.signedIn && mode === 'idle' && hadActive !== (activeMatches().length > 0)) renderPlay();
  }

  function renderResume() {
    resumeSlot.replaceChildren();
    for (const { id, game: gameId, opp, yourTurn } of activeMatches()) {
      resumeSlot.append(h('a', { class: ['resume', yourTurn && 'resume-urgent'], href: `/m/${encodeURIComponent(id)}`, 'data-link': true },
        h('span', { class: 'resume-icon' }, svg(gameIcon(gameId))),
        h('span', { class: 'resume-copy' },
          h('strong', { text: yourTurn ? 'Your move!' : 'You have a game in progress' }),
          h('span', { text: `${gameTitle(gameId, games)}${opp ? ` against ${opp.name}` : ''}` })),
        h('span', { class: 'btn btn-primary btn-sm', text: 'Resume' })));
    }
  }

  // ---- your recent results ----

  function renderRecent() {
    recentSlot.replaceChildren();
    const recent = me && Array.isArray(me.recent) ? me.recent.filter((m) => m.status !== 'live').slice(0, 6) : [];
    if (!session.signedIn || !recent.length) return;
    const pid = session.player.id;
    recentSlot.append(h('section', { class: 'card recent-card', 'aria-labelledby': 'recent-title' },
      h('div', { class: 'card-head' },
        h('h2', { id: 'recent-title', class: 'card-title-sm', text: 'Your last games' }),
        h('a', { class: 'card-head-note', href: `/players/${encodeURIComponent(pid)}`, 'data-link': true, text: 'All' })),
      h('ul', { class: 'recent-list' }, recent.map((m) => {
        const seat = (m.players || []).findIndex((x) => x.id === pid);
        const opp = (m.players || [])[seat === 0 ? 1 : 0];
        let res = 'aborted';
        if (m.status === 'finished') res = m.winner === null || m.winner === undefined ? 'draw' : m.winner === seat ? 'win' : 'loss';
        const label = { win: 'Won', loss: 'Lost', draw: 'Draw', aborted: 'Aborted' }[res];
        return h('li', {}, h('a', { class: 'recent-item', href: `/replay/${encodeURIComponent(m.id)}`, 'data-link': true },
          h('span', { class: ['result-chip', `result-chip-${res}`], text: label }),
          h('span', { class: 'recent-game' }, svg(gameIcon(m.game), 'inline-icon')),
          h('span', { class: 'recent-opp' }, opp ? [avatar(opp, 'sm'), h('span', { class: 'recent-name', text: opp.name })] : '—'),
          h('span', { class: 'recent-when', text: ago(m.ended_ms || m.started_ms, conn.serverNow()) })));
      }))));
  }

  async function loadMe() {
    if (!session.signedIn) { me = null; return; }
    const pid = session.player.id;
    try {
      const res = await api(`/api/players/${encodeURIComponent(pid)}`);
      if (!session.player || session.player.id !== pid) return;
      me = res;
    } catch { return; }
    if (!page.isConnected) return;
    renderRecent();
    refreshPickerCounts();
  }

  // ---- live matches ----

  function liveSection() {
    return h('section', { class: 'card live-card', 'aria-labelledby': 'live-title' },
      h('div', { class: 'card-head' },
        h('h2', { id: 'live-title', class: 'card-title-sm' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live now'),
        h('span', { class: 'card-head-note', text: 'Watch any game' })),
      liveSlot);
  }

  function renderLive() {
    liveSlot.replaceChildren();
    if (liveState === 'loading') {
      liveSlot.append(h('div', { class: 'skeleton-list' }, h('div', { class: 'skeleton' }), h('div', { class: 'skeleton' })));
      return;
    }
    if (liveState === 'missing') {
      liveSlot.append(h('p', { class: 'muted small', text: 'Live games will show up here soon.' }));
      return;
    }
    if (liveState === 'error') {
      liveSlot.append(h('p', { class: 'muted small', text: "Couldn’t load live games. Trying again…" }));
      return;
    }
    const me = session.player && session.player.id;
    const list = live.filter((m) => m.status === 'live' || !m.status);
    if (!list.length) {
      liveSlot.append(h('div', { class: 'live-empty' },
        svg(icons.eye, 'live-empty-icon'),
        h('p', { text: 'No games right now.' }),
        h('p', { class: 'muted small', text: session.signedIn ? 'Start one — others can watch yours.' : 'Pick a name and start one.' })));
      return;
    }
    const now = conn.serverNow();
    append(liveSlot, [h('ul', { class: 'live-list' }, list.slice(0, 12).map((m) => {
      const mine = me && (m.players || []).some((p) => p.id === me);
      const [a, b] = m.players || [];
      const computer = (m.players || []).some((p) => botLevel(p));
      return h('li', {},
        // The link is named by what it shows (the players, ratings and
        // the Watch or Resume label), with the game said first for screen
        // readers: a name of its own would leave the visible text out.
        h('a', { class: ['live-item', computer && 'live-computer'], href: `/m/${encodeURIComponent(m.id)}`, 'data-link': true },
          h('span', { class: ['live-game', `game-art-${m.game}`] }, svg(gameIcon(m.game)), h('span', { class: 'sr-only', text: `${gameTitle(m.game, games)}: ` })),
          h('span', { class: 'live-players' },
            playerLine(a), h('span', { class: 'live-vs', text: 'vs' }), playerLine(b)),
          h('span', { class: 'live-meta' },
            h('span', { class: 'live-spect', title: 'Spectators' }, svg(icons.eye, 'inline-icon'), String(m.spectators || 0), h('span', { class: 'sr-only', text: ' watching,' })),
            h('span', { class: 'live-age', text: m.started_ms ? ago(m.started_ms, now) : '' })),
          h('span', { class: ['live-cta', mine && 'live-cta-mine'], text: mine ? 'Resume' : 'Watch' })));
    })), list.length > 12 ? h('p', { class: 'muted small', text: `and ${list.length - 12} more` }) : null]);
  }

  function playerLine(p) {
    if (!p) return h('span', { class: 'live-p', text: '?' });
    return h('span', { class: 'live-p' }, h('span', { class: 'live-name', text: p.name }),
      botLevel(p) ? botTag(p) : h('span', { class: 'live-rating', text: rating(p.rating) }));
  }

  async function loadLive() {
    // The per-game counts change as people queue and play: ask again.
    loadGames();
    try {
      const list = await api('/api/matches?status=live&limit=50');
      live = Array.isArray(list) ? list : [];
      liveState = 'ok';
    } catch (err) {
      live = [];
      liveState = err.missing ? 'missing' : 'error';
    }
    if (!page.isConnected) return;
    renderLive();
    onActive();
  }

  // refreshPickerCounts redraws the game picker alone (the panel below it,
  // with its timers, stays), and not while the user is choosing in it.
  function refreshPickerCounts() {
    if (!session.signedIn) return;
    const old = playSlot.querySelector('.game-picker');
    if (!old || old.contains(document.activeElement)) return;
    old.replaceWith(gamePicker(old.disabled));
  }

  function loadGames() {
    return api('/api/games').then((g) => {
      if (!Array.isArray(g) || !page.isConnected) return;
      games = g;
      refreshPickerCounts();
    }).catch(() => {});
  }

  // ---- wiring ----

  offs.push(conn.on('queue.bot_offer', (msg) => {
    botOffer = msg;
    renderPlay();
    // On a phone the offer lands below the fold: bring it into view.
    const el = playSlot.querySelector('[data-state="bot-offer"]');
    if (el && el.scrollIntoView) el.scrollIntoView({ block: 'nearest' });
  }));
  offs.push(conn.on('queue', (q) => {
    if (!q) botOffer = null;
    if (q) { mode = 'queue'; wantQueue = q.game; } else if (mode === 'queue' || mode === 'joining') {
      // Left the queue: by cancel or a match (idle), or the socket dropped
      // (keep waiting: the welcome after the reconnect joins again).
      mode = wantQueue && !conn.online ? 'joining' : 'idle';
    }
    renderPlay();
    loadGames(); // the counts now include (or no longer include) this player
  }));
  offs.push(conn.on('match.found', () => { wantQueue = null; mode = 'idle'; challengeInfo = null; botOffer = null; computerPending = false; }));
  offs.push(conn.on('status', () => renderPlay()));
  offs.push(conn.on('welcome', () => {
    onActive();
    // The queue ticket dies with the socket: join again if we were waiting.
    if (wantQueue && !conn.queue && session.signedIn) {
      selected = wantQueue;
      mode = 'idle';
      joinQueue();
    }
  }));
  offs.push(conn.on('match.state', onActive));
  offs.push(conn.on('match.over', onActive));
  const onSession = () => { mode = 'idle'; challengeInfo = null; wantQueue = null; me = null; layout(); loadMe(); };
  session.addEventListener('change', onSession);
  offs.push(() => session.removeEventListener('change', onSession));

  layout();
  getGames().then((g) => { games = g; if (page.isConnected) { renderHero(); renderPlay(); } }).catch(() => {});
  loadLive();
  loadMe();
  const liveTimer = setInterval(() => { if (document.visibilityState === 'visible') loadLive(); }, LIVE_REFRESH_MS);

  return () => {
    clearInterval(liveTimer);
    timers.forEach((t) => { clearInterval(t); clearTimeout(t); });
    offs.forEach((f) => f());
  };
}

// heroName writes a game's name inside a sentence: "rock paper scissors",
// but a name in title case ("Connect Four") as it is.
function heroName(name, first) {
  if (first || name.split(' ').every((w) => /^[A-Z0-9]/.test(w))) return name;
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function firstNumber(obj, keys) {
  for (const k of keys) if (typeof obj[k] === 'number') return obj[k];
  return null;
}

async function copyText(text, input) {
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); return true; }
  } catch { /* fall through */ }
  try {
    input.focus();
    input.select();
    return document.execCommand('copy');
  } catch {
    return false;
  }
}
