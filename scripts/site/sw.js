// The site's service worker (scripts/build-site.sh fills in VERSION and
// FILES): every file of one build is cached at install, all at once or
// not at all, and served from that cache, so that the page opens and runs
// with the network gone. A new build installs beside the old one and waits
// until no page of the old one is open (or the page asks it to take over),
// then deletes the old cache. The page that asked reloads at once; another
// tab of the old build is told to reload (what it has loaded keeps running).
const VERSION = '__VERSION__';
const FILES = __FILES__;
const CACHE = `apd-playground-${VERSION}`;

self.addEventListener('install', (event) => {
  // Past the HTTP cache: a host's max-age could otherwise hand a new build the old build's files.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES.map((f) => new Request(f, { cache: 'reload' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith('apd-playground-') && key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data === 'take-over') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(req, { ignoreSearch: true });
    return hit ?? fetch(req);
  })());
});
