// Tic-tac-toe: the board component, its rules as far as the client needs
// them (the winning line, a replay of stored moves), and words for moves.
import { h, svg } from '../ui.js';
import { icons } from '../icons.js';

export const id = 'tictactoe';
export const title = 'Tic-tac-toe';
export const icon = icons.tictactoe;
export const blurb = 'Three in a row wins. X moves first.';

export const MARKS = ['X', 'O'];
const LINES = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]];
const CELL_NAMES = ['top left', 'top middle', 'top right', 'middle left', 'centre', 'middle right', 'bottom left', 'bottom middle', 'bottom right'];

const X_SVG = '<svg viewBox="0 0 100 100"><path class="mark-path" pathLength="1" d="M24 24 76 76"/><path class="mark-path mark-path-2" pathLength="1" d="M76 24 24 76"/></svg>';
const O_SVG = '<svg viewBox="0 0 100 100"><circle class="mark-path" pathLength="1" cx="50" cy="50" r="27"/></svg>';

export function markOf(seat) { return seat === 0 || seat === 1 ? MARKS[seat] : ''; }

export function emptyBoard() { return Array(9).fill(''); }

export function winningLine(board) {
  if (!Array.isArray(board)) return null;
  for (const l of LINES) {
    const [a, b, c] = l;
    if (board[a] && board[a] === board[b] && board[a] === board[c]) return l;
  }
  return null;
}

// winnerSeat reads the winner off a final board (null for none/draw).
export function winnerSeat(state) {
  const l = winningLine(state && state.board);
  if (!l) return null;
  return state.board[l[0]] === 'X' ? 0 : 1;
}

export function cellName(i) { return CELL_NAMES[i] || `cell ${i}`; }

export function describeMove(move, seat) {
  const cell = move && typeof move.cell === 'number' ? move.cell : -1;
  return `${markOf(seat)} ${cell === 4 ? 'takes the' : 'in the'} ${cellName(cell)}`;
}

// replayFrames rebuilds the board after each stored move: frames[0] is the
// empty board, frames[i] the board after move i.
export function replayFrames(moves) {
  const steps = [{ board: emptyBoard(), last: null, turn: 0 }];
  let board = emptyBoard();
  for (const mv of moves) {
    const cell = mv.move && mv.move.cell;
    board = board.slice();
    if (typeof cell === 'number' && cell >= 0 && cell < 9) board[cell] = markOf(mv.seat);
    steps.push({ board, last: cell, turn: mv.seat === 0 ? 1 : 0 });
  }
  return steps;
}

// isDraw: a full board without a line.
export function isDraw(state) {
  const b = state && state.board;
  return Array.isArray(b) && b.length === 9 && b.every(Boolean) && !winningLine(b);
}

export function endText(reason, { winnerName }) {
  if (reason === 'line') return { text: `${winnerName} got three in a row.`, short: 'Three in a row' };
  if (reason === 'board_full') return { text: 'The board is full — nobody got three in a row.', short: 'The board filled up' };
  return null;
}

// movesBy: how many moves seat has made (its marks on the board).
export function movesBy(state, seat) {
  const b = state && state.board;
  return Array.isArray(b) ? b.filter((v) => v && v === markOf(seat)).length : 0;
}

export function seatBadge(seat) {
  const m = markOf(seat);
  return m ? { text: m, className: `seat-${m.toLowerCase()}`, label: `plays ${m}` } : null;
}

export function owesMove(view) {
  return !!view.live && view.you !== null && view.turn === view.you;
}

export function statusLine({ turn, you, names }) {
  const seated = turn !== null && turn !== undefined;
  if (you !== null) {
    const mine = turn === you;
    return { mine, title: mine ? 'Your move' : 'Opponent’s move', sub: mine ? `You play ${markOf(you)}` : `${names[1 - you]} is thinking…` };
  }
  return { mine: false, title: seated ? `${names[turn]}’s move` : 'Live', sub: seated ? `${markOf(turn)} to play` : '' };
}

// moveLanded: the sent cell is taken, or the turn moved on.
export function moveLanded(move, before, after, you) {
  const b = after.state && after.state.board;
  return (Array.isArray(b) && !!b[move.cell]) || after.turn !== you;
}

