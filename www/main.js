// The page controller: controls, URL hash, and drawing what the worker sends.
import * as store from './store.js';
import { lossChart, lineChart, heatmap, bars, polygon, figure, color, legendCanvas } from './views.js';

const $ = (id) => document.getElementById(id);
const ENUMS = { lr_schedule: ['constant', 'cosine', 'linear'], attribution_source: ['apd', 'target'], unit_norm_a: ['true', 'false'] };
const MAX_POINTS = 3000;
const APD_SERIES = ['total', 'faithfulness', 'minimality', 'simplicity', 'activation'];

const state = {
  presets: [], preset: null, presetConfig: null, config: null, running: false, runState: 'idle',
  series: { target: [], total: [], faithfulness: [], minimality: [], simplicity: [], activation: [] },
  curveFeature: 0,
  importedTarget: null, lastReport: null, lastSnapshot: null, seq: 0, drawPending: false,
};

let worker = null;
const send = (msg) => worker.postMessage(msg);
/** Starts (or, after a Rust panic, restarts) the worker that owns the wasm engine. */
function spawnWorker() {
  worker?.terminate();
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onerror = (e) => setStatus(`error: the worker failed (${e.message || 'unknown error'})`);
  worker.onmessage = onWorkerMessage;
}

function setStatus(text) {
  const el = $('status');
  el.textContent = text;
  el.dataset.status = text.startsWith('error') ? 'error' : text;
  state.runState = text;
  $('run').disabled = !state.config || state.running;
  $('pause').disabled = !state.running;
  $('step').disabled = !state.config || state.running;
  $('reset').disabled = text === 'loading';
}

function banner(text, kind = 'info') {
  const b = $('banner');
  if (!text) { b.hidden = true; return; }
  b.hidden = false; b.textContent = text; b.className = `banner ${kind}`;
}

// ---- configuration fields and the URL hash ----

function flatten(obj, prefix = '', out = []) {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (k === 'kind') continue;
    if (v && typeof v === 'object') flatten(v, path, out); else out.push([path, v]);
  }
  return out;
}

function renderFields() {
  const root = $('fields');
  root.innerHTML = '';
  const cfg = JSON.parse(state.config);
  const groups = {};
  for (const [path, value] of flatten(cfg)) {
    const g = path.split('.')[0];
    if (!groups[g]) {
      const fs = document.createElement('fieldset');
      const lg = document.createElement('legend'); lg.textContent = { model: 'target model', target: 'target training', apd: 'decomposition' }[g] || g;
      fs.append(lg); root.append(fs); groups[g] = fs;
    }
    const key = path.split('.').pop();
    const div = document.createElement('div'); div.className = 'field'; div.dataset.path = path;
    const label = document.createElement('label');
    const span = document.createElement('span'); span.textContent = key;
    let input;
    if (ENUMS[key]) {
      input = document.createElement('select');
      for (const o of ENUMS[key]) { const opt = document.createElement('option'); opt.value = o; opt.textContent = o; input.append(opt); }
      input.value = value;
    } else {
      input = document.createElement('input'); input.type = 'text'; input.value = String(value);
      input.inputMode = 'decimal';
    }
    input.dataset.testid = `field-${path}`;
    input.setAttribute('data-testid', `field-${path}`);
    input.addEventListener('change', () => send({ type: 'set', config: state.config, path, value: input.value, seq: ++state.seq }));
    const err = document.createElement('div'); err.className = 'error';
    label.append(span, input); div.append(label, err); groups[g].append(div);
  }
}

function fieldError(path, message) {
  for (const div of document.querySelectorAll('.field')) {
    const mine = div.dataset.path === path;
    if (mine || !message) { div.classList.toggle('invalid', mine && !!message); div.querySelector('.error').textContent = mine ? message : ''; }
  }
}

