// @ts-check
// Canvas views. Plain 2D canvas: every view here is a few dozen lines, less
// than wiring a charting library for heatmaps and vector plots would be.
// Each chart records how many data points it drew in `data-points`, so
// that tests can tell an empty chart from a drawn one.
// Size: about 450 lines: the chart kinds every card shares (heatmaps, bars,
// polygons, curves, their tooltips and scales) and their JSDoc types, each
// small; one module so that the cards draw alike.

/**
 * A canvas as the charts leave it: `tip(x, y)` names what is under the
 * pointer, `cellAt(x, y)` is a heatmap's cell there (logical coordinates).
 * @typedef {HTMLCanvasElement & {
 *   tip?: ((x: number, y: number) => string) | null,
 *   cellAt?: (x: number, y: number) => [number, number] | null,
 * }} Chart
 */
/** @typedef {{ rows: Array<[number, number]>, colorOf?: (i: number) => string, dashed?: boolean, width?: number, name?: string }} VectorLayer */

/**
 * The largest of `values` and `floor`, NaNs skipped. A loop: spreading an
 * array into Math.max passes every value as an argument, and engines cap
 * how many (Safari at 65,536; tms-40-10's SPD views hold about 80,000).
 * @param {Iterable<number>} values
 * @param {number} [floor]
 */
export function maxOf(values, floor = -Infinity) {
  let m = floor;
  for (const v of values) if (v > m) m = v;
  return m;
}

/**
 * The smallest of `values` and `ceiling`, NaNs skipped (see maxOf).
 * @param {Iterable<number>} values
 * @param {number} [ceiling]
 */
export function minOf(values, ceiling = Infinity) {
  let m = ceiling;
  for (const v of values) if (v < m) m = v;
  return m;
}

/**
 * The largest magnitude in `values`, at least `floor` (see maxOf).
 * @param {Iterable<number>} values
 * @param {number} [floor]
 */
export function maxAbsOf(values, floor = 0) {
  let m = floor;
  for (const v of values) { const a = Math.abs(v); if (a > m) m = a; }
  return m;
}

const PALETTE = ['#3558d6', '#d6453d', '#2a9d55', '#e09a1f', '#8a44c9', '#1fa3b8', '#c94495', '#6b8e23',
  '#a0522d', '#4b6584'];
/** @param {number} i */
export const color = (i) => PALETTE[i % PALETTE.length];
/** @type {Record<string, string>} */
const SERIES_COLORS = {
  total: '#1d1d1f', faithfulness: '#3558d6', minimality: '#d6453d', simplicity: '#2a9d55', activation: '#8a44c9', target: '#e09a1f',
  stochastic: '#d6453d', layerwise: '#e09a1f', importance: '#2a9d55', reconstruction: '#d6453d', frequency: '#8a44c9',
  adversary: '#d6453d', random: '#e09a1f', importances: '#3558d6',
};

let pixelRatio = 0;
/**
 * Draws the charts at `ratio` device pixels per pixel from here on (0: the screen's), for a download.
 * @param {number} ratio
 */
export function setPixelRatio(ratio) { pixelRatio = ratio; }

/**
 * Prepares a canvas for drawing at its logical size (its `width` and
 * `height` attributes as first set, kept in `data-w`/`data-h`): the backing
 * store is scaled by devicePixelRatio so that lines and text stay sharp on
 * HiDPI screens. Returns the context, already scaled, and the logical size.
 * @param {Chart} canvas
 */
export function setup(canvas) {
  if (!canvas.dataset.w) { canvas.dataset.w = String(canvas.width); canvas.dataset.h = String(canvas.height); }
  const W = Number(canvas.dataset.w), H = Number(canvas.dataset.h);
  const dpr = pixelRatio || Math.max(1, Math.min(4, globalThis.devicePixelRatio || 1));
  if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    canvas.style.aspectRatio = `${W} / ${H}`; canvas.style.width = `${W}px`;
  }
  canvas.setAttribute('role', 'img');
  canvas.tip = null;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, W, H };
}

/**
 * Hovering a chart names what is under the pointer: each chart leaves a
 * `tip(x, y)` (logical coordinates) on its canvas, and one listener turns
 * it into the canvas's title, which the browser shows as a tooltip.
 */
