// @ts-check
// The page controller: the buttons, the run's state, and the messages to
// and from the worker that owns the engine (protocol.js). What the cards
// draw is in draw.js, the settings and the URL hash in settings.js, the
// results kept across reloads in saved.js, shipped results in results.js,
// the tour in tour.js, the seeds grid in grid.js.
// Size: about 660 lines (JSDoc types included), because every state the page can be in and every
// worker message that moves it are kept in this one file, so that the
// transitions can be read together.
import * as draw from './draw.js';
import { setupOffline } from './offline.js';
import * as saved from './saved.js';
import { renderFields, fieldError, revealField, hashOf, readHash, flatten, chapterOf, embedOf } from './settings.js';
import { embedCard, embedStatus, offerEmbeds } from './embed.js';
import { offerDownloads } from './download.js';
import { setupTour, openChapter } from './tour.js';
import { pickPair } from './explore.js';
import { shipped, showFirstView, scaleText, showGallery, duration } from './results.js';
import * as compare from './compare.js';
import { setupGrid, showGrid } from './grid.js';
import { historyOf } from './protocol.js';
/** @typedef {import('./protocol.js').Method} Method */
/** @typedef {import('./protocol.js').BackendPref} BackendPref */
/** @typedef {import('./protocol.js').Config} Config */
/** @typedef {import('./protocol.js').Report} Report */
/** @typedef {import('./protocol.js').Snapshot} Snapshot */
/** @typedef {import('./protocol.js').Plan} Plan */
/** @typedef {import('./protocol.js').SettingInfo} SettingInfo */
/** @typedef {import('./protocol.js').ShippedEntry} ShippedEntry */
/** @typedef {import('./protocol.js').KeptChoice} KeptChoice */
/** @typedef {import('./protocol.js').Measured} Measured */
/** @typedef {import('./protocol.js').PageMessage} PageMessage */
/** @typedef {import('./protocol.js').PageRequest} PageRequest */
/** @typedef {import('./protocol.js').Replies} Replies */
/** @typedef {import('./protocol.js').Reply} Reply */
/** @typedef {import('./protocol.js').WorkerMessage} WorkerMessage */
/** @typedef {import('./protocol.js').FailedMessage} FailedMessage */
/** @typedef {import('./protocol.js').ReportViewsMessage} ReportViewsMessage */
/** @typedef {Extract<WorkerMessage, { type: 'backend-choice' }>} BackendChoiceMessage */
/** @typedef {{ [T in PageRequest['type']]: Omit<Extract<PageRequest, { type: T }>, 'seq'> }[PageRequest['type']]} RequestBody  a request, but its seq */

/** @param {string} id */
const $ = (id) => document.getElementById(id);
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @param {string} id */
const select = (id) => /** @type {HTMLSelectElement} */ (document.getElementById(id));
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));
/** States of the page; the status line shows the state (or the error). */
const RUNNING = ['starting', 'training target', 'decomposing'];

/**
 * The page's state. `config` mirrors the worker's configuration (JSON),
 * `presetConfig` is the preset's for the method chosen (what the link lists
 * differences from).
 * @type {{
 *   presets: string[], settings: SettingInfo[], preset: string | null, presetConfig: string | null, config: string | null,
 *   status: string, run: number | null, runs: number, canContinue: boolean, plan: Plan | null,
 *   importedTarget: string | null, applyingHash: boolean, seq: number, reportShown: boolean, chapter: number,
 * }}
 */
const state = {
  presets: [], settings: [], preset: null, presetConfig: null, config: null,
  status: 'loading',
  run: null, // the id of the current run: messages of any other are dropped
  runs: 0,
  canContinue: false, // paused on a run that Run carries on (not after a divergence)
  plan: null, // the current run's steps and chart marks, from the engine
  importedTarget: null, applyingHash: false, seq: 0,
  reportShown: false, // a report or shipped result was drawn: the first view no longer takes the views
  chapter: 0, // the open tour chapter (0: none), kept in the link
};

/** @type {Worker | null} */
let worker = null;
/** @param {PageMessage} msg */
const send = (msg) => worker.postMessage(msg);
/** Starts (or, after a Rust panic, restarts) the worker that owns the wasm engine. */
function spawnWorker() {
  worker?.terminate();
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onerror = (e) => fail(`the worker failed (${e.message || 'unknown error'})`);
  worker.onmessage = (/** @type {MessageEvent<WorkerMessage>} */ { data }) => onWorkerMessage(data);
}

