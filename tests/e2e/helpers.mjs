// Shared set-up of the end-to-end tests: a static server for www/ and
// Debian's Chromium (never a downloaded browser).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

export const ROOT = path.resolve(import.meta.dirname, '../../www');
export const SHOTS = process.env.APD_SCREENSHOTS || path.join(os.tmpdir(), 'apd-e2e');
const BASE_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-quic'];
/** With WebGPU (SwiftShader where there is no GPU). */
export const FLAGS = [...BASE_FLAGS, '--enable-unsafe-webgpu'];
/** Without WebGPU, as in a browser that lacks it. */
export const NO_WEBGPU_FLAGS = [...BASE_FLAGS, '--disable-gpu', '--disable-features=WebGPU'];

/** Starts the server and a browser; `close()` stops both. */
export async function start(flags = FLAGS) {
  for (const pkg of ['pkg', 'pkg-cpu']) assert.ok(fs.existsSync(path.join(ROOT, pkg, 'apd_playground_bg.wasm')), 'build the page first (scripts/build-web.sh)');
  fs.mkdirSync(SHOTS, { recursive: true });
  const server = await serve(ROOT);
  const base = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: flags });
  return { server, base, browser, close: async () => { await browser.close(); server.close(); } };
}

/** A fresh page (own storage) at `hash`, ready; collects console errors and foreign requests. */
export async function openPage(env, hash = '') {
  const page = await env.browser.newPage({ viewport: { width: 1400, height: 1100 } });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  // Nothing may leave the page's origin.
  const foreign = [], requests = [];
  page.on('request', (r) => {
    const u = r.url();
    requests.push(u);
    if (!u.startsWith(env.base) && !u.startsWith('blob:') && !u.startsWith('data:')) foreign.push(u);
  });
  await page.goto(env.base + hash);
  await page.getByTestId('status').filter({ hasText: /^ready$/ }).waitFor({ timeout: 60_000 });
  return { page, problems, foreign, requests };
}

export const status = (page) => page.getByTestId('status').textContent();