document.addEventListener('mousemove', (e) => {
  const c = /** @type {Chart} */ (e.target);
  if (!(c instanceof HTMLCanvasElement) || !c.tip) return;
  const r = c.getBoundingClientRect();
  const x = (e.clientX - r.left) * Number(c.dataset.w) / r.width, y = (e.clientY - r.top) * Number(c.dataset.h) / r.height;
  const text = c.tip(x, y) || '';
  if (c.title !== text) c.title = text;
});

/** @param {number} v */
const fmt = (v) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(3) : v.toExponential(2));

/**
 * Clears a canvas (at any devicePixelRatio).
 * @param {Chart} canvas
 */
export function clear(canvas) {
  setup(canvas);
  canvas.dataset.points = '0';
}

/**
 * Loss curves on a log axis. series: {name: [[step, value], ...]}; marks: [[step, label], ...] drawn as dashed lines where the data reaches them.
 * @param {Chart} canvas
 * @param {Record<string, Array<[number, number]>>} series
 * @param {Array<[number, string]>} [marks]
 */
export function lossChart(canvas, series, marks = []) {
  const { ctx, W, H } = setup(canvas);
  const L = 42, R = 96, T = 10, B = 24;
  canvas.dataset.points = String(Object.values(series).reduce((n, pts) => n + pts.length, 0));
  const lasts = Object.entries(series).filter(([, p]) => p.length).map(([n, p]) => `${n} ${p[p.length - 1][1].toPrecision(2)}`);
  canvas.setAttribute('aria-label', lasts.length ? `loss curves, last values: ${lasts.join(', ')}` : 'loss curves, no data yet');
  let xmax = 1, lo = Infinity, hi = -Infinity;
  for (const pts of Object.values(series)) for (const [x, y] of pts) {
    if (y > 0 && isFinite(y)) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
    xmax = Math.max(xmax, x);
  }
  if (!isFinite(lo)) { ctx.fillStyle = '#888'; ctx.fillText('no data yet', L, H / 2); return; }
  const l0 = Math.floor(Math.log10(lo)), l1 = Math.max(Math.ceil(Math.log10(hi)), l0 + 1);
  const sx = (x) => L + (W - L - R) * x / xmax;
  const sy = (y) => T + (H - T - B) * (1 - (Math.log10(y) - l0) / (l1 - l0));
  canvas.tip = (x) => {
    const step = Math.round((x - L) / (W - L - R) * xmax);
    if (step < 0 || step > xmax) return '';
    const at = Object.entries(series).filter(([, p]) => p.length).map(([name, p]) => {
      const near = p.reduce((best, q) => (Math.abs(q[0] - step) < Math.abs(best[0] - step) ? q : best), p[0]);
      return `${name} ${fmt(near[1])}`;
    });
    return `step ${step}: ${at.join(', ')}`;
  };
  ctx.strokeStyle = '#e2e2e0'; ctx.fillStyle = '#6b6b70';
  for (let e = l0; e <= l1; e++) {
    const y = sy(10 ** e);
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(W - R, y); ctx.stroke();
    ctx.fillText(`1e${e}`, 8, y + 4);
  }
  ctx.fillText('0', L, H - 6); ctx.fillText(String(xmax), W - R - 30, H - 6);
  ctx.setLineDash([3, 3]); ctx.strokeStyle = '#9a9aa0'; ctx.fillStyle = '#6b6b70';
  marks.forEach(([x, label], i) => {
    if (x > xmax) return;
    ctx.beginPath(); ctx.moveTo(sx(x), T); ctx.lineTo(sx(x), H - B); ctx.stroke();
    // Staggered, so that marks close together stay readable.
    ctx.fillText(label, sx(x) + 3, H - B - 4 - (i % 3) * 12);
  });
  ctx.setLineDash([]);
  let legendY = T + 10;
  for (const [name, pts] of Object.entries(series)) {
    if (!pts.length) continue;
    ctx.strokeStyle = SERIES_COLORS[name] || '#999'; ctx.lineWidth = 1.5; ctx.beginPath();
    let started = false;
    for (const [x, y] of pts) {
      if (!(y > 0) || !isFinite(y)) continue;
      if (started) ctx.lineTo(sx(x), sy(y)); else { ctx.moveTo(sx(x), sy(y)); started = true; }
    }
    ctx.stroke(); ctx.lineWidth = 1;
    ctx.fillStyle = SERIES_COLORS[name] || '#999';
    ctx.fillRect(W - R + 10, legendY - 8, 10, 10);
    ctx.fillStyle = '#1d1d1f'; ctx.fillText(name, W - R + 26, legendY + 1);
    legendY += 16;
  }
}

