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
