// End-to-end robustness: divergence, reloads, and WebGPU failing at start or mid-run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { SHOTS, NO_WEBGPU_FLAGS, start, openPage, status } from './helpers.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env?.close(); });

const waitStatus = (page, re, timeout = 120_000) => page.getByTestId('status').filter({ hasText: re }).waitFor({ timeout });

/**
 * Opens `hash` (a WebGPU run), runs it at `speed` steps per tick until it
 * decomposes, and returns the page; fails where the run is not on WebGPU
 * (Chromium's SwiftShader adapter, with FLAGS, is always there).
 */
async function decomposingOnWebgpu(hash, speed) {
  const opened = await openPage(env, hash);
  const { page } = opened;
  await setSpeed(page, speed);
  await page.getByTestId('run').click();
  await waitStatus(page, /decomposing/, 240_000);
  assert.equal(await page.locator('#backend-active').textContent(), 'webgpu', await page.locator('#banner').textContent());
  return opened;
}

async function setSpeed(page, speed) {
  await page.locator('#speed').fill(String(speed));
  await page.locator('#speed').dispatchEvent('input');
}

/** The step of the checkpoint the page keeps (IndexedDB), or -1. */
const keptCheckpointStep = (page) => page.evaluate(() => new Promise((resolve) => {
  const req = indexedDB.open('apd-playground', 1);
  req.onerror = () => resolve(-1);
  req.onsuccess = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains('kv')) { db.close(); resolve(-1); return; }
    const get = db.transaction('kv').objectStore('kv').get('checkpoint');
    get.onsuccess = () => { db.close(); resolve(get.result?.step ?? -1); };
    get.onerror = () => { db.close(); resolve(-1); };
  };
}));

test('a huge learning rate pauses the run with an explanation, keeping the last good state', { timeout: 300_000 }, async () => {
  const { page, problems } = await openPage(env, '#model=tms-5-2&backend=cpu&target.steps=30&apd.lr=10000&apd.lr_warmup_pct=0&apd.steps=2000');
  await page.getByTestId('run').click();
  await waitStatus(page, /^paused$/);
  const banner = await page.locator('#banner').textContent();
  assert.match(banner, /diverged/);
  assert.match(banner, /lower apd\.lr/);
  // The kept state can still be exported: it is the last finite one.
  assert.equal(await page.locator('#export-report').isDisabled(), false);
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export-report').click()]);
  const text = await (await download.createReadStream()).toArray().then((c) => Buffer.concat(c).toString());
  assert.doesNotMatch(text, /NaN|null/, 'the exported state is finite');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a finished result and an unfinished run survive a reload', { timeout: 300_000 }, async () => {
  const { page, problems } = await openPage(env, '#model=tms-5-2&backend=cpu&target.steps=100&apd.steps=100&apd.restart_pct=0.15');
  assert.equal(await page.getByTestId('saved').isVisible(), false, 'a fresh browser has nothing saved');
  await page.getByTestId('run').click();
  await waitStatus(page, /^done$/);
  const mmcs = await page.getByTestId('mmcs').textContent();
  await page.reload();
  await waitStatus(page, /^ready$/, 60_000);
  await page.getByTestId('saved').waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await page.locator('#saved-note').textContent(), /finished.*tms-5-2, seed 0, 130\/130/);
  await page.getByTestId('saved-show').click();
  await waitStatus(page, /^done$/, 10_000);
  assert.equal(await page.getByTestId('mmcs').textContent(), mmcs);

  // Reload in the middle of a decomposition: its checkpoint resumes. (No
  // restarts: a checkpoint from while they are compared starts over, the
  // GPU-loss test below covers that.)
  // A full load of the new link (a hash-only change would not reload the page).
  await page.goto('about:blank');
  await page.goto(`${env.base}#model=tms-5-2&backend=cpu&target.steps=100&apd.steps=4000&apd.restarts=0`);
  await waitStatus(page, /^ready$/, 60_000);
  assert.equal(await page.getByTestId('field-apd.steps').inputValue(), '4000');
  await page.locator('#speed').fill('5');
  await page.locator('#speed').dispatchEvent('input');
  await page.getByTestId('run').click();
  await waitStatus(page, /decomposing/);
  await page.waitForTimeout(1500); // past the first checkpoint, taken when decomposition starts
  await page.reload();
  await waitStatus(page, /^ready$/, 60_000);
  await page.getByTestId('saved-resume').waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await page.locator('#saved-note').textContent(), /unfinished run, checkpoint: tms-5-2/);
  await page.getByTestId('saved-resume').click();
  await waitStatus(page, /^done$/, 240_000);
  assert.equal(await page.getByTestId('step-count').textContent(), '4000');
  await page.screenshot({ path: path.join(SHOTS, 'resumed.png'), fullPage: true });

  // Clearing forgets both.
  await page.getByTestId('saved-clear').click();
  await page.getByTestId('saved').waitFor({ state: 'hidden', timeout: 5_000 });
  await page.reload();
  await waitStatus(page, /^ready$/, 60_000);
  assert.equal(await page.getByTestId('saved').isVisible(), false);
  assert.deepEqual(problems, []);
  await page.close();
});

