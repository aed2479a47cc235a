// casedesk's app-shell service worker: the app opens with no network.
//
// - Hashed build files (`name-<hash>.ext`, Trunk's output): cache-first. A name never
//   changes content, so a cached copy is always right.
// - Navigations and /index.html: network-first (3 s at most), falling back to the cached
//   shell; every route of the SPA is that one page.
// - /api/, /__chaos, other origins, non-GET: never touched (the data layer owns them).
//
// The page registers `/sw.js?v=<build id>` (a hash of the hashed asset names it loaded), so
// each deploy is a new worker: it precaches the shell it finds in /index.html, then deletes
// every older shell cache when it activates.

const VERSION = new URL(self.location.href).searchParams.get("v") || "dev";
const PREFIX = "casedesk-shell-";
const CACHE = PREFIX + VERSION;
const SHELL = "/index.html";
const HASHED = /-[0-9a-f]{8,}(_bg)?\.[a-z0-9]+$/i;
const NAVIGATION_TIMEOUT_MS = 3000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const response = await fetch(SHELL, { cache: "no-cache" });
      if (!response.ok) throw new Error(`the shell answered ${response.status}`);
      const html = await response.clone().text();
      await cache.put(SHELL, response);
      // Every same-origin hashed file the shell names: scripts, wasm, styles, icons.
      const assets = new Set();
      for (const [, path] of html.matchAll(/["'](\/[^"'?#]+)["']/g)) {
        if (HASHED.test(path)) assets.add(path);
      }
      await cache.addAll([...assets]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/__")) return;
  if (request.mode === "navigate" || url.pathname === SHELL) {
    event.respondWith(networkFirst(request));
  } else if (HASHED.test(url.pathname)) {
    event.respondWith(cacheFirst(request));
  }
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const network = fetch(request).then(async (response) => {
    const type = response.headers.get("content-type") || "";
    if (response.ok && type.includes("text/html")) await cache.put(SHELL, response.clone());
    return response;
  });
  // If the cached shell is served, a late network failure must not surface as unhandled.
  network.catch(() => {});
  try {
    return await withTimeout(network, NAVIGATION_TIMEOUT_MS);
  } catch (error) {
    const cached = await cache.match(SHELL);
    // No shell cached yet: all we can do is wait for the network (or its error).
    return cached || network;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out")), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
