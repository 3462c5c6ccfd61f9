// axe-core, from node_modules (nothing is downloaded at test time), run in
// a page: checkA11y fails on any WCAG 2 A or AA violation.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
let source = null;

// axeViolations runs axe on the page as it is now. It is evaluated through
// the DevTools protocol, so the page's Content-Security-Policy (no inline
// scripts) does not stop it and the page reports no violation of it.
export async function axeViolations(page) {
  if (!source) source = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(source);
  return page.evaluate(async () => {
    const res = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      resultTypes: ['violations'],
    });
    return res.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 6).map((n) => `${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 220)}`),
    }));
  });
}

// a11yProblems runs axe in light and in dark mode and returns what it
// found, each violation labelled with label and the colour scheme.
export async function a11yProblems(page, label) {
  const was = await page.evaluate(() => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  const out = [];
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    // The page's colours follow a moment later: wait until they have.
    await page.waitForFunction((dark) => {
      const nums = (getComputedStyle(document.body).color.match(/[\d.]+/g) || []).map(Number);
      return nums.length >= 3 && (nums[0] + nums[1] + nums[2] > 300) === dark; // light text on dark
    }, scheme === 'dark');
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    // Colour transitions (up to .2 s in app.css) must have ended, or axe
    // reads a colour half-way between the two schemes.
    await page.waitForTimeout(400);
    for (const v of await axeViolations(page)) out.push({ page: `${label} (${scheme})`, ...v });
  }
  await page.emulateMedia({ colorScheme: was });
  return out;
}

// checkA11y asserts that axe finds nothing, in light and in dark mode.
export async function checkA11y(page, label) {
  const v = await a11yProblems(page, label);
  assert.deepEqual(v, [], `axe on ${label}: ${JSON.stringify(v, null, 1)}`);
}
