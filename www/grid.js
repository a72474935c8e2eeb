// @ts-check
// Seeds side by side (`data-testid="seeds-grid"`): one model and one set of
// settings on many seeds, each seed a small polygon with its figures, failed
// seeds marked with the reason where it is the known collapse (two features
// in one component). It opens on a grid shipped with the page
// (`www/gallery/seeds/`, made by scripts/seeds-grid.sh); "Run them here"
// decomposes seeds live on the CPU, several at once, each in a worker of its
// own (a worker is one engine; on the CPU a worker per core beats batching
// the seeds into one step: docs/page.md), and a click on a seed opens it in
// the full views.
import { vectors, color, maxOf } from './views.js';
import { BAR, recovered } from './results.js';
/** @typedef {import('./protocol.js').Snapshot} Snapshot */
/** @typedef {import('./protocol.js').ShippedEntry} ShippedEntry */
/** @typedef {import('./protocol.js').Plan} Plan */
/** @typedef {import('./protocol.js').PageMessage} PageMessage */
/** @typedef {import('./protocol.js').WorkerMessage} WorkerMessage */
/** @typedef {import('./views.js').Chart} Chart */
/** @typedef {{ ok: boolean, figures: string, reason: string, collapse?: boolean }} Verdict */
/** @typedef {HTMLButtonElement & { result?: ShippedEntry }} SeedCell  a seed's cell; `result` once it has one to open */
/** A shipped grid (www/gallery/seeds/<name>.json). @typedef {{ name: string, title: string, note: string, model: string, method: string, cells: ShippedEntry[] }} SeedsGrid */

/** @param {string} id */
const $ = (id) => document.getElementById(id);
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @param {string} id */
const select = (id) => /** @type {HTMLSelectElement} */ (document.getElementById(id));
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));
/**
 * Sends a seeds worker a message of the protocol.
 * @param {Worker} w
 * @param {PageMessage} msg
 */
const send = (w, msg) => w.postMessage(msg);
/** A share (|cos| times length, capped at 1) at least this large counts as a component holding a feature. */
const HOLDS = 0.3;

/**
 * Features that one component holds together (the collapse APD is known
 * for): `cos` is the feature x component share matrix of the views
 * (row-major, `nFeatures` rows). Each feature's holder is the component
 * with its largest share, when that share is at least HOLDS; returns
 * [{ component, features }] for every component holding two or more.
 * @param {number[]} cos
 * @param {number} nFeatures
 * @returns {Array<{ component: number, features: number[] }>}
 */
export function collapses(cos, nFeatures) {
  const nC = cos.length / nFeatures;
  /** @type {Map<number, number[]>} */
  const held = new Map();
  for (let f = 0; f < nFeatures; f++) {
    let best = -1, share = HOLDS;
    for (let c = 0; c < nC; c++) if (cos[f * nC + c] >= share) { best = c; share = cos[f * nC + c]; }
    if (best >= 0) held.set(best, [...(held.get(best) ?? []), f]);
  }
  return [...held].filter(([, fs]) => fs.length > 1).map(([component, features]) => ({ component, features }));
}

/**
 * Whether a seed's views meet the success bar, and if not, why in words.
 * @param {Snapshot} views
 * @returns {Verdict}
 */
export function verdict(views) {
  const m = views.metrics;
  if (m.resid) {
    const ok = m.resid.n_dedicated >= 0.9 * m.resid.dedicated.length;
    return { ok, figures: `${m.resid.n_dedicated} of ${m.resid.dedicated.length} own`, reason: ok ? '' : 'under 90% with a component of their own' };
  }
  const ok = recovered(m);
  const figures = `MMCS ${m.mmcs.toFixed(3)}, ML2R ${m.ml2r.toFixed(2)}`;
  if (ok) return { ok, figures, reason: '' };
  const both = collapses(views.cos_matrix ?? [], m.features.length);
  if (both.length) {
    const { component, features } = both[0];
    return { ok, figures, collapse: true, reason: `features ${features.join(' and ')} in one component (${component})` };
  }
  return { ok, figures, reason: m.mmcs < BAR.mmcs ? 'a feature without a component along it' : 'components shorter than their features' };
}

