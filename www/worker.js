// @ts-check
// The Web Worker that owns the wasm module, the configuration and the run,
// so that the page never freezes. It talks to main.js by the messages of
// protocol.js only.
// Size: about 490 lines, because a run's whole life in the worker (start,
// ticks, checkpoints, a lost GPU device, a panic, the messages) is here,
// typed for tsc, so that its failure paths can be read together.
import init, * as cpuOnly from './pkg-cpu/apd_playground.js';
import { KINDS, historyOf } from './protocol.js';
import { chooseBackend } from './backends.js';
/** @typedef {import('./protocol.js').Kind} Kind */
/** @typedef {import('./protocol.js').Backend} Backend */
/** @typedef {import('./protocol.js').Batch} Batch */
/** @typedef {import('./protocol.js').Plan} Plan */
/** @typedef {import('./protocol.js').SavedEntry} SavedEntry */
/** @typedef {import('./protocol.js').StartMessage} StartMessage */
/** @typedef {import('./protocol.js').PageMessage} PageMessage */
/** @typedef {import('./protocol.js').WorkerMessage} WorkerMessage */
/** @typedef {import('./protocol.js').RunMessage | import('./protocol.js').FailedMessage} ToRun */
/** @typedef {{ [T in ToRun['type']]: Omit<Extract<ToRun, { type: T }>, 'run'> }[ToRun['type']]} RunBody  a run's message, but its `run` */
/** @typedef {import('./pkg-cpu/apd_playground.js').WebRun} WebRun */
/** @typedef {typeof import('./pkg/apd_playground.js')} GpuEngine */
/** @typedef {typeof import('./pkg-cpu/apd_playground.js')} CpuEngine */

/**
 * Posts `msg` to the page: the worker scope's postMessage, typed with the
 * protocol (the type check gives every module the DOM's lib, whose global
 * postMessage is a window's: see tsconfig.json).
 * @type {(msg: WorkerMessage) => void}
 */
const postMessage = (msg) => self.postMessage(msg);

/** @type {string | null} */
let config = null; // the configuration (JSON text); only this worker changes it
/** @type {string | null} */
let preset = null;
/** @type {WebRun | null} */
let run = null; // the WebRun
/** @type {number | null} */
let runId = null; // the page's id of the current run; stale loops stop on a change
let running = false;
let speed = 20; // the most steps per tick (the page's slider)
let msPerStep = 0; // measured by the last tick; 0 until one has run
// A tick stops being responsive past this: big models (or a software GPU)
// run fewer steps per tick, down to one, so progress shows and pause answers.
const TICK_MS = 250;
let lastSnapshot = 0;
let snapshotMs = 0; // how long the last snapshot took: the bigger models space them out
// ... to this many times that, so that the views take about a tenth of a
// run at most. At 5 times, tms-40-10's SPD run in the page spent about 120
// of its 630 s outside its steps and its target's (docs/performance.md).
const SNAPSHOT_SPACING = 10;
let curveFeature = 0;
/** @type {Plan | null} */
let plan = null; // the current run's step plan, from Rust
/** @type {(StartMessage & { config: string }) | null} */
let lastStart = null; // the start message, to restart on the CPU if the GPU fails before a checkpoint
/** @type {string | null} */
let lastCheckpoint = null; // report JSON of the running decomposition, refreshed every CHECKPOINT_MS
let lastCheckpointAt = 0;
let simulateGpuLoss = false; // test hook: the next WebGPU tick fails as a lost device would
let noFreshDevice = false; // test hook: after that loss, the browser gives no fresh device
let slowCpuProbeMs = 0; // test hook: "auto" sees the CPU this much slower per step
const CHECKPOINT_MS = 10_000;

// Two engines: the CPU package (a fifth of the WebGPU one's weight, so the
// page is ready sooner) does everything but WebGPU runs; the WebGPU package,
// which has no CPU backend, is loaded once a run may use WebGPU and runs
// only those.
const apd = cpuOnly;
/** @type {GpuEngine | null} */
let gpuApd = null; // the WebGPU package, once loaded
/** @type {Promise<GpuEngine> | null} */
let withGpu = null;
function gpuEngine() {
  if (!withGpu) {
    withGpu = import('./pkg/apd_playground.js').then(async (m) => { await m.default(); gpuApd = m; return m; });
    // A failed load is tried again by the next run that needs it, not remembered.
    withGpu.catch(() => { withGpu = null; });
  }
  return withGpu;
}

