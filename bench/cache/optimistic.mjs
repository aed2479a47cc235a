// TanStack Query's side of "overlay view with 100 pending actions": the optimistic-update
// recipe. Each pending action is a mutation whose `onMutate` writes its change into the cached
// list page (or the dashboard metrics) with `queryClient.setQueryData(key, updater)`; the view
// is then `getQueryData(key)`. The updaters below move a page and the counts exactly as
// casedesk's overlay does (crates/core/src/overlay.rs: same placement rules, same counts), so
// both sides do the same work and reach the same data; the page checks that they do.
//
// Where the overlay consults its index of known cases, the mutation consults TanStack's cache
// (`getQueryData(['cases', id])`); where the overlay remembers what earlier actions did to a
// case, the mutations share a Map of optimistic case states (in an app, the case's own query
// or the mutation's context would hold it).

const DAY_MS = 86_400_000;
const PRIORITY_RANK = { low: 0, medium: 1, high: 2, critical: 3 };

/** RFC 3339 as the API writes it (casedesk_model::Timestamp): milliseconds only when nonzero. */
export function timestampAt(ms) {
  const iso = new Date(ms).toISOString();
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}

/** Orders two API timestamps. Same-length strings of this format compare as text. */
function compareTime(a, b) {
  if (a.length === b.length) return a < b ? -1 : a > b ? 1 : 0;
  return Math.sign(Date.parse(a) - Date.parse(b));
}

function compareText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `CaseSort::compare`: the sort's field, then the id ascending. */
function compareCases(sort, a, b) {
  let primary;
  switch (sort) {
    case "updated_at": primary = compareTime(a.updated_at, b.updated_at); break;
    case "-updated_at": primary = compareTime(b.updated_at, a.updated_at); break;
    case "priority": primary = PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority]; break;
    case "-priority": primary = PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority]; break;
    case "created_at": primary = compareTime(a.created_at, b.created_at); break;
    default: primary = compareTime(b.created_at, a.created_at); break;
  }
  return primary !== 0 ? Math.sign(primary) : compareText(a.id, b.id);
}

/** `CaseListQuery::matches` (ASCII-only data here, so toLowerCase is to_ascii_lowercase). */
function matches(query, c) {
  if (query.status != null && query.status !== c.status) return false;
  if (query.priority != null && query.priority !== c.priority) return false;
  if (!assigneeMatches(query.assignee, c.assignee)) return false;
  const q = query.q?.trim();
  if (!q) return true;
  const needle = q.toLowerCase();
  return c.title.toLowerCase().includes(needle) || c.description.toLowerCase().includes(needle);
}

/** The `assignee` filter (`AssigneeFilter`, serialised by serde): `{ person }`, `"me"`, `"unassigned"`. */
function assigneeMatches(filter, assignee) {
  if (filter == null) return true;
  if (filter === "unassigned") return assignee == null;
  if (filter === "me") return false; // unresolved `me` matches nothing
  return assignee === filter.person;
}

function normaliseAssignee(assignee) {
  const a = assignee?.trim();
  return a ? a : null;
}

/** `Case::with_patch`: a new case with the patch's present fields. */
function withPatch(c, patch) {
  const next = { ...c };
  if (patch.title != null) next.title = patch.title.trim();
  if (patch.description != null) next.description = patch.description;
  if (patch.status != null) next.status = patch.status;
  if (patch.priority != null) next.priority = patch.priority;
  if ("assignee" in patch) next.assignee = normaliseAssignee(patch.assignee);
  if (patch.tags != null) next.tags = patch.tags;
  return next;
}

/**
 * One mutation's optimistic change of its case, `{ before, after, guessed, at }`, or null for a
 * note. `states` holds what earlier mutations made of each case (null: deleted); `page` is the
 * list page at hand (empty for the metrics); `knownCase(id)` asks the query cache.
 */
export function changeOf(action, states, page, knownCase) {
  const [kind, body] = Object.entries(action.kind)[0];
  if (kind === "AddNote") return null;
  const id = kind === "CreateCase" ? body.case.id : body.id;
  const fallback = kind === "UpdateCase" ? body.base : kind === "DeleteCase" ? body.last_known : null;
  let before;
  let guessed = false;
  if (states.has(id)) {
    before = states.get(id);
  } else {
    before = page.find((c) => c.id === id) ?? knownCase(id);
    if (before === undefined) {
      before = fallback ?? null;
      guessed = before !== null;
    }
  }
  const at = action.created_at;
  let after = null;
  if (kind === "CreateCase") {
    if (before !== null) {
      after = before;
    } else {
      const stamp = timestampAt(at);
      after = {
        id,
        title: body.case.title.trim(),
        description: body.case.description,
        status: body.case.status,
        priority: body.case.priority,
        assignee: normaliseAssignee(body.case.assignee),
        tags: body.case.tags,
        created_at: stamp,
        updated_at: stamp,
        version: 0,
        // The server sets authorship from the session; an optimistic creation has none yet
        // (`NewCase::into_case`).
        created_by: null,
        updated_by: null,
      };
    }
  } else if (kind === "UpdateCase" && before !== null) {
    after = withPatch(before, body.patch);
    const stamp = timestampAt(at);
    if (compareTime(stamp, after.updated_at) > 0) after.updated_at = stamp;
  }
  states.set(id, after);
  return { before, after, guessed, at };
}

