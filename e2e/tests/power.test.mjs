// What power users expect of a case desk, in the built app against the real
// server: the CSV export of every page matching the filters, and the sort menu.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { startServer, launchBrowser, watchedPage, eventually, uuid, signedInContext } from "../lib/harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function createCase(fields) {
  const res = await server.api("/cases", {
    method: "POST",
    headers: { "idempotency-key": uuid() },
    body: JSON.stringify({ id: uuid(), ...fields }),
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** Reads RFC 4180 CSV text into rows of cells (quoted cells may hold commas, quotes, breaks). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (c === '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i += 1;
    } else {
      cell += c;
    }
  }
  assert.equal(cell, "", "the file ends with a line end");
  assert.deepEqual(row, []);
  return rows;
}

test("Export CSV downloads every page matching the filters, quoted and safe for spreadsheets", { timeout: 120_000 }, async () => {
  const tag = `export${Date.now().toString(36)}`;
  // 230 open cases (two pages of the API's largest size), a few tricky titles among them,
  // and closed ones that the status filter must leave out.
  const tricky = [
    { title: `=HYPERLINK("http://evil.example","click") ${tag}`, description: "formula" },
    { title: `${tag} commas, and "quotes"`, description: "line one\nline two" },
    { title: `${tag} @SUM(A1:A9)`, description: "-2+3" },
  ];
  const open = [];
  for (const fields of tricky) open.push(await createCase({ ...fields, status: "open" }));
  for (let i = open.length; i < 230; i += 1) {
    open.push(await createCase({ title: `${tag} open ${i}`, status: "open", tags: ["bulk", "x"] }));
  }
  for (let i = 0; i < 5; i += 1) await createCase({ title: `${tag} closed ${i}`, status: "closed" });

  const context = await signedInContext(browser, server, { acceptDownloads: true, viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context);
  await page.goto(`${server.url}/cases?q=${tag}&status=open`);
  await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
  await page.getByTestId("case-row").first().waitFor();
  assert.ok((await page.getByTestId("case-row").count()) < 230, "the screen shows one page only");

  // A slow server, so the progress can be seen.
  await server.chaos({ latency_ms: [400, 400] });
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export CSV" }).click();
  await eventually("the export shows its progress", async () =>
    /Exporting…/.test((await page.getByTestId("export-progress").textContent()) ?? ""));
  const file = await download;
  await server.calm();
  assert.match(file.suggestedFilename(), /^cases-\d{4}-\d{2}-\d{2}\.csv$/);
  const text = await readFile(await file.path(), "utf8");
  await page.getByText("Exported 230 cases").waitFor();
  assert.equal(await page.getByTestId("export-progress").count(), 0, "the progress goes when done");

  const [header, ...rows] = parseCsv(text);
  assert.deepEqual(header, ["id", "title", "status", "priority", "assignee", "tags", "created_at", "updated_at", "version", "description"]);
  assert.equal(rows.length, 230, "every page, not only the visible one");
  assert.deepEqual(rows.map((r) => r[0]).sort(), open.map((c) => c.id).sort(), "exactly the matching cases");
  assert.ok(rows.every((r) => r[2] === "open"), "the status filter holds");
  const byId = new Map(rows.map((r) => [r[0], r]));
  const [formula, quotes, at] = open;
  assert.equal(byId.get(formula.id)[1], `'${formula.title}`, "a formula is made text");
  assert.equal(byId.get(quotes.id)[1], quotes.title, "commas and quotes survive the quoting");
  assert.equal(byId.get(quotes.id)[9], "line one\nline two", "a line break stays inside its cell");
  assert.equal(byId.get(at.id)[1], at.title, "a title not starting with a formula sign is unchanged");
  assert.equal(byId.get(at.id)[9], "'-2+3", "a description starting with - is made text");
  assert.equal(byId.get(open[10].id)[5], "bulk; x");
  assert.equal(byId.get(open[10].id)[8], "1");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("the sort menu orders the list and keeps the order in the address", async () => {
  const tag = `sort${Date.now().toString(36)}`;
  const made = [];
  for (const priority of ["medium", "critical", "low", "high"]) {
    made.push(await createCase({ title: `${tag} ${priority}`, priority }));
  }
  const context = await signedInContext(browser, server, { viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context);
  await page.goto(`${server.url}/cases?q=${tag}`);
  await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
  const titles = () => page.getByTestId("case-row").evaluateAll((rows) =>
    rows.map((r) => r.querySelector("a")?.textContent?.trim()));
  /** The server's own order for this sort: the app must show exactly it. */
  const serverOrder = async (sort) =>
    (await server.api(`/cases?q=${tag}&sort=${sort}`)).body.items.map((c) => c.title);
  await eventually("the default order, the server's latest change first", async () =>
    JSON.stringify(await titles()) === JSON.stringify(await serverOrder("-updated_at")));

  const sort = page.getByLabel("Sort by");
  const options = await sort.locator("option").evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(options.sort(), ["-created_at", "-priority", "-updated_at", "created_at", "priority", "updated_at"]);

  await sort.selectOption("-priority");
  await eventually("highest priority first", async () =>
    JSON.stringify(await titles()) === JSON.stringify(["critical", "high", "medium", "low"].map((p) => `${tag} ${p}`)));
  assert.match(page.url(), /sort=-priority/);

  await sort.selectOption("priority");
  await eventually("lowest priority first", async () =>
    JSON.stringify(await titles()) === JSON.stringify(["low", "medium", "high", "critical"].map((p) => `${tag} ${p}`)));

  await sort.selectOption("created_at");
  await eventually("oldest first, as the server orders them", async () =>
    JSON.stringify(await titles()) === JSON.stringify(await serverOrder("created_at")));
  assert.equal((await titles()).length, made.length);

  // The order is part of the address: a reload keeps it, and Back returns to the last one.
  await page.reload();
  await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
  assert.equal(await page.getByLabel("Sort by").inputValue(), "created_at");
  await page.goBack();
  await eventually("back to lowest priority first", async () =>
    (await page.getByLabel("Sort by").inputValue()) === "priority");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("keyboard shortcuts move around the app and never fire while typing", async () => {
  const tag = `keys${Date.now().toString(36)}`;
  for (let i = 0; i < 3; i += 1) await createCase({ title: `${tag} case ${i}` });
  const context = await signedInContext(browser, server, { viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context);
  await page.goto(`${server.url}/`);
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  const path = () => new URL(page.url()).pathname;

  // `/` goes to the case search from anywhere and focuses it.
  await page.keyboard.press("/");
  await eventually("the search box has the focus", async () =>
    page.evaluate(() => document.activeElement?.id === "case-search"));
  assert.equal(path(), "/cases");
  // Typing there is typing: `c`, `g d`, `j`, `?` and `/` are text, not shortcuts.
  await page.keyboard.type(`${tag} c`);
  await page.keyboard.type("gd?j/");
  assert.equal(path(), "/cases");
  assert.equal(await page.getByLabel("Search").inputValue(), `${tag} cgd?j/`);
  assert.equal(await page.getByRole("dialog").count(), 0);
  await page.getByLabel("Search").fill(tag);
  await eventually("the search narrows the list", async () => (await page.getByTestId("case-row").count()) === 3);
  await page.locator("main").click({ position: { x: 5, y: 5 } });

  // `j` and `k` move through the list, saying where they are; Enter opens the case.
  await page.keyboard.press("j");
  await page.keyboard.press("j");
  await page.keyboard.press("j");
  await page.keyboard.press("k");
  const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
  const rows = await page.getByTestId("case-row").evaluateAll((rs) => rs.map((r) => r.querySelector("a")?.textContent?.trim()));
  assert.equal(focused, rows[1], "two down, one up: the second case");
  assert.match(await page.getByRole("status").filter({ hasText: "Case 2 of 3" }).textContent(), new RegExp(`Case 2 of 3: ${rows[1]}`));
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: rows[1], level: 1 }).waitFor();

  // `?` lists the shortcuts in a dialog; Escape closes it.
  await page.keyboard.press("?");
  const help = page.getByRole("dialog", { name: "Keyboard shortcuts" });
  await help.waitFor();
  const listed = await help.locator("dt").allTextContents();
  assert.deepEqual(listed.map((t) => t.replace(/\s+/g, "")), ["/", "c", "gd", "gc", "gs", "j", "k", "?"]);
  await page.keyboard.press("Escape");
  await help.waitFor({ state: "detached" });

  // `g s`, `g d`, `g c` go to the pages; `c` opens a new case, where typing is typing again.
  await page.keyboard.press("g");
  await page.keyboard.press("s");
  await page.getByRole("heading", { name: "Sync", level: 1 }).waitFor();
  await page.keyboard.press("g");
  await page.keyboard.press("d");
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  await page.keyboard.press("g");
  await page.keyboard.press("c");
  await page.getByRole("heading", { name: "Cases", level: 1 }).waitFor();
  assert.equal(await page.getByRole("link", { name: "New case" }).getAttribute("aria-keyshortcuts"), "c");
  await page.keyboard.press("c");
  await page.getByRole("heading", { name: "New case", level: 1 }).waitFor();
  await page.getByLabel("Title").click();
  await page.keyboard.type("g s j k c");
  assert.equal(path(), "/cases/new");
  assert.equal(await page.getByLabel("Title").inputValue(), "g s j k c");
  assert.deepEqual(page.panics, []);
  await context.close();
});

test("Settings: the conflict policy chosen is kept and used for the next conflict", async () => {
  const context = await signedInContext(browser, server, { viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context);
  const created = await createCase({ title: `Policy ${Date.now()}`, status: "open" });
  await page.goto(`${server.url}/settings`);
  await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
  // The default merges and asks only on a clash.
  assert.equal(await page.getByLabel("Merge fields automatically and ask only when the same field clashes").isChecked(), true);
  await page.getByLabel("Keep mine").check();
  await page.getByText("Saved.").waitFor();
  await page.getByLabel("Case lists stay fresh for").selectOption("120");
  await page.reload();
  await page.getByRole("heading", { name: "Settings", level: 1 }).waitFor();
  assert.equal(await page.getByLabel("Keep mine").isChecked(), true, "kept across a reload");
  assert.equal(await page.getByLabel("Case lists stay fresh for").inputValue(), "120");

  // A conflict on the status: with "Keep mine", mine is sent over theirs without asking.
  await page.goto(`${server.url}/cases/${created.id}`);
  await page.getByRole("heading", { name: created.title, level: 1 }).waitFor();
  await context.setOffline(true);
  await page.getByLabel("Status", { exact: true }).selectOption("resolved");
  const theirs = await server.api(`/cases/${created.id}`, {
    method: "PATCH",
    headers: { "if-match": '"1"', "idempotency-key": uuid() },
    body: JSON.stringify({ status: "closed" }),
  });
  assert.equal(theirs.status, 200);
  await context.setOffline(false);
  let last;
  try {
    await eventually("mine reached the server over theirs", async () => {
      last = (await server.api(`/cases/${created.id}`)).body;
      return last.status === "resolved" && last.version === 3;
    }, 20_000);
  } catch (error) {
    const sync = await page.getByTestId("sync-status").textContent();
    const main = await page.locator("main").innerText();
    throw new Error(`${error.message}; server: ${JSON.stringify(last)}; sync: ${sync}; page: ${main.slice(0, 800)}`);
  }
  assert.equal(await page.getByRole("button", { name: "Keep mine" }).count(), 0, "nobody was asked");
  assert.deepEqual(page.panics, []);
  await context.close();
});
