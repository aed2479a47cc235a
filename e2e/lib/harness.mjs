// The whole-app test harness: a real reference server (fresh SQLite file, the built app from
// dist/) on a free loopback port, and the system Chromium driven by playwright-core. Every
// server is stopped by its own process id; every page is watched for wasm panics.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { chownSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const distDir = process.env.CASEDESK_DIST ?? join(repoRoot, "dist");
export const artifactsDir = join(repoRoot, "target", "e2e-artifacts");

function serverBinary() {
  if (process.env.CASEDESK_SERVER_BIN) return process.env.CASEDESK_SERVER_BIN;
  const meta = JSON.parse(
    execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps"], { cwd: repoRoot, encoding: "utf8" }),
  );
  return join(meta.target_directory, "debug", "casedesk-server");
}

/**
 * Spawns the server binary with `args` (which name the address); resolves with the child, the
 * address it printed and its log once it prints `listening on`.
 */
async function spawnServer(args) {
  const child = spawn(serverBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
  const logged = { text: "" };
  child.stderr.on("data", (d) => {
    logged.text += d;
    if (logged.text.length > 200_000) logged.text = logged.text.slice(-100_000);
  });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${logged.text}`)), 30_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code ?? signal}:\n${logged.text}`));
    });
  });
  return { child, url, logged };
}

/** Sends `signal` to `child` (by its own pid) and resolves once it has exited. */
function killAndWait(child, signal, graceMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
    }, graceMs);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    process.kill(child.pid, signal);
  });
}

/** The password of every demo person (docs/api.md §4). */
export const DEMO_PASSWORD = "casedesk-demo";

/** The demo people every new server database has (`server/src/people.rs`). */
export const DEMO_PEOPLE = {
  dana: { id: "01900000-0000-7000-8000-00000000d001", name: "Dana Reyes", email: "dana@example.com" },
  sam: { id: "01900000-0000-7000-8000-00000000d002", name: "Sam Okafor", email: "sam@example.com" },
  priya: { id: "01900000-0000-7000-8000-00000000d003", name: "Priya Natarajan", email: "priya@example.com" },
  lee: { id: "01900000-0000-7000-8000-00000000d004", name: "Lee Chen", email: "lee@example.com" },
};

/**
 * Signs `page` in as the demo person `who` through the app's sign-in form, and waits until
 * the header names them. Every page of the same browser context is then signed in (the
 * token is in the origin's IndexedDB).
 */
