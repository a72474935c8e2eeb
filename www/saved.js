// @ts-check
// Results kept across reloads: the last finished decomposition and a
// checkpoint of a running one, each an entry the worker made (the report
// and the figures this panel shows, so the page computes none of them).
import * as store from './store.js';
/** @typedef {import('./protocol.js').SavedEntry} SavedEntry */
/** @typedef {{ result?: SavedEntry, checkpoint?: SavedEntry }} Saved */

/** @param {string} id */
const $ = (id) => document.getElementById(id);
/** @type {Saved} */
let saved = { result: undefined, checkpoint: undefined };

/**
 * Keeps `entry` under `key`; returns an error message or ''.
 * @param {keyof Saved} key
 * @param {SavedEntry} entry
 */
export const keep = (key, entry) => store.put(key, entry);

/** Forgets the checkpoint (its run finished). */
export const dropCheckpoint = () => store.remove('checkpoint');

/** The entries kept now. */
export const entries = () => saved;

/**
 * @param {SavedEntry} entry
 * @param {string} what
 */
function describe(entry, what) {
  return `${what}: ${entry.model}, seed ${entry.seed}, ${entry.step}/${entry.totalSteps} steps (${new Date(entry.savedAt).toLocaleString()})`;
}

/** Shows what the last visit left, with buttons to show, resume or clear it. */
export async function offer() {
  const [result, checkpoint] = /** @type {Array<SavedEntry | undefined>} */ (await Promise.all([store.get('result'), store.get('checkpoint')]));
  // Entries from before the worker described them cannot be shown: forget them.
  saved = { result: result?.totalSteps ? result : undefined, checkpoint: checkpoint?.totalSteps ? checkpoint : undefined };
  const lines = [];
  if (saved.result) lines.push(describe(saved.result, 'last finished decomposition'));
  if (saved.checkpoint) lines.push(describe(saved.checkpoint, 'unfinished run, checkpoint'));
  $('saved').hidden = !lines.length;
  $('saved-note').textContent = lines.join('; ');
  $('saved-show').hidden = !saved.result;
  $('saved-resume').hidden = !saved.checkpoint;
}

/** Forgets both, and hides the panel. */
export async function clearSaved() {
  await store.remove('result', 'checkpoint');
  await offer();
}