/**
 * Draws one seed's polygon: the target's features (dashed grey) and each component's part, coloured by component.
 * @param {Chart} canvas
 * @param {Snapshot} views
 */
function drawPolygon(canvas, views) {
  const t = views.target?.[0];
  if (!t || t[2] !== 2 || !views.components?.length) return false;
  const [, n, , w] = t;
  /** @type {(vals: number[]) => Array<[number, number]>} */
  const rows = (vals) => Array.from({ length: n }, (_, i) => [vals[2 * i], vals[2 * i + 1]]);
  const target = rows(w);
  const scale = maxOf(target.map(([x, y]) => Math.hypot(x, y)));
  // Only the rows a component really holds: the rest are near zero and would only clutter.
  // A component holding two features is drawn thicker: the collapse, seen.
  const both = new Set(collapses(views.cos_matrix ?? [], n).map((x) => x.component));
  const layers = views.components[0].map((p, c) => {
    const r = rows(p).filter(([x, y]) => Math.hypot(x, y) > 0.15 * scale);
    return { rows: r, colorOf: () => color(c), name: `component ${c}`, width: both.has(c) ? 4 : 2 };
  });
  vectors(canvas, [{ rows: target, colorOf: () => '#c4c4c8', dashed: true, name: 'target' }, ...layers], { scale, room: false });
  // The cell's own title says what the seed shows; the canvas is decoration inside the button.
  canvas.tip = null;
  canvas.setAttribute('aria-hidden', 'true');
  return true;
}

/**
 * A cell for `seed`; `onOpen` is called when it is clicked with a result in it.
 * @param {number} seed
 * @param {(entry: ShippedEntry) => void} onOpen
 */
function makeCell(seed, onOpen) {
  /** @type {SeedCell} */
  const b = document.createElement('button');
  b.className = 'seed-cell';
  b.dataset.testid = 'seed-cell';
  b.dataset.seed = String(seed);
  b.dataset.state = 'waiting';
  b.innerHTML = '<canvas width="104" height="104"></canvas><b></b><span class="seed-figures"></span><span class="seed-reason"></span>';
  b.querySelector('b').textContent = `seed ${seed}`;
  b.querySelector('.seed-figures').textContent = 'waiting';
  b.setAttribute('aria-disabled', 'true');
  b.addEventListener('click', () => { if (b.result) onOpen(b.result); });
  return b;
}

/**
 * Fills `cell` with a finished result (or, with `live`, a running one: its seed and views); returns its verdict.
 * @param {SeedCell} cell
 * @param {ShippedEntry | { seed: number, views: Snapshot }} result
 * @param {boolean} [live]
 */
function fillCell(cell, result, live = false) {
  const v = verdict(result.views);
  cell.dataset.state = live ? 'running' : 'done';
  if (!live) { cell.dataset.ok = String(v.ok); cell.result = /** @type {ShippedEntry} */ (result); cell.removeAttribute('aria-disabled'); }
  cell.classList.toggle('failed', !live && !v.ok);
  cell.classList.toggle('collapsed', !live && !!v.collapse);
  drawPolygon(cell.querySelector('canvas'), result.views);
  cell.querySelector('.seed-figures').textContent = live ? `${v.figures} (running)` : v.figures;
  cell.querySelector('.seed-reason').textContent = live ? '' : v.ok ? 'recovered' : v.reason;
  cell.title = `seed ${result.seed}: ${v.figures}${!live && !v.ok ? `; not recovered: ${v.reason}` : ''}${live ? '' : '. Click to open it in the views.'}`;
  cell.setAttribute('aria-label', cell.title);
  return v;
}

/**
 * The summary line under the grid.
 * @param {string} text
 */
function summarize(text) { $('seeds-summary').textContent = text; }

/** Bumped by every change of what the grid shows: a shipped grid that loads after a later change is dropped. */
let shown = 0;

/**
 * Shows the shipped grid `name`; `open(entry)` opens a seed in the full views.
 * @param {string} name
 * @param {(entry: ShippedEntry) => void} open
 */
