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

/** Starts a reference server serving the built app; resolves once it prints its address. */
export async function startServer({ seedDemo = false, args = [] } = {}) {
  if (!existsSync(join(distDir, "index.html"))) {
    throw new Error(`no built app in ${distDir}: run 'trunk build --release --offline' first`);
  }
  const dir = mkdtempSync(join(tmpdir(), "casedesk-e2e-"));
  const child = spawn(
    serverBinary(),
    [
      "--addr", "127.0.0.1:0",
      "--db", join(dir, "e2e.db"),
      "--static-dir", distDir,
      "--allow-chaos",
      "--rate-limit-per-sec", "0",
      // Every test page connects from 127.0.0.1: the per-address socket cap is not under test.
      "--ws-max-per-peer", "1000",
      seedDemo ? "--seed-demo" : "--no-seed-demo",
      // The app cannot sign in yet (issue 13's app side): run without people, as Guest.
      "--no-auth",
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stderr.on("data", (d) => {
    log += d;
    if (log.length > 200_000) log = log.slice(-100_000);
  });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${log}`)), 30_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${log}`));
    });
  });
  const server = {
    url,
    pid: child.pid,
    log: () => log,
    async chaos(settings) {
      const res = await fetch(`${url}/__chaos`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(settings),
      });
      if (!res.ok) throw new Error(`PUT /__chaos answered ${res.status}`);
    },
    async calm() {
      await fetch(`${url}/__chaos`, { method: "DELETE" });
    },
    async api(path, init = {}) {
      const res = await fetch(`${url}/api/v1${path}`, {
        ...init,
        headers: { "content-type": "application/json", ...(init.headers ?? {}) },
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      if (child.exitCode === null) {
        process.kill(child.pid, "SIGTERM");
        await new Promise((r) => {
          const t = setTimeout(() => {
            if (child.exitCode === null) process.kill(child.pid, "SIGKILL");
            r();
          }, 5_000);
          child.on("exit", () => {
            clearTimeout(t);
            r();
          });
        });
      }
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
