// Rock-paper-scissors, first to 2 round wins: the arena (two hands facing
// off, the three choice buttons, the round history) and a replay of moves.
import { h, svg } from '../ui.js';
import { icons, hands } from '../icons.js';

export const id = 'rps';
export const title = 'Rock paper scissors';
export const icon = icons.rps;
export const blurb = 'Both choose at once. First to two rounds wins.';

export const CHOICES = ['rock', 'paper', 'scissors'];
const LABEL = { rock: 'Rock', paper: 'Paper', scissors: 'Scissors' };
const BEATS = { rock: 'scissors', paper: 'rock', scissors: 'paper' };
const VERB = { rock: 'crushes', paper: 'covers', scissors: 'cut' };
const REVEAL_HOLD_MS = 2600;

export function choiceLabel(c) { return LABEL[c] || 'Hidden'; }

export function roundWinner(c0, c1) {
  if (!c0 || !c1 || c0 === c1) return null;
  return BEATS[c0] === c1 ? 0 : 1;
}

export function describeMove(move, seat, names) {
  const who = (names && names[seat]) || `Player ${seat + 1}`;
  return `${who} picks ${choiceLabel(move && move.choice).toLowerCase()}`;
}

// verdict is the sentence under a revealed round.
export function verdict(c0, c1) {
  const w = roundWinner(c0, c1);
  if (w === null) return `Both chose ${choiceLabel(c0).toLowerCase()}`;
  const win = w === 0 ? c0 : c1;
  const lose = w === 0 ? c1 : c0;
  return `${choiceLabel(win)} ${VERB[win]} ${choiceLabel(lose).toLowerCase()}`;
}

export function winnerSeat(state) {
  if (!state || !Array.isArray(state.score)) return null;
  const [a, b] = state.score;
  return a > b ? 0 : b > a ? 1 : null;
}

export const moveNoun = 'choice';

export function endText(reason, { winnerName, winner, state }) {
  if (reason !== 'rounds') return null;
  const sc = state && state.score;
  return {
    text: winner === null ? 'Nine rounds played and the score is level.' : `${winnerName} won ${sc ? `${Math.max(...sc)}–${Math.min(...sc)}` : 'the match'} in rounds.`,
    short: 'On rounds',
  };
}

// movesBy: each revealed round holds one choice of each seat, and the open
// round one more if seat has chosen in it.
export function movesBy(state, seat) {
  const rounds = state && Array.isArray(state.rounds) ? state.rounds.length : 0;
  return rounds + (state && Array.isArray(state.chosen) && state.chosen[seat] ? 1 : 0);
}

// No marks: both seats play the same hands.
export function seatBadge() { return null; }

function chosenOf(state) { return (state && state.chosen) || [false, false]; }

// owesMove: both choose at once, so a live seat owes a choice until it made one.
export function owesMove(view) {
  return !!view.live && view.you !== null && !chosenOf(view.state)[view.you];
}

export function seatNote(view, seat) {
  const s = view.state;
  return s && Array.isArray(s.chosen) && !s.chosen[seat] ? 'choosing' : 'ready';
}

export function statusLine({ state, you, names, pending }) {
  const chosen = chosenOf(state);
  if (you !== null) {
    const opp = 1 - you;
    if (chosen[you] || pending) return { mine: false, title: 'Waiting for opponent…', sub: chosen[opp] ? 'They’re ready too' : `${names[opp]} is still choosing` };
    return { mine: true, title: 'Your move', sub: chosen[opp] ? `${names[opp]} has chosen — your turn` : 'Pick rock, paper or scissors' };
  }
  return {
    mine: false,
    title: `Round ${(state && state.round) || 1}`,
    sub: chosen[0] && chosen[1] ? 'Revealing…' : chosen[0] ? `${names[1]} is choosing` : chosen[1] ? `${names[0]} is choosing` : 'Both are choosing',
  };
}

// moveLanded: our choice is marked made, or the round it was for is revealed.
export function moveLanded(move, before, after, you) {
  const s = after.state || {};
  const was = before.state && Array.isArray(before.state.rounds) ? before.state.rounds.length : 0;
  return (Array.isArray(s.chosen) && you !== null && !!s.chosen[you])
    || (Array.isArray(s.rounds) && s.rounds.length > was);
}

// createBoard is the live arena: onMove({choice}) plays.
export function createBoard({ onMove } = {}) {
  const arena = createArena({ onChoose: (choice) => onMove && onMove({ choice }) });
  return {
    el: arena.el,
    update: (view) => arena.update({
      state: view.state, you: view.you, live: view.live, names: view.names,
      pending: view.pending ? view.pending.choice : null,
    }),
    destroy: arena.destroy,
  };
}

export function createReplayBoard({ names }) {
  const arena = createArena({ replayMode: true });
  return {
    el: arena.el,
    show: (f) => arena.update({ state: { ...f, chosen: [false, false] }, you: null, live: false, names, open: f.open }),
    destroy: arena.destroy,
  };
}