/**
 * Moves the page to `status` ('loading', 'ready', 'starting', 'training target', 'decomposing', 'paused', 'done', 'error').
 * @param {string} status
 * @param {string} [detail]
 */
function setStatus(status, detail = '') {
  state.status = status;
  const el = $('status');
  el.textContent = status === 'error' ? `error: ${detail}` : status;
  embedStatus(el.textContent);
  el.dataset.status = status;
  const running = RUNNING.includes(status);
  button('run').disabled = !state.config || running || status === 'loading';
  button('pause').disabled = !running;
  button('step').disabled = !state.config || running || status === 'loading';
  button('reset').disabled = status === 'loading';
  button('paper').disabled = !state.config || running || status === 'loading';
  button('first-view-run').disabled = button('run').disabled;
}

/** @param {string} message */
function fail(message) {
  setStatus('error', message);
  banner(message, 'error');
}

/**
 * @param {string} text
 * @param {'info' | 'error'} [kind]
 */
function banner(text, kind = 'info') {
  const b = $('banner');
  if (!text) { b.hidden = true; return; }
  b.hidden = false; b.textContent = text; b.className = `banner ${kind}`;
}

// ---- configuration: the worker owns it; the page mirrors it ----

/** @type {Map<number, (reply: Reply) => void>} */
const pending = new Map();
/**
 * Sends `msg` and resolves with the worker's answer to it.
 * @template {RequestBody} M
 * @param {M} msg
 * @returns {Promise<Replies[M['type']]>}
 */
function request(msg) {
  const seq = ++state.seq;
  return new Promise((resolve) => { pending.set(seq, /** @type {(reply: Reply) => void} */ (resolve)); send(/** @type {PageRequest} */ ({ ...msg, seq })); });
}

/** The card shown alone (`#embed=`), or '' for the whole page; set once at start. */
let embedded = '';

function writeHash() {
  if (state.applyingHash) return;
  if (!state.presetConfig) {
    // Before the engine is there, the link keeps what it had but the chapter.
    const params = new URLSearchParams(location.hash.slice(1));
    if (state.chapter) params.set('chapter', String(state.chapter)); else params.delete('chapter');
    history.replaceState(null, '', `#${params}`);
    return;
  }
  history.replaceState(null, '', hashOf({ preset: state.preset, seed: input('seed').value, backend: select('backend').value, config: state.config, presetConfig: state.presetConfig, chapter: state.chapter, embed: embedded }));
}

/** The settings fields of the current configuration, explained by the engine's registry. */
const showFields = () => renderFields(state.config, editSetting, state.settings);

/**
 * One edited setting, sent alone: the worker applies edits in the order they come, so none is lost.
 * @param {string} path
 * @param {string} value
 */
const editSetting = (path, value) => send({ type: 'set', path, value, seq: ++state.seq });

/** @param {string} name */
async function choosePreset(name) {
  const reply = await request({ type: 'preset', name });
  // A failure (or a panic, answered for the worker) is shown where it is handled.
  if (reply.type !== 'config') return;
  state.preset = name; state.presetConfig = reply.config; state.config = reply.config;
  select('model').value = name;
  state.importedTarget = null;
  // A new model keeps the method chosen.
  if (select('method').value !== 'apd') await chooseMethod(/** @type {Method} */ (select('method').value));
  showModelKind(state.config);
  showFields();
}

/**
 * Decomposes with `method` (`apd` or `spd`), with the preset's settings for it.
 * @param {Method} method
 */
async function chooseMethod(method) {
  const reply = await request({ type: 'method', value: method });
  if (reply.type !== 'config') { if (reply.type === 'field-error') banner(reply.message, 'error'); return; }
  state.config = reply.config; state.presetConfig = reply.base;
  select('method').value = method;
}

