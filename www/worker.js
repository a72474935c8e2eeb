// The Web Worker that owns the wasm module and the run, so that the page
// never freezes. It talks to main.js by messages only.
import init, * as apd from './pkg/apd_playground.js';

let run = null;
let running = false;
let speed = 20; // the most steps per tick (the page's slider)
let msPerStep = 0; // measured by the last tick; 0 until one has run
// A tick stops being responsive past this: big models (or a software GPU)
// run fewer steps per tick, down to one, so progress shows and pause answers.
const TICK_MS = 250;
let lastSnapshot = 0;
let snapshotMs = 0; // how long the last snapshot took: the bigger models space them out
let curveFeature = 0;
let lastStart = null; // the start message, to restart on the CPU if the GPU fails before a checkpoint
let lastCheckpoint = null; // report JSON of the running decomposition, refreshed every CHECKPOINT_MS
let lastCheckpointAt = 0;
let simulateGpuLoss = false; // test hook: the next WebGPU tick fails as a lost device would
const CHECKPOINT_MS = 10_000;
let generation = 0; // bumps on reset, so a stale loop stops

const ready = init().then(() => {
  postMessage({ type: 'ready', presets: JSON.parse(apd.presetNames()) });
}).catch((e) => postMessage({ type: 'fatal', message: `could not load the WebAssembly module: ${message(e)}` }));

const panicked = () => { try { return !!apd.panicMessage(); } catch { return true; } };

function message(e) {
  const panic = (() => { try { return apd.panicMessage(); } catch { return ''; } })();
  if (panic) return `internal error (Rust panic): ${panic}`;
  if (e && e.message) return e.message;
  return String(e);
}

async function chooseBackend(pref) {
  if (pref === 'cpu') return { backend: 'cpu', note: '' };
  let adapter = null;
  try { adapter = self.navigator.gpu ? await self.navigator.gpu.requestAdapter() : null; } catch { adapter = null; }
  if (!adapter) {
    return { backend: 'cpu', note: pref === 'webgpu' ? 'WebGPU is not available here: running on the CPU instead.' : '' };
  }
  const fallback = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  if (pref === 'auto' && fallback) return { backend: 'cpu', note: '' };
  return { backend: 'webgpu', note: '' };
}

async function start(msg) {
  await ready;
  stop();
  const gen = ++generation;
  lastStart = msg; lastCheckpoint = null; lastCheckpointAt = 0; msPerStep = 0;
  const { backend, note } = await chooseBackend(msg.backend);
  let created = null;
  try {
    created = await apd.WebRun.create(msg.preset, msg.config, msg.seed, backend, msg.target ?? undefined);
  } catch (e) {
    if (backend !== 'webgpu') throw e;
    // A failed WebGPU start falls back to the CPU, and says so.
    created = await apd.WebRun.create(msg.preset, msg.config, msg.seed, 'cpu', msg.target ?? undefined);
    postMessage({ type: 'notice', message: `WebGPU failed to start (${message(e)}): running on the CPU instead.` });
  }
  if (gen !== generation) { created.free(); return; }
  run = created;
  if (note) postMessage({ type: 'notice', message: note });
  postMessage({ type: 'started', backend: run.backend });
  if (msg.paused) {
    if (msg.stepOnce) await tick(1);
    return;
  }
  running = true;
  loop(gen);
}

function stop() {
  running = false;
  if (run) { const r = run; run = null; try { r.free(); } catch { /* a call may be in flight */ } }
}

async function snapshot(r) {
  const t0 = performance.now();
  const snap = JSON.parse(await r.snapshot(curveFeature));
  snapshotMs = performance.now() - t0;
  postMessage({ type: 'snapshot', snap });
}

async function tick(n, r = run) {
  if (simulateGpuLoss && r.backend === 'webgpu') { simulateGpuLoss = false; throw new Error('the GPU device was lost (simulated by a test)'); }
  const batch = JSON.parse(await r.steps(n));
  if (batch.ms_per_step > 0) msPerStep = batch.ms_per_step;
  postMessage({ type: 'progress', batch });
  const now = performance.now();
  if (batch.phase === 'done') {
    running = false;
    await snapshot(r);
    postMessage({ type: 'done', report: await r.report() });
  } else if (batch.phase !== 'target' && now - lastSnapshot > Math.max(300, 5 * snapshotMs)) {
    lastSnapshot = now;
    await snapshot(r);
  }
  // A checkpoint as soon as decomposition starts, then every CHECKPOINT_MS:
  // the page keeps it across reloads, and a lost GPU resumes from it.
  if (batch.phase === 'decompose' && (!lastCheckpoint || now - lastCheckpointAt > CHECKPOINT_MS)) {
    lastCheckpointAt = now;
    lastCheckpoint = await r.report();
    postMessage({ type: 'checkpoint', report: lastCheckpoint });
  }
  return batch;
}

