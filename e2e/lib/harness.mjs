// The whole-app test harness: a real reference server (fresh SQLite file, the built app from
// dist/) on a free loopback port, and the system Chromium driven by playwright-core. Every
// server is stopped by its own process id; every page is watched for wasm panics.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
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

/**
 * Starts a reference server serving the built app (or `staticDir`, a folder a test prepared);
 * resolves once it prints its address.
 */
export async function startServer({ seedDemo = false, args = [], staticDir = distDir } = {}) {
  if (!existsSync(join(staticDir, "index.html"))) {
    throw new Error(`no built app in ${staticDir}: run 'trunk build --release --offline' first`);
  }
  const dir = mkdtempSync(join(tmpdir(), "casedesk-e2e-"));
  const dbPath = join(dir, "e2e.db");
  const argsAt = (addr, seed) => [
    "--addr", addr,
    "--db", dbPath,
    "--static-dir", staticDir,
    "--allow-chaos",
    "--rate-limit-per-sec", "0",
    // Every test page connects from 127.0.0.1: the per-address socket cap is not under test.
    "--ws-max-per-peer", "1000",
    seed ? "--seed-demo" : "--no-seed-demo",
    // The app cannot sign in yet (issue 13's app side): run without people, as Guest.
    "--no-auth",
    ...args,
  ];
  let { child, url, logged } = await spawnServer(argsAt("127.0.0.1:0", seedDemo));
  // Logs of earlier processes (before a restart), kept for failure messages.
  let earlierLogs = "";
  // The chaos settings set at run time, which a restarted process must be given again.
  let chaosSettings = null;
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
    async api(path, init = {}) {
      const res = await fetch(`${url}/api/v1${path}`, {
        ...init,
        headers: { "content-type": "application/json", ...(init.headers ?? {}) },
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
          ({ child, logged } = await spawnServer(argsAt(addr, false)));
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

/** A fresh UUIDv4 (the server accepts any valid UUID). */
export function uuid() {
  return crypto.randomUUID();
}