/** Applies the URL hash: unknown keys and bad values are reported and skipped. */
async function applyHash() {
  // While the link is being applied, the intermediate configurations must not
  // overwrite it (a reload in between would lose the link's settings).
  state.applyingHash = true;
  try {
    const link = readHash(location.hash, state.presets);
    select('method').value = link.method ?? 'apd';
    await choosePreset(link.model ?? state.presets[0]);
    if (link.seed !== null) input('seed').value = link.seed;
    if (link.backend !== null) select('backend').value = link.backend;
    const problems = [...link.problems];
    for (const [path, value] of link.settings) {
      const reply = await request({ type: 'set', path, value });
      if (reply.type === 'field-error') problems.push(reply.message);
    }
    showFields();
    if (problems.length) banner(`Ignored from the link: ${problems.join('; ')}.`, 'error');
  } finally {
    state.applyingHash = false;
  }
  writeHash();
}

/**
 * Shows the views of the configuration's architecture (TMS or residual MLP) only, and its method's.
 * @param {string} configJson
 */
function showModelKind(configJson) {
  /** @type {Config} */
  const config = JSON.parse(configJson);
  const resid = config.model.kind === 'resid_mlp';
  const method = config.method ?? 'apd';
  // SPD and VPD both split each matrix into subcomponents with causal importances: the same cards.
  const spd = method !== 'apd';
  document.body.classList.toggle('model-resid', resid);
  document.body.classList.toggle('method-spd', spd);
  document.body.classList.toggle('method-vpd', method === 'vpd');
  $('losses-title').textContent = `${method.toUpperCase()} losses`;
  // Each method's own measure: APD's is its top-k setting; SPD's and VPD's a result (CI-L0).
  $('mean-active-note').textContent = spd
    ? 'a result: subcomponents of the first matrix each input needs (causal importance above 0.1), over the last training batch'
    : 'the setting k, not a result: batch top-k keeps this many on average';
  $('losses-howto').textContent = method === 'vpd'
    ? 'How to read: faithfulness (||W - VU||² as a share of ||W||²), reconstruction (the target\'s output, half the inputs under the masks an adversary found worst within what the causal importances allow, half under random ones on a random subset of the matrices), importance (a smooth count of the subcomponents each input needs), frequency (the same, weighing subcomponents that many inputs need more).'
    : spd
    ? 'How to read: faithfulness (the subcomponents sum to the weights), stochastic (the network with unimportant subcomponents randomly masked still gives the target\'s output), layerwise (the same, one matrix at a time), importance (how much importance the inputs claim; lower means each input needs fewer subcomponents).'
    : 'How to read: faithfulness (the components sum to the weights), minimality (the top-k components alone give the same output), simplicity (each component is low rank). Dashed lines mark restarts.';
  $('attr-title').textContent = spd ? 'Causal importance' : 'Attributions';
  $('attr-howto').textContent = spd
    ? 'How to read: row i says how much feature i alone needs each subcomponent of W (0: it can be masked away, 1: it cannot); one bright cell per row means each feature has a subcomponent of its own. The other columns are subcomponents no input needs.'
    : 'How to read: row i says how much each component matters when only feature i is on; one dark cell per row means each feature has a component of its own.';
  $('attr-note').textContent = resid
    ? 'feature (row) x component (column), share of the feature\'s attribution; columns ordered so dedicated components sit on the diagonal'
    : 'one-hot input (row) x component (column)';
}

// ---- runs ----

/**
 * @param {boolean} paused
 * @param {boolean} [stepOnce]
 */
/**
 * @param {Blob} blob
 * @param {string} name
 */
function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click(); setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
const exportName = () => `${state.preset}-seed${input('seed').value}`;

/** @param {boolean} on */
function setExports(on) {
  for (const id of ['export-report', 'export-target', 'export-safetensors']) button(id).disabled = !on;
}

function startRun(paused, stepOnce = false) {
  banner('');
  showFirstView(false);
  draw.clearAll();
  state.run = ++state.runs; state.canContinue = true; state.plan = null;
  $('eta').textContent = '-';
  setExports(false);
  $('backend-choice').hidden = true;
  send({ type: 'start', run: state.run, preset: state.preset, seed: Number(input('seed').value), backend: /** @type {BackendPref} */ (select('backend').value), target: state.importedTarget, paused, stepOnce, remembered: backendChoices() });
  setStatus(paused ? 'paused' : 'starting');
}

// "auto" backend choices, measured by the worker, kept per method and model size.
const CHOICES_KEY = 'apd-backend-choices';
/** @returns {Record<string, KeptChoice>} */
function backendChoices() {
  try { return JSON.parse(localStorage.getItem(CHOICES_KEY)) || {}; } catch { return {}; }
}

