// @ts-check
// What each card of the page shows: the loss curves, kept here as they
// arrive, and the view data of a snapshot (computed by the engine).
import { lossChart, lineChart, heatmap, bars, polygon, figure, color, legendCanvas, clear, setPixelRatio, emptyCard, diagonalOrder, permuteColumns, maxOf, maxAbsOf } from './views.js';
import { drawSamples, drawAblation, clearExplore } from './explore.js';
import { drawSpd, clearSpd } from './spd.js';
import { drawEvaluation } from './evaluation.js';
import { drawAdversary } from './adversary.js';
/** @typedef {import('./protocol.js').Snapshot} Snapshot */
/** @typedef {import('./protocol.js').Starts} Starts */
/** @typedef {import('./protocol.js').StepRecord} StepRecord */
/** @typedef {import('./views.js').Chart} Chart */

/** @param {string} id */
const $ = (id) => document.getElementById(id);
/**
 * The view of a method with causal importances (SPD's or VPD's), if the snapshot has one.
 * @param {Snapshot} s
 */
const ciOf = (s) => s.spd ?? s.vpd ?? null;
/** @param {Snapshot} s */
const ciName = (s) => (s.spd ? 'SPD' : 'VPD');
/** @param {string} id */
const chart = (id) => /** @type {Chart} */ (document.getElementById(id));
const MAX_POINTS = 3000;
const MAX_MULTIPLES = 48; // components drawn per matrix
// What a step record holds besides its loss terms, which are each method's own.
const NOT_TERMS = new Set(['step', 'lr', 'mean_active']);
const NUMBERS = ['mmcs', 'ml2r', 'mean-active', 'dedicated', 'mean-share', 'topk-loss', 'target-loss'];

/** @type {Record<string, Array<[number, number]>>} */
const curves = { target: [] };
/** @type {Array<[number, string]>} */
let marks = []; // [[step, label]] where the APD loss chart marks the restarts (from the engine's plan)
/** @type {Snapshot | null} */
let snapshot = null;
let snapshotDirty = false; // a snapshot came (or what it is drawn with changed) since it was last drawn
// A snapshot of a large model takes long to draw (hundreds of small
// heatmaps): it is drawn at most once per five times its drawing took, the
// latest one only, so that the page keeps answering while a run goes on.
let snapshotDrawnAt = 0, snapshotDrawMs = 0;
/** @type {ReturnType<typeof setTimeout> | null} */
let snapshotTimer = null;
let pending = false;
let saved = false; // drawing a saved result: it keeps no target training and no last batch

/**
 * @param {Array<[number, number]>} series
 * @param {number} x
 * @param {number} y
 */
function push(series, x, y) {
  series.push([x, y]);
  if (series.length > MAX_POINTS) {
    // Halve the resolution of the older half to keep drawing cheap.
    const half = series.length >> 1;
    const thinned = series.slice(0, half).filter((_, i) => i % 2 === 0);
    series.splice(0, half, ...thinned);
  }
}

/**
 * Target losses, the last of which belongs to step `lastStep - 1`.
 * @param {number[]} losses
 * @param {number} lastStep
 */
export function addTargetLosses(losses, lastStep) {
  let t = lastStep - losses.length;
  for (const l of losses) push(curves.target, t++, l);
  schedule();
}

/**
 * Step records of any method (a batch's, or a report's history): a curve per loss term.
 * @param {StepRecord[]} steps
 */
export function addApdSteps(steps) {
  for (const s of steps) {
    for (const [k, v] of Object.entries(s)) if (!NOT_TERMS.has(k) && v != null) push(curves[k] ??= [], s.step, v);
  }
  schedule();
}

/** Forgets the decomposition's curves (a decomposition that started over). */
export function clearApdCurves() {
  for (const k of Object.keys(curves)) if (k !== 'target') delete curves[k];
  schedule();
}

/**
 * Where the APD loss chart marks each restart.
 * @param {Array<[number, string]>} m
 */
export function setMarks(m) {
  marks = m || [];
  schedule();
}