function writeHash() {
  const params = new URLSearchParams();
  params.set('model', state.preset);
  params.set('seed', $('seed').value);
  params.set('backend', $('backend').value);
  const base = Object.fromEntries(flatten(JSON.parse(state.presetConfig)));
  for (const [path, value] of flatten(JSON.parse(state.config))) if (base[path] !== value) params.set(path, String(value));
  history.replaceState(null, '', `#${params}`);
}

/** Applies the URL hash: unknown keys and bad values are reported and skipped. */
async function applyHash() {
  // While the link is being applied, the intermediate configurations must not
  // overwrite it (a reload in between would lose the link's settings).
  state.applyingHash = true;
  try { await applyHashInner(); } finally { state.applyingHash = false; }
  writeHash();
}

async function applyHashInner() {
  const params = new URLSearchParams(location.hash.slice(1));
  const problems = [];
  const model = params.get('model');
  if (model && !state.presets.includes(model)) problems.push(`unknown model "${model}"`);
  await choosePreset(model && state.presets.includes(model) ? model : state.presets[0]);
  const seed = params.get('seed');
  if (seed !== null) {
    if (/^\d+$/.test(seed) && Number(seed) <= 4294967295) $('seed').value = seed; else problems.push(`seed "${seed}" is not an integer in [0, 4294967295]`);
  }
  const backend = params.get('backend');
  if (backend !== null) {
    if (['auto', 'webgpu', 'cpu'].includes(backend)) $('backend').value = backend; else problems.push(`backend "${backend}" is not auto, webgpu or cpu`);
  }
  for (const [key, value] of params) {
    if (['model', 'seed', 'backend'].includes(key)) continue;
    const reply = await request({ type: 'set', config: state.config, path: key, value });
    if (reply.type === 'field-error') problems.push(reply.message);
  }
  renderFields();
  if (problems.length) banner(`Ignored from the link: ${problems.join('; ')}.`, 'error');
}

// Request/response over the worker, matched by sequence number.
const pending = new Map();
function request(msg) {
  msg.seq = ++state.seq;
  return new Promise((resolve) => { pending.set(msg.seq, resolve); send(msg); });
}

async function choosePreset(name) {
  const reply = await request({ type: 'preset', name });
  state.preset = name; state.presetConfig = reply.config; state.config = reply.config;
  $('model').value = name;
  showModelKind();
  state.importedTarget = null;
  renderFields();
}

// ---- drawing ----

const isResid = () => !!state.config && JSON.parse(state.config).model.kind === 'resid_mlp';
/** Shows the views of the chosen architecture (TMS or residual MLP) only. */
function showModelKind() {
  document.body.classList.toggle('model-resid', isResid());
  $('attr-note').textContent = isResid()
    ? 'feature (row) x component (column), share of the feature\'s attribution; columns ordered so dedicated components sit on the diagonal'
    : 'one-hot input (row) x component (column)';
}

/** Column order putting feature i's dedicated component in column i where it can. */
function diagonalOrder(dedicated, C) {
  const order = [];
  for (const c of dedicated) if (!order.includes(c)) order.push(c);
  for (let c = 0; c < C; c++) if (!order.includes(c)) order.push(c);
  return order;
}

