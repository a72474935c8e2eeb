// @ts-check
// VPD's own view of its adversary (the engine's `views.vpd.adversary`,
// src/vpd/trace.rs): the reconstruction under the importances' masks, the
// adversary's and random ones over training; and for a few inputs the
// masks it finds worst within what their importances allow.
import { heatmap, lossChart, figure, permuteColumns, clear } from './views.js';
/** @typedef {import('./protocol.js').AdversaryView} AdversaryView */
/** @typedef {import('./views.js').Chart} Chart */

/** @param {string} id */
const $ = (id) => document.getElementById(id);

/** @param {number} v */
const num = (v) => (v === 0 ? '0' : v.toExponential(1));

/**
 * Draws `v` with the first matrix's columns in `order`, or empties the card;
 * `marks` (`[step, label]`) mark where each restart's start began.
 * @param {AdversaryView | undefined} v
 * @param {number[] | undefined} order
 * @param {Array<[number, string]>} [marks]
 */
export function drawAdversary(v, order, marks = []) {
  $('adversary-worst').innerHTML = '';
  $('adversary-note').textContent = '';
  const chart = /** @type {Chart} */ ($('adversary-trace'));
  if (!v || !order) { clear(chart); return; }
  const t = v.trace;
  /** @param {number[]} ys @returns {Array<[number, number]>} */
  const pts = (ys) => ys.map((y, k) => [t.step[k], y]);
  lossChart(chart, { adversary: pts(t.adversarial), random: pts(t.stochastic), importances: pts(t.ci) }, marks);
  const last = t.step.length - 1;
  if (last >= 0) {
    const above = t.adversarial.filter((a, k) => a > t.stochastic[k]).length;
    $('adversary-note').textContent = `At step ${t.step[last]}: the output's error under the adversary's masks ${num(t.adversarial[last])}, `
      + `under random ones ${num(t.stochastic[last])}, under the importances alone ${num(t.ci[last])}. `
      + `The adversary's was above the random masks' at ${above} of the ${t.step.length} points (the losing starts' included).`;
  }
  const C = order.length;
  const w = Math.min(320, Math.max(160, C * 12));
  const colNames = order.map((c) => `subcomponent ${c}`);
  for (const input of v.worst.inputs) {
    const on = input.x.map((x, i) => [i, x]).filter(([, x]) => x !== 0).map(([i, x]) => `${i} (${x.toFixed(2)})`);
    const title = `feature${on.length > 1 ? 's' : ''} ${on.join(', ')} on: error ${num(input.recon_ci)} under the importances, ${num(input.recon_worst)} under the adversary's masks`;
    const c = figure($('adversary-worst'), title, w, 70);
    c.dataset.input = String(on.length);
    const rows = [...permuteColumns(input.ci, 1, order), ...permuteColumns(input.mask, 1, order)];
    heatmap(c, rows, 2, C, { signed: false, scale: 1, rowNames: ['importance', "adversary's mask"], colNames, legend: false });
  }
}
