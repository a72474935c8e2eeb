// @ts-check
// The field's evaluation of the decomposition shown (the engine's
// `views.evaluation`, src/decomp/evaluation.rs): active components per
// matrix beside the true count, the output's error under each named mask,
// and the mean importance of each component, sorted, on a log scale.
import { lossChart, clear, emptyCard } from './views.js';
/** @typedef {import('./protocol.js').Evaluation} Evaluation */
/** @typedef {import('./views.js').Chart} Chart */

/** @param {string} id */
const $ = (id) => document.getElementById(id);

/** What each named mask is, in words. */
const MASKS = {
  ci: 'the importances themselves',
  unmasked: 'every component on',
  rounded: 'on where the importance is above 0.1',
  stochastic: 'kept with its importance, otherwise by chance',
  zero: 'nothing on',
  random: 'each at a random strength',
  pgd: 'the worst the importances allow (20 steps of sign ascent)',
};

/** @param {number} v */
const num = (v) => (v === 0 ? '0' : Math.abs(v) >= 1e-2 && Math.abs(v) < 1e3 ? v.toFixed(3) : v.toExponential(2));

/**
 * Draws `e`, the matrices named `names` (empty when the components span
 * every matrix, as APD's do), or empties the card.
 * @param {Evaluation | null | undefined} e
 * @param {string[]} names
 * @param {string | null} [missing]  why a saved result shows none: the card collapses to this line
 */
export function drawEvaluation(e, names, missing = null) {
  const table = $('eval-recon');
  table.innerHTML = '';
  emptyCard('card-evaluation', e ? null : missing);
  if (!e) {
    $('eval-l0').textContent = '';
    $('eval-identity').textContent = '';
    clear(/** @type {Chart} */ ($('eval-mean-ci')));
    return;
  }
  const per = e.l0.map((v, l) => `${names[l] ?? (e.l0.length > 1 ? `matrix ${l + 1}` : 'all matrices')} ${v.toFixed(2)}`);
  $('eval-l0').textContent = `Active components per input (CI-L0): ${per.join(', ')}; features active per input: ${e.true_l0.toFixed(2)}.`;
  for (const [key, words] of Object.entries(MASKS)) {
    const tr = document.createElement('tr');
    const v = /** @type {Record<string, number>} */ (/** @type {unknown} */ (e.recon))[key];
    for (const text of [key, words, num(v)]) { const td = document.createElement('td'); td.textContent = text; tr.append(td); }
    table.append(tr);
  }
  const id = e.identity_ci_error;
  $('eval-identity').textContent = id
    ? `Each feature alone against the identity: ${id.diagonal} of its own importances below 0.9, ${id.off_diagonal} others above 0.1 (0 and 0 is a perfect match).`
    : '';
  lossChart(/** @type {Chart} */ ($('eval-mean-ci')), { 'mean CI': e.mean_ci.map((v, k) => [k, v]) });
}
