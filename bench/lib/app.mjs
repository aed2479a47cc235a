// What the whole-app sections need: the release build in dist/ (built by the size section, or
// here when it is missing) and the reference server's debug binary, which
// e2e/lib/harness.mjs starts (as the whole-app tests do).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export function ensureAppAndServer({ root, log }) {
  if (!existsSync(join(root, "dist", "index.html"))) {
    log("building the release app (trunk build --release --offline)");
    execFileSync("trunk", ["build", "--release", "--offline"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  }
  log("building the reference server (debug, as the whole-app tests use it)");
  execFileSync("cargo", ["build", "-q", "-p", "casedesk-server"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
}

export const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
export const ms = (value) => `${value.toFixed(0)} ms`;

/**
 * Whether `page`'s origin has an active service worker and a person's stored cache holds the
 * dashboard's numbers (the warm visits need both).
 */
export async function shellAndDataStored(page) {
  return page.evaluate(async () => {
    if (!(await navigator.serviceWorker.getRegistration())?.active) return false;
    const caches = (await indexedDB.databases()).filter((d) => /^casedesk-.+-cache$/.test(d.name));
    for (const { name } of caches) {
      const keys = await new Promise((resolve) => {
        const open = indexedDB.open(name);
        open.onerror = () => resolve([]);
        open.onsuccess = () => {
          const read = open.result.transaction("entries").objectStore("entries").getAllKeys();
          read.onsuccess = () => resolve(read.result);
          read.onerror = () => resolve([]);
          read.transaction.oncomplete = () => open.result.close();
        };
      });
      if (keys.includes('"metrics"')) return true;
    }
    return false;
  });
}