// createBoard is the live board: onMove({cell}) plays; update(view) redraws.
// The last move is the cell that filled since the previous update.
export function createBoard({ onMove } = {}) {
  const grid = createGrid({ onMove: (cell) => onMove && onMove({ cell }) });
  let prevBoard = null;
  let lastMoveCell = null;
  function update(view) {
    const s = view.state || {};
    const board = Array.isArray(s.board) ? s.board : emptyBoard();
    if (Array.isArray(s.board)) {
      if (prevBoard) for (let i = 0; i < 9; i++) if (board[i] && !prevBoard[i]) lastMoveCell = i;
      prevBoard = board.slice();
    }
    grid.update({
      board,
      canMove: owesMove(view),
      pending: view.pending && typeof view.pending.cell === 'number' ? view.pending.cell : null,
      last: lastMoveCell,
      turnMark: view.you !== null ? markOf(view.you) : '',
    });
  }
  return { el: grid.el, update, destroy() {} };
}

export function createReplayBoard() {
  const grid = createGrid({ label: 'Replay board' });
  return { el: grid.el, show: (f) => grid.update({ board: f.board, last: f.last, animate: false }), destroy() {} };
}

// createGrid returns the 3x3 board. onMove(cell) is called when the viewer
// plays; update({board, canMove, pending, last, turnMark}) redraws it.
function createGrid({ onMove, label = 'Tic-tac-toe board' } = {}) {
  const cells = [];
  const grid = h('div', { class: 'ttt', role: 'grid', 'aria-label': label });
  for (let r = 0; r < 3; r++) {
    const row = h('div', { class: 'ttt-row', role: 'row' });
    for (let c = 0; c < 3; c++) {
      const i = r * 3 + c;
      const btn = h('button', {
        class: 'ttt-cell', type: 'button', dataset: { cell: String(i) },
        onclick: () => { if (!btn.disabled && onMove) onMove(i); },
      });
      const wrap = h('div', { role: 'gridcell', class: 'ttt-gridcell' }, btn);
      row.append(wrap);
      cells.push(btn);
    }
    grid.append(row);
  }
  // One tab stop for the whole board (a roving tabindex): the cell last
  // focused, or the first free one; arrow keys move between free cells.
  let roving = 4;
  function rove(i) {
    roving = i;
    cells.forEach((b, k) => { b.tabIndex = k === i ? 0 : -1; });
  }
  grid.addEventListener('keydown', (e) => { const i = moveFocus(e, cells); if (i !== null) rove(i); });
  grid.addEventListener('focusin', (e) => { const i = cells.indexOf(e.target); if (i >= 0 && i !== roving) rove(i); });
  let prev = emptyBoard();

  function update({ board = emptyBoard(), canMove = false, pending = null, last = null, turnMark = '', animate = true }) {
    const line = winningLine(board);
    grid.classList.toggle('ttt-live', canMove);
    grid.dataset.turn = turnMark || '';
    board.forEach((v, i) => {
      const btn = cells[i];
      const shown = v || (pending === i ? turnMark : '');
      const was = btn.dataset.mark || '';
      if (shown !== was) {
        btn.replaceChildren();
        if (shown) btn.append(svg(shown === 'X' ? X_SVG : O_SVG, `mark mark-${shown.toLowerCase()}`));
        btn.dataset.mark = shown;
        btn.classList.toggle('ttt-draw', animate && !!shown && !prev[i]);
      }
      btn.classList.toggle('ttt-pending', !v && pending === i);
      btn.classList.toggle('ttt-last', last === i);
      btn.classList.toggle('ttt-win', !!line && line.includes(i));
      btn.classList.toggle('ttt-dim', !!line && !line.includes(i));
      const free = !v && pending === null;
      btn.disabled = !(canMove && free);
      const row = Math.floor(i / 3) + 1;
      const col = (i % 3) + 1;
      btn.setAttribute('aria-label', `Row ${row}, column ${col}: ${v || (pending === i ? `${turnMark}, sending` : 'empty')}`);
      if (turnMark) btn.dataset.hover = turnMark; else delete btn.dataset.hover;
    });
    prev = board.slice();
    if (cells[roving].disabled) {
      const free = cells.findIndex((b) => !b.disabled);
      rove(free >= 0 ? free : roving);
    } else rove(roving);
  }

  update({ board: emptyBoard() });
  return { el: grid, update, cells };
}

// Arrow keys move to the nearest free cell in their direction (taken cells
// are disabled and cannot hold focus). Returns the cell focused, or null.
function moveFocus(e, cells) {
  const delta = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -3, ArrowDown: 3 }[e.key];
  if (!delta) return null;
  const from = cells.indexOf(document.activeElement);
  if (from < 0) return null;
  let i = from;
  for (let k = 0; k < 9; k++) {
    i += delta;
    if (i < 0 || i > 8 || (Math.abs(delta) === 1 && Math.floor(i / 3) !== Math.floor(from / 3))) return null;
    if (!cells[i].disabled) { cells[i].focus(); e.preventDefault(); return i; }
  }
  return null;
}