/**
 * Column order putting feature i's own component (`owner[i]`) in column i where it can, the rest after.
 * @param {number[]} owner
 * @param {number} C
 */
export function diagonalOrder(owner, C) {
  /** @type {number[]} */
  const order = [];
  for (const c of owner) if (!order.includes(c)) order.push(c);
  for (let c = 0; c < C; c++) if (!order.includes(c)) order.push(c);
  return order;
}

/**
 * A row-major `rows x order.length` matrix with its columns taken in `order`.
 * @param {number[]} values
 * @param {number} rows
 * @param {number[]} order
 */
export function permuteColumns(values, rows, order) {
  /** @type {number[]} */
  const out = [];
  const C = order.length;
  for (let i = 0; i < rows; i++) for (const c of order) out.push(values[i * C + c]);
  return out;
}

/**
 * Diverging blue-white-red for signed values in [-1, 1].
 * @param {number} t
 */
function diverging(t) {
  t = Math.max(-1, Math.min(1, t));
  const a = Math.abs(t);
  const [r, g, b] = t > 0 ? [214, 69, 61] : [53, 88, 214];
  return `rgb(${Math.round(255 + (r - 255) * a)},${Math.round(255 + (g - 255) * a)},${Math.round(255 + (b - 255) * a)})`;
}

/**
 * Heatmap of a row-major matrix. `signed`: diverging scale symmetric around 0.
 * @param {Chart} canvas
 * @param {number[]} values
 * @param {number} rows
 * @param {number} cols
 * @param {{ signed?: boolean, scale?: number | null, rowLabel?: string, colLabel?: string, legend?: boolean, rowNames?: string[] | null, colNames?: string[] | null }} [options]
 */
export function heatmap(canvas, values, rows, cols, { signed = true, scale = null, rowLabel = '', colLabel = '', legend = true, rowNames = null, colNames = null } = {}) {
  const { ctx, W, H } = setup(canvas);
  canvas.dataset.points = String(values.length);
  const legendH = legend ? 26 : 0, pad = rowLabel ? 18 : 0;
  const top = maxAbsOf(values);
  canvas.setAttribute('aria-label', `heatmap, ${rows} ${rowLabel || 'rows'} by ${cols} ${colLabel || 'columns'}, largest magnitude ${top.toPrecision(2)}`);
  const cw = (W - pad) / cols, ch = (H - legendH - (colLabel ? 18 : 0)) / rows;
  canvas.cellAt = (x, y) => {
    const j = Math.floor((x - pad) / cw), i = Math.floor(y / ch);
    return i < 0 || j < 0 || i >= rows || j >= cols ? null : [i, j];
  };
  canvas.tip = (x, y) => {
    const cell = canvas.cellAt(x, y);
    if (!cell) return '';
    const [i, j] = cell;
    /** @type {(names: string[] | null, k: number, fallback: string) => string} */
    const name = (names, k, fallback) => (names ? names[k] : `${fallback} ${k}`);
    return `${name(rowNames, i, rowLabel || 'row')}, ${name(colNames, j, colLabel || 'column')}: ${fmt(values[i * cols + j])}`;
  };
  const m = scale ?? maxAbsOf(values, 1e-12);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const v = values[i * cols + j];
    ctx.fillStyle = signed ? diverging(v / m) : `rgba(53,88,214,${Math.min(1, Math.abs(v) / m)})`;
    ctx.fillRect(pad + j * cw, i * ch, Math.ceil(cw), Math.ceil(ch));
  }
  ctx.fillStyle = '#6b6b70';
  if (rowLabel) { ctx.save(); ctx.translate(11, (H - legendH) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(rowLabel, -20, 0); ctx.restore(); }
  if (colLabel) ctx.fillText(colLabel, pad, H - legendH - 4);
  if (legend) colorLegend(ctx, pad, W - 60, H - 14, m, signed);
}

/**
 * The colour scale from -m (or 0) to m, drawn at (x0..x1, y).
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} x0
 * @param {number} x1
 * @param {number} y
 * @param {number} m
 * @param {boolean} [signed]
 */