/**
 * Shows what "auto" chose and the figures it chose by; keeps a new measurement.
 * @param {BackendChoiceMessage} c
 */
function showBackendChoice(c) {
  /** @param {number} v */
  const num = (v) => (v < 10 ? v.toFixed(2) : v.toFixed(0));
  /** @param {Measured | undefined} v */
  const ms = (v) => (v === null || v === undefined ? 'could not run' : typeof v === 'object' ? `not through warm-up within ${(v.over / 1000).toFixed(1)} s` : `${num(v)} ms per step`);
  const figures = `warm steps of this model: CPU ${ms(c.cpu)}, WebGPU ${ms(c.webgpu)}`;
  const el = $('backend-choice');
  el.dataset.backend = c.backend;
  el.dataset.remembered = String(c.remembered);
  el.textContent = c.remembered
    ? `auto chose ${c.backend === 'cpu' ? 'the CPU' : 'WebGPU'} as measured before in this browser (${figures})`
    : `auto chose ${c.backend === 'cpu' ? 'the CPU' : 'WebGPU'}, the faster here (${figures})`;
  el.hidden = false;
  if (c.remembered) return;
  const { key, run, type, remembered, ...kept } = c;
  try { localStorage.setItem(CHOICES_KEY, JSON.stringify({ ...backendChoices(), [key]: kept })); } catch { /* storage off: measured again next time */ }
}

/**
 * A finished result drawn from the engine's view data: its report, snapshot and step plan.
 * @param {Report} r
 * @param {Snapshot} snap
 * @param {Plan} plan
 */
function showResult(r, snap, plan) {
  state.run = null; state.canContinue = false;
  draw.clearAll();
  draw.setMarks(plan.marks);
  const history = historyOf(r);
  draw.addApdSteps(history);
  showModelKind(JSON.stringify(r.config));
  draw.setSnapshot(snap);
  draw.setSaved(true);
  for (const [id, v] of [['step-count', String((history.at(-1)?.step ?? -1) + 1)], ['phase', 'done'], ['backend-active', r.timing.backend]]) $(id).textContent = v;
}

/**
 * A report (imported, or kept from a last visit), drawn from the engine's view data.
 * @param {ReportViewsMessage} views
 */
function showReport({ report, snap, plan }) {
  /** @type {Report} */
  const r = JSON.parse(report);
  state.reportShown = true;
  showFirstView(false);
  showResult(r, snap, plan);
  $('import-status').textContent = `showing report: ${r.model}, seed ${r.seed}, ${plan.apd_steps} steps on ${r.timing.backend}`;
  setStatus('done');
}


/**
 * The shipped result drawn now, whose settings "Run it yourself" takes.
 * @type {ShippedEntry | null}
 */
let shownEntry = null;

/** Counts the adoptions of shown results, so that a later one stops an earlier one still under way. */
let adoptions = 0;

/**
 * Sets the controls and the engine's configuration to a shipped result's
 * model, method, seed and settings, so that what the controls (and the
 * link) say is what is on screen; true once done, false if another result
 * was shown meanwhile or a setting was refused.
 * @param {ShippedEntry} e
 */
async function adoptShown(e) {
  const mine = ++adoptions;
  if (e.model !== state.preset) await choosePreset(e.model);
  if (mine !== adoptions) return false;
  if (e.method !== select('method').value) await chooseMethod(e.method);
  if (mine !== adoptions) return false;
  input('seed').value = String(e.seed);
  const base = Object.fromEntries(flatten(JSON.parse(state.presetConfig)));
  for (const [path, value] of flatten(e.report.config)) {
    if (path === 'method' || base[path] === value) continue;
    const reply = await request({ type: 'set', path, value: String(value) });
    if (mine !== adoptions) return false;
    if (reply.type === 'field-error') { banner(`Could not take the shown result's setting ${path}: ${reply.message}`, 'error'); return false; }
  }
  showModelKind(state.config); showFields(); writeHash();
  return true;
}

/** Runs the shown shipped result's model, method, seed and settings in this page. */
async function runShown() {
  const e = shownEntry;
  if (!e || button('run').disabled) return;
  if (await adoptShown(e)) startRun(false);
}

/**
 * Opens a shipped result in the views.
 * @param {string} name
 */
async function showShipped(name) {
  const entry = await shipped(name);
  if (!entry) { banner(`The shipped result ${name} could not be loaded.`, 'error'); return; }
  showEntry(entry);
}