// replayFrames rebuilds the rounds after each stored move. Each frame has
// the wire state's fields plus `open`: the choices made in the open round.
export function replayFrames(moves) {
  let st = { round: 1, score: [0, 0], rounds: [], open: [null, null] };
  const steps = [{ ...st, last: null }];
  for (const mv of moves) {
    const choice = mv.move && mv.move.choice;
    const open = st.open.slice();
    open[mv.seat] = choice;
    if (open[0] && open[1]) {
      const w = roundWinner(open[0], open[1]);
      const score = st.score.slice();
      if (w !== null) score[w] += 1;
      st = { round: st.round + 1, score, rounds: [...st.rounds, { choices: open, winner: w }], open: [null, null] };
    } else {
      st = { ...st, open };
    }
    steps.push({ ...st, last: mv.seat });
  }
  return steps;
}

function handCard(side) {
  const art = h('div', { class: 'hand-art' });
  const name = h('div', { class: 'hand-name' });
  const note = h('div', { class: 'hand-note' });
  const el = h('div', { class: ['hand-card', `hand-${side}`] }, art, name, note);
  let shown = null;
  return {
    el,
    set({ choice, hidden, ready, label, noteText, result }) {
      const key = choice ? choice : hidden ? (ready ? 'ready' : 'thinking') : 'none';
      if (key !== shown) {
        art.replaceChildren();
        if (choice) art.append(svg(hands[choice], `hand hand-${choice}`));
        else art.append(ready ? h('span', { class: 'hand-q hand-q-ready', 'aria-hidden': 'true' }, svg(icons.check)) : h('span', { class: 'hand-q', 'aria-hidden': 'true', text: '?' }));
        el.classList.remove('hand-pop');
        if (choice) { void el.offsetWidth; el.classList.add('hand-pop'); }
        shown = key;
      }
      name.textContent = label;
      note.textContent = noteText || '';
      el.dataset.result = result || '';
    },
  };
}