export function colorLegend(ctx, x0, x1, y, m, signed = true) {
  for (let k = 0; k <= 100; k++) {
    const t = signed ? k / 50 - 1 : k / 100;
    ctx.fillStyle = signed ? diverging(t) : `rgba(53,88,214,${t})`;
    ctx.fillRect(x0 + (x1 - x0) * k / 101, y, (x1 - x0) / 100 + 1, 10);
  }
  ctx.fillStyle = '#1d1d1f';
  ctx.fillText(signed ? (-m).toPrecision(2) : '0', x0, y - 2);
  ctx.fillText(m.toPrecision(2), x1 - 20, y - 2);
}

/**
 * A standalone legend canvas for a group of small multiples.
 * @param {HTMLElement} parent
 * @param {number} m
 * @param {boolean} [signed]
 */
export function legendCanvas(parent, m, signed = true) {
  const c = document.createElement('canvas'); c.width = 260; c.height = 30; parent.append(c);
  const { ctx } = setup(c);
  colorLegend(ctx, 4, 200, 16, m, signed);
  return c;
}

/**
 * Two signed values per label side by side (e.g. the target's output and a
 * model's, per feature), on a shared axis through 0.
 * @param {Chart} canvas
 * @param {string[]} labels
 * @param {number[]} a
 * @param {number[]} b
 * @param {{ names?: string[], colors?: string[], short?: (label: string) => string }} [options]
 */
export function pairedBars(canvas, labels, a, b, { names = ['a', 'b'], colors = ['#1d1d1f', '#d6453d'], short = (l) => l } = {}) {
  const { ctx, W, H } = setup(canvas);
  canvas.dataset.points = String(a.length + b.length);
  canvas.setAttribute('aria-label', `${names[0]} and ${names[1]} for ${labels.length} items: ${labels.slice(0, 8).map((l, i) => `${l}: ${a[i].toFixed(2)} and ${b[i].toFixed(2)}`).join('; ')}${labels.length > 8 ? '; ...' : ''}`);
  const L = 34, B = 16, T = 6;
  const lo = Math.min(minOf(a, 0), minOf(b, 0)), hi = Math.max(maxOf(a, 1e-9), maxOf(b, 1e-9));
  const sy = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo || 1));
  const n = Math.max(labels.length, 1), bw = (W - L - 4) / n;
  canvas.tip = (x) => {
    const i = Math.floor((x - L) / bw);
    return i >= 0 && i < labels.length ? `${labels[i]}: ${names[0]} ${fmt(a[i])}, ${names[1]} ${fmt(b[i])}` : '';
  };
  ctx.strokeStyle = '#e2e2e0'; ctx.fillStyle = '#6b6b70';
  for (const v of [lo, 0, hi]) { ctx.beginPath(); ctx.moveTo(L, sy(v)); ctx.lineTo(W, sy(v)); ctx.stroke(); ctx.fillText(v.toFixed(2), 2, sy(v) + 4); }
  [a, b].forEach((vals, k) => vals.forEach((v, i) => {
    ctx.fillStyle = colors[k];
    const y0 = sy(0), y1 = sy(v);
    ctx.fillRect(L + i * bw + bw * (0.1 + 0.4 * k), Math.min(y0, y1), bw * 0.38, Math.max(1, Math.abs(y1 - y0)));
  }));
  ctx.fillStyle = '#6b6b70';
  const every = Math.ceil(n / 20);
  labels.forEach((l, i) => { if (i % every === 0) ctx.fillText(String(short(l)), L + i * bw + bw * 0.2, H - 4); });
}

/**
 * Bars in [0, 1] (max |cos| per feature), with a dashed line at `threshold`;
 * `max: null`: up to the largest value.
 * @param {Chart} canvas
 * @param {number[]} values
 * @param {{ threshold?: number | null, colors?: string[] | null, max?: number | null, labels?: Array<string | number> | null, log?: boolean, labelEvery?: number }} [options]
 */