/**
 * Opens a result in the views: shipped (a gallery entry, a seed of a shipped grid) or a seed run by the grid here.
 * @param {ShippedEntry} entry
 */
function showEntry(entry) {
  // A run in progress or paused gives way (its messages are dropped from here on).
  if (state.run !== null) send({ type: 'reset' });
  state.reportShown = true;
  showResult(entry.report, entry.views, entry.plan);
  if (entry.live) {
    shownEntry = null;
    showFirstView(false);
    $('import-status').textContent = `showing seed ${entry.seed} of the seeds grid: ${entry.model}, run in this page in ${Math.round(entry.wall_s)} s`;
  } else {
    shownEntry = entry;
    showFirstView(true, entry);
    // The controls follow what is shown (once the engine, which holds the configuration, is up).
    if (state.config) adoptShown(entry);
  }
  if (state.status !== 'loading') setStatus('ready');
}

/** The page opens on a finished tms-5-2 decomposition shipped with it, drawn before the engine has loaded. */
async function loadFirstView() {
  const link = new URLSearchParams(location.hash.slice(1));
  if (link.get('model') && link.get('model') !== 'tms-5-2') return;
  const entry = await shipped('tms-5-2-apd');
  // A run or a report shown while this loaded wins; an engine that failed to load does not stop it.
  if (!entry || state.runs > 0 || state.reportShown) return;
  shownEntry = entry;
  showResult(entry.report, entry.views, entry.plan);
  showFirstView(true, entry);
}

/**
 * The engine failed: the page decides by the failure's kind, never by its text.
 * @param {FailedMessage} msg
 */
function onFailure(msg) {
  switch (msg.kind) {
    case 'panic':
      // A panicked engine is not trusted again: show why, and start a fresh
      // one with the same settings (they live in the URL hash).
      state.run = null; state.canContinue = false;
      for (const [seq, resolve] of pending) { pending.delete(seq); resolve({ type: 'field-error', message: msg.message }); }
      banner(`${msg.message}. The engine was restarted; your settings are kept.`, 'error');
      setStatus('loading');
      spawnWorker();
      break;
    case 'diverged':
      // The worker kept the last good state: paused, exportable. Run starts
      // afresh; Step and Export still see the kept state.
      state.canContinue = false;
      setStatus('paused');
      banner(`The decomposition diverged and was paused: ${msg.message}`, 'error');
      setExports(true);
      break;
    case 'internal':
      // A bug in the page's or the worker's JavaScript, not the engine's:
      // shown as the error it is. The engine is sound, so not restarted.
      state.canContinue = false;
      fail(`internal error: ${msg.message}`);
      break;
    default: // invalid, device-lost (the CPU could not take over), busy
      state.canContinue = false;
      fail(msg.message);
  }
}

