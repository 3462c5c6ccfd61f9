// Debian's Chromium driven by playwright-core, plus small helpers the
// tests share: pages that record their errors, screenshots at two sizes.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const shotsDir = path.resolve(here, '..', 'screenshots');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

// newPage opens a page in a fresh context (its own localStorage, so its own
// player). Problems the page reports are collected in page.problems.
export async function newPage(browser, base, { viewport = DESKTOP, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, baseURL: base, colorScheme, reducedMotion: 'reduce' });
  return watchProblems(await context.newPage());
}

// reopen opens a new tab in page's context: the same player, as after
// closing the tab and coming back.
export async function reopen(page) {
  const p = watchProblems(await page.context().newPage());
  await p.setViewportSize(page.viewportSize());
  return p;
}

function watchProblems(page) {
  page.setDefaultTimeout(15000);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    // Expected: HTTP errors the app handles (e.g. endpoints not there yet),
    // and failed WebSocket attempts while the server is down (it retries).
    if (/Failed to load resource|WebSocket connection to .* failed/.test(t)) return;
    page.problems.push(`console: ${t}`);
  });
  return page;
}

// snap saves the page at desktop and phone sizes as NAME-desktop.png and
// NAME-phone.png, and puts the viewport back as it was.
export async function snap(page, name, { fullPage = false } = {}) {
  await mkdir(shotsDir, { recursive: true });
  const was = page.viewportSize();
  for (const [label, vp] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(shotsDir, `${name}-${label}.png`), fullPage });
  }
  await page.setViewportSize(was);
}

export function uniqueName(prefix) {
  return `${prefix}_${Math.random().toString(36).slice(2, 7)}`;
}
