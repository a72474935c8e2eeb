// @ts-check
// Offline use of the deployed site (scripts/build-site.sh, whose page
// carries its version in <meta name="apd-site-version">): its service worker
// keeps one build's files. A newer build waits until asked: the note offers
// it, and the page reloads on it only when the visitor says so, so that a
// run in progress is never cut short and no page mixes two builds.

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The deployed site's version, or null on the development server (no service worker there). */
export function siteVersion() {
  return document.querySelector('meta[name="apd-site-version"]')?.getAttribute('content') ?? null;
}

/** Registers the service worker and offers a newer build when one is ready. */
export async function setupOffline() {
  if (!siteVersion()) {
    // A development page on an origin where a built site once ran: not that site's worker's to serve.
    navigator.serviceWorker?.getRegistrations().then((rs) => rs.forEach((r) => r.unregister())).catch(() => {});
    return;
  }
  const note = $('update');
  if (!('serviceWorker' in navigator)) {
    note.hidden = false;
    note.textContent = 'This browser cannot keep the playground for offline use; it works while online.';
    return;
  }
  let registration;
  try {
    registration = await navigator.serviceWorker.register('./sw.js');
  } catch (e) {
    note.hidden = false;
    note.textContent = `The playground could not be kept for offline use (${e instanceof Error ? e.message : e}); it works while online.`;
    return;
  }
  let asked = false;
  /** @param {ServiceWorker} waiting */
  const offer = (waiting) => {
    note.hidden = false;
    note.textContent = 'A new version of the playground is ready. ';
    const b = document.createElement('button');
    b.textContent = 'Update (reloads the page)';
    b.dataset.testid = 'update-now';
    b.addEventListener('click', () => { asked = true; waiting.postMessage('take-over'); });
    note.append(b);
  };
  const hadController = navigator.serviceWorker.controller !== null;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (asked) { location.reload(); return; }
    // Another tab took the new build: this one's later loads would come from it.
    if (hadController) {
      note.hidden = false;
      note.textContent = 'The playground was updated in another tab. Reload this one to use the new version; what runs here now keeps running until then.';
    }
  });
  /** @param {ServiceWorker | null} w */
  const track = (w) => w?.addEventListener('statechange', () => { if (w.state === 'installed' && navigator.serviceWorker.controller) offer(w); });
  if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
  // An update found before this page listened is tracked too.
  track(registration.installing);
  registration.addEventListener('updatefound', () => track(registration.installing));
}
