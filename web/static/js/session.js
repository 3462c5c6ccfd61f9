// The signed-in player, kept in localStorage so a reload (or another tab)
// keeps it. Emits 'change' on the exported session object.

const KEY = 'turnbase.session';
// Kept after signing out, so the sign-in form can greet the player back:
// the last name used on this browser, and whether it was a saved account
// ('account') or a guest ('guest').
const LAST_NAME = 'turnbase.lastName';
const LAST_KIND = 'turnbase.lastKind';

// lastPlayer is {name, kind} of the last player signed in on this browser.
export function lastPlayer() {
  try {
    return { name: localStorage.getItem(LAST_NAME) || '', kind: localStorage.getItem(LAST_KIND) || '' };
  } catch { return { name: '', kind: '' }; }
}

function remember(player) {
  if (!player || typeof player.name !== 'string') return;
  try {
    localStorage.setItem(LAST_NAME, player.name);
    localStorage.setItem(LAST_KIND, player.guest === false ? 'account' : 'guest');
  } catch { /* private mode */ }
}

class Session extends EventTarget {
  constructor() {
    super();
    this.token = null;
    this.player = null; // {id, name, guest}
    this.expiresMs = 0;
    this.load();
    // Another tab signing in or out changes this one too.
    window.addEventListener('storage', (e) => {
      if (e.key === KEY) { this.load(); this.emit(); }
    });
  }

  load() {
    this.token = null; this.player = null; this.expiresMs = 0;
    try {
      const raw = localStorage.getItem(KEY);
      if (!raw) return;
      const s = JSON.parse(raw);
      if (!s || typeof s.token !== 'string' || !s.player) return;
      if (s.expires_ms && s.expires_ms <= Date.now()) { localStorage.removeItem(KEY); return; }
      this.token = s.token; this.player = s.player; this.expiresMs = s.expires_ms || 0;
    } catch { /* a broken entry is treated as signed out */ }
  }

  get signedIn() { return !!this.token; }

  // set takes an auth answer: {token, expires_ms, player}.
  set(auth) {
    this.token = auth.token;
    this.player = auth.player;
    this.expiresMs = auth.expires_ms || 0;
    remember(this.player);
    try { localStorage.setItem(KEY, JSON.stringify({ token: this.token, expires_ms: this.expiresMs, player: this.player })); } catch { /* private mode */ }
    this.emit();
  }

  // updatePlayer refreshes the name shown (the server's welcome is the truth).
  updatePlayer(p) {
    if (!p || !this.player || p.id !== this.player.id) return;
    if (p.name === this.player.name) return;
    this.player = { ...this.player, ...p };
    remember(this.player);
    try { localStorage.setItem(KEY, JSON.stringify({ token: this.token, expires_ms: this.expiresMs, player: this.player })); } catch { /* ignore */ }
    this.emit();
  }

  clear() {
    if (!this.token && !this.player) return;
    this.token = null; this.player = null; this.expiresMs = 0;
    try { localStorage.removeItem(KEY); } catch { /* ignore */ }
    this.emit();
  }

  emit() { this.dispatchEvent(new Event('change')); }
}

export const session = new Session();