/** @param {WorkerMessage} msg */
async function onWorkerMessage(msg) {
  // Only requests' seqs are pending: the answer is a Reply.
  if ('seq' in msg && msg.seq && pending.has(msg.seq)) { const resolve = pending.get(msg.seq); pending.delete(msg.seq); resolve(/** @type {Reply} */ (msg)); }
  // A message of a run that is no longer current (reset, or replaced) is dropped.
  if ('run' in msg && msg.run !== state.run && !(msg.type === 'failed' && msg.kind === 'panic')) return;
  switch (msg.type) {
    case 'ready':
      state.presets = msg.presets; state.settings = msg.settings;
      if (!select('model').options.length) for (const p of msg.presets) { const o = document.createElement('option'); o.value = p; o.textContent = p; $('model').append(o); }
      await applyHash();
      setStatus('ready');
      await saved.offer();
      break;
    case 'fatal':
      fail(msg.message);
      break;
    case 'config':
      state.config = msg.config;
      if (msg.path) fieldError(msg.path, '');
      writeHash();
      break;
    case 'field-error':
      fieldError(msg.path, msg.message);
      break;
    case 'started':
      $('backend-active').textContent = msg.backend;
      state.plan = msg.plan;
      draw.setMarks(msg.plan.marks);
      if (msg.resumed) setStatus('decomposing');
      // A checkpoint from before the restarts were compared: the decomposition began again.
      if (msg.startedOver) draw.clearApdCurves();
      break;
    case 'notice':
      banner(msg.message);
      break;
    case 'backend-choice':
      showBackendChoice(msg);
      break;
    case 'progress': {
      const b = msg.batch, p = state.plan;
      draw.addTargetLosses(b.target_losses, b.target_step);
      draw.addApdSteps(b.steps);
      $('step-count').textContent = b.phase === 'target' ? String(b.target_step) : String(b.apd_step);
      $('phase').textContent = b.phase === 'target' ? `training target (${b.target_step}/${p.target_steps})` : `decomposing (${b.apd_step}/${p.apd_steps}${b.apd_start ? `, start ${b.apd_start[0] + 1} of ${b.apd_start[1]}` : ''})`;
      if (b.ms_per_step > 0) $('ms-per-step').textContent = b.ms_per_step.toFixed(2);
      // The decomposition's time left at the current pace (the target's steps cost differently).
      if (b.phase !== 'target' && b.ms_per_step > 0) $('eta').textContent = duration((p.apd_steps - b.apd_step) * b.ms_per_step / 1000);
      if (RUNNING.includes(state.status)) setStatus(b.phase === 'target' ? 'training target' : 'decomposing');
      break;
    }
    case 'snapshot':
      draw.setSnapshot(msg.snap);
      break;
    case 'checkpoint': {
      const problem = await saved.keep('checkpoint', msg.entry);
      if (problem) banner(problem, 'error');
      break;
    }
    case 'done': {
      /** @type {Report} */
      const r = JSON.parse(msg.entry.report);
      const views = draw.currentSnapshot();
      // An APD configuration leaves its method out.
      if (views) compare.setColumn(r.config.method ?? 'apd', { model: r.model, seed: r.seed, target: JSON.stringify(r.target), views, wall_s: r.timing.wall_s, source: `run in this page on ${r.timing.backend}` });
      const problem = await saved.keep('result', msg.entry);
      if (problem) banner(problem, 'error');
      await saved.dropCheckpoint();
      saved.offer();
      state.canContinue = false;
      setExports(true);
      $('phase').textContent = 'done';
      $('eta').textContent = '-';
      setStatus('done');
      break;
    }
    case 'paused':
      if (RUNNING.includes(state.status)) setStatus('paused');
      break;
    case 'failed':
      onFailure(msg);
      break;
    case 'file':
      download(new Blob([msg.text], { type: 'application/json' }), `${exportName()}-${msg.kind}.json`);
      break;
    case 'safetensors':
      download(new Blob([msg.bytes], { type: 'application/octet-stream' }), msg.name);
      download(new Blob([msg.yaml], { type: 'application/yaml' }), msg.name.replace(/\.safetensors$/, '.yaml'));
      break;
    case 'report-views':
      showReport(msg);
      break;
    case 'imported-target': {
      // Switch preset only when the target is for another one: keep the user's settings otherwise.
      if (state.presets.includes(msg.model) && msg.model !== state.preset) await choosePreset(msg.model);
      // Take the target's architecture over, so custom sizes fit too.
      for (const [path, value] of flatten({ model: JSON.parse(msg.config).model })) {
        const reply = await request({ type: 'set', path, value: String(value) });
        if (reply.type === 'field-error') { $('import-status').textContent = `import refused: ${reply.message}`; return; }
      }
      showFields(); writeHash(); showModelKind(state.config);
      const described = await request({ type: 'describe-target', text: msg.text });
      if (described.type !== 'target-note' || !described.note) { $('import-status').textContent = `import refused: ${described.message}`; return; }
      state.importedTarget = msg.text;
      // Another tool's file: what was inferred from it (its norms among it) comes first.
      const scale = scaleText(described.note.scale);
      $('import-status').textContent = msg.summary
        ? `${msg.summary} The next run decomposes it instead of training one${scale ? `: ${scale}` : '.'}`
        : `target loaded (${msg.model}): the next run decomposes it instead of training one. ${scaleText(described.note.scale, described.note.feature_norms)}`;
      if (described.note.warning) banner(`Imported target: ${described.note.warning}`);
      break;
    }
    case 'target-note': // the answer to a request, taken above
      break;
    case 'import-error':
      $('import-status').textContent = `import refused: ${msg.message}`;
      break;
  }
}

// ---- controls ----