/**
 * The view data to draw next.
 * @param {Snapshot} s
 */
export function setSnapshot(s) {
  snapshot = s;
  snapshotDirty = true;
  schedule();
}

/** The view data drawn now (null before any). */
export const currentSnapshot = () => snapshot;

/**
 * Says whether what is drawn is a saved result (imported, kept, shipped) rather than a run.
 * @param {boolean} on
 */
export function setSaved(on) {
  saved = on;
  snapshotDirty = true;
  schedule();
}

/** Forgets everything drawn: curves, figures, views. */
export function clearAll() {
  for (const k of Object.keys(curves)) if (k !== 'target') delete curves[k];
  curves.target = [];
  snapshot = null; marks = []; saved = false;
  // What comes next (a result opened, a new run) is drawn at once.
  snapshotDrawnAt = 0; snapshotDrawMs = 0;
  clearTimeout(snapshotTimer); snapshotTimer = null;
  for (const id of NUMBERS) $(id).textContent = '-';
  $('scale-note').textContent = '';
  $('starts-note').textContent = '';
  for (const id of ['geometry', 'components', 'neurons', 'residual']) $(id).innerHTML = '';
  for (const id of ['cos-chart', 'hist-chart', 'attr-chart', 'target-chart', 'loss-chart', 'curve-chart', 'mass-chart', 'cos-matrix']) clear(chart(id));
  clearExplore();
  clearSpd();
  drawEvaluation(null, []);
  drawAdversary(undefined, undefined);
  schedule();
}

/**
 * Draws everything now, whatever the throttle says, with the charts at
 * `ratio` device pixels per pixel (0: the screen's): a download draws at 2
 * and then back.
 * @param {number} ratio
 */
export function redrawAt(ratio) {
  setPixelRatio(ratio);
  drawCurves();
  if (snapshot) drawSnapshot(snapshot);
}

function drawCurves() {
  const { target, ...apdSeries } = curves;
  emptyCard('card-target', saved && !target.length ? 'A finished result keeps no training curve of its target: run it here to watch the target learn.' : null);
  if (!saved || target.length) lossChart(chart('target-chart'), { target });
  lossChart(chart('loss-chart'), apdSeries, marks);
}

/** Draws at the next animation frame, once however many updates came. */
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    drawCurves();
    if (snapshot && snapshotDirty) {
      const wait = snapshotDrawnAt + 4 * snapshotDrawMs - performance.now();
      if (wait <= 0) {
        snapshotDirty = false;
        const t0 = performance.now();
        drawSnapshot(snapshot);
        snapshotDrawnAt = performance.now();
        snapshotDrawMs = snapshotDrawnAt - t0;
      } else if (!snapshotTimer) {
        snapshotTimer = setTimeout(() => { snapshotTimer = null; schedule(); }, wait);
      }
    }
  });
}