function drawResid(s) {
  const r = s.metrics.resid;
  const n = r.dedicated.length, C = r.n_components;
  $('dedicated').textContent = `${r.n_dedicated}/${n}`;
  $('mean-share').textContent = r.mean_share.toFixed(3);
  $('topk-loss').textContent = r.topk_loss.toExponential(2);
  $('target-loss').textContent = r.target_loss.toExponential(2);
  const count = new Map();
  for (const c of r.dedicated) count.set(c, (count.get(c) || 0) + 1);
  bars($('cos-chart'), r.shares, { colors: r.dedicated.map((c) => (count.get(c) > 1 ? '#b8b8bc' : color(c))), labels: r.shares.map((_, i) => i) });
  const order = diagonalOrder(r.dedicated, C);
  const shares = [];
  for (let i = 0; i < n; i++) {
    const row = r.attributions.slice(i * C, (i + 1) * C);
    const total = row.reduce((a, b) => a + b, 0) || 1;
    for (const c of order) shares.push(row[c] / total);
  }
  heatmap($('attr-chart'), shares, n, C, { signed: false, scale: 1, rowLabel: 'feature', colLabel: 'component (permuted)' });
  if (r.layer_mass.length && r.layer_mass[0].length > 1) {
    bars($('mass-chart'), r.layer_mass.map((m) => m[0]), { labels: r.layer_mass.map((_, i) => i) });
    $('mass-chart').title = 'fraction of each dedicated component\'s weight mass in layer 1 (the rest is in the later layers)';
  } else {
    const ctx = $('mass-chart').getContext('2d');
    ctx.clearRect(0, 0, 420, 160); ctx.fillStyle = '#6b6b70'; ctx.fillText('one layer: nothing to split', 20, 80);
  }
  const v = s.resid;
  if (!v) return;
  const neurons = $('neurons');
  neurons.innerHTML = '';
  const scale = Math.max(1e-9, ...v.neurons_target.map(Math.abs), ...v.neurons_component.map(Math.abs));
  const h = Math.max(160, Math.min(400, 20 + v.n * 6)), w = Math.max(240, Math.min(560, 40 + v.neurons * 10));
  heatmap(figure(neurons, 'target', w, h), v.neurons_target, v.n, v.neurons, { scale, legend: false });
  heatmap(figure(neurons, 'dedicated component of each feature', w, h), v.neurons_component, v.n, v.neurons, { scale, legend: false });
  legendCanvas(neurons, scale);
  const c = v.curve;
  lineChart($('curve-chart'), c.xs, [
    { name: 'label x+relu(x)', color: '#b8b8bc', ys: c.labels },
    { name: 'target', color: '#1d1d1f', ys: c.target },
    { name: 'top-k APD', color: '#d6453d', dashed: true, ys: c.topk },
  ], { xLabel: `x_${c.feature}` });
}

function push(series, x, y) {
  series.push([x, y]);
  if (series.length > MAX_POINTS) {
    // Halve the resolution of the older half to keep drawing cheap.
    const half = series.length >> 1;
    const thinned = series.slice(0, half).filter((_, i) => i % 2 === 0);
    series.splice(0, half, ...thinned);
  }
}

/** Adds APD step records (a batch's, or a report's history) to the loss curves. */
function pushApdSteps(steps) {
  for (const s of steps) for (const k of APD_SERIES) if (s[k] != null) push(state.series[k], s.step, s[k]);
}

/** Clears the views and shows a report's loss history, in its model's views. */
function showReportHistory(r) {
  clearViews();
  state.chartApd = r.config.apd;
  pushApdSteps(r.history);
  document.body.classList.toggle('model-resid', !!r.metrics.resid);
}

function scheduleDraw() {
  if (state.drawPending) return;
  state.drawPending = true;
  requestAnimationFrame(() => {
    state.drawPending = false;
    const { target, ...apdSeries } = state.series;
    lossChart($('target-chart'), { target });
    lossChart($('loss-chart'), apdSeries, startMarks(state.chartApd));
    if (state.lastSnapshot) drawSnapshot(state.lastSnapshot);
  });
}