async function showShippedGrid(name, open) {
  stopLive();
  const mine = ++shown;
  const box = $('seeds-cells');
  box.innerHTML = '';
  summarize('loading ...');
  /** @type {SeedsGrid | null} */
  let grid = null;
  try {
    const res = await fetch(`gallery/seeds/${name}.json`);
    grid = res.ok ? await res.json() : null;
  } catch { grid = null; }
  if (mine !== shown) return;
  if (!grid) { summarize(`The shipped grid ${name} could not be loaded.`); return; }
  let ok = 0, collapsed = 0;
  for (const e of grid.cells) {
    const cell = makeCell(e.seed, open);
    box.append(cell);
    const v = fillCell(cell, e);
    if (v.ok) ok++;
    if (v.collapse) collapsed++;
  }
  box.dataset.source = name;
  summarize(`${grid.title}: ${ok} of ${grid.cells.length} seeds recovered`
    + (collapsed ? `, ${collapsed} with two features in one component` : '')
    + ` (${grid.model}, computed in advance). ${grid.note}`);
}

// ---- live: seeds decomposed in this page ----

/**
 * Workers running a live grid, and what they still have to do.
 * @type {{ workers: Worker[], done: number, ok: number, failed: number, t0: number } | null}
 */
let live = null;

function stopLive() {
  if (!live) return;
  for (const w of live.workers) { w.onmessage = null; w.terminate(); }
  // Seeds that had not finished say so, rather than looking busy.
  for (const cell of /** @type {NodeListOf<SeedCell>} */ (document.querySelectorAll('#seeds-cells [data-testid="seed-cell"]'))) {
    if (cell.dataset.state === 'running' || cell.dataset.state === 'waiting') {
      cell.dataset.state = 'stopped';
      cell.querySelector('.seed-figures').textContent = 'not run';
    }
  }
  live = null;
  button('seeds-stop').disabled = true;
  button('seeds-run').disabled = false;
}

/** How many seeds run at once: one per core the browser reports, at most four. */
export const parallelism = () => Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));

/**
 * Decomposes seeds `first .. first + n - 1` of `preset` with `config` (JSON
 * text) in this page, `parallelism()` at a time, each in a worker of its own.
 * @param {{ preset: string, config: string, first: number, n: number }} what
 * @param {(entry: ShippedEntry) => void} open
 */