/** @param {Snapshot} s */
function drawResid(s) {
  const r = s.metrics.resid;
  const n = r.dedicated.length, C = r.n_components;
  $('dedicated').textContent = `${r.n_dedicated}/${n}`;
  $('mean-share').textContent = r.mean_share.toFixed(3);
  $('topk-loss').textContent = r.topk_loss.toExponential(2);
  $('target-loss').textContent = r.target_loss.toExponential(2);
  const count = new Map();
  for (const c of r.dedicated) count.set(c, (count.get(c) || 0) + 1);
  bars(chart('cos-chart'), r.shares, { colors: r.dedicated.map((c) => (count.get(c) > 1 ? '#b8b8bc' : color(c))), labels: r.shares.map((_, i) => i) });
  const order = diagonalOrder(r.dedicated, C);
  /** @type {number[]} */
  const shares = [];
  for (let i = 0; i < n; i++) {
    const row = r.attributions.slice(i * C, (i + 1) * C);
    const total = row.reduce((a, b) => a + b, 0) || 1;
    for (const c of order) shares.push(row[c] / total);
  }
  heatmap(chart('attr-chart'), shares, n, C, { signed: false, scale: 1, rowLabel: 'feature', colLabel: 'component (permuted)', colNames: order.map((c) => `component ${c}`) });
  drawAblation(s.ablation, n, C, order);
  // Subcomponent k of one matrix has nothing to do with subcomponent k of another.
  const split = r.layer_mass.length > 0 && r.layer_mass[0].length > 1;
  emptyCard('card-mass', ciOf(s) ? `${ciName(s)}: each subcomponent belongs to one matrix, so there is no split across layers to show.`
    : split ? null : 'One layer: there is no split across layers to show.');
  if (!ciOf(s) && split) {
    bars(chart('mass-chart'), r.layer_mass.map((m) => m[0]), { labels: r.layer_mass.map((_, i) => i) });
    $('mass-chart').title = 'fraction of each dedicated component\'s weight mass in layer 1 (the rest is in the later layers)';
  }
  const v = s.resid;
  if (!v) return;
  const neurons = $('neurons');
  neurons.innerHTML = '';
  const scale = Math.max(maxAbsOf(v.neurons_target, 1e-9), maxAbsOf(v.neurons_component));
  const h = Math.max(160, Math.min(400, 20 + v.n * 6)), w = Math.max(240, Math.min(560, 40 + v.neurons * 10));
  heatmap(figure(neurons, 'target', w, h), v.neurons_target, v.n, v.neurons, { scale, legend: false });
  $('neurons-howto').textContent = ciOf(s)
    ? `How to read: row i shows which neurons of the target compute feature i; ${ciName(s)} splits each matrix on its own, so there is no per-feature map to set beside it (the note below).`
    : 'How to read: row i shows which neurons compute feature i; the lower map should repeat the upper one row by row if each feature\'s component holds its mechanism.';
  $('curve-howto').textContent = ciOf(s)
    ? `How to read: the target (black) and ${ciName(s)} with every matrix masked by its causal importances (red, dashed) should both follow x + relu(x) (grey); the green line (ck only) keeps only subcomponent k of the first W_in, this feature's own, so if it follows too, that one subcomponent computes the feature there.`
    : 'How to read: the target (black) and the top-k components (red, dashed) should both follow x + relu(x) (grey); the green line (ck only) keeps only this feature\'s own component k, so if it follows too, that one component computes the feature.';
  if (ciOf(s)) {
    // An SPD subcomponent belongs to one matrix: a feature's own one in W_in
    // has no part in W_out (whose subcomponents are shared), so a per-feature
    // map through both would be nearly empty and read as a failure.
    const note = document.createElement('p');
    note.className = 'note';
    note.dataset.testid = 'neurons-spd-note';
    note.textContent = `${ciName(s)}: each subcomponent belongs to one matrix, so no single one carries a feature through W_in and W_out; the causal importance card below shows which subcomponent of each matrix a feature needs.`;
    neurons.append(note);
  } else {
    heatmap(figure(neurons, 'dedicated component of each feature', w, h), v.neurons_component, v.n, v.neurons, { scale, legend: false });
  }
  legendCanvas(neurons, scale);
  const c = v.curve;
  lineChart(chart('curve-chart'), c.xs, [
    { name: 'x + relu(x)', color: '#b8b8bc', ys: c.labels },
    { name: 'target', color: '#1d1d1f', ys: c.target },
    { name: ciOf(s) ? ciName(s) : 'top-k APD', color: '#d6453d', dashed: true, ys: c.topk },
    ...(c.dedicated ? [{ name: `c${r.dedicated[c.feature]} only`, color: '#2a9d55', dashed: true, ys: c.dedicated }] : []),
  ], { xLabel: `x_${c.feature}` });
}

