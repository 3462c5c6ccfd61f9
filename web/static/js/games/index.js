// The games the client knows how to draw. A game the server offers that is
// not here is listed but cannot be played in the browser.
import * as tictactoe from './tictactoe.js';
import * as rps from './rps.js';
import { icons } from '../icons.js';

const known = { tictactoe, rps };

export function gameModule(id) { return known[id] || null; }

export function gameTitle(id, games) {
  const g = Array.isArray(games) ? games.find((x) => x.id === id) : null;
  return (g && g.name) || (known[id] && known[id].title) || id;
}

export function gameIcon(id) { return (known[id] && known[id].icon) || icons.bolt; }

// winnerFromState derives the winner of a finished match from its state
// alone (used when match.over was missed, e.g. after a reload).
export function winnerFromState(game, state) {
  const m = known[game];
  return m && m.winnerSeat ? m.winnerSeat(state) : null;
}