/** The updater of a list page for one change (`PageWork::apply`), immutably. */
export function pageWithChange(old, change, query) {
  const items = old.items.slice();
  let total = old.total;
  const page = Math.max(old.page, 1);
  const perPage = Math.max(old.per_page, 1);
  const isFirst = page === 1;
  const endsList = (page - 1) * perPage + old.items.length >= old.total;
  const sort = query.sort;

  const slotFor = (c) => {
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareCases(sort, items[mid], c) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const place = (c) => {
    const slot = slotFor(c);
    const onThisPage =
      items.length === 0 || slot === 0 ? isFirst : slot === items.length ? endsList && items.length < perPage : true;
    if (onThisPage) {
      items.splice(slot, 0, c);
      if (items.length > perPage) items.length = perPage;
    }
  };
  const staysInPlace = (index, previous, next) => {
    if (slotFor(next) !== index) return false;
    const moved = compareCases(sort, next, previous);
    const pastFirst = index === 0 && !isFirst && moved < 0;
    const pastLast = index === items.length && !endsList && moved > 0;
    return !pastFirst && !pastLast;
  };

  const { before, after, guessed } = change;
  const matchedBefore = before !== null && matches(query, before);
  const shownAfter = after !== null && matches(query, after) ? after : null;
  if (matchedBefore && shownAfter === null) total = Math.max(total - 1, 0);
  else if (!matchedBefore && shownAfter !== null) total += 1;
  const id = (after ?? before)?.id;
  const position = id === undefined ? -1 : items.findIndex((c) => c.id === id);
  if (position >= 0) {
    const [previous] = items.splice(position, 1);
    if (shownAfter !== null) {
      if (staysInPlace(position, previous, shownAfter)) items.splice(position, 0, shownAfter);
      else place(shownAfter);
    }
  } else if (shownAfter !== null && !guessed) {
    place(shownAfter);
  }
  return { ...old, items, total };
}

const dateOfDay = (day) => new Date(day * DAY_MS).toISOString().slice(0, 10);
const lastDayOf = (series) =>
  series.length === 0 ? null : Math.floor(Date.parse(`${series[series.length - 1].date}T00:00:00Z`) / DAY_MS);

/** A copy of `series` with `day`'s entry one higher (`count_on_day`). */
function countedOnDay(series, lastDay, day) {
  if (lastDay === null) return series;
  const date = dateOfDay(day);
  const guess = series.length - (lastDay - day) - 1;
  let index = lastDay >= day && series[guess]?.date === date ? guess : -1;
  if (index < 0) index = series.findLastIndex((e) => e.date === date);
  if (index < 0) return series;
  const next = series.slice();
  next[index] = { ...series[index], count: series[index].count + 1 };
  return next;
}

/** `roll_to_day`: the series ending on `day` if that is newer, same length. */
function rolledToDay(series, lastDay, day) {
  if (lastDay === null || day <= lastDay) return series;
  const length = series.length;
  const next = series.slice();
  for (let d = Math.max(day - length + 1, lastDay + 1); d <= day; d++) next.push({ date: dateOfDay(d), count: 0 });
  return next.slice(Math.max(next.length - length, 0));
}

/** The updater of the dashboard metrics for one change (`MetricsWork::apply`), immutably. */
export function metricsWithChange(old, change) {
  const byStatus = { ...old.by_status };
  const byPriority = { ...old.by_priority };
  const { before, after, at } = change;
  const dec = (counts, k) => { counts[k] = Math.max(counts[k] - 1, 0); };
  const inc = (counts, k) => { counts[k] += 1; };
  if (before !== null && after !== null) {
    if (before.status !== after.status) { dec(byStatus, before.status); inc(byStatus, after.status); }
    if (before.priority !== after.priority) { dec(byPriority, before.priority); inc(byPriority, after.priority); }
  } else if (after !== null) {
    inc(byStatus, after.status);
    inc(byPriority, after.priority);
  } else if (before !== null) {
    dec(byStatus, before.status);
    dec(byPriority, before.priority);
  }
  const day = Math.floor(at / DAY_MS);
  let opened = rolledToDay(old.opened_per_day, lastDayOf(old.opened_per_day), day);
  let resolved = rolledToDay(old.resolved_per_day, lastDayOf(old.resolved_per_day), day);
  if (before === null && after !== null) opened = countedOnDay(opened, lastDayOf(opened), day);
  const wasResolved = before !== null && before.status === "resolved";
  if (after !== null && after.status === "resolved" && !wasResolved) {
    resolved = countedOnDay(resolved, lastDayOf(resolved), day);
  }
  return { ...old, by_status: byStatus, by_priority: byPriority, opened_per_day: opened, resolved_per_day: resolved };
}