/**
 * The engine that runs `backend` (chooseBackend has loaded the WebGPU one before it says 'webgpu').
 * @param {Backend} backend
 */
const engineFor = (backend) => (backend === 'webgpu' ? gpuApd : apd);

let loaded = false; // the wasm module is there to ask (for a panic message, say)
const ready = init().then(() => {
  loaded = true;
  postMessage({ type: 'ready', presets: JSON.parse(apd.presetNames()), settings: JSON.parse(apd.settingsInfo()) });
}).catch((e) => postMessage({ type: 'fatal', message: `could not load the WebAssembly module: ${text(e)}` }));

const panicMessage = () => {
  if (!loaded) return '';
  try { return apd.panicMessage() || (gpuApd ? gpuApd.panicMessage() : ''); } catch { return 'the engine is unusable'; }
};

/**
 * The kind of a failure: a Rust panic, else the name the engine gave its
 * error. Any other exception (a bug in this worker or in the modules it
 * runs) is `internal`: the page shows it as the error it is, where taking it
 * for a lost device would fall back to the CPU and hide it.
 * @param {unknown} e
 * @returns {Kind}
 */
function kindOf(e) {
  if (panicMessage()) return 'panic';
  const name = typeof e === 'object' && e !== null && 'name' in e ? e.name : undefined;
  return KINDS.find((k) => k === name) ?? 'internal';
}

/** @param {unknown} e */
function text(e) {
  const panic = panicMessage();
  if (panic) return `internal error (Rust panic): ${panic}`;
  return /** @type {{ message?: string } | null | undefined} */ (e)?.message || String(e);
}

/**
 * Posts a message that belongs to run `id`.
 * @param {number} id
 * @param {RunBody} msg
 */
const post = (id, msg) => postMessage({ ...msg, run: id });

// Every call into the run goes through this chain, one at a time: a step
// pressed just after pause waits for the tick still in flight.
/** @type {Promise<unknown>} */
let runLock = Promise.resolve();
/**
 * @template T
 * @param {() => T | Promise<T>} fn
 * @returns {Promise<T>}
 */
function exclusive(fn) {
  const p = runLock.then(fn);
  runLock = p.catch(() => {});
  return p;
}

function stop() {
  running = false;
  runId = null;
  if (run) { const r = run; run = null; exclusive(() => r.free()).catch(() => {}); }
}

/**
 * Makes `created` the current run `id` and tells the page.
 * @param {WebRun} created
 * @param {number} id
 * @param {{ resumed?: boolean, startedOver?: boolean }} [extra]
 */
function adopt(created, id, extra = {}) {
  run = created; runId = id;
  plan = JSON.parse(run.plan());
  msPerStep = 0;
  post(id, { type: 'started', backend: /** @type {Backend} */ (run.backend), plan, ...extra });
}

/** @param {StartMessage} msg */
async function start(msg) {
  stop();
  lastStart = { ...msg, config }; lastCheckpoint = null; lastCheckpointAt = 0;
  const { backend, note, choice } = await chooseBackend({ cpu: apd, gpu: gpuEngine }, config, msg.backend, msg, slowCpuProbeMs);
  if (choice) post(msg.run, { type: 'backend-choice', ...choice });
  const created = await onBackend(msg.run, backend, (engine, b) => engine.WebRun.create(msg.preset, config, msg.seed, b, msg.target ?? undefined));
  adopt(created, msg.run);
  if (note) post(msg.run, { type: 'notice', message: note });
  if (msg.paused) {
    if (msg.stepOnce) await advance(msg.run, 1);
    return;
  }
  running = true;
  loop(msg.run);
}

/**
 * The run `make` makes for run `id` on `backend`; where WebGPU cannot give
 * one (no usable adapter or device), on the CPU, and the page is told why.
 * Anything else is the error it is.
 * @param {number} id
 * @param {Backend} backend
 * @param {(engine: CpuEngine | GpuEngine, backend: Backend) => Promise<WebRun>} make
 * @returns {Promise<WebRun>}
 */
async function onBackend(id, backend, make) {
  try {
    return await make(engineFor(backend), backend);
  } catch (e) {
    if (backend !== 'webgpu' || kindOf(e) !== 'device-lost') throw e;
    const created = await make(apd, 'cpu');
    post(id, { type: 'notice', message: `WebGPU failed to start (${text(e)}): running on the CPU instead.` });
    return created;
  }
}

/**
 * @param {WebRun} r
 * @param {number} id
 */