// createArena returns the rps play area. left/right are seats (the viewer
// on the left when playing). onChoose(choice) plays.
function createArena({ onChoose, replayMode = false } = {}) {
  const score = h('div', { class: 'rps-score', 'aria-live': 'polite' });
  const left = handCard('left');
  const right = handCard('right');
  const vs = h('div', { class: 'rps-vs', text: 'vs' });
  const verdictEl = h('div', { class: 'rps-verdict', 'aria-live': 'polite' });
  const stage = h('div', { class: 'rps-stage' }, left.el, vs, right.el);
  const buttons = {};
  const picker = h('div', { class: 'rps-picker', role: 'group', 'aria-label': 'Your choice' },
    CHOICES.map((c) => {
      const b = h('button', {
        class: 'rps-choice', type: 'button', dataset: { choice: c },
        'aria-pressed': 'false', 'aria-keyshortcuts': c[0].toUpperCase(),
        onclick: () => { if (!b.disabled && onChoose) onChoose(c); },
      }, svg(hands[c], `hand hand-${c}`), h('span', { class: 'rps-choice-label', text: LABEL[c] }),
      h('kbd', { class: 'rps-key', text: c[0].toUpperCase() }));
      buttons[c] = b;
      return b;
    }));
  const history = h('ol', { class: 'rps-history', 'aria-label': 'Rounds' });
  const historyWrap = h('section', { class: 'rps-history-wrap' }, h('h3', { class: 'section-label', text: 'Rounds' }), history);
  const el = h('div', { class: ['rps', replayMode && 'rps-replay'] }, score, stage, verdictEl, replayMode ? null : picker, historyWrap);

  let seenRounds = -1;
  let revealUntil = 0;
  let holdTimer = 0;
  let lastView = null;

  function keyHandler(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const c = { r: 'rock', p: 'paper', s: 'scissors' }[e.key.toLowerCase()];
    if (c && buttons[c] && !buttons[c].disabled && el.isConnected) { e.preventDefault(); buttons[c].click(); }
  }
  if (!replayMode) document.addEventListener('keydown', keyHandler);

  // update: {state, you, names: [n0, n1], live, pending, open (replay only)}
  function update(view) {
    lastView = view;
    const st = view.state || { round: 1, score: [0, 0], chosen: [false, false], rounds: [] };
    const rounds = Array.isArray(st.rounds) ? st.rounds : [];
    const you = view.you === 0 || view.you === 1 ? view.you : null;
    const l = you === null ? 0 : you;
    const r = 1 - l;
    const names = view.names || ['Player 1', 'Player 2'];
    const sc = Array.isArray(st.score) ? st.score : [0, 0];

    // A new revealed round: show both hands for a moment.
    if (seenRounds >= 0 && rounds.length > seenRounds && !replayMode) {
      revealUntil = Date.now() + REVEAL_HOLD_MS;
      clearTimeout(holdTimer);
      holdTimer = setTimeout(() => lastView && update(lastView), REVEAL_HOLD_MS + 30);
    }
    seenRounds = rounds.length;

    score.replaceChildren(
      h('span', { class: ['rps-score-name', sc[l] > sc[r] && 'lead'], text: you === null ? names[l] : 'You' }),
      h('span', { class: 'rps-score-num', 'aria-label': `Score ${sc[l]} to ${sc[r]}` },
        h('b', { text: String(sc[l]) }), h('i', { text: '–' }), h('b', { text: String(sc[r]) })),
      h('span', { class: ['rps-score-name', sc[r] > sc[l] && 'lead'], text: you === null ? names[r] : names[r] }),
    );

    const last = rounds[rounds.length - 1];
    const revealing = !!last && (Date.now() < revealUntil || !view.live);
    const open = view.open || [null, null];
    const chosen = Array.isArray(st.chosen) ? st.chosen : [false, false];

    if (replayMode && (open[0] || open[1])) {
      // Replay: the open round's choices so far.
      for (const [card, seat] of [[left, l], [right, r]]) {
        card.set({ choice: open[seat], hidden: !open[seat], ready: false, label: names[seat], noteText: open[seat] ? choiceLabel(open[seat]) : 'Not yet' });
      }
      verdictEl.textContent = `Round ${rounds.length + 1}`;
      verdictEl.dataset.kind = '';
    } else if (revealing) {
      const w = last.winner;
      for (const [card, seat] of [[left, l], [right, r]]) {
        const c = last.choices[seat];
        card.set({ choice: c, label: seat === you ? 'You' : names[seat], noteText: choiceLabel(c), result: w === null ? 'tie' : w === seat ? 'win' : 'lose' });
      }
      const who = w === null ? 'Tie — this round is replayed' : you === null ? `${names[w]} takes the round` : w === you ? 'You take the round' : `${names[w]} takes the round`;
      verdictEl.replaceChildren(h('strong', { text: verdict(last.choices[0], last.choices[1]) }), h('span', { text: who }));
      verdictEl.dataset.kind = w === null ? 'tie' : you === null ? 'neutral' : w === you ? 'win' : 'lose';
    } else {
      // The open round: our own pick (if any) is visible to us, theirs is not.
      const mine = you !== null ? (view.pending || st.mine || null) : null;
      left.set({
        choice: you !== null ? mine : null, hidden: !(you !== null && mine), ready: chosen[l],
        label: you === null ? names[l] : 'You',
        noteText: you !== null ? (mine ? `${choiceLabel(mine)}${view.pending && !st.mine ? ' · sending' : ''}` : view.live ? 'Pick below' : '') : (chosen[l] ? 'Ready' : view.live ? 'Choosing…' : ''),
      });
      right.set({ choice: null, hidden: true, ready: chosen[r], label: names[r], noteText: chosen[r] ? 'Ready' : view.live ? 'Choosing…' : '' });
      verdictEl.replaceChildren(h('span', { text: view.live ? `Round ${st.round || rounds.length + 1} · first to 2 wins` : '' }));
      verdictEl.dataset.kind = '';
    }

    // Choice buttons.
    const mineNow = view.pending || st.mine || null;
    const canChoose = !!view.live && you !== null && !chosen[you] && !view.pending;
    for (const c of CHOICES) {
      const b = buttons[c];
      b.disabled = !canChoose;
      b.setAttribute('aria-pressed', String(mineNow === c));
      b.classList.toggle('picked', mineNow === c);
    }
    picker.hidden = you === null || !view.live;

    // History, newest first.
    history.replaceChildren(...rounds.map((rd, i) => {
      const w = rd.winner;
      const res = w === null ? 'tie' : you === null ? 'neutral' : w === you ? 'win' : 'lose';
      const text = w === null ? 'Tie' : you === null ? names[w] : w === you ? 'You' : names[w];
      return h('li', { class: ['rps-round', `rps-round-${res}`] },
        h('span', { class: 'rps-round-n', text: `${i + 1}` }),
        h('span', { class: 'rps-round-hands' },
          miniHand(rd.choices[l]), h('span', { class: 'rps-round-vs', text: 'vs' }), miniHand(rd.choices[r])),
        h('span', { class: 'rps-round-res', text }));
    }).reverse());
    historyWrap.hidden = rounds.length === 0;
  }

  function destroy() {
    clearTimeout(holdTimer);
    document.removeEventListener('keydown', keyHandler);
  }

  return { el, update, destroy };
}

function miniHand(c) {
  return h('span', { class: 'mini-hand', title: choiceLabel(c) }, c ? svg(hands[c], `hand hand-${c}`) : '?', h('span', { class: 'sr-only', text: choiceLabel(c) }));
}