function drawSnapshot(s) {
  const m = s.metrics;
  if (m && m.resid) {
    $('mean-active').textContent = m.mean_active.toFixed(3);
    drawResid(s);
  } else if (m) {
    $('mmcs').textContent = m.mmcs.toFixed(4);
    $('ml2r').textContent = m.ml2r.toFixed(4);
    $('mean-active').textContent = m.mean_active.toFixed(3);
    bars($('cos-chart'), m.features.map((f) => f.cos), { threshold: 0.98, colors: m.features.map((f) => color(f.component)), labels: m.features.map((_, i) => i) });
  }
  if (s.active_histogram && s.active_histogram.length) {
    const total = s.active_histogram.reduce((a, b) => a + b, 0) || 1;
    bars($('hist-chart'), s.active_histogram.map((v) => v / total), { max: null, labels: s.active_histogram.map((_, i) => i) });
  }
  if (!s.target || !s.target.length) return;
  const [, n, d, w] = s.target[0];
  const C = s.components[0].length;
  const geo = $('geometry');
  geo.innerHTML = '';
  const row = document.createElement('div'); row.className = 'multiples'; geo.append(row);
  const sum = new Array(n * d).fill(0);
  for (const p of s.components[0]) p.forEach((v, i) => { sum[i] += v; });
  if (d === 2) {
    $('geometry-note').textContent = 'each line is one feature\'s vector W[i,:]; colour = feature';
    const rows = (vals) => Array.from({ length: n }, (_, i) => [vals[2 * i], vals[2 * i + 1]]);
    const scale = Math.max(...rows(w).map(([x, y]) => Math.hypot(x, y)));
    polygon(figure(row, 'target W', 170, 170), rows(w), { scale, colorOf: color });
    polygon(figure(row, 'sum of components', 170, 170), rows(sum), { scale, colorOf: color });
    s.components[0].forEach((p, c) => polygon(figure(row, `component ${c}`, 130, 130), rows(p), { scale, colorOf: color }));
  } else {
    $('geometry-note').textContent = 'd > 2: W and the sum of components as heatmaps (rows = features)';
    const scale = Math.max(...w.map(Math.abs));
    heatmap(figure(row, 'target W', 220, Math.min(420, 20 + n * 8)), w, n, d, { scale, legend: false });
    heatmap(figure(row, 'sum of components', 220, Math.min(420, 20 + n * 8)), sum, n, d, { scale, legend: false });
    legendCanvas(geo, scale);
  }
  const comps = $('components');
  comps.innerHTML = '';
  s.components.forEach((layer, l) => {
    const [name, rows, cols] = s.target[l];
    const h = document.createElement('p'); h.className = 'note'; h.textContent = `${name} (${rows} x ${cols})`;
    const mult = document.createElement('div'); mult.className = 'multiples';
    comps.append(h, mult);
    const scale = Math.max(1e-9, ...layer.flatMap((p) => p.map(Math.abs)));
    const size = C > 12 ? 60 : 110;
    layer.forEach((p, c) => heatmap(figure(mult, `c${c}`, size, Math.round(size * Math.min(2, rows / cols))), p, rows, cols, { scale, legend: false }));
    legendCanvas(comps, scale);
  });
  if (s.attributions && s.attributions.length) {
    heatmap($('attr-chart'), s.attributions, n, C, { signed: false, rowLabel: 'feature', colLabel: 'component' });
  }
}

function clearViews() {
  for (const k of Object.keys(state.series)) state.series[k] = [];
  state.lastSnapshot = null;
  for (const id of ['mmcs', 'ml2r', 'mean-active', 'ms-per-step', 'phase', 'dedicated', 'mean-share', 'topk-loss', 'target-loss']) $(id).textContent = '-';
  $('step-count').textContent = '0';
  for (const id of ['geometry', 'components', 'neurons']) $(id).innerHTML = '';
  for (const id of ['cos-chart', 'hist-chart', 'attr-chart', 'target-chart', 'curve-chart', 'mass-chart']) { const c = $(id); c.getContext('2d').clearRect(0, 0, c.width, c.height); }
  scheduleDraw();
}

