// Alerts for a player who looks away: a short chime and a browser
// notification when a match is found or it becomes their move while the
// tab is hidden. Off until the player turns them on with the bell in the
// header (one toggle for both); the choice is kept in localStorage.
const KEY = 'turnbase.alerts';

let on = (() => { try { return localStorage.getItem(KEY) === 'on'; } catch { return false; } })();
let audio = null;
export const alertEvents = new EventTarget();

export function alertsOn() { return on; }

// setAlerts turns alerts on or off. Call it from a click: the browser asks
// for the notification permission then, and the chime may play.
export async function setAlerts(value) {
  on = !!value;
  try { localStorage.setItem(KEY, on ? 'on' : 'off'); } catch { /* private mode */ }
  alertEvents.dispatchEvent(new Event('change'));
  if (!on) return;
  chime();
  if (typeof Notification !== 'undefined' && Notification.permission === 'default') {
    try { await Notification.requestPermission(); } catch { /* refused or unsupported */ }
    alertEvents.dispatchEvent(new Event('change'));
  }
}

export function notificationsBlocked() {
  return typeof Notification === 'undefined' || Notification.permission === 'denied';
}

// alert chimes and shows a notification if alerts are on and the tab is
// hidden; a click on the notification brings the tab (and url) forward.
// It reports whether it alerted.
export function alert(title, body, url) {
  if (!on || document.visibilityState !== 'hidden') return false;
  chime();
  if (typeof Notification !== 'undefined' && Notification.permission === 'granted') {
    try {
      const n = new Notification(title, { body, tag: 'turnbase', icon: '/favicon.svg' });
      n.onclick = () => {
        window.focus();
        if (url && location.pathname !== url) location.assign(url);
        n.close();
      };
    } catch { /* some browsers only notify from a service worker */ }
  }
  return true;
}

// chime plays two soft notes (no sound file to load).
function chime() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio = audio || new Ctx();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const t0 = audio.currentTime;
    [[660, 0], [880, 0.12]].forEach(([freq, at]) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0 + at);
      gain.gain.exponentialRampToValueAtTime(0.18, t0 + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0 + at);
      osc.stop(t0 + at + 0.32);
    });
  } catch { /* no audio: the notification still shows */ }
}