async function snapshot(r, id) {
  const t0 = performance.now();
  const snap = JSON.parse(await r.snapshot(curveFeature));
  snapshotMs = performance.now() - t0;
  post(id, { type: 'snapshot', snap });
}

/**
 * What the page keeps of a report across reloads, with the figures its saved-results panel shows.
 * @param {string} reportJson
 * @returns {SavedEntry}
 */
function entry(reportJson) {
  const r = JSON.parse(reportJson);
  const step = (historyOf(r).at(-1)?.step ?? -1) + 1;
  return { report: reportJson, model: r.model, seed: r.seed, step, totalSteps: plan.apd_steps, savedAt: Date.now() };
}

/**
 * Up to `n` steps of run `id`, then what the page needs to see of them.
 * @param {number} n
 * @param {number} id
 */
async function tick(n, id) {
  const r = run;
  if (simulateGpuLoss && r.backend === 'webgpu') {
    simulateGpuLoss = false;
    const e = new Error('the GPU device was lost (simulated by a test)'); e.name = 'device-lost'; throw e;
  }
  /** @type {Batch} */
  const batch = JSON.parse(await r.steps(n));
  if (batch.ms_per_step > 0) msPerStep = batch.ms_per_step;
  post(id, { type: 'progress', batch });
  const now = performance.now();
  if (batch.phase === 'done') {
    running = false;
    await snapshot(r, id);
    post(id, { type: 'done', entry: entry(await r.report(true)) });
  } else if (batch.phase !== 'target' && now - lastSnapshot > Math.max(300, SNAPSHOT_SPACING * snapshotMs)) {
    lastSnapshot = now;
    await snapshot(r, id);
  }
  // A checkpoint as soon as decomposition starts, then every CHECKPOINT_MS:
  // the page keeps it across reloads, and a lost GPU resumes from it.
  if (batch.phase === 'decompose' && (!lastCheckpoint || now - lastCheckpointAt > CHECKPOINT_MS)) {
    lastCheckpointAt = now;
    lastCheckpoint = await r.report(false);
    post(id, { type: 'checkpoint', entry: entry(lastCheckpoint) });
  }
  return batch;
}

/**
 * `n` steps of run `id` (the loop's ticks and the Step button alike), with
 * one handling of what can go wrong: divergence pauses on the last good
 * state, a lost WebGPU device is replaced (or the CPU takes over), a panic
 * restarts the engine; anything else is shown as the error it is.
 * Returns whether the run can go on.
 * @param {number} id
 * @param {number} n
 */
async function advance(id, n) {
  try {
    await exclusive(() => (id === runId && run ? tick(n, id) : null));
    return true;
  } catch (e) {
    if (id !== runId) return false; // reset while a call was in flight
    running = false;
    const kind = kindOf(e);
    if (kind === 'panic') {
      // A panicked wasm instance cannot be trusted again: the page restarts the worker.
      post(id, { type: 'failed', kind, message: text(e) });
    } else if (kind === 'diverged') {
      // The step that blew up was not applied: the run is paused on its last good state.
      post(id, { type: 'failed', kind, message: text(e).replace(/^diverged:\s*/, '') });
      await exclusive(() => snapshot(run, id)).catch(() => {});
    } else if (run && run.backend === 'webgpu' && kind === 'device-lost') {
      try { await recoverGpu(e, id); } catch (e2) { post(id, { type: 'failed', kind: kindOf(e2), message: `WebGPU failed and the CPU could not take over: ${text(e2)}` }); }
    } else {
      post(id, { type: 'failed', kind, message: text(e) });
    }
    return false;
  }
}

/**
 * After a lost WebGPU device mid-run: go on from the last checkpoint (or
 * from the start, with the same seed) on a fresh WebGPU device where the
 * browser gives one, else on the CPU; either way the page says so.
 * @param {unknown} err
 * @param {number} id
 */