test('an unfinished WebGPU run resumes on WebGPU after a reload', { timeout: 400_000 }, async () => {
  // The WebGPU engine has no CPU backend: this checks that it reads a
  // checkpoint and goes on by itself. (APD: on the software adapter an SPD
  // run's kernels take minutes to compile; the same parsing of an SPD
  // report is tested natively, with the CPU backend out of the way of its
  // shape checks: src/spd/tests.rs.)
  const opened = await decomposingOnWebgpu('#model=tms-5-2&backend=webgpu&target.steps=5&apd.steps=4&apd.restarts=0', 1);
  const { page, problems } = opened;
  // The first checkpoint is taken after the first decomposition tick (its
  // kernels compile on a software adapter for many seconds): wait for two.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="step-count"]').textContent) >= 2, null, { timeout: 240_000 });
  await page.waitForTimeout(500);
  await page.reload();
  await waitStatus(page, /^ready$/, 60_000);
  await page.getByTestId('saved-resume').waitFor({ state: 'visible', timeout: 10_000 });
  await page.getByTestId('saved-resume').click();
  await waitStatus(page, /decomposing|^done$/, 240_000);
  assert.equal(await page.locator('#backend-active').textContent(), 'webgpu');
  await waitStatus(page, /^done$/, 300_000);
  assert.equal(await page.getByTestId('step-count').textContent(), '4');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a lost GPU device mid-run is replaced by a fresh one, and the run goes on on WebGPU', { timeout: 400_000 }, async () => {
  // The GPU is lost during the first of the preset's three starts (compared
  // after step 18), so the checkpoint holds a start not yet compared and the
  // decomposition starts over on the fresh device (52 steps in all).
  const { page, problems } = await decomposingOnWebgpu('#model=tms-5-2&backend=webgpu&target.steps=20&apd.steps=40&apd.restart_pct=0.15', 2);
  await page.evaluate(() => window.apdTestHooks.simulateGpuLoss());
  await page.locator('#banner').filter({ hasText: /GPU device was lost.*fresh WebGPU device/ }).waitFor({ timeout: 120_000 });
  assert.equal(await page.locator('#backend-active').textContent(), 'webgpu');
  await waitStatus(page, /^done$/, 300_000);
  assert.equal(await page.locator('#backend-active').textContent(), 'webgpu');
  assert.equal(await page.getByTestId('step-count').textContent(), '52');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a lost GPU device with no fresh one to be had continues on the CPU, and says why', { timeout: 400_000 }, async () => {
  const { page, problems } = await decomposingOnWebgpu('#model=tms-5-2&backend=webgpu&target.steps=20&apd.steps=40&apd.restart_pct=0.15', 2);
  await page.evaluate(() => window.apdTestHooks.simulateGpuLoss({ fresh: false }));
  await page.locator('#banner').filter({ hasText: /WebGPU failed.*no fresh device.*started over on the CPU/ }).waitFor({ timeout: 120_000 });
  assert.equal(await page.locator('#backend-active').textContent(), 'cpu');
  await waitStatus(page, /^done$/, 240_000);
  assert.equal(await page.getByTestId('step-count').textContent(), '52');
  assert.deepEqual(problems, []);
  await page.close();
});

