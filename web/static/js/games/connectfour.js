// Connect Four: 7 columns by 6 rows; red (seat 0) drops first, then yellow.
// The board component (click or tap a column, keys 1-7, or arrow keys and
// Enter on the focused column), the rules the client needs (where a disc
// lands, the winning four) and a replay of stored moves.
//
// Wire: move {column: 0..6}; state {board: 42 strings "", "R" or "Y", row by
// row from the top, index row*7+col; moves: n}.
import { h } from '../ui.js';

export const id = 'connectfour';
export const title = 'Connect Four';
export const blurb = 'Drop discs, get four in a row. Red goes first.';
export const icon = `<svg viewBox="0 0 48 48" width="48" height="48" fill="none">
  <rect x="5" y="8" width="38" height="32" rx="7" class="c4-icon-board"/>
  <circle cx="14" cy="17" r="3.6" class="c4-icon-hole"/><circle cx="24" cy="17" r="3.6" class="c4-icon-hole"/><circle cx="34" cy="17" r="3.6" class="c4-icon-y"/>
  <circle cx="14" cy="24" r="3.6" class="c4-icon-hole"/><circle cx="24" cy="24" r="3.6" class="c4-icon-r"/><circle cx="34" cy="24" r="3.6" class="c4-icon-y"/>
  <circle cx="14" cy="31" r="3.6" class="c4-icon-r"/><circle cx="24" cy="31" r="3.6" class="c4-icon-y"/><circle cx="34" cy="31" r="3.6" class="c4-icon-r"/></svg>`;

export const COLS = 7;
export const ROWS = 6;
const DISCS = ['R', 'Y'];
const COLOUR = { R: 'red', Y: 'yellow' };

export function discOf(seat) { return seat === 0 || seat === 1 ? DISCS[seat] : ''; }
function colourOf(seat) { return COLOUR[discOf(seat)] || ''; }
function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

export function emptyBoard() { return Array(COLS * ROWS).fill(''); }

function boardOf(state) {
  const b = state && state.board;
  return Array.isArray(b) && b.length === COLS * ROWS ? b : emptyBoard();
}

// landingRow is the row a disc dropped in col comes to rest in, or -1 when
// the column is full.
export function landingRow(board, col) {
  for (let r = ROWS - 1; r >= 0; r--) if (!board[r * COLS + col]) return r;
  return -1;
}

// winningCells returns the cells of every four-or-more in a line, or null.
export function winningCells(board) {
  const found = new Set();
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) {
      const v = board[r * COLS + c];
      if (!v) continue;
      for (const [dr, dc] of [[0, 1], [1, 0], [1, 1], [1, -1]]) {
        const line = [];
        for (let k = 0; k < 4; k++) {
          const rr = r + dr * k;
          const cc = c + dc * k;
          if (rr < 0 || rr >= ROWS || cc < 0 || cc >= COLS || board[rr * COLS + cc] !== v) break;
          line.push(rr * COLS + cc);
        }
        if (line.length === 4) line.forEach((i) => found.add(i));
      }
    }
  }
  return found.size ? found : null;
}

export function winnerSeat(state) {
  const board = boardOf(state);
  const win = winningCells(board);
  if (!win) return null;
  return board[win.values().next().value] === 'R' ? 0 : 1;
}

export function isDraw(state) {
  const board = boardOf(state);
  return board.every(Boolean) && !winningCells(board);
}

export function endText(reason, { winnerName }) {
  if (reason === 'line') return { text: `${winnerName} got four in a row.`, short: 'Four in a row' };
  if (reason === 'board_full') return { text: 'The board is full — nobody got four in a row.', short: 'The board filled up' };
  return null;
}

export function seatBadge(seat) {
  const d = discOf(seat);
  return d ? { text: '', className: `seat-${d.toLowerCase()}`, label: `plays ${COLOUR[d]}` } : null;
}

export function owesMove(view) {
  return !!view.live && view.you !== null && view.turn === view.you;
}

