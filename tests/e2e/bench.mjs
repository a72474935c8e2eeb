// Browser benchmark (not a test): prints wasm size, first paint, ms per APD
// step on each backend, the wall time until tms-5-2 shows MMCS >= 0.98
// (and until it shows recovery, MMCS >= 0.98 and ML2R >= 0.85) on the CPU
// backend, and the residual MLPs' figures. With --spd, SPD's instead: ms per
// step and the time to recovery on tms-5-2 and tms-5-2-id (seed 23, the
// SPD preset's settings, plus any settings given after --spd as a link
// fragment, e.g. --spd '&spd.batch_size=1024'). With --whole MODEL METHOD,
// one whole run of that preset on the CPU backend (seed 23, or --seed S):
// its wall time and final figures, for the README's reproduction table.
// With --gpu, for a machine with a real GPU (scripts/gpu-check.sh): ms per
// step on each backend, the time to recovery on WebGPU for tms-5-2,
// tms-40-10 and resid-mlp-1, and what "auto" chose for each; extra
// Chromium flags (a hardware adapter's) come from APD_CHROMIUM_FLAGS.
// Run after scripts/build-web.sh:
//   node tests/e2e/bench.mjs [--quick] [--spd [SETTINGS]] [--whole MODEL apd|spd|vpd [--seed S]] [--gpu]
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const ROOT = path.resolve(import.meta.dirname, '../../www');
const quick = process.argv.includes('--quick');
const spdAt = process.argv.indexOf('--spd');
const spdExtra = spdAt >= 0 && process.argv[spdAt + 1] && !process.argv[spdAt + 1].startsWith('--') ? process.argv[spdAt + 1] : '';
for (const [pkg, what] of [['pkg-cpu', 'the CPU backend, loaded first'], ['pkg', 'WebGPU alone, loaded when a run may use it']]) {
  const wasm = fs.readFileSync(path.join(ROOT, pkg, 'apd_playground_bg.wasm'));
  console.log(`wasm (${what}): ${(wasm.length / 1048576).toFixed(2)} MiB raw, ${(zlib.gzipSync(wasm, { level: 9 }).length / 1048576).toFixed(2)} MiB gzipped`);
}

const server = await serve(ROOT);
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu',
    ...(process.env.APD_CHROMIUM_FLAGS || '').split(/\s+/).filter(Boolean)],
});

async function runOn(backend, hash, untilMmcs, model = 'tms-5-2', maxSeconds = Infinity) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${base}#model=${model}&backend=${backend}${hash}`);
  const paint = await page.evaluate(() => new Promise((resolve) => {
    const find = () => performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint');
    const e = find();
    if (e) resolve(e.startTime); else setTimeout(() => resolve(find()?.startTime ?? NaN), 1000);
  }));
  const ready0 = Date.now();
  await page.getByTestId('status').filter({ hasText: /^ready$/ }).waitFor({ timeout: 60_000 });
  const readyMs = Date.now() - ready0;
  const t0 = Date.now();
  await page.getByTestId('run').click();
  let reached = null, recovered = null;
  const samples = [], targetSamples = [];
  for (;;) {
    const st = await page.getByTestId('status').textContent();
    const ms = Number(await page.locator('#ms-per-step').textContent());
    if (st === 'decomposing' && ms > 0) samples.push(ms);
    if (st === 'training target' && ms > 0) targetSamples.push(ms);
    const mmcs = Number(await page.getByTestId('mmcs').textContent());
    if (untilMmcs && reached === null && mmcs >= untilMmcs) reached = (Date.now() - t0) / 1000;
    const ml2r = Number(await page.getByTestId('ml2r').textContent());
    if (recovered === null && mmcs >= 0.98 && ml2r >= 0.85) recovered = (Date.now() - t0) / 1000;
    if (st === 'done' || st.startsWith('error') || (Date.now() - t0) / 1000 > maxSeconds) break;
    await page.waitForTimeout(100);
  }
  const choice = await page.getByTestId('backend-choice').textContent().catch(() => '');
  const wall = (Date.now() - t0) / 1000;
  const active = await page.locator('#backend-active').textContent();
  const mmcs = await page.getByTestId('mmcs').textContent();
  const dedicated = await page.getByTestId('dedicated').textContent();
  const ml2r = await page.getByTestId('ml2r').textContent();
  await page.close();
  const median = (v) => v.sort((a, b) => a - b)[v.length >> 1];
  return { paint, readyMs, wall, reached, recovered, active, mmcs, ml2r, dedicated, choice, msPerStep: median(samples), msPerTargetStep: median(targetSamples) };
}

// The finished first view: how long after navigation it is on screen (the
// shipped result is plain JSON, drawn before the wasm has loaded).
{
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const t0 = Date.now();
  await page.goto(base);
  await page.getByTestId('first-view').waitFor({ state: 'visible', timeout: 30_000 });
  const firstView = Date.now() - t0;
  await page.getByTestId('status').filter({ hasText: /^ready$/ }).waitFor({ timeout: 60_000 });
  console.log(`first view on screen ${firstView} ms after navigation; engine ready after ${Date.now() - t0} ms`);
  await page.close();
}