/** After a WebGPU failure mid-run: continue on the CPU from the last checkpoint, or restart there. */
async function fallBackToCpu(err, gen) {
  const why = message(err);
  stop();
  if (lastCheckpoint) {
    run = await apd.WebRun.resume(lastCheckpoint, 'cpu');
    const step = JSON.parse(lastCheckpoint).history.at(-1)?.step ?? 0;
    postMessage({ type: 'notice', message: run.startedOver
      ? `WebGPU failed (${why}) while the restarts were compared: decomposition started over on the CPU with the same seed.`
      : `WebGPU failed (${why}): continuing on the CPU from the checkpoint at step ${step + 1}.` });
  } else {
    run = await apd.WebRun.create(lastStart.preset, lastStart.config, lastStart.seed, 'cpu', lastStart.target ?? undefined);
    postMessage({ type: 'notice', message: `WebGPU failed (${why}) before the first checkpoint: restarted on the CPU with the same seed.` });
  }
  carryOn(gen);
}

/** Runs the current `run` (just restarted or resumed) in the loop of generation `gen`. */
function carryOn(gen) {
  postMessage({ type: 'started', backend: run.backend, resumed: true, startedOver: run.startedOver });
  running = true;
  loop(gen);
}

async function loop(gen) {
  while (running && run && gen === generation) {
    try {
      await tick(msPerStep > 0 ? Math.max(1, Math.min(speed, Math.floor(TICK_MS / msPerStep))) : 1);
    } catch (e) {
      if (gen !== generation) return; // reset while a call was in flight
      running = false;
      const text = message(e);
      if (panicked()) {
        // A panicked wasm instance cannot be trusted again: the page restarts the worker.
        postMessage({ type: 'crashed', message: text });
      } else if (text.startsWith('diverged:')) {
        // The step that blew up was not applied: the run is paused on its last good state.
        postMessage({ type: 'diverged', message: text.slice('diverged:'.length).trim() });
        await snapshot(run).catch(() => {});
      } else if (run && run.backend === 'webgpu') {
        try { await fallBackToCpu(e, gen); } catch (e2) { postMessage({ type: 'error', message: `WebGPU failed and the CPU could not take over: ${message(e2)}` }); }
      } else {
        postMessage({ type: 'error', message: text });
      }
      return;
    }
    // Let pause/reset messages in between ticks.
    await new Promise((r) => setTimeout(r, 0));
  }
}

async function handle(msg) {
  switch (msg.type) {
    case 'preset':
      await ready;
      postMessage({ type: 'config', config: apd.presetConfig(msg.name), preset: msg.name, seq: msg.seq });
      break;
    case 'set':
      await ready;
      try {
        postMessage({ type: 'config', config: apd.setField(msg.config, msg.path, msg.value), seq: msg.seq });
      } catch (e) {
        postMessage({ type: 'field-error', path: msg.path, message: message(e), seq: msg.seq });
      }
      break;
    case 'validate':
      await ready;
      try {
        postMessage({ type: 'config', config: apd.validateConfig(msg.config), seq: msg.seq, preset: msg.preset });
      } catch (e) {
        postMessage({ type: 'config-error', message: message(e), seq: msg.seq });
      }
      break;
    case 'start':
      await start(msg);
      break;
    case 'pause':
      running = false;
      postMessage({ type: 'paused' });
      break;
    case 'resume':
      if (run && !running) { running = true; loop(generation); }
      break;
    case 'step':
      if (run && !running) await tick(1);
      break;
    case 'resume-checkpoint': {
      // A checkpoint kept across a reload.
      await ready;
      stop();
      const gen = ++generation;
      lastStart = null; lastCheckpoint = msg.report; lastCheckpointAt = performance.now();
      const { backend } = await chooseBackend(msg.backend);
      try {
        run = await apd.WebRun.resume(msg.report, backend);
      } catch (e) {
        if (backend !== 'webgpu') throw e;
        run = await apd.WebRun.resume(msg.report, 'cpu');
      }
      carryOn(gen);
      break;
    }
    case 'simulate-panic':
      await ready;
      apd.testPanic();
      break;
    case 'simulate-gpu-loss':
      simulateGpuLoss = true;
      break;
    case 'curve':
      curveFeature = Math.max(0, msg.feature | 0);
      if (run && !running) await snapshot(run).catch(() => {});
      break;
    case 'speed':
      speed = Math.max(1, Math.min(1000, msg.value | 0));
      break;
    case 'reset':
      generation++;
      stop();
      postMessage({ type: 'reset' });
      break;
    case 'export-report':
      if (run) postMessage({ type: 'file', kind: 'report', text: await run.report() });
      break;
    case 'export-target':
      if (run) postMessage({ type: 'file', kind: 'target', text: run.targetJson() });
      break;
    case 'import': {
      await ready;
      // A report is shown as it is; a target file becomes the next run's target.
      try {
        const report = apd.parseReport(msg.text);
        postMessage({ type: 'imported-report', report });
      } catch (reportErr) {
        try {
          const t = JSON.parse(msg.text);
          if (!t || typeof t !== 'object' || !('params' in t)) throw reportErr;
          postMessage({ type: 'imported-target', text: msg.text, model: t.model, config: JSON.stringify(t.config) });
        } catch (e) {
          postMessage({ type: 'import-error', message: message(e === reportErr ? reportErr : e) });
        }
      }
      break;
    }
    default:
      postMessage({ type: 'error', message: `unknown message ${msg.type}` });
  }
}

self.onmessage = (e) => {
  handle(e.data).catch((err) => {
    running = false;
    postMessage({ type: panicked() ? 'crashed' : 'error', message: message(err) });
  });
};
