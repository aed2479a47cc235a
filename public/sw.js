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
//
// The cached shell is always this worker's build of the app. A page is "the app of this
// build" only when its build id (the same hash the page computes, see `buildId`) equals
// VERSION; anything else is never written to the cache:
// - install: a shell that is not this build (a captive portal, a maintenance page, a build
//   deployed since the page loaded) fails the install, and the previous worker stays;
// - network-first: a 200 that is not this build is shown as it is (a captive portal's
//   sign-in page is what the person needs to get online; a newer build is the deploy
//   arriving, whose own worker then caches it) but not stored;
// - a 5xx (a proxy's error page, a maintenance answer) is a server that cannot be reached:
//   the cached app opens instead, as it would with no network at all.

const VERSION = new URL(self.location.href).searchParams.get("v") || "dev";
const PREFIX = "casedesk-shell-";
const CACHE = PREFIX + VERSION;
const SHELL = "/index.html";
const HASHED = /-[0-9a-f]{8,}(_bg)?\.[a-z0-9]+$/i;
const NAVIGATION_TIMEOUT_MS = 3000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const response = await fetch(SHELL, { cache: "no-cache" });
      if (!response.ok) throw new Error(`the shell answered ${response.status}`);
      const html = await response.clone().text();
      const build = appBuild(html);
      if (!build) throw new Error("/index.html is not the app (it names no hashed build files)");
      if (VERSION !== "dev" && build.id !== VERSION) {
        throw new Error(`/index.html is build ${build.id}, not ${VERSION}: a newer deploy installs its own worker`);
      }
      const cache = await caches.open(CACHE);
      // Every same-origin hashed file the shell names: scripts, wasm, styles, icons. The
      // assets first: a shell is only ever cached with everything it needs beside it.
      const assets = new Set();
      for (const [, path] of html.matchAll(/["'](\/[^"'?#]+)["']/g)) {
        if (HASHED.test(path)) assets.add(path);
      }
      await Promise.all(
        [...assets].map(async (path) => {
          const asset = await fetch(path);
          if (!isRealAsset(path, asset)) throw new Error(`${path} answered ${asset.status}, not the file`);
          await cache.put(path, asset);
        }),
      );
      await cache.put(SHELL, response);
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
  // The page's own look for a new deploy fetches `/` (not a navigation): left to the network.
  if (request.mode === "navigate" || url.pathname === SHELL) {
    event.respondWith(networkFirst(event));
  } else if (HASHED.test(url.pathname)) {
    event.respondWith(cacheFirst(request));
  }
});

function networkFirst(event) {
  const network = fetch(event.request);
  // Stored only when it is this very build; checked beside the answer, not before it, and
  // also when the answer comes too late to be the one shown.
  event.waitUntil(network.then((response) => keepIfThisBuild(response.clone()), () => {}));
  return firstAnswer(network);
}

async function firstAnswer(network) {
  let response;
  try {
    response = await withTimeout(network, NAVIGATION_TIMEOUT_MS);
  } catch (error) {
    const cached = await caches.match(SHELL, { cacheName: CACHE, ignoreVary: true });
    // No shell cached yet: all we can do is wait for the network (or its error).
    return cached || network;
  }
  if (response.status >= 500) {
    // A proxy's or a maintenance page's 5xx: the server is out of reach, the app is not.
    const cached = await caches.match(SHELL, { cacheName: CACHE, ignoreVary: true });
    if (cached) return cached;
  }
  return response;
}

/** Caches `response` as the shell when it is a 200 page of this worker's build. */
async function keepIfThisBuild(response) {
  try {
    if (response.status !== 200) return;
    if (!(response.headers.get("content-type") || "").includes("text/html")) return;
    const html = await response.clone().text();
    const build = appBuild(html);
    if (build && build.id === VERSION) await (await caches.open(CACHE)).put(SHELL, response);
  } catch (error) {
    // A body cut off mid-way is not a shell either.
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  // A hashed name is its content, whatever the request's headers: with CORS origins
  // configured the server adds `Vary: Origin`, and the page's module preload (which sends an
  // Origin) would otherwise miss the copy precached without one and go to the network.
  const cached = await cache.match(request, { ignoreVary: true });
  if (cached) return cached;
  const response = await fetch(request);
  if (isRealAsset(new URL(request.url).pathname, response)) await cache.put(request, response.clone());
  return response;
}

/**
 * Whether `response` may be kept for ever under the hashed `path`: a success, and not an HTML
 * page standing in for a script, a style or the wasm (a captive portal answers every URL with
 * its sign-in page).
 */
function isRealAsset(path, response) {
  const type = response.headers.get("content-type") || "";
  return response.ok && !(type.includes("text/html") && !/\.html?$/i.test(path));
}

/**
 * The build an HTML page is, or null when it names no hashed build file (then it is not the
 * app). The id is the one `src/platform/service_worker.rs` computes from the running page's
 * DOM: every `link[href]` and `script[src]` whose file name is hashed, sorted, joined by
 * newlines, FNV-1a 64, 16 hex digits. The two must agree, or no worker ever installs (the
 * shell's e2e test would say so).
 */
function appBuild(html) {
  const names = [];
  for (const [, tag, attributes] of html.matchAll(/<(link|script)\b([^>]*)>/gi)) {
    const value = attribute(attributes, tag.toLowerCase() === "link" ? "href" : "src");
    if (value !== null && isHashed(value)) names.push(value);
  }
  if (names.length === 0) return null;
  names.sort();
  return { id: fnv1a64(names.join("\n")), names };
}

function attribute(attributes, name) {
  const pattern = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s"'>]+))`, "i");
  const m = attributes.match(pattern);
  if (!m) return null;
  return m[1] ?? m[2] ?? m[3] ?? null;
}

/** The same test as the page's `is_hashed`: `-` and 8+ hex digits before the extension. */
function isHashed(url) {
  const file = url.split("/").pop();
  let stem = file.split(".")[0];
  if (stem.endsWith("_bg")) stem = stem.slice(0, -3);
  const dash = stem.lastIndexOf("-");
  if (dash < 0) return false;
  const hash = stem.slice(dash + 1);
  return hash.length >= 8 && /^[0-9a-f]+$/i.test(hash);
}

function fnv1a64(text) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
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
