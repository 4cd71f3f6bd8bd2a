/* The phone page's service worker: the shell from the cache (works offline), the worker's
 * grids and tasks from the network when there is one, else as last fetched.  POSTs are not
 * touched: the page's own outbox (IndexedDB) sends them when the network returns. */
"use strict";
const VERSION = "__VERSION__";
const CACHE = "onemap-m-" + VERSION;
const SHELL = ["/m", "/m/app.js", "/m/app.css", "/m/manifest.webmanifest", "/m/icon-192.png"];
const DATA = ["/m/boot.json", "/m/tasks.json"];

self.addEventListener("install", (event) => {
  // The shell must be there; the worker's data is added when it can be (signed in).
  event.waitUntil(caches.open(CACHE)
    .then((c) => c.addAll(SHELL).then(() => Promise.all(DATA.map((u) => c.add(u).catch(() => null)))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith("onemap-m-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) cache.put(request, response.clone());
    return response;
  } catch (err) {
    const hit = await cache.match(request, { ignoreSearch: false });
    if (!hit) throw err;
    const headers = new Headers(hit.headers);
    headers.set("X-From-Cache", "1");
    return new Response(await hit.blob(), { status: hit.status, headers });
  }
}

// Script, style, manifest and icon change only with a new version of this worker (its
// cache name): served from the cache, so a slow network fetches only the page and the data.
async function cacheFirst(request) {
  const hit = await caches.match(request);
  return hit || networkFirst(request);
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/m" || DATA.includes(url.pathname)) {
    event.respondWith(networkFirst(event.request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(cacheFirst(event.request));
  }
});
