// Results kept across reloads, in IndexedDB (reports of the larger models are
// several MB, over what localStorage holds). Every call resolves, never
// throws: a browser that refuses storage (private mode, quota) just keeps
// nothing, and the page says so once.

const DB = 'apd-playground';
const STORE = 'kv';
let warned = false;

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req?.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

/** Saves `value` under `key`; returns an error message or ''. */
export async function put(key, value) {
  try { await tx('readwrite', (s) => s.put(value, key)); return ''; } catch (e) {
    if (warned) return '';
    warned = true;
    return `this browser did not let the page keep results (${e?.message || e}); they will be lost on reload`;
  }
}

export async function get(key) {
  try { return await tx('readonly', (s) => s.get(key)); } catch { return undefined; }
}

export async function remove(...keys) {
  try { await tx('readwrite', (s) => { for (const k of keys) s.delete(k); }); } catch { /* nothing kept anyway */ }
}
