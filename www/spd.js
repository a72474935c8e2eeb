// @ts-check
// SPD's own views (the engine's `views.spd`): causal importance of each
// feature alone, lower and upper sigmoid side by side; its histogram over a
// batch (log scale); the alive count; one input's importances and a mask.
import { heatmap, bars, figure, permuteColumns } from './views.js';
/** @typedef {import('./protocol.js').SpdView} SpdView */

/** @param {string} id */
const $ = (id) => document.getElementById(id);
const IDS = ['spd-ci', 'spd-hist', 'spd-masks'];

/** Empties the SPD card. */
export function clearSpd() {
  for (const id of IDS) $(id).innerHTML = '';
  $('spd-alive').textContent = '';
  $('spd-sample-note').textContent = '';
}

/**
 * Draws `v` (the engine's SPD view), or empties the card when there is none.
 * @param {SpdView | undefined} v
 */
export function drawSpd(v) {
  clearSpd();
  if (!v) return;
  const C = v.order[0].length;
  const n = v.ci_lower[0].length / C;
  $('spd-alive').textContent = `Alive (some feature alone needs it above 0.1): ${v.names.map((name, l) => `${name} ${v.alive[l]} of ${C}`).join(', ')}. `
    + `Features with a subcomponent of their own (the only one it needs, needed by no other feature): ${v.names.map((name, l) => `${name} ${v.own[l]} of ${n}`).join(', ')}`
    // Several layers: a feature computed by a later layer owns one in that layer's W_in.
    + (v.own_in_some_w_in != null && v.names.length > 2 ? `; in some layer's W_in: ${v.own_in_some_w_in} of ${n}.` : '.');
  const w = Math.min(300, Math.max(160, C * 12)), h = Math.min(300, 30 + n * 16);
  v.names.forEach((name, l) => {
    const order = v.order[l];
    const colNames = order.map((c) => `subcomponent ${c}`);
    for (const [kind, m] of /** @type {Array<[string, number[]]>} */ ([['lower', v.ci_lower[l]], ['upper', v.ci_upper[l]]])) {
      const c = figure($('spd-ci'), `${name}: ${kind} sigmoid`, w, h);
      c.dataset.matrix = name; c.dataset.kind = kind;
      heatmap(c, permuteColumns(m, n, order), n, C, { signed: false, scale: 1, rowLabel: 'feature', colNames, legend: false });
    }
    const hist = v.histogram[l];
    const hc = figure($('spd-hist'), `${name}: importance over 1,000 inputs (count, log scale)`, 260, 150);
    hc.dataset.matrix = name;
    bars(hc, hist, { max: null, log: true, labels: hist.map((_, i) => (i / hist.length).toFixed(2)), labelEvery: 5 });
    const mc = figure($('spd-masks'), `${name}: this input's importance and one mask`, w, 70);
    const rows = [...permuteColumns(v.sample.ci[l], 1, order), ...permuteColumns(v.sample.mask[l], 1, order)];
    heatmap(mc, rows, 2, C, { signed: false, scale: 1, rowNames: ['importance', 'mask'], colNames, legend: false });
  });
  const on = v.sample.x.map((x, i) => [i, x]).filter(([, x]) => x !== 0);
  $('spd-sample-note').textContent = on.length
    ? `One of those inputs: feature${on.length > 1 ? 's' : ''} ${on.map(([i, x]) => `${i} (${x.toFixed(2)})`).join(' and ')} on.`
    : 'One of those inputs: no feature on.';
}
