// @ts-check
// Side by side (`data-testid="compare"`): one target decomposed by APD, SPD
// and VPD, the same figures and views in three columns. It opens on the
// pair shipped with the page (tms-5-2-id, where APD fails and SPD does
// not); a run finished in this page takes its method's column.
import { heatmap, polygon, figure, color, message, diagonalOrder, permuteColumns, maxOf } from './views.js';
import { shipped, recovered } from './results.js';
/** @typedef {import('./protocol.js').Method} Method */
/** @typedef {import('./protocol.js').Metrics} Metrics */
/** @typedef {import('./protocol.js').Snapshot} Snapshot */
/** @typedef {import('./protocol.js').ShippedEntry} ShippedEntry */
/**
 * A result in a column: `target` is the JSON text of the target's weights
 * (two columns hold one target when they are equal).
 * @typedef {{ model: string, seed: number, target: string, views: Snapshot, wall_s: number, source: string }} Column
 */

/** @param {string} id */
const $ = (id) => document.getElementById(id);
/** @type {Method[]} */
const METHODS = ['apd', 'spd', 'vpd'];
/** @type {Record<Method, Column | null>} */
const cols = { apd: null, spd: null, vpd: null };
/** @type {Method | null} */
let latest = null; // the column filled last: its target is the one the others should hold

/**
 * A shipped gallery entry as a column.
 * @param {ShippedEntry} e
 * @returns {Column}
 */
export const ofEntry = (e) => ({ model: e.model, seed: e.seed, target: JSON.stringify(e.report.target), views: e.views, wall_s: e.wall_s, source: 'shipped with the page' });

/**
 * Puts `result` in `method`'s column and redraws.
 * @param {Method} method
 * @param {Column} result
 */
export function setColumn(method, result) {
  cols[method] = result;
  latest = method;
  drawCompare();
}

/**
 * The method to run next so that every column holds the latest column's
 * target: the first whose column is empty or holds another (none when all
 * hold it; APD before any result).
 * @returns {Method | null}
 */
export function missing() {
  const target = latest && cols[latest]?.target;
  if (!target) return 'apd';
  return METHODS.find((m) => cols[m]?.target !== target) ?? null;
}

/** @param {Metrics | null} m */
function figuresText(m) {
  if (!m) return 'no figures';
  if (m.resid) return `${m.resid.n_dedicated} of ${m.resid.dedicated.length} features with a component of their own`;
  const ok = recovered(m);
  return `MMCS ${m.mmcs.toFixed(3)}, ML2R ${m.ml2r.toFixed(3)}: ${ok ? 'recovered' : 'not recovered'}`;
}

/** @param {Method} method */
function drawColumn(method) {
  const box = $(`compare-${method}`);
  const r = cols[method];
  const body = /** @type {HTMLElement} */ (box.querySelector('.compare-body'));
  body.innerHTML = '';
  box.dataset.filled = String(!!r);
  const fig = box.querySelector('[data-testid="compare-figures"]');
  if (!r) {
    fig.textContent = `No ${method.toUpperCase()} result for this target yet.`;
    return;
  }
  const v = r.views, m = v.metrics;
  fig.textContent = figuresText(m);
  box.querySelector('.compare-source').textContent = `${r.model}, seed ${r.seed}, ${r.source}${r.wall_s ? `, ${Math.round(r.wall_s)} s` : ''}`;
  if (v.target?.length && v.target[0][2] === 2 && v.components?.length) {
    // The matched components of W, as polygons on the target's scale.
    const [, n, , w] = v.target[0];
    /** @type {(vals: number[]) => Array<[number, number]>} */
    const rows = (vals) => Array.from({ length: n }, (_, i) => [vals[2 * i], vals[2 * i + 1]]);
    const scale = maxOf(rows(w).map(([x, y]) => Math.hypot(x, y)));
    const row = document.createElement('div'); row.className = 'multiples'; body.append(row);
    polygon(figure(row, 'target W', 110, 110), rows(w), { scale, colorOf: color });
    const matched = [...new Set((m?.features ?? []).map((f) => f.component))];
    for (const c of matched) polygon(figure(row, `${method !== 'apd' ? 'subcomponent' : 'component'} ${c}`, 90, 90), rows(v.components[0][c]), { scale, colorOf: color });
  }
  if (v.attributions?.length && m?.features) {
    const n = m.features.length, C = v.attributions.length / n;
    const o = diagonalOrder(m.features.map((f) => f.component), C);
    const permuted = permuteColumns(v.attributions, n, o);
    const canvas = figure(body, method !== 'apd' ? 'causal importance of W, each feature alone' : 'attribution, each feature alone', 260, 30 + n * 22);
    heatmap(canvas, permuted, n, C, { signed: false, rowLabel: 'feature', legend: false, colNames: o.map((c) => `component ${c}`) });
  } else if (!v.attributions?.length) {
    message(figure(body, '', 260, 60), 'no per-feature view for this model');
  }
}

/** Redraws the columns and says whether the filled ones hold one target. */
export function drawCompare() {
  for (const method of METHODS) drawColumn(method);
  const filled = METHODS.filter((m) => cols[m]);
  const first = filled.length ? cols[filled[0]] : null;
  const same = filled.length > 1 && filled.every((m) => cols[m].target === first.target);
  $('card-compare').dataset.sameTarget = String(same);
  const other = missing();
  const names = (/** @type {Method[]} */ ms) => ms.map((m) => m.toUpperCase()).join(' and ');
  const newest = latest ? cols[latest] : null;
  $('compare-note').textContent = !newest ? ''
    : same && !other ? `All three columns decompose the same target (${first.model}, seed ${first.seed}).`
    : same ? `${names(filled)} decompose the same target (${first.model}, seed ${first.seed}); decompose it with ${other.toUpperCase()} too to compare.`
    : `The columns hold ${filled.length > 1 ? 'different targets' : 'one result'}: decompose ${newest.model} (seed ${newest.seed}) with ${other.toUpperCase()} too to compare.`;
  $('compare-other').textContent = other ? `Decompose the same target with ${other.toUpperCase()}` : 'All three methods are shown';
  $('compare-other').dataset.method = other ?? '';
  /** @type {HTMLButtonElement} */ ($('compare-other')).disabled = !other;
}

/** Opens on the shipped pair where the methods differ most (tms-5-2-id, seed 23); a run finished meanwhile keeps its column. */
export async function openShippedPair() {
  drawCompare();
  const [a, s] = await Promise.all([shipped('tms-5-2-id-apd'), shipped('tms-5-2-id-spd')]);
  if (a && !cols.apd) setColumn('apd', ofEntry(a));
  if (s && !cols.spd) setColumn('spd', ofEntry(s));
}
