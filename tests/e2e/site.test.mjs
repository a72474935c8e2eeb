// The deployed site: scripts/build-site.sh's output served from a parent
// folder (the page at /apd/), as any static host would: it opens, runs
// tms-5-2 to the end, reloads and runs with the network gone, and a newer
// build replaces the old one's cache only when the visitor asks, whole.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';
import { FLAGS } from './helpers.mjs';

const REPO = path.resolve(import.meta.dirname, '../..');
const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'apd-site-'));
const site = path.join(parent, 'apd');
/** @type {{ server: import('node:http').Server, base: string, browser: import('playwright-core').Browser }} */
let env;

/** Builds the site into `site`, named `version`. */
const build = (version) => execFileSync('bash', [path.join(REPO, 'scripts/build-site.sh'), site], {
  env: { ...process.env, SITE_VERSION: version }, stdio: ['ignore', 'pipe', 'inherit'],
});

before(async () => {
  build('test-1');
  const server = await serve(parent);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS });
  env = { server, browser, base: `http://127.0.0.1:${server.address().port}/apd/` };
});
after(async () => {
  await env?.browser.close();
  env?.server.close();
  fs.rmSync(parent, { recursive: true, force: true });
});

/** @param {import('playwright-core').Page} page */
const status = (page) => page.getByTestId('status').textContent();
/** @param {import('playwright-core').Page} page */
const ready = (page) => page.getByTestId('status').filter({ hasText: /^ready$/ }).waitFor({ timeout: 60_000 });
/** @param {import('playwright-core').Page} page */
const caches = (page) => page.evaluate(() => globalThis.caches.keys());

test('the built site runs from a sub-path, then offline, and takes a new build whole when asked', { timeout: 600_000 }, async () => {
  const context = await env.browser.newContext({ viewport: { width: 1400, height: 1100 } });
  const page = await context.newPage();
  const problems = [], foreign = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(env.base)) foreign.push(r.url()); });
  await page.goto(`${env.base}#model=tms-5-2&backend=cpu&seed=23`);
  await ready(page);
  await page.getByTestId('first-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.getByTestId('run').click();
  await page.getByTestId('status').filter({ hasText: /^(done|error.*)$/ }).waitFor({ timeout: 400_000 });
  assert.equal(await status(page), 'done');
  // Kept for offline use: the service worker controls the page, one build cached.
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60_000 });
  assert.deepEqual(await caches(page), ['apd-playground-test-1']);
  // The network gone: a reload opens the first view, and a short run runs. The
  // server stops too: the browser's offline switch does not cover the
  // service worker's own requests, which must not reach anything.
  await context.setOffline(true);
  const port = env.server.address().port;
  env.server.closeAllConnections();
  await new Promise((done) => env.server.close(done));
  await page.goto('about:blank');
  await page.goto(`${env.base}#model=tms-5-2&backend=cpu&seed=5&target.steps=200&apd.steps=100`);
  await ready(page);
  await page.getByTestId('first-view').waitFor({ state: 'visible', timeout: 10_000 });
  await page.getByTestId('run').click();
  await page.getByTestId('status').filter({ hasText: /^(done|error.*)$/ }).waitFor({ timeout: 120_000 });
  assert.equal(await status(page), 'done', 'a run offline');
  // A new build: it waits beside the old one until the visitor asks, then replaces it whole.
  await context.setOffline(false);
  env.server = await serve(parent, port);
  build('test-2');
  await page.goto('about:blank');
  await page.goto(env.base);
  await ready(page);
  await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.update()));
  await page.getByTestId('update-now').waitFor({ timeout: 60_000 });
  assert.equal(await page.locator('meta[name="apd-site-version"]').getAttribute('content'), 'test-1', 'the old build until asked');
  await Promise.all([page.waitForEvent('load', { timeout: 60_000 }), page.getByTestId('update-now').click()]);
  await ready(page);
  assert.equal(await page.locator('meta[name="apd-site-version"]').getAttribute('content'), 'test-2');
  assert.deepEqual(await caches(page), ['apd-playground-test-2'], 'the old build\'s cache is gone');
  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, []);
  await context.close();
});