export async function signIn(page, server, who = "dana") {
  const person = DEMO_PEOPLE[who];
  if (!person) throw new Error(`no demo person ${who}`);
  if (!page.url().startsWith(server.url)) await page.goto(server.url + "/sign-in");
  await page.getByRole("heading", { name: "Sign in" }).first().waitFor();
  await page.getByLabel("Email", { exact: true }).fill(person.email);
  await page.getByLabel("Password", { exact: true }).fill(DEMO_PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByTestId("current-user").filter({ hasText: person.name }).waitFor();
}

/**
 * A new browser context (with playwright's `options`) signed in as the demo person `who`:
 * a first page signs in and closes, so the test's pages open signed in.
 */
export async function signedInContext(browser, server, { who = "dana", ...options } = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await signIn(page, server, who);
  await page.close();
  return context;
}

/**
 * A context signed in as Dana that holds nothing else of the app: signing in loaded the app,
 * so its service worker, caches, HTTP cache and Dana's cached data are cleared, and the next
 * visit downloads the code again (as a visit after a deploy does) and can take its numbers
 * only from the network. The session stays in IndexedDB.
 */
export async function sessionOnlyContext(browser, server) {
  const context = await signedInContext(browser, server);
  const blank = await context.newPage();
  await blank.goto(`${server.url}/health`);
  await blank.evaluate(async (cacheDb) => {
    for (const registration of await navigator.serviceWorker.getRegistrations()) await registration.unregister();
    for (const name of await caches.keys()) await caches.delete(name);
    await new Promise((resolve, reject) => {
      const del = indexedDB.deleteDatabase(cacheDb);
      del.onsuccess = resolve;
      del.onerror = () => reject(del.error);
      del.onblocked = () => reject(new Error(`${cacheDb} is still open somewhere`));
    });
  }, `casedesk-${DEMO_PEOPLE.dana.id}-cache`);
  const cdp = await context.newCDPSession(blank);
  await cdp.send("Network.clearBrowserCache");
  await blank.close();
  return context;
}

/**
 * Starts a reference server serving the built app (or `staticDir`, a folder a test prepared);
 * resolves once it prints its address. People are on, as deployed, with the demo people
 * (and the demo cases with `seedDemo`); `people: false` runs it with `--no-auth`, for tests
 * about exactly that. `server.api` acts as Dana Reyes. `port` (from `freePort`) is for a
 * test that must name the address before the server starts; by default the OS picks one.
 */
export async function startServer({
  seedDemo = false,
  people = true,
  args = [],
  staticDir = distDir,
  db = null,
  seed = null,
  port = 0,
} = {}) {
  if (!existsSync(join(staticDir, "index.html"))) {
    throw new Error(`no built app in ${staticDir}: run 'trunk build --release --offline' first`);
  }
  const dir = mkdtempSync(join(tmpdir(), "casedesk-e2e-"));
  // A SQLite file of its own, or a database several servers share (`db`, a postgres:// URL).
  const dbPath = db ?? join(dir, "e2e.db");
  const argsAt = (addr, seed) => [
    "--addr", addr,
    "--db", dbPath,
    "--static-dir", staticDir,
    "--allow-chaos",
    "--rate-limit-per-sec", "0",
    // Every test page connects from 127.0.0.1: the per-address socket and connection caps
    // are not under test.
    "--ws-max-per-peer", "1000",
    "--max-connections-per-peer", "1000",
    // A new database gets the demo people (to sign in as), and the demo cases only when
    // asked; a restarted one is never seeded again.
    ...(seed === "cases" ? ["--seed-demo"] : seed === "people" ? ["--seed-demo", "--demo-cases", "0"] : ["--no-seed-demo"]),
    ...(people ? [] : ["--no-auth"]),
    ...args,
  ];
  let { child, url, logged } = await spawnServer(
    argsAt(`127.0.0.1:${port}`, seed ?? (seedDemo ? "cases" : people ? "people" : "none")),
  );
  // Logs of earlier processes (before a restart), kept for failure messages.
  let earlierLogs = "";
  // The chaos settings set at run time, which a restarted process must be given again.
  let chaosSettings = null;
  // The session `server.api` acts under (Dana Reyes), made at its first use.
  let token = null;
  const server = {
    url,
    dbPath,
    get pid() {
      return child.pid;
    },
    log: () => earlierLogs + logged.text,
    async chaos(settings) {
      const res = await fetch(`${url}/__chaos`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(settings),
      });
      if (!res.ok) throw new Error(`PUT /__chaos answered ${res.status}`);
      chaosSettings = await res.json();
    },
    async calm() {
      await fetch(`${url}/__chaos`, { method: "DELETE" });
      chaosSettings = null;
    },
    /** The headers that sign a request as Dana Reyes (none without people). */
    async authorization() {
      if (!people) return {};
      if (!token) {
        const res = await fetch(`${url}/api/v1/session`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: DEMO_PEOPLE.dana.email, password: DEMO_PASSWORD }),
        });
        if (!res.ok) throw new Error(`POST /session answered ${res.status}`);
        token = (await res.json()).token;
      }
      return { authorization: `Bearer ${token}` };
    },
    async api(path, init = {}) {
      const res = await fetch(`${url}/api/v1${path}`, {
        ...init,
        headers: { "content-type": "application/json", ...(await server.authorization()), ...(init.headers ?? {}) },
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
    },
    /**
     * Kills the server process with `signal` (by its own pid), waits for it to exit, and
     * starts it again on the same port, SQLite file and static dir, with the chaos settings
     * it had (they live in memory only). The port can be busy for a moment after the old
     * process dies, so binding is retried a few times. The kill is the first thing it does
     * (no request to the server before), so a caller that waits for a request in flight
     * kills it mid-request. Resolves with how long the server was gone, in ms.
     */
    async restart({ signal = "SIGKILL" } = {}) {
      const gone = Date.now();
      await killAndWait(child, signal);
      earlierLogs += `${logged.text}\n--- killed with ${signal}, restarting ---\n`;
      const addr = new URL(url).host;
      for (let attempt = 1; ; attempt += 1) {
        try {
          // Never seed again: the database is not new, and --seed-demo would add to it.
          ({ child, logged } = await spawnServer(argsAt(addr, "none")));
          break;
        } catch (error) {
          if (attempt >= 10 || !/cannot listen on|in use/i.test(error.message)) throw error;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
      // Start-up chaos flags came back with the arguments; run-time settings are set again.
      if (chaosSettings) await server.chaos(chaosSettings);
      return Date.now() - gone;
    },
    /**
     * Rows of `sql` from the server's SQLite file, read-only, through Python's standard
     * sqlite3 module (node has no SQLite of its own here; the scripts already need python3).
     * For checks the HTTP API cannot make, such as the notes of a deleted case.
     */
    readDatabase(sql, params = []) {
      const program = [
        "import json, sqlite3, sys",
        "db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)",
        "rows = db.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()",
        "print(json.dumps(rows))",
      ].join("\n");
      const out = execFileSync("python3", ["-c", program, dbPath, sql, JSON.stringify(params)], {
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
      });
      return JSON.parse(out);
    },
    /** Kills the server process with `signal` (by its own pid) and waits until it exited. */
    async kill(signal = "SIGKILL") {
      await killAndWait(child, signal);
    },
    async stop() {
      await killAndWait(child, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Launches the system Chromium headless, with the flags this machine needs. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/**
 * Opens a page in `context` that records console errors and wasm panics. A wasm panic kills
 * the whole app, so `page.panics` must stay empty in every test.
 */
export async function watchedPage(context) {
  const page = await context.newPage();
  page.panics = [];
  page.consoleErrors = [];
  page.on("console", (msg) => {
    const text = msg.text();
    if (/panicked at|RuntimeError: unreachable/.test(text)) page.panics.push(text);
    if (msg.type() === "error") page.consoleErrors.push(text);
  });
  page.on("pageerror", (err) => {
    if (/unreachable|panicked/.test(err.message)) page.panics.push(err.message);
    page.consoleErrors.push(err.message);
  });
  return page;
}

/** Saves a full-page screenshot under target/e2e-artifacts/. */
export async function screenshot(page, name) {
  mkdirSync(artifactsDir, { recursive: true });
  await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true });
}

/** Waits until `predicate()` resolves truthy, polling; fails after `timeoutMs`. */
export async function eventually(what, predicate, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await predicate();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting until ${what} (last: ${last})`);
}

/**
 * Client-side navigation, no reload (works offline): a click on a same-origin link, which
 * the router handles as it handles a person's. (A `pushState` plus a made-up `popstate`
 * looks to the router like a back/forward move: it keeps its own stack of visited paths,
 * and a later `navigate` to the path on top of that stack then leaves the address bar
 * where it was.)
 */
export async function navigateInApp(page, path) {
  await page.evaluate((p) => {
    const link = document.createElement("a");
    link.href = p;
    document.body.append(link);
    link.click();
    link.remove();
  }, path);
}

/** A fresh UUIDv4 (the server accepts any valid UUID). */
export function uuid() {
  return crypto.randomUUID();
}

/** A free loopback port (the OS picks it; it is released before it is used). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const PG_BIN = process.env.CASEDESK_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/**
 * A throwaway PostgreSQL cluster (as `server/tests/api/pg_cluster.rs` starts one): initdb in
 * a temp dir as the `postgres` user (PostgreSQL refuses root), on a free port with its unix
 * socket in that dir, stopped by `stop()` (pg_ctl, then its postmaster pid). Never a system
 * cluster. `query(sql)` runs one statement through psql and returns its rows as arrays of
 * text; `rows(sql)` the same with typed values.
 */
export async function startPostgres() {
  const dir = mkdtempSync(join(tmpdir(), "casedesk-e2e-pg-"));
  const asPostgres = process.getuid?.() === 0;
  if (asPostgres) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, -1);
  }
  const run = (bin, args) =>
    execFileSync(asPostgres ? "runuser" : join(PG_BIN, bin), asPostgres ? ["-u", "postgres", "--", join(PG_BIN, bin), ...args] : args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  const data = join(dir, "data");
  run("initdb", ["-D", data, "-A", "trust", "-U", "casedesk", "-E", "UTF8"]);
  const port = await freePort();
  run("pg_ctl", ["-D", data, "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, "-l", join(dir, "log"), "-w", "start"]);
  const url = `postgres://casedesk@127.0.0.1:${port}/postgres`;
  return {
    url,
    query(sql) {
      const out = execFileSync(join(PG_BIN, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "casedesk", "-d", "postgres", "-At", "-F", "\t", "-c", sql], {
        encoding: "utf8",
      });
      return out.split("\n").filter((l) => l.length > 0).map((l) => l.split("\t"));
    },
    /**
     * Rows of `sql` as arrays of typed values (numbers, null, text with tabs or newlines):
     * psql hands back one JSON array of the rows, columns in their order.
     */
    rows(sql) {
      const out = execFileSync(join(PG_BIN, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "casedesk", "-d", "postgres", "-At", "-c",
        `SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) q`], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
      return JSON.parse(out).map((row) => Object.values(row));
    },
    async stop() {
      try {
        run("pg_ctl", ["-D", data, "-m", "fast", "stop"]);
      } catch {
        // pg_ctl failed: stop the postmaster by its pid (the first line of postmaster.pid).
        try {
          const pid = Number(execFileSync("head", ["-n1", join(data, "postmaster.pid")], { encoding: "utf8" }).trim());
          if (pid > 0) process.kill(pid, "SIGQUIT");
        } catch {
          // Already gone.
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
