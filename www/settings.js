// @ts-check
// The settings fields and the URL hash. The configuration itself lives in
// the worker (it alone changes it, in the order edits arrive); this module
// shows it and says what the user changed.
/** @typedef {import('./protocol.js').SettingInfo} SettingInfo */

/** @type {Record<string, string>} */
const GROUPS = {
  model: 'target model', target: 'target training', paper: 'decomposition: APD as in the paper',
  addition: 'decomposition: this project\'s additions', spd: 'decomposition: SPD as in its paper',
  spd_later: 'decomposition: SPD, the reference code\'s later additions',
  vpd: 'decomposition: VPD as in param-decomp\'s code',
};
/** The methods, each with settings of its own under its name. */
const METHODS = ['apd', 'spd', 'vpd'];
/** @type {Record<string, string>} */
const GROUP_NOTES = {
  spd_later: 'Added to the SPD reference code after its paper. "As in the paper" turns them off.',
  addition: 'Not part of APD or SPD as published: they make them recover more seeds and targets of any scale. "As in the paper" turns them off.',
};
/** @param {string} id */
const $ = (id) => document.getElementById(id);

/**
 * `[dotted path, value]` for every setting of a configuration object.
 * @param {object} obj
 * @param {string} [prefix]
 * @param {Array<[string, unknown]>} [out]
 */
export function flatten(obj, prefix = '', out = []) {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (k === 'kind') continue;
    if (v && typeof v === 'object') flatten(v, path, out); else out.push([path, v]);
  }
  return out;
}

/**
 * The choices of a setting whose range reads like "constant, cosine or linear", or null.
 * @param {string} range
 */
function choices(range) {
  const m = /^([a-z_]+(?:, [a-z_]+)*) or ([a-z_]+)$/.exec(range);
  return m ? [...m[1].split(', '), m[2]] : null;
}

/**
 * One input per setting of `configJson`, grouped and explained by `info`
 * (the engine's settings registry, in its order): a label in words, the
 * paper's symbol, a one-line description and the range. Each input carries
 * `data-setting="<dotted name>"` (and `data-testid="field-<name>"`); a
 * change calls `onChange(path, value)`.
 * @param {string} configJson
 * @param {(path: string, value: string) => void} onChange
 * @param {SettingInfo[]} info
 */
export function renderFields(configJson, onChange, info) {
  const root = $('fields');
  root.innerHTML = '';
  const config = JSON.parse(configJson);
  const values = Object.fromEntries(flatten(config));
  // Only the method's own settings: APD's top-k and restarts mean nothing to SPD.
  const method = config.method ?? 'apd';
  const other = (/** @type {string} */ path) => METHODS.some((m) => m !== method && path.startsWith(`${m}.`));
  /** @type {Record<string, HTMLFieldSetElement>} */
  const groups = {};
  for (const s of info) {
    if (!(s.path in values) || other(s.path)) continue;
    if (!groups[s.group]) {
      const fs = document.createElement('fieldset');
      fs.dataset.group = s.group;
      const lg = document.createElement('legend'); lg.textContent = GROUPS[s.group] || s.group;
      fs.append(lg);
      if (GROUP_NOTES[s.group]) { const p = document.createElement('p'); p.className = 'note'; p.textContent = GROUP_NOTES[s.group]; fs.append(p); }
      root.append(fs); groups[s.group] = fs;
    }
    const value = values[s.path];
    const div = document.createElement('div'); div.className = 'field'; div.dataset.path = s.path;
    const label = document.createElement('label');
    const name = document.createElement('span'); name.className = 'name';
    name.textContent = s.label;
    if (s.symbol) { const i = document.createElement('i'); i.className = 'symbol'; i.textContent = s.symbol; name.append(' ', i); }
    /** @type {HTMLInputElement | HTMLSelectElement} */
    let input;
    const options = choices(s.range);
    if (options) {
      input = document.createElement('select');
      for (const o of options) { const opt = document.createElement('option'); opt.value = o; opt.textContent = o; input.append(opt); }
      input.value = String(value);
    } else {
      const text = document.createElement('input'); text.type = 'text'; text.value = String(value);
      text.inputMode = 'decimal';
      input = text;
    }
    input.dataset.setting = s.path;
    input.dataset.testid = `field-${s.path}`;
    input.setAttribute('aria-label', `${s.label} (${s.path})`);
    input.addEventListener('change', () => onChange(s.path, input.value));
    const desc = document.createElement('div'); desc.className = 'desc';
    desc.dataset.testid = `desc-${s.path}`;
    desc.textContent = `${s.description}. `;
    const code = document.createElement('code'); code.textContent = `${s.path}: ${s.range}`; desc.append(code);
    const err = document.createElement('div'); err.className = 'error';
    // A screen reader reads the description and any error with the field.
    desc.id = `desc-${s.path}`; err.id = `error-${s.path}`;
    input.setAttribute('aria-describedby', `${desc.id} ${err.id}`);
    label.append(name, input); div.append(label, desc, err);
    // The shown ones first, then the group's "More settings", whatever the registry's order.
    if (s.main) groups[s.group].insertBefore(div, groups[s.group].querySelector(':scope > details.more'));
    else moreOf(groups[s.group]).append(div);
  }
  for (const d of root.querySelectorAll('details.more')) {
    const n = d.querySelectorAll('.field').length;
    /** @type {HTMLElement} */ (d.querySelector('summary')).textContent = `More settings (${n})`;
  }
}