function runLive({ preset, config, first, n }, open) {
  stopLive();
  shown++;
  const box = $('seeds-cells');
  box.innerHTML = '';
  box.dataset.source = 'live';
  select('seeds-pick').value = 'live';
  const seeds = Array.from({ length: n }, (_, i) => first + i);
  const cells = new Map(seeds.map((s) => [s, makeCell(s, open)]));
  for (const c of cells.values()) box.append(c);
  const queue = [...seeds];
  const at = parallelism();
  const run = { workers: [], done: 0, ok: 0, failed: 0, t0: performance.now() };
  live = run;
  button('seeds-stop').disabled = false;
  button('seeds-run').disabled = true;
  // Which method, said where it is not APD (the grid's cells look alike either way).
  let what = preset;
  try { const m = JSON.parse(config).method; if (m && m !== 'apd') what = `${preset} (${m.toUpperCase()})`; } catch { /* the worker reports a bad configuration */ }
  const progress = () => summarize(`Running ${n} seeds of ${what} here on the CPU, ${at} at a time: ${run.done} done, ${run.ok} recovered`
    + `${run.failed ? `, ${run.failed} failed to run` : ''}.`);
  progress();
  const finish = () => {
    if (run.done + run.failed < n || live !== run) return;
    const s = Math.round((performance.now() - run.t0) / 1000);
    summarize(`${run.ok} of ${run.done} seeds of ${what} recovered${run.failed ? ` (${run.failed} more could not run)` : ''}, run here in ${s} s (${at} at a time on the CPU). Click a seed to open it.`);
    stopLive();
  };
  /** @param {Worker} w */
  const next = (w) => {
    const seed = queue.shift();
    if (seed === undefined) { w.onmessage = null; w.terminate(); return; }
    const cell = cells.get(seed);
    cell.dataset.state = 'running';
    cell.querySelector('.seed-figures').textContent = 'starting';
    /** @type {Snapshot | null} */
    let snap = null;
    /** @type {Plan | null} */
    let plan = null;
    w.onmessage = (/** @type {MessageEvent<WorkerMessage>} */ { data: msg }) => {
      if (live !== run || ('run' in msg && msg.run !== seed && msg.run != null)) return;
      switch (msg.type) {
        case 'started': plan = msg.plan; break;
        case 'progress': {
          const b = msg.batch;
          if (!snap) cell.querySelector('.seed-figures').textContent = b.phase === 'target' ? `target ${b.target_step}/${plan?.target_steps ?? '?'}` : `step ${b.apd_step}/${plan?.apd_steps ?? '?'}`;
          break;
        }
        case 'snapshot': snap = msg.snap; fillCell(cell, { seed, views: snap }, true); break;
        case 'done': {
          const report = JSON.parse(msg.entry.report);
          const result = { live: true, model: report.model, method: report.config.method ?? 'apd', seed, wall_s: report.timing.wall_s, report, views: snap, plan };
          run.done++; if (fillCell(cell, result).ok) run.ok++;
          progress(); finish(); next(w);
          break;
        }
        case 'fatal': // the engine did not load in this worker
        case 'field-error': // the page's settings refused: nothing can run
        case 'failed': {
          // The engine or the settings fail every seed alike: the rest are not tried.
          const all = msg.type !== 'failed' || msg.kind === 'invalid';
          for (const s of all ? [seed, ...queue.splice(0)] : [seed]) {
            const c = cells.get(s);
            c.dataset.state = 'failed';
            c.querySelector('.seed-figures').textContent = 'could not run';
            c.querySelector('.seed-reason').textContent = msg.message;
            run.failed++;
          }
          // A worker whose engine failed is not trusted with the next seed.
          w.onmessage = null; w.terminate(); run.workers = run.workers.filter((x) => x !== w);
          progress(); finish(); if (live === run) spawn();
          break;
        }
        default: break; // checkpoints, notices: the grid keeps only the result
      }
    };
    send(w, { type: 'use-config', preset, config });
    send(w, { type: 'speed', value: 1000 });
    send(w, { type: 'start', run: seed, preset, seed, backend: 'cpu', paused: false });
  };
  function spawn() {
    if (!queue.length) return;
    const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    w.onerror = (e) => { if (live !== run) return; summarize(`A seeds worker failed: ${e.message || 'unknown error'}.`); stopLive(); };
    run.workers.push(w);
    next(w);
  }
  for (let i = 0; i < Math.min(at, n); i++) spawn();
}

/**
 * Wires the card: `open(entry)` shows a seed in the full views; `current()`
 * gives { preset, config, seed } of the page's settings, or null while the
 * engine is not there.
 * @param {(entry: ShippedEntry) => void} open
 * @param {() => ({ preset: string, config: string, seed: number } | null)} current
 */
export function setupGrid(open, current) {
  $('seeds-pick').addEventListener('change', () => showShippedGrid(select('seeds-pick').value, open));
  $('seeds-stop').addEventListener('click', () => { stopLive(); summarize('Stopped: the seeds that had finished stay.'); });
  $('seeds-run').addEventListener('click', () => {
    const c = current();
    if (!c) { summarize('The engine is still loading: the seeds can run once it is there.'); return; }
    const n = Number(input('seeds-n').value);
    if (!Number.isInteger(n) || n < 1 || n > 24) { summarize(`The number of seeds must be an integer from 1 to 24; "${input('seeds-n').value}" is not.`); return; }
    if (c.seed + n - 1 > 4294967295) { summarize(`Seeds run up to 4294967295: from seed ${c.seed}, at most ${4294967296 - c.seed}.`); return; }
    runLive({ ...c, first: c.seed, n }, open);
  });
  showShippedGrid(select('seeds-pick').value, open);
}

/**
 * Shows shipped grid `name` (the tour's action), scrolled into view.
 * @param {string} name
 * @param {(entry: ShippedEntry) => void} open
 */
export function showGrid(name, open) {
  select('seeds-pick').value = name;
  $('card-seeds').scrollIntoView({ block: 'start' });
  return showShippedGrid(name, open);
}
