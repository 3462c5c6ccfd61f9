// The sign-in card: play as a guest in one step, or log in / register.
import { api } from '../api.js';
import { session, lastPlayer } from '../session.js';
import { h, svg, toast } from '../ui.js';
import { icons } from '../icons.js';

const NAME_MAX = 20;
const NAME_RE = /^[A-Za-z0-9_-]{3,20}$/;
const NAME_RULE = '3–20 letters, digits, _ or -';

// nameProblem says what is wrong with a name before it is sent. final is
// false while the player is still typing: a short name is not wrong yet.
function nameProblem(name, final = true) {
  if (!name) return final ? 'Pick a name first.' : '';
  if (name.length > NAME_MAX) return `Names can be at most ${NAME_MAX} characters — this one has ${name.length}.`;
  const bad = [...new Set(name.replace(/[A-Za-z0-9_-]/g, ''))];
  if (bad.length) {
    const shown = bad.slice(0, 3).map((c) => (c === ' ' ? 'spaces' : `“${c}”`)).join(', ');
    return `Use only letters, digits, _ and - (not ${shown}).`;
  }
  if (final && name.length < 3) return 'Names need at least 3 characters.';
  if (final && !NAME_RE.test(name)) return `Use ${NAME_RULE}.`;
  return '';
}

function authErrorText(mode, err) {
  if (err.code === 'network') return "Can’t reach the server. Check your connection and try again.";
  if (err.status === 404 || err.status === 405 || err.status === 501) {
    return mode === 'guest' ? 'The server is not accepting players right now.' : 'Accounts are coming soon — play as a guest for now.';
  }
  if (err.code === 'name_taken' || err.status === 409) {
    // A guest can share a name with other guests, but never take a saved
    // account's name (docs/protocol.md): say so, the account may be theirs.
    return mode === 'guest' ? 'This name belongs to a saved account. If it’s yours, log in; otherwise pick another name.'
      : 'That name is taken. Try another one.';
  }
  if (err.code === 'bad_credentials' || (mode === 'login' && err.status === 401)) return "That name and password don’t match.";
  if (err.status === 429) return `Too many tries. Wait ${err.retryAfter || 'a few'} seconds and try again.`;
  if (err.status === 503) return 'The server is starting up. Try again in a moment.';
  if (err.status === 400) return err.message || 'Check the name and password.';
  return err.message || 'Something went wrong. Try again.';
}

