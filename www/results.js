// @ts-check
// Saved and shipped results in words, and the shipped ones themselves
// (`www/gallery/`, plain JSON the page can draw before the engine loads).
/** @typedef {import('./protocol.js').ShippedEntry} ShippedEntry */
/** @typedef {import('./protocol.js').Metrics} Metrics */
/** @typedef {import('./protocol.js').ScaleSummary} ScaleSummary */
/** An item of www/gallery/index.json. @typedef {{ name: string, model: string, method: string, seed: number, title: string, wall_s: number, figures: string }} GalleryItem */

/**
 * A result shipped with the page (`www/gallery/<name>.json`), or null.
 * @param {string} name
 * @returns {Promise<ShippedEntry | null>}
 */
export async function shipped(name) {
  try {
    const res = await fetch(`gallery/${name}.json`);
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** This project's success bar for a TMS decomposition (docs/robustness.md). */
export const BAR = { mmcs: 0.98, ml2r: 0.85 };

/**
 * Whether TMS metrics `m` meet the success bar.
 * @param {Metrics} m
 */
export function recovered(m) {
  return m.mmcs >= BAR.mmcs && m.ml2r >= BAR.ml2r;
}

/**
 * Two or three sentences on what a shipped result shows.
 * @param {ShippedEntry} entry
 */
export function describeEntry(entry) {
  const m = entry.views.metrics;
  const when = `computed in advance (seed ${entry.seed}, ${Math.round(entry.wall_s)} s on one CPU core)`;
  const note = entry.note ? ` ${entry.note}` : '';
  if (m.resid) {
    return `A finished decomposition of ${entry.model}, ${when}: ${m.resid.n_dedicated} of its ${m.resid.dedicated.length} features got a component of their own.${note}`;
  }
  const ok = recovered(m);
  return `A finished decomposition of ${entry.model}, ${when}. The target network squeezes ${m.features.length} features into `
    + `${entry.views.target[0][2]} dimensions (the first ${entry.views.target[0][2] === 2 ? 'polygon' : 'map'} under Geometry); ${entry.method !== 'apd' ? `${entry.method.toUpperCase()} split each weight matrix into ${entry.views.components[0].length} rank-one subcomponents` : `APD split its weights into ${entry.views.components[0].length} parameter components`}`
    + (ok ? `, and each feature was recovered by one of them (MMCS ${m.mmcs.toFixed(3)}, ML2R ${m.ml2r.toFixed(3)}: 1 would be perfect).`
      : `, but not one per feature (MMCS ${m.mmcs.toFixed(3)}, ML2R ${m.ml2r.toFixed(3)}: success needs ${BAR.mmcs} and ${BAR.ml2r}).`)
    + note;
}

/**
 * In words: a target's feature norms and the scale a decomposition works (or worked) at.
 * @param {ScaleSummary | null | undefined} s
 * @param {number[]} [norms]
 */
export function scaleText(s, norms = []) {
  if (!s || !s.feature_norm) return s?.rescaled ? 'Each neuron\'s weights are balanced before decomposing (it computes the same).' : '';
  const list = norms.length ? `feature norms ${norms.map((v) => v.toFixed(2)).join(', ')}; ` : '';
  return s.rescaled
    ? `${list}root mean square ${s.feature_norm.toFixed(3)}, decomposed at ${s.working_norm.toFixed(3)} (rescaled, then scaled back).`
    : `${list}root mean square ${s.feature_norm.toFixed(3)}, decomposed as it is.`;
}

/**
 * Marks the views as a shipped result, with its description (or not).
 * @param {boolean} on
 * @param {ShippedEntry | null} [entry]
 */
export function showFirstView(on, entry = null) {
  const box = document.getElementById('first-view');
  box.hidden = !on;
  if (!on || !entry) return;
  box.querySelector('h2').textContent = entry.title || 'A finished decomposition';
  document.getElementById('first-view-text').textContent = describeEntry(entry);
  const minutes = Math.round(entry.wall_s / 60);
  const took = entry.wall_s < 90 ? `${Math.round(entry.wall_s)} s` : `${minutes} minutes`;
  document.getElementById('first-view-note').textContent = `trains a new target and decomposes it live in this page (this one took about ${took} natively on one core; a tab's CPU backend is slower)`;
}

/**
 * The list of shipped results (`www/gallery/index.json`); `open(name)` shows one.
 * @param {(name: string) => unknown} open
 */
export async function showGallery(open) {
  const list = document.getElementById('gallery-items');
  const items = /** @type {GalleryItem[] | null} */ (/** @type {unknown} */ (await shipped('index')));
  list.innerHTML = '';
  for (const it of items || []) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.dataset.testid = 'gallery-item';
    b.dataset.model = it.model; b.dataset.method = it.method; b.dataset.name = it.name;
    b.innerHTML = '<b></b><span></span>';
    b.querySelector('b').textContent = it.title;
    b.querySelector('span').textContent = `${it.model}, ${it.method.toUpperCase()}, seed ${it.seed}: ${it.figures}; ${Math.round(it.wall_s)} s natively`;
    b.addEventListener('click', () => open(it.name));
    li.append(b); list.append(li);
  }
}

/**
 * Seconds in words, rounded as a person would say them.
 * @param {number} s
 */
export function duration(s) {
  if (!(s > 0)) return '-';
  if (s < 60) return `about ${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `about ${Math.round(s / 60)} min`;
  return `about ${(s / 3600).toFixed(1)} h`;
}
