// The cards of a finished result: none is left empty (a card with nothing
// to show collapses to its title and why); "Download" gives a card's figure
// as a PNG drawn at twice the pixel ratio; the settings show the few that
// matter, the rest behind one "More settings" per group.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SHOTS, start, openPage } from './helpers.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env?.close(); });

test('a shipped result leaves no card empty, and a card downloads as a PNG at twice the pixel ratio', { timeout: 60_000 }, async () => {
  const { page, problems } = await openPage(env);
  await page.getByTestId('mmcs').filter({ hasText: /\d/ }).waitFor({ timeout: 20_000 });
  for (const id of ['card-target', 'card-hist']) {
    const card = page.locator(`#${id}`);
    assert.match(await card.getAttribute('class'), /card-empty/, id);
    assert.match(await card.locator('.empty-reason').textContent(), /A finished result keeps no/);
    assert.equal(await card.locator('canvas').isVisible(), false, `${id} shows no empty chart`);
  }
  // Every visible card's charts have something drawn (no "no data yet" left on a finished result).
  const empty = await page.evaluate(() => [...document.querySelectorAll('section.card canvas')]
    .filter((c) => /** @type {HTMLElement} */ (c).offsetParent !== null && c.getAttribute('aria-label') === 'no data yet')
    .map((c) => c.closest('section')?.id));
  assert.deepEqual(empty, []);
  await page.screenshot({ path: path.join(SHOTS, 'cards-desktop.png'), fullPage: true });

  const geometry = page.locator('#card-geometry');
  const cssWidth = await geometry.locator('canvas').first().evaluate((c) => c.getBoundingClientRect().width);
  const [download] = await Promise.all([page.waitForEvent('download'), geometry.getByTestId('download-button').click()]);
  assert.equal(download.suggestedFilename(), 'apd-geometry.png');
  const png = fs.readFileSync(await download.path());
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  const width = png.readUInt32BE(16);
  assert.ok(width >= 2 * cssWidth, `a PNG ${width} px wide for a chart ${cssWidth} px wide`);
  // Back at the screen's ratio afterwards (1 here).
  const backing = await geometry.locator('canvas').first().evaluate((c) => c.width / c.getBoundingClientRect().width);
  assert.ok(Math.abs(backing - 1) < 0.05, `backing store ratio ${backing}`);
  assert.deepEqual(problems, []);
  await page.close();
});

test('no shipped result leaves a card empty', { timeout: 240_000 }, async () => {
  const { page, problems } = await openPage(env);
  await page.getByTestId('mmcs').filter({ hasText: /\d/ }).waitFor({ timeout: 20_000 });
  const n = await page.getByTestId('gallery-item').count();
  assert.ok(n >= 20, `${n} shipped results`);
  for (let i = 0; i < n; i++) {
    const item = page.getByTestId('gallery-item').nth(i);
    const title = await item.textContent();
    await item.click();
    await page.waitForTimeout(1500);
    // A shown card either draws its charts or has collapsed to its title and why.
    const empty = await page.evaluate(() => [...document.querySelectorAll('section.card')]
      .filter((c) => /** @type {HTMLElement} */ (c).offsetParent !== null && !c.classList.contains('card-empty'))
      .filter((c) => [...c.querySelectorAll('canvas')].some((x) => /** @type {HTMLElement} */ (x).offsetParent !== null
        && (x.getAttribute('aria-label') === 'no data yet' || /** @type {HTMLElement} */ (x).dataset.points === '0')))
      .map((c) => c.id));
    assert.deepEqual(empty, [], `${title}: empty cards`);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('the settings show the few that matter; the rest open under "More settings"', { timeout: 60_000 }, async () => {
  const { page, problems } = await openPage(env, '#model=tms-5-2');
  const more = page.getByTestId('more-paper');
  await more.waitFor({ state: 'attached', timeout: 20_000 });
  assert.match(await more.locator('summary').textContent(), /^More settings \(\d+\)$/);
  assert.equal(await page.locator('[data-setting="apd.topk"]').isVisible(), true);
  assert.equal(await page.locator('[data-setting="apd.schatten_p"]').isVisible(), false);
  await more.locator('summary').click();
  assert.equal(await page.locator('[data-setting="apd.schatten_p"]').isVisible(), true);
  // A value set for the user behind "More settings" opens it: the tour's "Set α = 3" sets a shown one;
  // a hash with a rarely changed setting shows it in its field.
  const again = await openPage(env, '#model=tms-5-2&apd.schatten_p=0.8');
  await again.page.getByTestId('more-paper').waitFor({ state: 'attached', timeout: 20_000 });
  assert.equal(await again.page.locator('[data-setting="apd.schatten_p"]').inputValue(), '0.8');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(SHOTS, 'settings-phone.png'), fullPage: true });
  assert.deepEqual(problems, []);
  assert.deepEqual(again.problems, []);
  await again.page.close();
  await page.close();
});