/** @param {Snapshot} s */
function drawTms(s) {
  const m = s.metrics;
  $('mmcs').textContent = m.mmcs.toFixed(4);
  $('ml2r').textContent = m.ml2r.toFixed(4);
  bars(chart('cos-chart'), m.features.map((f) => f.cos), { threshold: 0.98, colors: m.features.map((f) => color(f.component)), labels: m.features.map((_, i) => i) });
  if (!s.target || !s.target.length) return;
  const [, n, d, w] = s.target[0];
  const C = s.components[0].length;
  const geo = $('geometry');
  geo.innerHTML = '';
  const row = document.createElement('div'); row.className = 'multiples'; geo.append(row);
  const sum = new Array(n * d).fill(0);
  for (const p of s.components[0]) p.forEach((v, i) => { sum[i] += v; });
  // Without the dead subcomponents a compact entry leaves out (small each, but not nothing summed).
  const sumName = s.components[0].every((p) => p.length) ? 'sum of components' : 'sum of the alive subcomponents';
  if (d === 2) {
    $('geometry-note').textContent = 'each line is one feature\'s vector W[i,:]; colour = feature';
    /** @type {(vals: number[]) => Array<[number, number]>} */
    const rows = (vals) => Array.from({ length: n }, (_, i) => [vals[2 * i], vals[2 * i + 1]]);
    const scale = maxOf(rows(w).map(([x, y]) => Math.hypot(x, y)));
    polygon(figure(row, 'target W', 170, 170), rows(w), { scale, colorOf: color });
    polygon(figure(row, sumName, 170, 170), rows(sum), { scale, colorOf: color });
    s.components[0].forEach((p, c) => { if (p.length) polygon(figure(row, `component ${c}`, 130, 130), rows(p), { scale, colorOf: color }); });
  } else {
    $('geometry-note').textContent = 'd > 2: W and the sum of components as heatmaps (rows = features)';
    const scale = maxAbsOf(w);
    heatmap(figure(row, 'target W', 220, Math.min(420, 20 + n * 8)), w, n, d, { scale, legend: false });
    heatmap(figure(row, sumName, 220, Math.min(420, 20 + n * 8)), sum, n, d, { scale, legend: false });
    legendCanvas(geo, scale);
  }
  const comps = $('components');
  comps.innerHTML = '';
  s.components.forEach((layer, l) => {
    const [name, rows, cols] = s.target[l];
    const h = document.createElement('p'); h.className = 'note'; h.textContent = `${name} (${rows} x ${cols})`;
    const mult = document.createElement('div'); mult.className = 'multiples';
    comps.append(h, mult);
    const scale = maxOf(layer.map((p) => maxAbsOf(p)), 1e-9);
    const size = C > 12 ? 60 : 110;
    // A compact gallery entry ships SPD's dead subcomponents empty.
    const dead = layer.filter((p) => !p.length).length;
    if (dead) h.textContent += `: ${layer.length - dead} subcomponents shown; ${dead} dead ones (no feature alone needs them) are not shipped with this result`;
    // A live SPD run of a large model has hundreds of subcomponents, most of
    // them near zero: the largest MAX_MULTIPLES are drawn, in their order.
    /** @param {number[]} p */
    const norm = (p) => p.reduce((a, v) => a + v * v, 0);
    const shown = layer.map((p, c) => [c, p.length ? norm(p) : -1]).filter(([, v]) => v >= 0);
    const keep = new Set(shown.sort((a, b) => b[1] - a[1]).slice(0, MAX_MULTIPLES).map(([c]) => c));
    if (shown.length > MAX_MULTIPLES) h.textContent += `${dead ? ';' : ':'} the ${MAX_MULTIPLES} largest of ${shown.length} ${ciOf(s) ? 'subcomponents' : 'components'} shown`;
    layer.forEach((p, c) => {
      if (!keep.has(c)) return;
      // The component's singular values: how many ranks it uses.
      const sv = s.singular?.[l]?.[c] ?? [];
      const used = sv.filter((x) => x > 0.01 * (sv[0] || 1));
      const caption = sv.length ? `c${c}: rank ${used.length} (\u03c3 ${used.map((x) => x.toFixed(2)).join(', ')})` : `c${c}`;
      heatmap(figure(mult, caption, size, Math.round(size * Math.min(2, rows / cols))), p, rows, cols, { scale, legend: false, rowLabel: '', colLabel: '' });
    });
    legendCanvas(comps, scale);
  });
  if (s.cos_matrix && s.cos_matrix.length) {
    heatmap(chart('cos-matrix'), s.cos_matrix, n, C, { signed: false, scale: 1, rowLabel: 'feature', colLabel: 'component' });
  }
  const res = $('residual');
  res.innerHTML = '';
  (s.residual || []).forEach((r, l) => {
    const [name, rows, cols, w] = s.target[l];
    const scale = maxAbsOf(w, 1e-9);
    const max = r.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    heatmap(figure(res, `${name}: largest ${max.toExponential(1)}`, 140, Math.round(140 * Math.min(2, rows / cols))), r, rows, cols, { scale, legend: false });
  });
  if (s.attributions && s.attributions.length) {
    // Each feature's best-matching component in column i where it can be
    // (SPD has many more subcomponents than features).
    const order = diagonalOrder(m.features.map((f) => f.component), C);
    heatmap(chart('attr-chart'), permuteColumns(s.attributions, n, order), n, C, { signed: false, rowLabel: 'feature', colLabel: 'component (matched to features first)', colNames: order.map((c) => `component ${c}`) });
  }
  drawAblation(s.ablation, n, C);
}

