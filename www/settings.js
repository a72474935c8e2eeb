// The settings fields and the URL hash. The configuration itself lives in
// the worker (it alone changes it, in the order edits arrive); this module
// shows it and says what the user changed.

const ENUMS = {
  lr_schedule: ['constant', 'cosine', 'linear'], attribution_source: ['apd', 'target'], unit_norm_a: ['true', 'false'],
  untied_adam: ['false', 'true'], init: ['xavier', 'torch'], rescale: ['true', 'false'],
};
const GROUPS = { model: 'target model', target: 'target training', apd: 'decomposition', scale: 'scale' };
const $ = (id) => document.getElementById(id);

/** `[dotted path, value]` for every setting of a configuration object. */
export function flatten(obj, prefix = '', out = []) {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (k === 'kind') continue;
    if (v && typeof v === 'object') flatten(v, path, out); else out.push([path, v]);
  }
  return out;
}

/**
 * One input per setting of `configJson`, grouped by section. Each input
 * carries `data-setting="<dotted name>"` (and `data-testid="field-<name>"`);
 * a change calls `onChange(path, value)`.
 */
export function renderFields(configJson, onChange) {
  const root = $('fields');
  root.innerHTML = '';
  const groups = {};
  for (const [path, value] of flatten(JSON.parse(configJson))) {
    const g = path.split('.')[0];
    if (!groups[g]) {
      const fs = document.createElement('fieldset');
      const lg = document.createElement('legend'); lg.textContent = GROUPS[g] || g;
      fs.append(lg); root.append(fs); groups[g] = fs;
    }
    const key = path.split('.').pop();
    const div = document.createElement('div'); div.className = 'field'; div.dataset.path = path;
    const label = document.createElement('label');
    const span = document.createElement('span'); span.textContent = key;
    let input;
    if (ENUMS[key]) {
      input = document.createElement('select');
      for (const o of ENUMS[key]) { const opt = document.createElement('option'); opt.value = o; opt.textContent = o; input.append(opt); }
      input.value = String(value);
    } else {
      input = document.createElement('input'); input.type = 'text'; input.value = String(value);
      input.inputMode = 'decimal';
    }
    input.dataset.setting = path;
    input.dataset.testid = `field-${path}`;
    input.addEventListener('change', () => onChange(path, input.value));
    const err = document.createElement('div'); err.className = 'error';
    label.append(span, input); div.append(label, err); groups[g].append(div);
  }
}

/** Shows `message` under `path`'s field (an empty message clears it). */
export function fieldError(path, message) {
  const div = document.querySelector(`.field[data-path="${path}"]`);
  if (!div) return;
  div.classList.toggle('invalid', !!message);
  div.querySelector('.error').textContent = message;
}

/** The URL hash of a set-up: preset, seed, backend, and every setting that differs from the preset. */
export function hashOf({ preset, seed, backend, config, presetConfig }) {
  const params = new URLSearchParams();
  params.set('model', preset);
  params.set('seed', seed);
  params.set('backend', backend);
  const base = Object.fromEntries(flatten(JSON.parse(presetConfig)));
  for (const [path, value] of flatten(JSON.parse(config))) if (base[path] !== value) params.set(path, String(value));
  return `#${params}`;
}

/** A link's parts: model, seed and backend as given (or null), checked, and the settings to apply in order. */
export function readHash(hash, presets) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const problems = [];
  let model = params.get('model');
  if (model && !presets.includes(model)) { problems.push(`unknown model "${model}"`); model = null; }
  let seed = params.get('seed');
  if (seed !== null && !(/^\d+$/.test(seed) && Number(seed) <= 4294967295)) { problems.push(`seed "${seed}" is not an integer in [0, 4294967295]`); seed = null; }
  let backend = params.get('backend');
  if (backend !== null && !['auto', 'webgpu', 'cpu'].includes(backend)) { problems.push(`backend "${backend}" is not auto, webgpu or cpu`); backend = null; }
  const settings = [...params].filter(([key]) => !['model', 'seed', 'backend', 'chapter'].includes(key));
  return { model, seed, backend, settings, problems };
}
