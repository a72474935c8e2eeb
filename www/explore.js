// @ts-check
// The views that ask about one thing at a time: one input (what it needs,
// what top-k keeps for it, what those components alone give) and one
// component (what breaks without it). The data come from the engine's
// views (`samples`, `ablation`).
import { bars, pairedBars, heatmap, color, clear, maxOf } from './views.js';
/** @typedef {import('./protocol.js').Sample} Sample */
/** @typedef {import('./views.js').Chart} Chart */

/** @param {string} id */
const $ = (id) => document.getElementById(id);
/** @param {string} id */
const chart = (id) => /** @type {Chart} */ (document.getElementById(id));
const pick = () => /** @type {HTMLSelectElement} */ (document.getElementById('sample-pick'));
/** Outputs shown per input at most: the features on, then the largest. */
const MAX_OUTPUTS = 40;

/** @type {Sample[]} */
let samples = [];
let picked = 0;

/**
 * An input in words: "feature 3 alone" or "features 1 (0.52) and 4 (-0.40)".
 * @param {Sample} s
 */
export function sampleName(s) {
  if (s.input.length === 1 && s.input[0][1] === 1) return `feature ${s.input[0][0]} alone`;
  return `features ${s.input.map(([i, v]) => `${i} (${v.toFixed(2)})`).join(' and ')}`;
}

/**
 * Draws the inputs of a snapshot, keeping the one picked.
 * @param {Sample[] | undefined} list
 */
export function drawSamples(list) {
  samples = list || [];
  const sel = pick();
  const names = samples.map(sampleName);
  if ([...sel.options].map((o) => o.textContent).join('|') !== names.join('|')) {
    sel.innerHTML = '';
    names.forEach((name, k) => { const o = document.createElement('option'); o.value = String(k); o.textContent = name; sel.append(o); });
  }
  if (picked >= samples.length) picked = 0;
  sel.value = String(picked);
  drawPicked();
}

function drawPicked() {
  const s = samples[picked];
  if (!s) {
    clear(chart('sample-attr')); clear(chart('sample-out'));
    $('sample-note').textContent = '';
    return;
  }
  const C = s.importances.length;
  const kept = new Set(s.kept);
  bars(chart('sample-attr'), s.importances, {
    max: null, colors: s.importances.map((_, c) => (kept.has(c) ? color(c) : '#c8c8cc')), labels: Array.from({ length: C }, (_, c) => c),
  });
  // SPD keeps what the input finds important (above 0.1) in W, the other matrices whole.
  const [who, what] = document.body.classList.contains('method-spd') ? ['its causal importance keeps', 'subcomponent'] : ['top-k keeps', 'component'];
  $('sample-note').textContent = s.kept.length
    ? `${sampleName(s)}: ${who} ${what}${s.kept.length > 1 ? 's' : ''} ${s.kept.join(', ')} of ${C}.`
    : `${sampleName(s)}: ${who} no ${what}; the output below is the network without any.`;
  const n = s.target.length;
  let shown = Array.from({ length: n }, (_, i) => i);
  if (n > MAX_OUTPUTS) {
    const on = new Set(s.input.map(([i]) => i));
    shown.sort((i, j) => (Number(on.has(j)) - Number(on.has(i))) || (Math.abs(s.target[j]) + Math.abs(s.sparse[j]) - Math.abs(s.target[i]) - Math.abs(s.sparse[i])));
    shown = shown.slice(0, MAX_OUTPUTS).sort((i, j) => i - j);
  }
  pairedBars(chart('sample-out'), shown.map((i) => `feature ${i}`), shown.map((i) => s.target[i]), shown.map((i) => s.sparse[i]),
    { names: ['target', 'kept components only'], short: (l) => (shown.length > 8 ? l.replace('feature ', '') : l) });
}

/**
 * Shows input `k` of the list.
 * @param {number} k
 */
export function pickSample(k) {
  if (k < 0 || k >= samples.length) return;
  picked = k;
  pick().value = String(k);
  drawPicked();
}

/**
 * Shows the input with feature `i` alone, if the list has it.
 * @param {number} i
 */
export function pickFeature(i) {
  pickSample(samples.findIndex((s) => s.input.length === 1 && s.input[0][0] === i));
}

/** Shows an input with two features on: the first for which top-k keeps two components, if any. */
export function pickPair() {
  const two = samples.findIndex((s) => s.input.length === 2 && s.kept.length === 2);
  pickSample(two >= 0 ? two : samples.findIndex((s) => s.input.length === 2));
}

/**
 * The ablation matrix (`C x n` from the engine) drawn feature by component, columns in `order` if given.
 * @param {number[]} values
 * @param {number} n
 * @param {number} C
 * @param {number[] | null} [order]
 */
export function drawAblation(values, n, C, order = null) {
  if (!values || !values.length) { clear(chart('ablation-chart')); return; }
  const cols = order || Array.from({ length: C }, (_, c) => c);
  /** @type {number[]} */
  const m = [];
  for (let i = 0; i < n; i++) for (const c of cols) m.push(values[c * n + i]);
  // On its own scale: the residual MLP's outputs keep their residual part, so
  // dropping a component moves them by a fraction of 1 only.
  heatmap(chart('ablation-chart'), m, n, C, {
    signed: false, scale: Math.min(1, maxOf(m, 1e-6)), rowLabel: 'feature', colLabel: order ? 'component left out (permuted)' : 'component left out',
    rowNames: Array.from({ length: n }, (_, i) => `feature ${i}`), colNames: cols.map((c) => `without component ${c}`),
  });
}

/** Clears both views. */
export function clearExplore() {
  samples = []; picked = 0;
  pick().innerHTML = '';
  drawPicked();
  clear(chart('ablation-chart'));
}

pick().addEventListener('change', () => pickSample(Number(pick().value)));
// A row of the attribution matrix is a one-hot input: clicking it opens that input.
$('attr-chart').addEventListener('click', (e) => {
  const c = /** @type {Chart} */ (e.currentTarget);
  if (!c.cellAt) return;
  const r = c.getBoundingClientRect();
  const cell = c.cellAt((e.clientX - r.left) * Number(c.dataset.w) / r.width, (e.clientY - r.top) * Number(c.dataset.h) / r.height);
  if (cell) { pickFeature(cell[0]); $('card-sample').scrollIntoView({ block: 'nearest', behavior: 'smooth' }); }
});