/** Views of an imported report, rebuilt from its factors. */
function snapshotFromReport(r) {
  // A residual MLP report shows its metrics; its matrices are too large to redraw here.
  if (r.metrics.resid) return { phase: 'done', metrics: r.metrics, active_histogram: [] };
  const C = r.components.n_components, m = r.components.rank;
  const target = r.components.layers.map((f) => [f.name, f.d_in, f.d_out, r.target[f.name].flat()]);
  const components = r.components.layers.map((f) => Array.from({ length: C }, (_, c) => {
    const p = new Array(f.d_in * f.d_out).fill(0);
    for (let i = 0; i < f.d_in; i++) for (let j = 0; j < m; j++) {
      const a = f.a[i * C * m + c * m + j];
      for (let k = 0; k < f.d_out; k++) p[i * f.d_out + k] += a * f.b[(c * m + j) * f.d_out + k];
    }
    return p;
  }));
  return { phase: 'done', target, components, attributions: [], metrics: r.metrics, active_histogram: [] };
}

// ---- results kept across reloads ----

async function keep(key, report) {
  const problem = await store.put(key, { report, savedAt: Date.now() });
  if (problem) banner(problem, 'error');
}

/** Steps of each start when `apd.restarts` > 0. As `ApdConfig::restart_len`. */
function restartLen(apd) {
  return Math.min(Math.max(Math.round((apd.restart_pct ?? 0.15) * apd.steps), 1), apd.steps);
}

/** All APD steps of a run: the starts that lose (`apd.restarts`), then the full schedule. As `ApdConfig::total_steps`. */
function totalSteps(apd) {
  return apd.steps + (apd.restarts ?? 0) * restartLen(apd);
}

/** Where the APD loss chart marks the restarts: each new start, and where the best one goes on. */
function startMarks(apd) {
  if (!apd?.restarts) return [];
  const len = restartLen(apd);
  const marks = [];
  for (let t = 1; t <= apd.restarts; t++) marks.push([t * len, `start ${t + 1}`]);
  marks.push([(apd.restarts + 1) * len, 'best goes on']);
  return marks;
}

/** Offers what the last visit left: a finished result and/or a checkpoint of a run in progress. */
async function offerSaved() {
  const [result, checkpoint] = await Promise.all([store.get('result'), store.get('checkpoint')]);
  state.saved = { result, checkpoint };
  const describe = (entry, what) => {
    const r = JSON.parse(entry.report);
    const step = (r.history.at(-1)?.step ?? -1) + 1;
    return `${what}: ${r.model}, seed ${r.seed}, ${step}/${totalSteps(r.config.apd)} steps (${new Date(entry.savedAt).toLocaleString()})`;
  };
  const lines = [];
  if (result) lines.push(describe(result, 'last finished decomposition'));
  if (checkpoint) lines.push(describe(checkpoint, 'unfinished run, checkpoint'));
  $('saved').hidden = !lines.length;
  $('saved-note').textContent = lines.join('; ');
  $('saved-show').hidden = !result;
  $('saved-resume').hidden = !checkpoint;
}

$('saved-show').addEventListener('click', () => { if (state.saved?.result) send({ type: 'import', text: state.saved.result.report }); });
$('saved-resume').addEventListener('click', () => {
  const cp = state.saved?.checkpoint;
  if (!cp) return;
  const r = JSON.parse(cp.report);
  banner('');
  showReportHistory(r);
  state.running = true; state.hasRun = true;
  send({ type: 'resume-checkpoint', report: cp.report, backend: $('backend').value });
  setStatus('starting');
});
$('saved-clear').addEventListener('click', async () => { await store.remove('result', 'checkpoint'); await offerSaved(); });

// ---- worker messages ----

