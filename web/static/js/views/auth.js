// The sign-in card: play as a guest in one step, or log in / register.
import { api } from '../api.js';
import { session } from '../session.js';
import { h, svg, toast } from '../ui.js';
import { icons } from '../icons.js';

const NAME_RE = /^[A-Za-z0-9_-]{3,20}$/;
const LAST_NAME = 'turnbase.lastName';

function nameProblem(name) {
  if (!name) return 'Pick a name first.';
  if (name.length < 3) return 'Names need at least 3 characters.';
  if (name.length > 20) return 'Names can be at most 20 characters.';
  if (!NAME_RE.test(name)) return 'Use only letters, digits, _ and -.';
  return '';
}

function authErrorText(mode, err) {
  if (err.code === 'network') return "Can’t reach the server. Check your connection and try again.";
  if (err.status === 404 || err.status === 405 || err.status === 501) {
    return mode === 'guest' ? 'The server is not accepting players right now.' : 'Accounts are coming soon — play as a guest for now.';
  }
  if (err.code === 'name_taken' || err.status === 409) return 'That name is taken. Try another one.';
  if (err.code === 'bad_credentials' || (mode === 'login' && err.status === 401)) return "That name and password don’t match.";
  if (err.status === 429) return `Too many tries. Wait ${err.retryAfter || 'a few'} seconds and try again.`;
  if (err.status === 503) return 'The server is starting up. Try again in a moment.';
  if (err.status === 400) return err.message || 'Check the name and password.';
  return err.message || 'Something went wrong. Try again.';
}

// authCard renders the card. onDone runs after a successful sign-in (the
// session is already set then).
export function authCard({ title = 'Pick a name and play', subtitle = 'No sign-up needed. Your name is shown to your opponents.', cta = 'Play as guest', onDone } = {}) {
  let mode = 'guest';
  let busy = false;
  const lastName = (() => { try { return localStorage.getItem(LAST_NAME) || ''; } catch { return ''; } })();

  const nameInput = h('input', {
    id: 'auth-name', name: 'name', type: 'text', class: 'input', autocomplete: 'nickname', autocapitalize: 'off',
    spellcheck: 'false', maxlength: '20', required: true, placeholder: 'e.g. river_fox', value: lastName,
    'aria-describedby': 'auth-hint',
  });
  const passInput = h('input', {
    id: 'auth-pass', name: 'password', type: 'password', class: 'input', autocomplete: 'current-password',
    minlength: '8', maxlength: '128', placeholder: 'At least 8 characters',
  });
  const passField = h('div', { class: 'field', hidden: true },
    h('label', { class: 'label', for: 'auth-pass', text: 'Password' }), passInput);
  const hint = h('p', { id: 'auth-hint', class: 'hint', text: '3–20 letters, digits, _ or -' });
  const error = h('p', { class: 'form-error', role: 'alert' });
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
    hint.textContent = m === 'register' ? '3–20 letters, digits, _ or -. Registered names are yours alone.' : '3–20 letters, digits, _ or -';
    error.textContent = '';
  }

  const form = h('form', { class: 'auth-form', novalidate: true },
    tabBar,
    h('div', { class: 'field' }, h('label', { class: 'label', for: 'auth-name', text: 'Your name' }), nameInput, hint),
    passField, error, submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    const name = nameInput.value.trim();
    const problem = nameProblem(name);
    if (problem) { error.textContent = problem; nameInput.focus(); return; }
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
      try { localStorage.setItem(LAST_NAME, name); } catch { /* ignore */ }
      session.set(res);
      if (onDone) onDone(res);
    } catch (err) {
      error.textContent = authErrorText(mode, err);
      (err.code === 'name_taken' ? nameInput : submit).focus();
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
    if (nameInput.isConnected && !touch && !busyElsewhere) nameInput.focus({ preventScroll: true });
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