async function recoverGpu(err, id) {
  const why = text(err);
  const old = run; run = null;
  exclusive(() => old.free()).catch(() => {});
  /** @param {CpuEngine | GpuEngine} engine @param {Backend} backend */
  const again = (engine, backend) => (lastCheckpoint
    ? engine.WebRun.resume(lastCheckpoint, backend)
    : engine.WebRun.create(lastStart.preset, lastStart.config, lastStart.seed, backend, lastStart.target ?? undefined));
  /** @type {WebRun | null} */
  let created = null;
  let noFresh = 'the test hook gave none';
  if (!noFreshDevice) {
    gpuApd.forgetDevice();
    try {
      created = await again(gpuApd, 'webgpu');
    } catch (e) {
      if (kindOf(e) !== 'device-lost') throw e;
      noFresh = text(e);
    }
  }
  noFreshDevice = false;
  const step = lastCheckpoint ? (historyOf(JSON.parse(lastCheckpoint)).at(-1)?.step ?? 0) + 1 : 0;
  /** @param {string} where */
  const goingOn = (where) => (!lastCheckpoint ? ` before the first checkpoint: restarted ${where} with the same seed.`
    : created.startedOver ? ` while the restarts were compared: decomposition started over ${where} with the same seed.`
      : `: continuing ${where} from the checkpoint at step ${step}.`);
  let message;
  if (created) {
    message = `The GPU device was lost (${why})${goingOn('on a fresh WebGPU device')}`;
  } else {
    created = await again(apd, 'cpu');
    message = `WebGPU failed (${why}) and no fresh device could be had (${noFresh})${goingOn('on the CPU')}`;
  }
  post(id, { type: 'notice', message });
  carryOn(created, id);
}

/**
 * Runs `created` (just restarted or resumed) as run `id`.
 * @param {WebRun} created
 * @param {number} id
 */
function carryOn(created, id) {
  adopt(created, id, { resumed: true, startedOver: created.startedOver });
  running = true;
  loop(id);
}

// A message to ourselves, not setTimeout(0): the browser holds a chain of
// nested timeouts back at least 4 ms each, which was a quarter of tms-5-2's
// target training time in the page (docs/performance.md).
const yieldChannel = new MessageChannel();
/** @type {Array<(v?: unknown) => void>} */
const yielding = []; // one per message in flight, in order (a reset's new loop may overlap the old)
yieldChannel.port1.onmessage = () => yielding.shift()();
const yieldToMessages = () => new Promise((r) => { yielding.push(r); yieldChannel.port2.postMessage(null); });

/** @param {number} id */
async function loop(id) {
  while (running && id === runId) {
    const n = msPerStep > 0 ? Math.max(1, Math.min(speed, Math.floor(TICK_MS / msPerStep))) : 1;
    if (!(await advance(id, n))) return;
    // Let pause and reset messages in between ticks.
    await yieldToMessages();
  }
}

/**
 * The view data and plan of a saved or imported report, computed by the engine.
 * @param {string} reportJson
 */
async function reportViews(reportJson) {
  const report = apd.parseReport(reportJson);
  const r = JSON.parse(report);
  return { report, snap: JSON.parse(await apd.reportViews(report, curveFeature)), plan: JSON.parse(apd.runPlan(JSON.stringify(r.config))) };
}