async function onWorkerMessage({ data: msg }) {
  if (msg.seq && pending.has(msg.seq)) { const r = pending.get(msg.seq); pending.delete(msg.seq); r(msg); }
  switch (msg.type) {
    case 'ready':
      state.presets = msg.presets;
      if (!$('model').options.length) for (const p of msg.presets) { const o = document.createElement('option'); o.value = p; o.textContent = p; $('model').append(o); }
      await applyHash();
      state.running = false;
      setStatus('ready');
      await offerSaved();
      break;
    case 'fatal':
      state.running = false; setStatus(`error: ${msg.message}`); banner(msg.message, 'error');
      break;
    case 'config':
      state.config = msg.config;
      fieldError(null, '');
      if (state.presetConfig && !state.applyingHash) writeHash();
      break;
    case 'field-error':
      fieldError(msg.path, msg.message);
      break;
    case 'started':
      $('backend-active').textContent = msg.backend;
      if (msg.resumed) { state.running = true; setStatus('decomposing'); }
      // A checkpoint from before the restarts were compared: the run began again.
      if (msg.startedOver) { for (const k of APD_SERIES) state.series[k] = []; scheduleDraw(); }
      break;
    case 'notice':
      banner(msg.message);
      break;
    case 'progress': {
      const b = msg.batch;
      let t = b.target_step - b.target_losses.length;
      for (const l of b.target_losses) push(state.series.target, t++, l);
      pushApdSteps(b.apd);
      $('step-count').textContent = b.phase === 'target' ? String(b.target_step) : String(b.apd_step);
      $('phase').textContent = b.phase === 'target' ? `training target (${b.target_step}/${b.target_steps})` : `decomposing (${b.apd_step}/${b.apd_steps}${b.apd_start ? `, start ${b.apd_start[0] + 1} of ${b.apd_start[1]}` : ''})`;
      if (b.ms_per_step > 0) $('ms-per-step').textContent = b.ms_per_step.toFixed(2);
      if (state.running) setStatus(b.phase === 'target' ? 'training target' : 'decomposing');
      scheduleDraw();
      break;
    }
    case 'snapshot':
      state.lastSnapshot = msg.snap; scheduleDraw();
      break;
    case 'checkpoint':
      await keep('checkpoint', msg.report);
      break;
    case 'diverged':
      // The worker kept the last good state: the run is paused, and can be exported.
      // Run starts afresh (with the settings as they are now); Step and Export still see the kept state.
      state.running = false; state.hasRun = false; setStatus('paused');
      banner(`The decomposition diverged and was paused: ${msg.message}`, 'error');
      $('export-report').disabled = false; $('export-target').disabled = false;
      break;
    case 'done':
      await keep('result', msg.report);
      await store.remove('checkpoint');
      offerSaved();
      state.running = false; state.lastReport = msg.report;
      $('export-report').disabled = false; $('export-target').disabled = false;
      $('phase').textContent = 'done';
      setStatus('done');
      break;
    case 'paused':
      if (state.running) { state.running = false; setStatus('paused'); }
      break;
    case 'reset':
      state.running = false; clearViews(); setStatus('ready');
      break;
    case 'error':
      state.running = false; setStatus(`error: ${msg.message}`);
      banner(msg.message, 'error');
      break;
    case 'file': {
      const blob = new Blob([msg.text], { type: 'application/json' });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `${state.preset}-seed${$('seed').value}-${msg.kind}.json`;
      a.click(); setTimeout(() => URL.revokeObjectURL(a.href), 1000);
      break;
    }
    case 'imported-report': {
      const r = JSON.parse(msg.report);
      state.lastReport = msg.report;
      showReportHistory(r);
      state.lastSnapshot = snapshotFromReport(r);
      $('import-status').textContent = `showing report: ${r.model}, seed ${r.seed}, ${totalSteps(r.config.apd)} steps on ${r.timing.backend}`;
      setStatus('done'); scheduleDraw();
      break;
    }
    case 'imported-target': {
      // Switch preset only when the target is for another one: keep the user's settings otherwise.
      if (state.presets.includes(msg.model) && msg.model !== state.preset) await choosePreset(msg.model);
      // Take the target's architecture over, so custom sizes fit too.
      for (const [path, value] of flatten({ model: JSON.parse(msg.config).model })) {
        const reply = await request({ type: 'set', config: state.config, path, value: String(value) });
        if (reply.type === 'field-error') { $('import-status').textContent = `import refused: ${reply.message}`; return; }
      }
      renderFields(); writeHash(); showModelKind();
      state.importedTarget = msg.text;
      $('import-status').textContent = `target loaded (${msg.model}): the next run decomposes it instead of training one`;
      break;
    }
    case 'import-error':
      $('import-status').textContent = `import refused: ${msg.message}`;
      break;
    case 'crashed':
      // The engine panicked: show why, and start a fresh one with the same settings (they live in the URL hash).
      state.running = false; state.hasRun = false;
      for (const [seq, resolve] of pending) { pending.delete(seq); resolve({ type: 'field-error', message: msg.message }); }
      banner(`${msg.message}. The engine was restarted; your settings are kept.`, 'error');
      setStatus('loading');
      spawnWorker();
      break;
  }
}