/**
 * The group's "More settings", made at its first use: the settings a visitor rarely changes.
 * @param {HTMLFieldSetElement} group
 */
function moreOf(group) {
  let more = /** @type {HTMLDetailsElement | null} */ (group.querySelector(':scope > details.more'));
  if (!more) {
    more = document.createElement('details');
    more.className = 'more';
    more.dataset.testid = `more-${group.dataset.group}`;
    more.append(document.createElement('summary'));
    group.append(more);
  }
  return more;
}

/**
 * Opens the "More settings" that holds `path`'s field, if it is behind one: to show a value set
 * for the user, or an error under it.
 * @param {string} path
 */
export function revealField(path) {
  const field = document.querySelector(`[data-setting="${path}"]`);
  const more = field?.closest('details');
  if (more) more.open = true;
}

/**
 * Shows `message` under `path`'s field (an empty message clears it).
 * @param {string} path
 * @param {string} message
 */
export function fieldError(path, message) {
  const div = document.querySelector(`.field[data-path="${path}"]`);
  if (!div) return;
  div.classList.toggle('invalid', !!message);
  div.querySelector('.error').textContent = message;
  if (message) revealField(path);
}

/**
 * The URL hash of a set-up: preset, seed, backend, and every setting that differs from the preset.
 * @param {{ preset: string, seed: string, backend: string, config: string, presetConfig: string, chapter?: number, embed?: string }} setup
 */
export function hashOf({ preset, seed, backend, config, presetConfig, chapter = 0, embed = '' }) {
  const params = new URLSearchParams();
  if (embed) params.set('embed', embed);
  if (chapter) params.set('chapter', String(chapter));
  params.set('model', preset);
  const method = JSON.parse(config).method;
  if (method && method !== 'apd') params.set('method', method);
  params.set('seed', seed);
  params.set('backend', backend);
  const base = Object.fromEntries(flatten(JSON.parse(presetConfig)));
  for (const [path, value] of flatten(JSON.parse(config))) if (path !== 'method' && base[path] !== value) params.set(path, String(value));
  return `#${params}`;
}

/**
 * The card a link embeds alone (`#embed=geometry`: the card `card-geometry`), or '' for the whole page.
 * @param {string} hash
 */
export function embedOf(hash) {
  const id = new URLSearchParams(hash.replace(/^#/, '')).get('embed') ?? '';
  return /^[a-z0-9-]{1,40}$/.test(id) ? id : '';
}

/**
 * The tour chapter a link opens (0: none).
 * @param {string} hash
 */
export function chapterOf(hash) {
  const n = Number(new URLSearchParams(hash.replace(/^#/, '')).get('chapter'));
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * A link's parts: model, seed, backend and method as given (or null), checked, and the settings to apply in order.
 * @param {string} hash
 * @param {string[]} presets
 */
export function readHash(hash, presets) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const problems = [];
  let model = params.get('model');
  if (model && !presets.includes(model)) { problems.push(`unknown model "${model}"`); model = null; }
  let seed = params.get('seed');
  if (seed !== null && !(/^\d+$/.test(seed) && Number(seed) <= 4294967295)) { problems.push(`seed "${seed}" is not an integer in [0, 4294967295]`); seed = null; }
  let backend = params.get('backend');
  if (backend !== null && !['auto', 'webgpu', 'cpu'].includes(backend)) { problems.push(`backend "${backend}" is not auto, webgpu or cpu`); backend = null; }
  let method = params.get('method');
  if (method !== null && !METHODS.includes(method)) { problems.push(`method "${method}" is not ${METHODS.slice(0, -1).join(', ')} or ${METHODS.at(-1)}`); method = null; }
  const settings = [...params].filter(([key]) => !['model', 'seed', 'backend', 'chapter', 'method', 'embed'].includes(key));
  return { model, seed, backend, method, settings, problems };
}