/** @param {PageMessage} msg */
async function handle(msg) {
  await ready;
  switch (msg.type) {
    case 'preset':
      config = apd.presetConfig(msg.name); preset = msg.name;
      postMessage({ type: 'config', config, preset, seq: msg.seq });
      break;
    case 'method':
      try {
        config = apd.withMethod(config, preset, msg.value);
        // The link lists what differs from the preset decomposed by this method.
        const base = apd.withMethod(apd.presetConfig(preset), preset, msg.value);
        postMessage({ type: 'config', config, base, preset, seq: msg.seq });
      } catch (e) {
        postMessage({ type: 'field-error', path: 'method', message: text(e), seq: msg.seq });
      }
      break;
    case 'use-config':
      // A whole configuration (the page's, for the seeds grid's runs).
      try {
        config = apd.validateConfig(msg.config); preset = msg.preset;
        postMessage({ type: 'config', config, preset, seq: msg.seq });
      } catch (e) {
        postMessage({ type: 'field-error', path: 'config', message: text(e), seq: msg.seq });
      }
      break;
    case 'paper':
      // The "as in the paper" variant: this project's additions off.
      config = apd.paperVariant(config);
      postMessage({ type: 'config', config, seq: msg.seq });
      break;
    case 'set':
      try {
        config = apd.setField(config, msg.path, msg.value);
        postMessage({ type: 'config', config, seq: msg.seq, path: msg.path });
      } catch (e) {
        postMessage({ type: 'field-error', path: msg.path, message: text(e), seq: msg.seq });
      }
      break;
    case 'start':
      await start(msg);
      break;
    case 'pause':
      if (runId === msg.run) { running = false; post(msg.run, { type: 'paused' }); }
      break;
    case 'continue':
      if (run && runId === msg.run && !running) { running = true; loop(msg.run); }
      break;
    case 'step':
      if (run && runId === msg.run && !running) await advance(msg.run, 1);
      break;
    case 'resume-checkpoint': {
      // A checkpoint kept across a reload.
      stop();
      lastStart = null; lastCheckpoint = msg.report; lastCheckpointAt = performance.now();
      const { backend, note } = await chooseBackend({ cpu: apd, gpu: gpuEngine }, config, msg.backend);
      // Not silently on the CPU: a WebGPU resume that fails, or a browser without WebGPU, says so.
      carryOn(await onBackend(msg.run, backend, (engine, b) => engine.WebRun.resume(msg.report, b)), msg.run);
      if (note) post(msg.run, { type: 'notice', message: note });
      break;
    }
    case 'simulate-panic':
      apd.testPanic();
      break;
    case 'simulate-gpu-loss':
      simulateGpuLoss = true;
      noFreshDevice = msg.fresh === false;
      break;
    case 'slow-cpu-probe':
      slowCpuProbeMs = Math.max(0, Number(msg.ms) || 0);
      break;
    case 'curve':
      curveFeature = Math.max(0, msg.feature | 0);
      if (run && !running) { const id = runId; await exclusive(() => snapshot(run, id)).catch(() => {}); }
      break;
    case 'speed':
      speed = Math.max(1, Math.min(1000, msg.value | 0));
      break;
    case 'reset':
      stop();
      break;
    case 'export':
      if (run) {
        if (msg.kind === 'safetensors') {
          // The decomposition with its target once there is one; the target alone before
          // (the weights only: no evaluation).
          const json = await exclusive(async () => { try { return await run.report(false); } catch { return run.targetJson(); } });
          const [bytes, yaml] = apd.exportSafetensors(json, msg.name);
          postMessage({ type: 'safetensors', bytes, yaml, name: msg.name });
        } else {
          const text = await exclusive(() => (msg.kind === 'report' ? run.report(true) : run.targetJson()));
          postMessage({ type: 'file', kind: msg.kind, text });
        }
      }
      break;
    case 'describe-target':
      // The target's feature norms and the scale a run with the current settings works at.
      try {
        postMessage({ type: 'target-note', note: JSON.parse(apd.describeTarget(msg.text, config)), seq: msg.seq });
      } catch (e) {
        postMessage({ type: 'target-note', note: null, message: text(e), seq: msg.seq });
      }
      break;
    case 'views-of':
      postMessage({ type: 'report-views', ...(await reportViews(msg.report)), seq: msg.seq });
      break;
    case 'import-binary':
      // Another tool's weights: read and checked by the engine, then imported as a target file.
      try {
        const got = JSON.parse(apd.importTarget(msg.bytes));
        const t = JSON.parse(got.text);
        postMessage({ type: 'imported-target', text: got.text, model: t.model, config: JSON.stringify(t.config), summary: got.summary, seq: msg.seq });
      } catch (e) {
        postMessage({ type: 'import-error', message: `${msg.name}: ${text(e)}`, seq: msg.seq });
      }
      break;
    case 'import':
      // A report is shown as it is; a target file becomes the next run's target.
      try {
        postMessage({ type: 'report-views', ...(await reportViews(msg.text)), seq: msg.seq });
      } catch (reportErr) {
        let t = null;
        try { t = JSON.parse(msg.text); } catch { /* neither */ }
        if (t && typeof t === 'object' && 'params' in t && 'config' in t) {
          postMessage({ type: 'imported-target', text: msg.text, model: t.model, config: JSON.stringify(t.config), seq: msg.seq });

        } else {
          postMessage({ type: 'import-error', message: text(reportErr), seq: msg.seq });
        }
      }
      break;
    default:
      postMessage({ type: 'failed', kind: 'invalid', message: `unknown message ${/** @type {{ type: string }} */ (msg).type}` });
  }
}

// Messages are handled one at a time, in the order they came: two edits
// sent back to back are both applied, the second to the result of the first.
let inbox = Promise.resolve();
self.onmessage = (/** @type {MessageEvent<PageMessage>} */ e) => {
  const msg = /** @type {PageMessage & { run?: number | null, seq?: number }} */ (e.data);
  inbox = inbox.then(() => handle(msg)).catch((err) => {
    if (msg.run != null && msg.run === runId) running = false;
    postMessage({ type: 'failed', run: msg.run ?? runId, kind: kindOf(err), message: text(err), seq: msg.seq });
  });
};