export function bars(canvas, values, { threshold = null, colors = null, max = 1, labels = null, log = false, labelEvery = 1 } = {}) {
  const { ctx, W, H } = setup(canvas);
  // Log scale (counts): the height of 1 + v on a log axis from 1.
  /** @param {number} v */
  const hv = (v) => (log ? Math.log10(1 + Math.max(0, v)) : Math.max(0, v));
  canvas.dataset.points = String(values.length);
  canvas.setAttribute('aria-label', `bar chart of ${values.length} values: ${values.slice(0, 12).map((x) => x.toPrecision(2)).join(', ')}${values.length > 12 ? ', ...' : ''}`);
  const B = 18, T = 6;
  const n = Math.max(values.length, 1), bw = (W - 10) / n;
  canvas.tip = (x) => {
    const i = Math.floor((x - 5) / bw);
    return i >= 0 && i < values.length ? `${labels ? `bar ${labels[i]}` : `bar ${i}`}: ${fmt(values[i])}` : '';
  };
  const top = Math.max(1e-9, hv(max ?? maxOf(values)));
  // Every label that fits beside its neighbours' (every 5th or 10th of 100 bars).
  const widest = labels ? Math.max(0, ...labels.map((l) => ctx.measureText(String(l)).width)) : 0;
  const fits = Math.ceil((widest + 4) / bw);
  const every = Math.max(labelEvery, [1, 2, 5, 10, 20, 50, 100].find((k) => k >= fits) ?? fits);
  canvas.dataset.labelEvery = String(every);
  values.forEach((v, i) => {
    const h = (H - B - T) * hv(v) / top;
    ctx.fillStyle = colors ? colors[i] : '#3558d6';
    ctx.fillRect(5 + i * bw + bw * 0.1, H - B - h, bw * 0.8, h);
    if (labels && i % every === 0) {
      const text = String(labels[i]);
      ctx.fillStyle = '#6b6b70';
      const tw = ctx.measureText(text).width;
      ctx.fillText(text, Math.max(0, Math.min(W - tw, 5 + i * bw + (bw - tw) / 2)), H - 5);
    }
  });
  if (threshold != null) {
    const y = H - B - (H - B - T) * hv(threshold) / top;
    ctx.setLineDash([4, 3]); ctx.strokeStyle = '#b3261e';
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke(); ctx.setLineDash([]);
  }
}

/**
 * TMS geometry for d = 2: each feature's vector W[i,:] from the origin.
 * @param {Chart} canvas
 * @param {Array<[number, number]>} rows
 * @param {{ title?: string, scale?: number | null, colorOf?: (i: number) => string, dashed?: boolean }} [options]
 */
export function polygon(canvas, rows, { title = '', scale = null, colorOf = () => '#1d1d1f', dashed = false } = {}) {
  vectors(canvas, [{ rows, colorOf, dashed }], { title, scale });
}

/**
 * Several sets of vectors from one origin on one canvas, in order (later on
 * top): layers = [{ rows: [[x, y], ...], colorOf(i), dashed, width, name }].
 * `scale` is the length drawn to the rim (default: the longest vector);
 * `room: false` gives the whole canvas to the vectors (no title line).
 * @param {Chart} canvas
 * @param {VectorLayer[]} layers
 * @param {{ title?: string, scale?: number | null, room?: boolean }} [options]
 */
export function vectors(canvas, layers, { title = '', scale = null, room = true } = {}) {
  const { ctx, W, H } = setup(canvas);
  const all = layers.flatMap((l) => l.rows);
  canvas.dataset.points = String(all.length);
  /** @type {(l: VectorLayer, i: number) => string} */
  const named = (l, i) => `${l.name ? `${l.name}, ` : ''}feature ${i}`;
  canvas.setAttribute('aria-label', `${all.length} feature vectors in the plane; lengths ${all.map(([x, y]) => Math.hypot(x, y).toFixed(2)).join(', ')}`);
  // `room`: space for a title line at the top, as the polygons under their captions have always kept.
  const cx = W / 2, cy = H / 2 + (room ? 6 : 0);
  canvas.tip = () => layers.flatMap((l) => l.rows.map(([x, y], i) => `${named(l, i)}: (${fmt(x)}, ${fmt(y)}), length ${fmt(Math.hypot(x, y))}`)).join('\n');
  const m = scale ?? maxOf(all.map(([x, y]) => Math.hypot(x, y)), 1e-9);
  const r = Math.min(W, H - (room ? 16 : 0)) / 2 - 8;
  ctx.strokeStyle = '#eee'; ctx.beginPath(); ctx.arc(cx, cy, r, 0, 2 * Math.PI); ctx.stroke();
  ctx.fillStyle = '#6b6b70'; ctx.fillText(title, 4, 11);
  for (const { rows, colorOf = () => '#1d1d1f', dashed = false, width = 2 } of layers) {
    rows.forEach(([x, y], i) => {
      const px = cx + r * x / m, py = cy - r * y / m;
      ctx.strokeStyle = colorOf(i); ctx.lineWidth = width; if (dashed) ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(cx, cy); ctx.lineTo(px, py); ctx.stroke(); ctx.setLineDash([]); ctx.lineWidth = 1;
      ctx.fillStyle = colorOf(i); ctx.beginPath(); ctx.arc(px, py, 3, 0, 2 * Math.PI); ctx.fill();
    });
  }
}

