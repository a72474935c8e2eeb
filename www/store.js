// @ts-check
// Results kept across reloads, in IndexedDB (reports of the larger models are
// several MB, over what localStorage holds). Every call resolves, never
// throws: a browser that refuses storage (private mode, quota) just keeps
// nothing, and the page says so once.

const DB = 'apd-playground';
const STORE = 'kv';
let warned = false;

/** @returns {Promise<IDBDatabase>} */
function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Runs `fn` on the store in one transaction; resolves with its request's result.
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest | void} fn
 * @returns {Promise<unknown>}
 */
async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = /** @type {IDBRequest | undefined} */ (fn(t.objectStore(STORE)));
      t.oncomplete = () => resolve(req?.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

/**
 * Saves `value` under `key`; returns an error message or ''.
 * @param {string} key
 * @param {unknown} value
 */
export async function put(key, value) {
  try { await tx('readwrite', (s) => s.put(value, key)); return ''; } catch (e) {
    if (warned) return '';
    warned = true;
    return `this browser did not let the page keep results (${e?.message || e}); they will be lost on reload`;
  }
}

/**
 * What is kept under `key` (undefined: nothing, or storage refused).
 * @param {string} key
 * @returns {Promise<unknown>}
 */
export async function get(key) {
  try { return await tx('readonly', (s) => s.get(key)); } catch { return undefined; }
}

/**
 * Forgets what is kept under `keys`.
 * @param {...string} keys
 */
export async function remove(...keys) {
  try { await tx('readwrite', (s) => { for (const k of keys) s.delete(k); }); } catch { /* nothing kept anyway */ }
}