$('model').addEventListener('change', async () => { await choosePreset(select('model').value); writeHash(); });
$('seed').addEventListener('change', () => {
  const v = input('seed').value;
  if (!/^\d+$/.test(v) || Number(v) > 4294967295) { banner(`The seed must be an integer in [0, 4294967295]; "${v}" is not.`, 'error'); input('seed').value = '0'; }
  writeHash();
});
$('backend').addEventListener('change', writeHash);
$('curve-feature').addEventListener('change', () => {
  const n = /** @type {Config} */ (JSON.parse(state.config)).model.n_features;
  const v = Number(input('curve-feature').value);
  const f = Number.isInteger(v) && v >= 0 && v < n ? v : 0;
  if (f !== v) banner(`The feature must be an integer in [0, ${n - 1}].`, 'error');
  input('curve-feature').value = String(f);
  send({ type: 'curve', feature: f });
});
$('speed').addEventListener('input', () => { $('speed-value').textContent = input('speed').value; send({ type: 'speed', value: Number(input('speed').value) }); });

$('run').addEventListener('click', () => {
  if (state.status === 'paused' && state.canContinue && state.run) {
    send({ type: 'continue', run: state.run });
    setStatus('starting');
    return;
  }
  startRun(false);
});
$('pause').addEventListener('click', () => { send({ type: 'pause', run: state.run }); setStatus('paused'); });
$('step').addEventListener('click', () => {
  if (state.run && state.status === 'paused') { send({ type: 'step', run: state.run }); return; }
  startRun(true, true);
});
$('reset').addEventListener('click', () => {
  // Nothing of the old run is drawn from here on: its messages carry an id that is no longer current.
  state.run = null; state.canContinue = false;
  showFirstView(false);
  send({ type: 'reset' });
  banner('');
  draw.clearAll();
  for (const id of ['ms-per-step', 'phase', 'eta']) $(id).textContent = '-';
  $('step-count').textContent = '0';
  setStatus('ready');
});
$('method').addEventListener('change', async () => {
  await chooseMethod(/** @type {Method} */ (select('method').value));
  showModelKind(state.config); showFields(); writeHash();
});
$('paper').addEventListener('click', async () => {
  await request({ type: 'paper' });
  showFields(); writeHash();
  banner(select('method').value === 'vpd'
    ? 'VPD has no additions of this project\'s to turn off: its settings are param-decomp\'s, on a shorter schedule for the small models.'
    : select('method').value === 'spd'
    ? 'SPD as in its paper: no delta component, warmup or revive sigmoid, no restarts, the faithfulness loss back, the target decomposed at its own scale (the shorter schedule stays).'
    : `APD as in the paper: no spare components, no restarts, the target decomposed at its own scale${state.preset === 'tms-5-2'
      ? ` (the preset's shorter schedule stays: ${JSON.parse(state.config).apd.steps.toLocaleString('en-US')} steps, the paper's 20,000 with a warmup of 5%)` : ''}.`);
});
$('export-report').addEventListener('click', () => send({ type: 'export', kind: 'report' }));
$('export-target').addEventListener('click', () => send({ type: 'export', kind: 'target' }));
$('export-safetensors').addEventListener('click', () => send({ type: 'export', kind: 'safetensors', name: `${exportName()}.safetensors` }));
/**
 * Imports a report, a target file or another tool's weights: JSON goes as text, anything else as bytes
 * for the engine to read (safetensors, a PyTorch state dict) or refuse with a reason.
 * @param {File} file
 */