export function statusLine({ turn, you, names }) {
  const seated = turn === 0 || turn === 1;
  if (you !== null) {
    const mine = turn === you;
    return { mine, title: mine ? 'Your move' : 'Opponent’s move', sub: mine ? `You play ${colourOf(you)}` : `${names[1 - you]} is thinking…` };
  }
  return { mine: false, title: seated ? `${names[turn]}’s move` : 'Live', sub: seated ? `${cap(colourOf(turn))} to play` : '' };
}

// moveLanded: the disc count went up, or the turn moved on.
export function moveLanded(move, before, after, you) {
  const n = (s) => (s && typeof s.moves === 'number' ? s.moves : 0);
  return n(after.state) > n(before.state) || after.turn !== you;
}

// movesBy: how many discs seat has dropped.
export function movesBy(state, seat) {
  const b = boardOf(state);
  return b.filter((v) => v && v === discOf(seat)).length;
}

export function describeMove(move, seat) {
  const col = move && typeof move.column === 'number' ? move.column : -1;
  return `${cap(colourOf(seat))} in column ${col + 1}`;
}

// replayFrames drops each stored move in turn: frames[0] is the empty
// board, frames[i] the board after move i, with the cell it landed in.
export function replayFrames(moves) {
  let board = emptyBoard();
  const frames = [{ board, last: null }];
  for (const mv of moves) {
    const col = mv.move && mv.move.column;
    let last = null;
    if (Number.isInteger(col) && col >= 0 && col < COLS) {
      const r = landingRow(board, col);
      if (r >= 0) {
        board = board.slice();
        last = r * COLS + col;
        board[last] = discOf(mv.seat);
      }
    }
    frames.push({ board, last });
  }
  return frames;
}

// createBoard is the live board: onMove({column}) plays. The last move is
// the cell that filled since the previous update.
export function createBoard({ onMove } = {}) {
  const grid = createGrid({ onMove: (column) => onMove && onMove({ column }), interactive: true });
  let prev = null;
  let last = null;

  function keyHandler(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || !grid.el.isConnected) return;
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    if (t && t.closest && t.closest('dialog')) return; // e.g. the resign question is open
    const n = Number(e.key);
    if (Number.isInteger(n) && n >= 1 && n <= COLS && grid.canDrop(n - 1)) {
      e.preventDefault();
      grid.drop(n - 1);
    }
  }
  document.addEventListener('keydown', keyHandler);

  function update(view) {
    const board = boardOf(view.state);
    if (prev) {
      const fresh = [];
      for (let i = 0; i < board.length; i++) if (board[i] && !prev[i]) fresh.push(i);
      if (fresh.length === 1) last = fresh[0];
    }
    const col = view.pending && Number.isInteger(view.pending.column) ? view.pending.column : null;
    grid.update({
      board, last, animate: prev !== null,
      canMove: owesMove(view), pending: col, mine: view.you !== null ? discOf(view.you) : '',
    });
    prev = board;
  }

  return { el: grid.el, update, destroy() { document.removeEventListener('keydown', keyHandler); } };
}

export function createReplayBoard() {
  const grid = createGrid({ label: 'Replay board' });
  return { el: grid.el, show: (f) => grid.update({ board: f.board, last: f.last, animate: false }), destroy() {} };
}

function discLabel(board, col) {
  const filled = [];
  for (let r = ROWS - 1; r >= 0; r--) {
    const v = board[r * COLS + col];
    if (!v) break;
    filled.push(COLOUR[v] || v);
  }
  const free = ROWS - filled.length;
  const what = filled.length ? `${filled.join(', ')} from the bottom` : 'empty';
  return `Column ${col + 1}: ${what}${free === 0 ? ', full' : filled.length ? `, ${free} free` : ''}`;
}