const secs = (t) => (t === null ? 'never' : `${t.toFixed(1)} s`);
const wholeAt = process.argv.indexOf('--whole');
if (wholeAt >= 0) {
  const [model, method] = process.argv.slice(wholeAt + 1, wholeAt + 3);
  const seedAt = process.argv.indexOf('--seed');
  const seed = seedAt >= 0 ? process.argv[seedAt + 1] : '23';
  const r = await runOn('cpu', `&method=${method}&seed=${seed}`, 0.98, model);
  const ms = (v) => v?.toFixed(v < 10 ? 2 : 0);
  console.log(`cpu: ${method.toUpperCase()} on ${model} (seed ${seed}): whole run ${r.wall.toFixed(1)} s `
    + `(${ms(r.msPerTargetStep)} ms per target step, ${ms(r.msPerStep)} ms per ${method.toUpperCase()} step); `
    + `final MMCS ${r.mmcs}, ML2R ${r.ml2r}, own ${r.dedicated}; MMCS >= 0.98 shown after ${secs(r.reached)}, `
    + `recovered (and ML2R >= 0.85) after ${secs(r.recovered)}`);
  await browser.close();
  server.close();
  process.exit(0);
}
if (process.argv.includes('--gpu')) {
  // Short runs time the steps on each backend; a whole run on WebGPU times recovery
  // (resid-mlp-1: its own count, not MMCS); "auto" says what it chose.
  const probe = await browser.newPage();
  await probe.goto(base);
  const adapter = await probe.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    return a ? JSON.stringify({ vendor: a.info?.vendor, architecture: a.info?.architecture, description: a.info?.description, fallback: a.info?.isFallbackAdapter }) : 'none';
  });
  await probe.close();
  console.log(`WebGPU adapter: ${adapter}`);
  const short = { 'tms-5-2': '&target.steps=200&apd.steps=300', 'tms-40-10': '&target.steps=200&apd.steps=100', 'resid-mlp-1': '&target.steps=50&apd.steps=30' };
  for (const model of ['tms-5-2', 'tms-40-10', 'resid-mlp-1']) {
    for (const backend of ['cpu', 'webgpu']) {
      const r = await runOn(backend, `&seed=23${short[model]}`, null, model, 300);
      console.log(`${model} ${backend} (ran on ${r.active}): ${r.msPerTargetStep?.toFixed(2)} ms per target step, ${r.msPerStep?.toFixed(2)} ms per APD step`);
    }
    const whole = await runOn('webgpu', '&seed=23', 0.98, model, 1800);
    console.log(`${model} whole run on ${whole.active}: ${whole.wall.toFixed(1)} s; MMCS >= 0.98 after ${secs(whole.reached)}, `
      + `recovered (ML2R >= 0.85 too) after ${secs(whole.recovered)}; final MMCS ${whole.mmcs}, ML2R ${whole.ml2r}, own ${whole.dedicated}`);
    const auto = await runOn('auto', `&seed=23${short[model]}`, null, model, 300);
    console.log(`${model} auto: ran on ${auto.active}; ${auto.choice}`);
  }
  await browser.close();
  server.close();
  process.exit(0);
}
if (spdAt >= 0) {
  for (const model of ['tms-5-2', 'tms-5-2-id']) {
    const r = await runOn('cpu', `&method=spd&seed=23${spdExtra}`, 0.98, model);
    console.log(`cpu: SPD on ${model} (seed 23${spdExtra}): ${r.msPerStep?.toFixed(2)} ms per SPD step (median of the page's readings); `
      + `MMCS >= 0.98 shown after ${secs(r.reached)}, recovered (and ML2R >= 0.85) after ${secs(r.recovered)}, target training included; `
      + `whole run ${r.wall.toFixed(1)} s, final MMCS ${r.mmcs}, ML2R ${r.ml2r}`);
  }
  await browser.close();
  server.close();
  process.exit(0);
}
const cpu = await runOn('cpu', quick ? '&target.steps=500&apd.steps=500' : '', 0.98);
console.log(`first contentful paint: ${cpu.paint.toFixed(0)} ms; wasm loaded and ready after ${cpu.readyMs} ms more`);
console.log(`cpu: ${cpu.msPerStep?.toFixed(2)} ms per APD step (median of the page's readings); whole run ${cpu.wall.toFixed(1)} s, final MMCS ${cpu.mmcs}`);
console.log(`cpu: tms-5-2 reached MMCS >= 0.98 after ${secs(cpu.reached)}, recovered (and ML2R >= 0.85) after ${secs(cpu.recovered)} (target training included)`);
const gpu = await runOn('webgpu', '&target.steps=50&apd.steps=30&apd.batch_size=2048', null);
console.log(`webgpu (${gpu.active}): ${gpu.msPerStep?.toFixed(2)} ms per APD step (headless Chromium's adapter here is SwiftShader, a CPU emulation: not a GPU figure)`);
const custom = await runOn('cpu', quick ? '&target.steps=300&apd.steps=300' : '', null, 'resid-mlp-custom');
console.log(`cpu: resid-mlp-custom whole run ${custom.wall.toFixed(1)} s (${custom.msPerTargetStep?.toFixed(1)} ms per target step, ${custom.msPerStep?.toFixed(1)} ms per APD step), dedicated ${custom.dedicated}`);
const big = await runOn('cpu', '&target.steps=40&apd.steps=60', null, 'resid-mlp-1');
console.log(`cpu: resid-mlp-1 ${big.msPerTargetStep?.toFixed(0)} ms per target step, ${big.msPerStep?.toFixed(0)} ms per APD step`);
// resid-mlp-1 on WebGPU is not measured here: on SwiftShader one step takes minutes.
await browser.close();
server.close();