async function importFile(file) {
  if (file.size > 64 * 1024 * 1024) { $('import-status').textContent = `import refused: ${file.name} is over 64 MB`; return; }
  const bytes = new Uint8Array(await file.arrayBuffer());
  $('import-status').textContent = `reading ${file.name}…`;
  const first = bytes.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (first === 0x7b) send({ type: 'import', text: new TextDecoder().decode(bytes), seq: ++state.seq });
  else send({ type: 'import-binary', bytes, name: file.name, seq: ++state.seq });
}
$('import').addEventListener('change', async () => {
  const file = input('import').files[0];
  if (file) await importFile(file);
  input('import').value = '';
});
// A file dropped anywhere on the page is imported, as the file picker would.
document.addEventListener('dragover', (e) => {
  if (!e.dataTransfer?.types.includes('Files')) return;
  e.preventDefault(); document.body.classList.add('dropping');
});
document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) document.body.classList.remove('dropping'); });
document.addEventListener('drop', async (e) => {
  document.body.classList.remove('dropping');
  const file = e.dataTransfer?.files[0];
  if (!file) return;
  e.preventDefault();
  if (RUNNING.includes(state.status)) { $('import-status').textContent = `import refused: pause the run first (${file.name} was not read)`; return; }
  await importFile(file);
});
$('saved-show').addEventListener('click', () => {
  const result = saved.entries().result;
  if (result) send({ type: 'views-of', report: result.report, seq: ++state.seq });
});
$('saved-resume').addEventListener('click', () => {
  const cp = saved.entries().checkpoint;
  if (!cp) return;
  banner('');
  showFirstView(false);
  draw.clearAll();
  /** @type {Report} */
  const r = JSON.parse(cp.report);
  // The cards of the checkpoint's model and method, as opening a result of another kind shows them.
  showModelKind(JSON.stringify(r.config));
  draw.addApdSteps(historyOf(r));
  state.run = ++state.runs; state.canContinue = true;
  send({ type: 'resume-checkpoint', run: state.run, report: cp.report, backend: /** @type {BackendPref} */ (select('backend').value) });
  setStatus('starting');
});
$('saved-clear').addEventListener('click', () => saved.clearSaved());
window.addEventListener('hashchange', () => { if (!RUNNING.includes(state.status)) applyHash(); });
// For the end-to-end tests only: a lost GPU device (with or without a fresh one to be had), a
// Rust panic, or a CPU that "auto" measures slower than it is.
/** @type {Window & { apdTestHooks?: Record<string, (arg?: any) => void> }} */ (window).apdTestHooks = {
  /** @param {{ fresh?: boolean }} [o]  fresh: false, the browser then gives no fresh device */
  simulateGpuLoss: (o = {}) => send({ type: 'simulate-gpu-loss', fresh: o.fresh !== false }),
  /** @param {number} ms */
  slowCpuProbe: (ms) => send({ type: 'slow-cpu-probe', ms }),
  simulatePanic: () => send({ type: 'simulate-panic' }),
};
/**
 * A setting changed for the user (by the tour): shown in its field, sent like an edit.
 * @param {string} path
 * @param {string} value
 */
function changeSetting(path, value) {
  const field = /** @type {HTMLInputElement | HTMLSelectElement | null} */ (document.querySelector(`[data-setting="${path}"]`));
  if (field) { revealField(path); field.value = value; field.scrollIntoView({ block: 'center' }); }
  editSetting(path, value);
}
const pressRun = () => { if (!button('run').disabled) $('run').click(); };
/** @param {Method} m */
const tourMethod = async (m) => { await chooseMethod(m); showModelKind(state.config); showFields(); writeHash(); };
/**
 * A seed of the grid opened in the views, which are scrolled to (the grid sits below them).
 * @param {ShippedEntry} entry
 */
const openSeed = (entry) => { showEntry(entry); $('views').scrollIntoView({ block: 'start' }); };
setupTour({ show: showShipped, grid: (name) => showGrid(name, openSeed), set: changeSetting, run: pressRun, pair: pickPair, method: tourMethod }, (n) => { state.chapter = n; writeHash(); });
$('tour-open').addEventListener('click', () => openChapter(state.chapter || 1));
window.addEventListener('hashchange', () => { const n = chapterOf(location.hash); if (n !== state.chapter) openChapter(n); });
// One card alone (`#embed=geometry`), or the whole page with an "Embed" button on every card.
const embedName = embedOf(location.hash);
embedded = embedCard(embedName, () => { if (shownEntry) runShown(); else startRun(false); }) ? embedName : '';
if (!embedded) { offerEmbeds(); offerDownloads(); }
spawnWorker();
setStatus('loading');
draw.clearAll();
loadFirstView();
setupOffline();
showGallery(showShipped);
if (chapterOf(location.hash)) openChapter(chapterOf(location.hash));
$('first-view-run').addEventListener('click', runShown);
$('compare-other').addEventListener('click', async () => {
  const other = /** @type {Method | ''} */ ($('compare-other').dataset.method);
  if (!other || button('run').disabled) return;
  await tourMethod(other);
  startRun(false);
});
compare.openShippedPair();
setupGrid(openSeed, () => (state.config ? { preset: state.preset, config: state.config, seed: Number(input('seed').value) } : null));