/**
 * The restarts' comparison, as the CLI prints it (SPD's when `spd`).
 * @param {Starts | undefined} st
 * @param {boolean} spd
 */
function startsText(st, spd) {
  if (!st || !st.scores.length) return '';
  if (spd) {
    const counts = st.scores.join(', ');
    return st.kept == null
      ? `Restarts: features without a subcomponent of their own in the first matrix, per start so far: ${counts}; the fewest will go on.`
      : `Restarts: features without a subcomponent of their own in the first matrix, per start: ${counts}; start ${st.kept + 1}, with the fewest, went on.`;
  }
  const scores = st.scores.map((v) => v.toExponential(2)).join(', ');
  return st.kept == null
    ? `Restarts: the minimality loss of each start so far (mean over its last quarter): ${scores}; the lowest will go on.`
    : `Restarts: each start's minimality loss (mean over its last quarter): ${scores}; start ${st.kept + 1}, the lowest, went on.`;
}

/** @param {Snapshot} s */
function drawSnapshot(s) {
  const m = s.metrics;
  $('starts-note').textContent = startsText(s.starts, !!ciOf(s));
  const sc = s.scale;
  $('scale-note').textContent = !sc ? '' : sc.feature_norm
    ? (sc.rescaled ? `target feature norm ${sc.feature_norm.toFixed(3)} (root mean square), decomposed at ${sc.working_norm.toFixed(3)} and scaled back` : `target feature norm ${sc.feature_norm.toFixed(3)}, decomposed as it is`)
    : (sc.rescaled ? 'each neuron\'s weights balanced before decomposing' : '');
  const dead = m?.features?.filter((f) => f.represented === false).length ?? 0;
  if (dead) $('scale-note').textContent += `; the target left ${dead} of its ${m.features.length} features dead (no direction to recover): MMCS and ML2R count the others`;
  if (m) $('mean-active').textContent = m.mean_active.toFixed(3);
  if (m && m.resid) drawResid(s); else if (m) drawTms(s);
  drawSamples(s.samples);
  drawSpd(ciOf(s));
  drawAdversary(s.vpd?.adversary, s.vpd?.order[0], marks);
  drawEvaluation(s.evaluation, ciOf(s)?.names ?? [], saved ? 'This result was saved without the evaluation: run it here to compute it.' : null);
  const total = (s.active_histogram || []).reduce((a, b) => a + b, 0);
  emptyCard('card-hist', !total && saved ? 'A finished result keeps no training batch to count: run it here to see one.' : null);
  if (total) bars(chart('hist-chart'), s.active_histogram.map((v) => v / total), { max: null, labels: s.active_histogram.map((_, i) => i) });
}
