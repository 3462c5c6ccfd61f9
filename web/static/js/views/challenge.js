// /c/{code}: a friend's invite. Signs in as a guest if needed, accepts the
// challenge, and the match.found that follows takes the player to the game.
import { conn } from '../conn.js';
import { session } from '../session.js';
import { h, svg, setTitle, spinner, emptyState, link, errorText } from '../ui.js';
import { icons } from '../icons.js';
import { authCard } from './auth.js';

export function mount(root, ctx) {
  const code = ctx.params[0];
  setTitle('You’re invited');
  const page = h('div', { class: 'page narrow challenge-page' });
  root.append(page);
  const offs = [];
  let sent = false;
  let failed = null;

  function render() {
    page.replaceChildren();
    if (failed) {
      const own = /own challenge/i.test(failed.message || '');
      if (own) {
        page.append(emptyState({
          icon: icons.link, title: 'That’s your own invite',
          text: 'Send this link to a friend — the game starts when they open it.',
          actions: [link('/', 'Back to the lobby', 'btn btn-primary')],
        }));
        return;
      }
      // The server answers a used, timed-out and made-up code alike, so the
      // page cannot tell them apart: it says all three.
      const expired = failed.code === 'not_found' || failed.code === 'bad_request';
      page.append(emptyState({
        icon: expired ? icons.hourglass : icons.ghost,
        title: expired ? 'This invite link has expired or is not valid' : failed.code === 'in_match' ? 'You’re already in a game' : 'Couldn’t join this game',
        text: expired ? 'Invite links work once and only for a few minutes, and must be copied whole. Ask your friend for a new one, or find an opponent in the lobby.'
          : failed.code === 'in_match' ? 'Finish your current game first — it’s waiting for you in the lobby.' : errorText(failed.code, failed.message),
        actions: [link('/', 'Go to the lobby', 'btn btn-primary')],
      }));
      return;
    }
    if (!session.signedIn) {
      page.append(
        h('div', { class: 'invite-banner' },
          h('span', { class: 'invite-icon' }, svg(icons.link)),
          h('div', {},
            h('p', { class: 'eyebrow', text: 'You’re invited' }),
            h('h1', { class: 'invite-title', text: 'A friend wants to play with you' }),
            h('p', { class: 'muted', text: 'Pick a name and the game starts right away.' }))),
        authCard({ title: 'Pick a name to join', subtitle: 'No sign-up needed.', cta: 'Join the game' }));
      return;
    }
    page.append(h('div', { class: 'joining', role: 'status' },
      spinner(),
      h('h1', { class: 'joining-title', text: conn.online ? 'Joining your friend’s game…' : 'Connecting…' }),
      h('p', { class: 'muted', text: 'This only takes a moment.' })));
  }

  function accept() {
    if (sent || !session.signedIn || !conn.online || !conn.player) return;
    sent = true;
    conn.send({ type: 'challenge.accept', code }, (err) => {
      failed = err;
      render();
    });
  }

  offs.push(conn.on('welcome', () => { render(); accept(); }));
  offs.push(conn.on('closed', () => { if (!failed) sent = false; }));
  const onSession = () => { sent = false; render(); };
  session.addEventListener('change', onSession);
  offs.push(() => session.removeEventListener('change', onSession));

  render();
  accept();
  return () => offs.forEach((f) => f());
}