// authCard renders the card. onDone runs after a successful sign-in (the
// session is already set then).
export function authCard({ title = 'Pick a name and play', subtitle = 'No sign-up needed. Your name is shown to your opponents.', cta = 'Play as guest', onDone } = {}) {
  let busy = false;
  // A player whose last account here was a saved one comes back to Log in.
  const last = lastPlayer();
  const lastName = last.name;
  let mode = last.kind === 'account' && lastName ? 'login' : 'guest';

  const nameInput = h('input', {
    id: 'auth-name', name: 'name', type: 'text', class: 'input', autocomplete: 'nickname', autocapitalize: 'off',
    spellcheck: 'false', maxlength: '64', required: true, placeholder: 'e.g. river_fox', value: lastName,
    'aria-describedby': 'auth-hint auth-count',
  });
  const passInput = h('input', {
    id: 'auth-pass', name: 'password', type: 'password', class: 'input', autocomplete: 'current-password',
    minlength: '8', maxlength: '128', placeholder: 'At least 8 characters',
  });
  const passField = h('div', { class: 'field', hidden: true },
    h('label', { class: 'label', for: 'auth-pass', text: 'Password' }), passInput);
  // The rule and a live count: a name too long is shown whole and refused,
  // never cut short (no one plays under a name they did not see).
  const hintText = h('span', { id: 'auth-hint', text: NAME_RULE });
  const count = h('span', { id: 'auth-count', class: 'name-count' });
  const hint = h('p', { class: 'hint' }, hintText, count);
  // The count sits at the right end of the hint line (set through the
  // CSSOM, which the page's CSP allows, unlike a style attribute).
  Object.assign(hint.style, { display: 'flex', justifyContent: 'space-between', gap: '12px' });
  Object.assign(count.style, { fontVariantNumeric: 'tabular-nums', whiteSpace: 'nowrap' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  // Shown when a guest name belongs to a saved account: switch to Log in.
  const toLogin = h('button', {
    type: 'button', class: 'btn btn-secondary btn-sm', 'data-action': 'to-login',
    onclick: () => { setMode('login'); passInput.focus(); },
  });
  const toLoginRow = h('p', { class: 'auth-switch', hidden: true }, toLogin);
  function showToLogin(name) {
    toLogin.textContent = `Log in as ${name}`;
    toLoginRow.hidden = false;
  }
  function updateName() {
    const name = nameInput.value.trim();
    count.textContent = name ? `${name.length}/${NAME_MAX}` : '';
    const problem = nameProblem(name, false);
    nameInput.setAttribute('aria-invalid', String(!!problem));
    // Live only for what typing more cannot fix; a short name waits for submit.
    if (problem) error.textContent = problem;
    else if (error.dataset.kind === 'name' || error.dataset.kind === 'taken') error.textContent = '';
    error.dataset.kind = problem ? 'name' : '';
  }
  nameInput.addEventListener('input', () => { toLoginRow.hidden = true; updateName(); });
  const submit = h('button', { class: 'btn btn-primary btn-lg btn-block', type: 'submit' }, h('span', { text: cta }));

  const tabs = {};
  const tabDefs = [['guest', 'Guest'], ['login', 'Log in'], ['register', 'Register']];
  const tabBar = h('div', { class: 'segmented', role: 'group', 'aria-label': 'How to sign in' },
    tabDefs.map(([m, label]) => {
      const b = h('button', { type: 'button', class: 'segmented-btn', 'aria-pressed': String(m === mode), text: label, onclick: () => setMode(m) });
      tabs[m] = b;
      return b;
    }));

  const titleEl = h('h2', { id: 'auth-title', class: 'card-title', text: title });
  const subEl = h('p', { class: 'card-sub', text: subtitle });

  function setMode(m) {
    mode = m;
    titleEl.textContent = m === 'guest' ? title : m === 'login' ? 'Welcome back' : 'Create an account';
    subEl.textContent = m === 'guest' ? subtitle : m === 'login' ? 'Log in to play with your name and rating.' : 'Your name is reserved for you, on any device.';
    for (const [k, b] of Object.entries(tabs)) b.setAttribute('aria-pressed', String(k === m));
    passField.hidden = m === 'guest';
    passInput.required = m !== 'guest';
    passInput.autocomplete = m === 'register' ? 'new-password' : 'current-password';
    submit.firstChild.textContent = m === 'guest' ? cta : m === 'login' ? 'Log in' : 'Create account';
    hintText.textContent = m === 'register' ? `${NAME_RULE}. Registered names are yours alone.` : NAME_RULE;
    error.textContent = '';
    error.dataset.kind = '';
    toLoginRow.hidden = true;
    updateName();
  }
  setMode(mode);

  const form = h('form', { class: 'auth-form', novalidate: true },
    tabBar,
    h('div', { class: 'field' }, h('label', { class: 'label', for: 'auth-name', text: 'Your name' }), nameInput, hint),
    passField, error, toLoginRow, submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    const name = nameInput.value.trim();
    const problem = nameProblem(name);
    if (problem) { error.textContent = problem; error.dataset.kind = 'name'; nameInput.setAttribute('aria-invalid', 'true'); nameInput.focus(); return; }
    const body = { name };
    if (mode !== 'guest') {
      const pw = passInput.value;
      if (pw.length < 8) { error.textContent = 'Passwords need at least 8 characters.'; passInput.focus(); return; }
      body.password = pw;
    }
    busy = true;
    submit.disabled = true;
    submit.classList.add('loading');
    error.textContent = '';
    try {
      const path = mode === 'guest' ? '/api/auth/guest' : mode === 'login' ? '/api/auth/login' : '/api/auth/register';
      const res = await api(path, { method: 'POST', body });
      session.set(res); // remembers the name and the kind of account
      if (onDone) onDone(res);
    } catch (err) {
      error.textContent = authErrorText(mode, err);
      error.dataset.kind = err.code === 'name_taken' ? 'taken' : '';
      if (mode === 'guest' && (err.code === 'name_taken' || err.status === 409)) {
        showToLogin(name);
        toLogin.focus();
      } else {
        (err.code === 'name_taken' ? nameInput : submit).focus();
      }
    } finally {
      busy = false;
      submit.disabled = false;
      submit.classList.remove('loading');
    }
  });

  // The name field takes the focus once the card is on the page (after the
  // router moves focus to the page), except on touch screens, where that
  // would open the keyboard over the page.
  setTimeout(() => {
    const touch = typeof matchMedia === 'function' && matchMedia('(pointer: coarse)').matches;
    const busyElsewhere = document.activeElement && /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    // Back to log in with the name filled: the password is what is missing.
    const field = mode === 'login' && nameInput.value ? passInput : nameInput;
    if (nameInput.isConnected && !touch && !busyElsewhere) field.focus({ preventScroll: true });
  }, 0);
  return h('section', { class: 'card auth-card', 'aria-labelledby': 'auth-title' },
    h('div', { class: 'card-icon' }, svg(icons.user)),
    titleEl, subEl, form);
}

// upgradeCard lets a guest keep their name and rating with a password.
export function upgradeCard() {
  const pass = h('input', { id: 'upgrade-pass', type: 'password', class: 'input', autocomplete: 'new-password', minlength: '8', maxlength: '128', placeholder: 'At least 8 characters' });
  const msg = h('p', { class: 'form-error', role: 'status' });
  const btn = h('button', { class: 'btn btn-secondary', type: 'submit', text: 'Save account' });
  const form = h('form', { class: 'upgrade-form', novalidate: true },
    h('label', { class: 'label', for: 'upgrade-pass', text: 'Password' }),
    h('div', { class: 'input-row' }, pass, btn), msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (pass.value.length < 8) { msg.textContent = 'Passwords need at least 8 characters.'; return; }
    btn.disabled = true;
    try {
      const res = await api('/api/auth/upgrade', { method: 'POST', body: { password: pass.value }, auth: true });
      session.set(res);
      toast(`Account saved. Log in as ${res.player ? res.player.name : 'yourself'} with your password on any device.`, 'success', 6000);
    } catch (err) {
      msg.textContent = err.status === 404 || err.status === 405 ? 'Saving accounts is coming soon.' : authErrorText('register', err);
    } finally {
      btn.disabled = false;
    }
  });
  return h('section', { class: 'card card-quiet upgrade-card' },
    h('h2', { class: 'card-title-sm' }, svg(icons.lock, 'inline-icon'), 'Keep your name'),
    h('p', { class: 'card-sub', text: "You’re playing as a guest. Set a password to keep your name and rating." }),
    form);
}
