// The games the client knows how to draw. A game the server offers that is
// not here is listed but cannot be played in the browser.
//
// The game module contract. Views never test a game's id: everything that
// differs between games is asked of its module, one ES module per game in
// this folder, registered in `known` below. A module exports:
//
//   id: string           the server's game id ("tictactoe")
//   title: string        its name when the server's list has none
//   icon: string         static SVG markup for the game's tile
//   blurb: string        one line for the lobby's game picker
//
// Most functions take a view of a match, built by the match page from the
// latest match.state (see PROTOCOL.md):
//
//   view = {
//     state,    // match.state's `state`: the game's own wire state (may be null)
//     turn,     // match.state's `turn`: the seat to move, or null
//     you,      // the viewer's seat (0 or 1), or null for a spectator
//     live,     // the match is live (for a board: and the socket is up)
//     names,    // [name of seat 0, name of seat 1]
//     pending,  // the wire move sent and not yet in a state, or null
//   }
//
//   createBoard({ onMove }) -> { el, update(view), destroy() }
//       The live board. onMove(move) is called with the wire move object
//       (e.g. {cell: 4}) when the viewer plays; the page sends it.
//       update(view) redraws from the latest state; destroy() drops any
//       document listener or timer.
//   statusLine(view) -> { title, sub, mine }
//       The status line of a live match: whose turn, choosing, waiting.
//       mine: the viewer is the one who should act now.
//   seatNote(view, seat) -> 'choosing' | 'ready' | null
//       Optional. What a player card says under a live seat that is not to
//       move (games where both choose at once); null: the default "Online".
//   seatBadge(seat) -> { text, className, label } | null
//       The badge on a seat's avatar (the X/O mark, a colour disc): its text
//       (may be ''), a CSS class such as "seat-x", and a label for screen
//       readers ("plays X"). null: no badge.
//   owesMove(view) -> boolean
//       The state says the viewer must move now (pending is not counted).
//   moveLanded(move, before, after, you) -> boolean
//       Whether the sent move shows in a new state. before/after are
//       {state, turn}: when it was sent, and the new one.
//   winnerSeat(state) -> 0 | 1 | null
//       The winner read off a final state alone (null: none or can't tell).
//   movesBy(state, seat) -> number
//       How many moves seat has made so far, read off the state. The match
//       page offers "Abort" instead of "Resign" while the viewer's is 0
//       (the server aborts, unrated, a resign before one's first move).
//   isDraw(state) -> boolean
//       Optional. A final state that is plainly drawn (a full board).
//   endText(reason, { winnerName, loserName, winner, state }) -> { text, short } | null
//       Optional. Words for an end reason only this game has, or that reads
//       differently here ("line": three or four in a row). null: the
//       page's generic words.
//   describeMove(move, seat, names) -> string
//       A stored move in words ("X in the top left").
//   replayFrames(moves) -> frame[]
//       moves as stored ({seq, seat, move}); frames[0] is the start, frames[i]
//       the position after move i. A frame is whatever the replay board shows.
//   createReplayBoard({ names }) -> { el, show(frame), destroy() }
//       A board that only shows frames (no input, no animation needed).
//   moveNoun: string     optional; what a move is called ("move", "choice").
import * as tictactoe from './tictactoe.js';
import * as rps from './rps.js';
import * as connectfour from './connectfour.js';
import { icons } from '../icons.js';

const known = { tictactoe, rps, connectfour };

export function gameModule(id) { return known[id] || null; }

// knownGames lists the games this client draws, in the shape of the
// server's game list, for when that list cannot be loaded.
export function knownGames() {
  return Object.values(known).map((m) => ({ id: m.id, name: m.title, players: 2 }));
}

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