// ---- controls ----

$('model').addEventListener('change', async () => { await choosePreset($('model').value); writeHash(); });
$('seed').addEventListener('change', () => {
  const v = $('seed').value;
  if (!/^\d+$/.test(v) || Number(v) > 4294967295) { banner(`The seed must be an integer in [0, 4294967295]; "${v}" is not.`, 'error'); $('seed').value = '0'; }
  writeHash();
});
$('backend').addEventListener('change', writeHash);
$('curve-feature').addEventListener('change', () => {
  const n = JSON.parse(state.config).model.n_features;
  const v = Number($('curve-feature').value);
  const f = Number.isInteger(v) && v >= 0 && v < n ? v : 0;
  if (f !== v) banner(`The feature must be an integer in [0, ${n - 1}].`, 'error');
  $('curve-feature').value = String(f);
  state.curveFeature = f;
  send({ type: 'curve', feature: f });
});
$('speed').addEventListener('input', () => { $('speed-value').textContent = $('speed').value; send({ type: 'speed', value: Number($('speed').value) }); });

function startRun(paused, stepOnce = false) {
  banner('');
  clearViews();
  state.chartApd = JSON.parse(state.config).apd;
  state.running = !paused;
  $('export-report').disabled = true; $('export-target').disabled = true;
  send({ type: 'start', preset: state.preset, config: state.config, seed: Number($('seed').value), backend: $('backend').value, target: state.importedTarget, paused, stepOnce });
  setStatus(paused ? 'paused' : 'starting');
}

$('run').addEventListener('click', () => {
  if (state.runState === 'paused' && state.hasRun) { state.running = true; send({ type: 'resume' }); setStatus('running'); return; }
  state.hasRun = true;
  startRun(false);
});
$('pause').addEventListener('click', () => { send({ type: 'pause' }); state.running = false; setStatus('paused'); });
$('step').addEventListener('click', () => {
  if (!state.hasRun || state.runState === 'done' || state.runState.startsWith('error')) { state.hasRun = true; startRun(true, true); return; }
  send({ type: 'step' });
});
$('reset').addEventListener('click', () => { state.hasRun = false; send({ type: 'reset' }); });
$('export-report').addEventListener('click', () => send({ type: 'export-report' }));
$('export-target').addEventListener('click', () => send({ type: 'export-target' }));
$('import').addEventListener('change', async () => {
  const file = $('import').files[0];
  if (!file) return;
  if (file.size > 64 * 1024 * 1024) { $('import-status').textContent = 'import refused: the file is over 64 MB'; return; }
  send({ type: 'import', text: await file.text() });
  $('import').value = '';
});
window.addEventListener('hashchange', () => { if (!state.running) applyHash(); });
// For the end-to-end tests only: makes the next WebGPU step fail as a lost device would.
window.apdTestHooks = {
  simulateGpuLoss: () => send({ type: 'simulate-gpu-loss' }),
  simulatePanic: () => send({ type: 'simulate-panic' }),
};
spawnWorker();
setStatus('loading');
scheduleDraw();