test('two WebGPU runs in one page both run on WebGPU', { timeout: 400_000 }, async () => {
  // burn registers the page's WebGPU device once: each run must reuse it.
  const hash = '#model=tms-5-2&backend=webgpu&target.steps=5&apd.steps=3&apd.restarts=0&apd.batch_size=256';
  const { page, problems } = await openPage(env, hash);
  for (const round of [1, 2]) {
    await page.getByTestId('run').click();
    await waitStatus(page, /^done$/, 300_000);
    assert.equal(await page.locator('#backend-active').textContent(), 'webgpu', `run ${round}: ${await page.locator('#banner').textContent()}`);
    assert.doesNotMatch(await page.locator('#banner').textContent(), /failed|instead|not available/, `run ${round} fell back`);
    await page.getByTestId('reset').click();
    await waitStatus(page, /^ready$/, 30_000);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('"auto" that measures WebGPU faster runs the run on WebGPU', { timeout: 400_000 }, async () => {
  // On the software adapter the CPU always wins: a test hook makes each of
  // the CPU probe's timed steps 20 s slower (WebGPU's deadline is ten CPU steps), as a GPU machine would see it.
  const { page, problems } = await openPage(env, '#model=tms-5-2&target.steps=5&apd.steps=3&apd.restarts=0&apd.batch_size=256');
  await page.evaluate(() => window.apdTestHooks.slowCpuProbe(20_000));
  await page.getByTestId('run').click();
  const choice = page.getByTestId('backend-choice');
  await choice.filter({ hasText: /auto chose/ }).waitFor({ timeout: 300_000 });
  assert.equal(await choice.getAttribute('data-backend'), 'webgpu', await choice.textContent());
  await waitStatus(page, /^done$/, 300_000);
  // The run itself, not only the probe, is on WebGPU.
  assert.equal(await page.locator('#backend-active').textContent(), 'webgpu', await page.locator('#banner').textContent());
  assert.deepEqual(problems, []);
  await page.close();
});

test('a run reloaded past step 4,000 resumes at its own step, not its thinned history\'s length', { timeout: 400_000 }, async () => {
  const { page, problems } = await openPage(env, '#model=tms-5-2&backend=cpu&target.steps=20&apd.steps=30000&apd.restarts=0');
  await setSpeed(page, 200);
  await page.getByTestId('run').click();
  await waitStatus(page, /decomposing/);
  // A checkpoint is kept every 10 s: wait for one past step 4,000.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="step-count"]').textContent) > 4000, null, { timeout: 120_000 });
  let kept = -1;
  for (let i = 0; i < 300 && kept <= 4000; i++) { await page.waitForTimeout(100); kept = await keptCheckpointStep(page); }
  assert.ok(kept > 4000, `checkpoint at ${kept}`);
  await page.getByTestId('pause').click();
  await waitStatus(page, /^paused$/);
  await page.reload();
  await waitStatus(page, /^ready$/, 60_000);
  await page.getByTestId('saved-resume').waitFor({ state: 'visible', timeout: 10_000 });
  kept = await keptCheckpointStep(page); // the checkpoint it resumes from, whichever was kept last
  // Every count the page shows from here on: the thinned history's length
  // (about 2,000) would show below the checkpoint's step.
  await page.evaluate(() => {
    const el = document.querySelector('[data-testid="step-count"]');
    /** @type {any} */ (window).counts = [];
    new MutationObserver(() => /** @type {any} */ (window).counts.push(Number(el.textContent)))
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
  await page.getByTestId('saved-resume').click();
  await page.waitForFunction((k) => Number(document.querySelector('[data-testid="step-count"]').textContent) > k + 100, kept, { timeout: 60_000 });
  await page.getByTestId('pause').click();
  await waitStatus(page, /^paused$/);
  const counts = await page.evaluate(() => /** @type {any} */ (window).counts);
  const below = counts.filter((c) => c < kept);
  assert.deepEqual(below, [], `resumed from ${kept}, the page showed ${counts.slice(0, 5).join(', ')}, ...`);
  // Both read at once: the tick in flight when pause came may still land between two reads.
  const [count, phase] = await page.evaluate(() => [document.querySelector('[data-testid="step-count"]').textContent, document.getElementById('phase').textContent]);
  assert.ok(Number(count) > kept, `resumed from ${kept}, shows ${count}`);
  assert.match(phase, new RegExp(`decomposing \\(${count}/30000`));
  assert.deepEqual(problems, []);
  await page.close();
});

test('a browser without WebGPU runs on the CPU and says so', { timeout: 300_000 }, async () => {
  const plain = await start(NO_WEBGPU_FLAGS);
  try {
    const { page, problems, requests } = await openPage(plain, '#model=tms-5-2&backend=webgpu&target.steps=20&apd.steps=20');
    await page.getByTestId('run').click();
    await waitStatus(page, /^done$/);
    assert.equal(await page.locator('#backend-active').textContent(), 'cpu');
    assert.match(await page.locator('#banner').textContent(), /WebGPU .*(not available|failed).*CPU/);
    assert.equal(await status(page), 'done');
    // Without WebGPU the page loads only the CPU engine, a fifth of the full one's weight.
    const wasm = requests.filter((u) => u.endsWith('.wasm')).map((u) => new URL(u).pathname);
    assert.deepEqual(wasm, ['/pkg-cpu/apd_playground_bg.wasm'], 'the full engine is not loaded');
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await plain.close();
  }
});

test('a Rust panic is shown with its message, and the engine restarts with the settings kept', { timeout: 300_000 }, async () => {
  const { page, problems } = await openPage(env, '#model=tms-5-2&backend=cpu&target.steps=30&apd.steps=30&apd.lr=0.02');
  await page.evaluate(() => window.apdTestHooks.simulatePanic());
  await page.locator('#banner').filter({ hasText: /Rust panic[\s\S]*test hook[\s\S]*restarted/ }).waitFor({ timeout: 30_000 });
  await waitStatus(page, /^ready$/, 60_000);
  assert.equal(await page.getByTestId('field-apd.lr').inputValue(), '0.02', 'the settings survive the restart');
  assert.equal(await page.getByTestId('model').locator('option').count(), 9);
  await page.getByTestId('run').click();
  await waitStatus(page, /^done$/);
  // The panic hook logs the panic to the console; nothing else may.
  assert.deepEqual(problems.filter((p) => !/panic/i.test(p)), []);
  await page.close();
});
