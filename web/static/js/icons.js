// Inline SVG icons (static markup, 24x24, stroke = currentColor).
const s = (body, extra = '') =>
  `<svg viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"${extra}>${body}</svg>`;

export const icons = {
  eye: s('<path d="M2 12s3.6-7 10-7 10 7 10 7-3.6 7-10 7S2 12 2 12z"/><circle cx="12" cy="12" r="3"/>'),
  clock: s('<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>'),
  users: s('<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20c.8-3.6 3.4-5.5 6.5-5.5s5.7 1.9 6.5 5.5"/><path d="M16 4.6a3.5 3.5 0 0 1 0 6.8M18 14.8c1.9.7 3.1 2.5 3.5 5.2"/>'),
  trophy: s('<path d="M8 4h8v5a4 4 0 0 1-8 0V4z"/><path d="M8 6H5a3 3 0 0 0 3 4M16 6h3a3 3 0 0 1-3 4"/><path d="M12 13v4M8.5 20h7M10 17h4"/>'),
  cpu: s('<rect x="6" y="6" width="12" height="12" rx="2"/><rect x="9.5" y="9.5" width="5" height="5" rx="1"/><path d="M9 2v4M15 2v4M9 18v4M15 18v4M2 9h4M2 15h4M18 9h4M18 15h4"/>'),
  bolt: s('<path d="M13 2 4 14h7l-1 8 9-12h-7l1-8z"/>'),
  link: s('<path d="M10 14a4.5 4.5 0 0 0 6.4 0l3-3a4.5 4.5 0 0 0-6.4-6.4l-1 1"/><path d="M14 10a4.5 4.5 0 0 0-6.4 0l-3 3a4.5 4.5 0 0 0 6.4 6.4l1-1"/>'),
  copy: s('<rect x="9" y="9" width="11" height="11" rx="2"/><path d="M5 15V6a2 2 0 0 1 2-2h8"/>'),
  close: s('<path d="M6 6l12 12M18 6 6 18"/>'),
  bell: s('<path d="M6 10a6 6 0 0 1 12 0c0 5 2 6.5 2 6.5H4S6 15 6 10z"/><path d="M10 20a2 2 0 0 0 4 0"/>'),
  bellOff: s('<path d="M6 10a6 6 0 0 1 9.5-4.9M18 10c0 5 2 6.5 2 6.5H8"/><path d="M10 20a2 2 0 0 0 4 0"/><path d="M3 3l18 18"/>'),
  check: s('<path d="m5 12.5 4.5 4.5L19 7.5"/>'),
  flag: s('<path d="M5 21V4"/><path d="M5 4h11l-2 4 2 4H5"/>'),
  refresh: s('<path d="M20 11a8 8 0 0 0-14.7-4.3L4 8"/><path d="M4 4v4h4"/><path d="M4 13a8 8 0 0 0 14.7 4.3L20 16"/><path d="M20 20v-4h-4"/>'),
  back: s('<path d="M15 5l-7 7 7 7"/>'),
  next: s('<path d="M9 5l7 7-7 7"/>'),
  first: s('<path d="M17 5l-7 7 7 7"/><path d="M7 5v14"/>'),
  last: s('<path d="M7 5l7 7-7 7"/><path d="M17 5v14"/>'),
  play: s('<path d="M7 4.5v15l12-7.5z"/>'),
  pause: s('<path d="M8 5v14M16 5v14"/>'),
  wifiOff: s('<path d="M3 3l18 18"/><path d="M8.5 16.5a5 5 0 0 1 7 0"/><path d="M5 13a10 10 0 0 1 5-2.7M19 13a10 10 0 0 0-2.4-1.7"/><path d="M2 9.5a15 15 0 0 1 4.5-2.8M22 9.5A15 15 0 0 0 11 5.3"/><circle cx="12" cy="20" r=".8"/>'),
  search: s('<circle cx="11" cy="11" r="7"/><path d="m20 20-4-4"/>'),
  hourglass: s('<path d="M6 3h12M6 21h12"/><path d="M7 3c0 5 10 5 10 9s-10 4-10 9"/><path d="M17 3c0 5-10 5-10 9s10 4 10 9"/>'),
  user: s('<circle cx="12" cy="8" r="4"/><path d="M4 21c1-4.4 4.2-6.5 8-6.5s7 2.1 8 6.5"/>'),
  logout: s('<path d="M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3"/><path d="M10 8l-4 4 4 4M6 12h10"/>'),
  film: s('<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M7 4v16M17 4v16M3 9h4M3 15h4M17 9h4M17 15h4"/>'),
  chart: s('<path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/>'),
  ghost: s('<path d="M5 20V11a7 7 0 0 1 14 0v9l-2.3-1.6L14.3 20 12 18.4 9.7 20l-2.4-1.6z"/><circle cx="9.5" cy="11" r="1"/><circle cx="14.5" cy="11" r="1"/>'),
  mail: s('<rect x="3" y="5" width="18" height="14" rx="2"/><path d="m3.5 6.5 8.5 6.5 8.5-6.5"/>'),
  lock: s('<rect x="4.5" y="10.5" width="15" height="10" rx="2"/><path d="M8 10.5V7.5a4 4 0 0 1 8 0v3"/>'),

  // Game tiles.
  tictactoe: `<svg viewBox="0 0 48 48" width="48" height="48" fill="none" stroke-linecap="round" stroke-width="3.2">
    <path d="M17 6v36M31 6v36M6 17h36M6 31h36" stroke="currentColor" opacity=".28"/>
    <path d="M8.5 8.5l5 5M13.5 8.5l-5 5" class="mark-x-stroke"/>
    <circle cx="24" cy="24" r="3.3" class="mark-o-stroke"/>
    <path d="M34.5 34.5l5 5M39.5 34.5l-5 5" class="mark-x-stroke"/>
    <circle cx="38" cy="10.5" r="3.3" class="mark-o-stroke"/></svg>`,
  rps: `<svg viewBox="0 0 64 64" width="48" height="48" fill="none" stroke-width="3.4" stroke-linecap="round" stroke-linejoin="round">
    <circle cx="17" cy="47" r="7.5" class="mark-o-stroke rps-rock-fill"/><circle cx="40" cy="50" r="7.5" class="mark-o-stroke rps-rock-fill"/>
    <path d="M22.5 41.8 50 8M35.2 44.2 16 9" class="mark-o-stroke"/></svg>`,
};

// Big rock / paper / scissors pictures for the choice buttons.
export const hands = {
  rock: `<svg viewBox="0 0 64 64" width="64" height="64" fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round" stroke-linejoin="round">
    <path d="M9 42 15 25 29 15 45 17 56 31 53 47 36 54 18 52Z" class="hand-fill"/>
    <path d="M15 25 28 33 45 17M28 33 36 54M28 33 56 31" opacity=".45" stroke-width="2.4"/></svg>`,
  paper: `<svg viewBox="0 0 64 64" width="64" height="64" fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round" stroke-linejoin="round">
    <path d="M15 8h24l11 11v37H15z" class="hand-fill"/><path d="M39 8v11h11"/>
    <path d="M22 30h21M22 38h21M22 46h14" opacity=".55"/></svg>`,
  scissors: `<svg viewBox="0 0 64 64" width="64" height="64" fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round" stroke-linejoin="round">
    <circle cx="17" cy="47" r="7.5" class="hand-fill"/><circle cx="40" cy="50" r="7.5" class="hand-fill"/>
    <path d="M22.5 41.8 50 8M35.2 44.2 16 9"/><circle cx="29.6" cy="33" r="1.6" fill="currentColor"/></svg>`,
};