/**
 * A short message in place of a chart.
 * @param {Chart} canvas
 * @param {string} text
 */
export function message(canvas, text) {
  const { ctx, H } = setup(canvas);
  canvas.dataset.points = '0';
  canvas.setAttribute('aria-label', text);
  ctx.fillStyle = '#6b6b70'; ctx.fillText(text, 20, H / 2);
}

/**
 * A titled canvas in a flex row.
 * @param {HTMLElement} parent
 * @param {string} title
 * @param {number} w
 * @param {number} h
 * @returns {Chart}
 */
export function figure(parent, title, w, h) {
  const fig = document.createElement('figure');
  const c = document.createElement('canvas'); c.width = w; c.height = h;
  const cap = document.createElement('figcaption'); cap.textContent = title;
  fig.append(c, cap); parent.append(fig);
  return c;
}

/**
 * Curves y(x) on linear axes: lines = [{ name, color, dashed, ys }] over shared xs.
 * @param {Chart} canvas
 * @param {number[]} xs
 * @param {Array<{ name: string, color: string, dashed?: boolean, ys: number[] }>} lines
 * @param {{ xLabel?: string }} [options]
 */
export function lineChart(canvas, xs, lines, { xLabel = '' } = {}) {
  const { ctx, W, H } = setup(canvas);
  canvas.dataset.points = String(xs.length * lines.length);
  canvas.setAttribute('aria-label', `curves of ${lines.map((l) => l.name).join(', ')} over ${xLabel || 'x'}`);
  const L = 40, R = 90, T = 10, B = 24;
  const all = lines.flatMap((l) => l.ys).filter(isFinite);
  if (!all.length) { ctx.fillStyle = '#888'; ctx.fillText('no data yet', L, H / 2); return; }
  const lo = minOf(all, 0), hi = maxOf(all, 1e-9);
  const x0 = xs[0], x1 = xs[xs.length - 1];
  const sx = (x) => L + (W - L - R) * (x - x0) / (x1 - x0 || 1);
  const sy = (y) => T + (H - T - B) * (1 - (y - lo) / (hi - lo || 1));
  ctx.strokeStyle = '#e2e2e0'; ctx.fillStyle = '#6b6b70';
  for (const y of [lo, 0, hi]) { ctx.beginPath(); ctx.moveTo(L, sy(y)); ctx.lineTo(W - R, sy(y)); ctx.stroke(); ctx.fillText(y.toFixed(2), 4, sy(y) + 4); }
  ctx.fillText(String(x0), L, H - 6); ctx.fillText(String(x1), W - R - 12, H - 6); ctx.fillText(xLabel, (W - R) / 2, H - 6);
  let legendY = T + 10;
  for (const { name, color: c, dashed, ys } of lines) {
    ctx.strokeStyle = c; ctx.lineWidth = 1.8; if (dashed) ctx.setLineDash([5, 3]);
    ctx.beginPath(); ys.forEach((y, i) => (i ? ctx.lineTo(sx(xs[i]), sy(y)) : ctx.moveTo(sx(xs[i]), sy(y)))); ctx.stroke();
    ctx.setLineDash([]); ctx.lineWidth = 1;
    ctx.fillStyle = c; ctx.fillRect(W - R + 10, legendY - 8, 10, 10);
    ctx.fillStyle = '#1d1d1f'; ctx.fillText(name, W - R + 26, legendY + 1);
    legendY += 16;
  }
}

/**
 * A card with nothing to draw for what is shown collapses to its title and one line saying why
 * (no empty chart); `null` shows it whole again.
 * @param {string} id
 * @param {string | null} reason
 */
export function emptyCard(id, reason) {
  const card = /** @type {HTMLElement} */ (document.getElementById(id));
  card.classList.toggle('card-empty', reason !== null);
  let line = card.querySelector('.empty-reason');
  if (reason === null) { line?.remove(); return; }
  if (!line) {
    line = document.createElement('p');
    line.className = 'empty-reason note';
    card.querySelector('h2')?.after(line);
  }
  line.textContent = reason;
}