// createGrid draws the board: seven columns of six holes. Interactive, each
// column is a button, one of them in the tab order (roving tabindex): arrow
// keys, Home and End move between them, Enter or Space drops.
function createGrid({ onMove, interactive = false, label = 'Connect Four board' }) {
  const cols = [];
  const cells = [];
  const colsEl = h('div', interactive
    ? { class: 'c4-cols', role: 'toolbar', 'aria-label': 'Columns: press 1 to 7, or pick one with the arrow keys and press Enter' }
    : { class: 'c4-cols' });
  for (let c = 0; c < COLS; c++) {
    const col = h(interactive ? 'button' : 'div', {
      class: 'c4-col', dataset: { col: String(c) },
      type: interactive ? 'button' : null, tabindex: interactive ? (c === 3 ? '0' : '-1') : null,
      'aria-keyshortcuts': interactive ? String(c + 1) : null,
      onclick: interactive ? () => drop(c) : null,
    });
    for (let r = 0; r < ROWS; r++) {
      const cell = h('span', { class: 'c4-cell', 'aria-hidden': 'true', dataset: { cell: String(r * COLS + c) } });
      cells[r * COLS + c] = cell;
      col.append(cell);
    }
    col.append(h('span', { class: 'c4-num', 'aria-hidden': 'true', text: String(c + 1) }));
    cols.push(col);
    colsEl.append(col);
  }
  const el = h('div', { class: ['c4', interactive && 'c4-interactive'], role: 'group', 'aria-label': label }, colsEl);
  if (interactive) colsEl.addEventListener('keydown', roam);

  let board = emptyBoard();
  let canMove = false;
  let pending = null;
  let shown = emptyBoard(); // what each hole shows, pending disc included

  function canDrop(c) { return canMove && pending === null && landingRow(board, c) >= 0; }

  function drop(c) {
    if (!canDrop(c)) return;
    focusCol(c, false);
    if (onMove) onMove(c);
  }

  function focusCol(c, move = true) {
    cols.forEach((b, k) => b.setAttribute('tabindex', k === c ? '0' : '-1'));
    if (move) cols[c].focus();
  }

  function roam(e) {
    const from = cols.indexOf(document.activeElement);
    if (from < 0) return;
    const to = { ArrowLeft: from - 1, ArrowRight: from + 1, Home: 0, End: COLS - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    e.stopPropagation(); // not the replay's or anyone's step keys
    focusCol(Math.max(0, Math.min(COLS - 1, to)));
  }

  function update({ board: b = emptyBoard(), last = null, animate = true, canMove: can = false, pending: p = null, mine = '' }) {
    board = b;
    canMove = can;
    pending = p;
    const win = winningCells(board);
    const pendingCell = p !== null && landingRow(board, p) >= 0 ? landingRow(board, p) * COLS + p : null;
    el.classList.toggle('c4-live', can && p === null);
    el.classList.toggle('c4-won', !!win);
    if (mine) el.dataset.turn = mine; else delete el.dataset.turn;
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i];
      const v = board[i] || (i === pendingCell ? mine : '');
      if (v !== shown[i]) {
        cell.replaceChildren();
        if (v) cell.append(h('span', { class: ['c4-disc', `c4-disc-${v.toLowerCase()}`] }));
        cell.classList.toggle('c4-drop', animate && !!v && !shown[i]);
        if (v) cell.style.setProperty('--c4-fall', String(Math.floor(i / COLS) + 1));
        cell.dataset.disc = v;
        shown[i] = v;
      }
      cell.classList.toggle('c4-pending', i === pendingCell && !board[i]);
      cell.classList.toggle('c4-last', i === last);
      cell.classList.toggle('c4-win', !!win && win.has(i));
      cell.classList.toggle('c4-dim', !!win && !!v && !win.has(i));
    }
    for (let c = 0; c < COLS; c++) {
      const row = landingRow(board, c);
      cols[c].querySelectorAll('.c4-target').forEach((x) => x.classList.remove('c4-target'));
      if (row >= 0) cells[row * COLS + c].classList.add('c4-target');
      if (!interactive) continue;
      const ok = canDrop(c);
      cols[c].setAttribute('aria-disabled', String(!ok));
      cols[c].setAttribute('aria-label', discLabel(board, c));
    }
  }

  update({ board: emptyBoard(), animate: false });
  return { el, update, canDrop, drop };
}
