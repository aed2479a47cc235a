//! What the screen shows: confirmed server data with every still-pending action applied on
//! top, in queue order. Confirming an action or rolling it back is removing it from the
//! pending list and computing the view again; nothing here keeps a snapshot.
//!
//! Every action becomes a change of one case (its state before and after); each kind of data
//! (a case, a page of the list, notes, the dashboard counts) knows how a change moves it.

use crate::action::{Action, ActionKind};
use crate::clock::Millis;
use crate::data::QueryData;
use crate::key::QueryKey;
use crate::request::ServerAnswer;
use casedesk_model::{
    Case, CaseList, CaseListQuery, CaseStatus, DashboardMetrics, DayCount, Note, Timestamp,
};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use uuid::Uuid;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod properties;

/// The confirmed server state of cases this client has seen (in case entries, other list
/// pages…), so an action on a case that is not on the page at hand still moves it correctly.
pub trait KnownCases {
    /// The server's case `id` as last seen, if this client has seen it.
    fn known_case(&self, id: Uuid) -> Option<&Case>;

    /// Whether the server is known to hold no case `id` (deleted, or answered 404). Such a
    /// case is never brought back from an action's own copy of it.
    fn known_absent(&self, _id: Uuid) -> bool {
        false
    }
}

/// What `others` knows, except case `id`, which is taken as metrics generated before the
/// change being settled saw it: `before` (the case the change was made against), or absent
/// when they predate its creation.
struct AsMetricsSawIt<'a> {
    id: Uuid,
    before: Option<&'a Case>,
    others: &'a dyn KnownCases,
}

impl KnownCases for AsMetricsSawIt<'_> {
    fn known_case(&self, id: Uuid) -> Option<&Case> {
        if id == self.id {
            self.before
        } else {
            self.others.known_case(id)
        }
    }

    fn known_absent(&self, id: Uuid) -> bool {
        if id == self.id {
            self.before.is_none()
        } else {
            self.others.known_absent(id)
        }
    }
}

/// Knows nothing: actions rely on the data at hand and their own copies.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKnownCases;

impl KnownCases for NoKnownCases {
    fn known_case(&self, _id: Uuid) -> Option<&Case> {
        None
    }
}

impl<S: BuildHasher> KnownCases for HashMap<Uuid, Case, S> {
    fn known_case(&self, id: Uuid) -> Option<&Case> {
        self.get(&id)
    }
}

impl KnownCases for BTreeMap<Uuid, Case> {
    fn known_case(&self, id: Uuid) -> Option<&Case> {
        self.get(&id)
    }
}

/// The cases found in cached answers (case entries and list pages), borrowed, the highest
/// version of each winning: the usual `KnownCases` for the glue, built once per batch of
/// cache changes with `CaseIndex::from_data(cache.entries().filter_map(|(_, e)| e.data()))`.
#[derive(Clone, Debug, Default)]
pub struct CaseIndex<'a> {
    cases: HashMap<Uuid, &'a Case, BuildUuidHasher>,
}

impl<'a> CaseIndex<'a> {
    pub fn from_data(data: impl IntoIterator<Item = &'a QueryData>) -> Self {
        let mut index = Self::default();
        for answer in data {
            match answer {
                QueryData::Case(case) => index.offer(case),
                QueryData::CaseList(list) => list.items.iter().for_each(|case| index.offer(case)),
                QueryData::Notes(_)
                | QueryData::Metrics(_)
                | QueryData::Users(_)
                | QueryData::History(_) => {}
            }
        }
        index
    }

    fn offer(&mut self, case: &'a Case) {
        let slot = self.cases.entry(case.id).or_insert(case);
        if case.version > slot.version {
            *slot = case;
        }
    }

    pub fn len(&self) -> usize {
        self.cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }
}

impl KnownCases for CaseIndex<'_> {
    fn known_case(&self, id: Uuid) -> Option<&Case> {
        self.cases.get(&id).copied()
    }
}

/// Which query a view is computed for: what the cached data alone does not say (the case id
/// of an empty notes list, the filters and order of a page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverlayTarget {
    Case(Uuid),
    CaseList(CaseListQuery),
    Notes(Uuid),
    Metrics,
    /// The people: nothing pending changes them, so they show as the server said.
    Users,
    /// A case's history: the server's alone (the page marks the person's own unsent
    /// changes apart), so it shows as the server said.
    History(Uuid),
}

impl OverlayTarget {
    /// The query behind `key`: every key is one a view shows.
    pub fn of(key: &QueryKey) -> Self {
        match key {
            QueryKey::Case(id) => Self::Case(*id),
            QueryKey::CaseList(list) => Self::CaseList(list.query().clone()),
            QueryKey::Notes(case_id) => Self::Notes(*case_id),
            QueryKey::Metrics => Self::Metrics,
            QueryKey::Users => Self::Users,
            QueryKey::History(case_id) => Self::History(*case_id),
        }
    }

    /// The cache key of this query.
    pub fn key(&self) -> QueryKey {
        match self {
            Self::Case(id) => QueryKey::case(*id),
            Self::CaseList(query) => QueryKey::case_list(query),
            Self::Notes(case_id) => QueryKey::notes(*case_id),
            Self::Metrics => QueryKey::metrics(),
            Self::Users => QueryKey::Users,
            Self::History(case_id) => QueryKey::History(*case_id),
        }
    }
}

/// What the screen shows for `target`: `server` (the cached answer, if any) with `pending`
/// (live actions, oldest first; dead ones left out) applied.
///
/// `None` when there is nothing to show: no cached list or metrics yet, or a case that does
/// not exist once the pending actions are applied. A case or notes with no cached data can
/// still appear when created offline. Data of the wrong kind for the target is shown as is.
pub fn view<'a>(
    target: &OverlayTarget,
    server: Option<&QueryData>,
    pending: impl IntoIterator<Item = &'a Action>,
    known: &dyn KnownCases,
) -> Option<QueryData> {
    match (target, server) {
        (OverlayTarget::Case(id), None) => case_view(*id, None, pending).map(QueryData::Case),
        (OverlayTarget::Case(id), Some(QueryData::Case(case))) => {
            case_view(*id, Some(case), pending).map(QueryData::Case)
        }
        (OverlayTarget::CaseList(query), Some(QueryData::CaseList(list))) => Some(
            QueryData::CaseList(case_list_view(list, query, pending, known)),
        ),
        (OverlayTarget::Notes(case_id), None) => {
            let notes = notes_view(&[], *case_id, pending);
            (!notes.is_empty()).then_some(QueryData::Notes(notes))
        }
        (OverlayTarget::Notes(case_id), Some(QueryData::Notes(notes))) => {
            Some(QueryData::Notes(notes_view(notes, *case_id, pending)))
        }
        (OverlayTarget::Metrics, Some(QueryData::Metrics(metrics))) => {
            Some(QueryData::Metrics(metrics_view(metrics, pending, known)))
        }
        (_, other) => other.cloned(),
    }
}

/// The server data of `target` once `action` is confirmed with `answer`: what the glue writes
/// into entries other than the answered case's own, in the same batch that removes the action
/// from the queue, so lists and counts do not flicker back until their refetch arrives.
pub fn settle(
    target: &OverlayTarget,
    server: &QueryData,
    action: &Action,
    answer: &ServerAnswer,
    known: &dyn KnownCases,
) -> QueryData {
    match (target, server) {
        (OverlayTarget::Case(id), QueryData::Case(case)) => {
            if action.case_id() != *id {
                return server.clone();
            }
            match answer {
                ServerAnswer::Case(confirmed) => QueryData::Case(confirmed.clone()),
                // The entry of a deleted case keeps its last data; the glue drops or
                // invalidates it, and views consult the overlay first anyway.
                ServerAnswer::Deleted | ServerAnswer::Note(_) => QueryData::Case(case.clone()),
            }
        }
        (OverlayTarget::CaseList(query), QueryData::CaseList(list)) => {
            let mut page = PageWork::new(list);
            let mut fold = Fold::new(known);
            if let Some(change) = fold.settled_change(action, answer, &list.items) {
                page.apply(&change, query);
            }
            QueryData::CaseList(page.finish(list))
        }
        (OverlayTarget::Notes(case_id), QueryData::Notes(notes)) => {
            let mut notes = notes.clone();
            if let ServerAnswer::Note(note) = answer {
                if note.case_id == *case_id && !notes.iter().any(|n| n.id == note.id) {
                    notes.push(note.clone());
                }
            }
            QueryData::Notes(notes)
        }
        (OverlayTarget::Metrics, QueryData::Metrics(metrics)) => {
            let mut work = MetricsWork::new(metrics);
            // The case may have been read back from the server already (its page asked, or
            // a live event brought it, before this answer was applied): the cache then holds
            // the changed case, but metrics generated before the change still count it as it
            // was — not at all before its creation, as the update's base before an update.
            let generated = metrics.generated_at.unix_millis();
            let seen_as = match (&action.kind, answer) {
                (ActionKind::CreateCase { .. }, ServerAnswer::Case(case))
                    if generated < case.created_at.unix_millis() =>
                {
                    Some(AsMetricsSawIt {
                        id: case.id,
                        before: None,
                        others: known,
                    })
                }
                (ActionKind::UpdateCase { base, .. }, ServerAnswer::Case(case))
                    if generated < case.updated_at.unix_millis()
                        && known
                            .known_case(case.id)
                            .is_some_and(|held| held.version >= case.version) =>
                {
                    Some(AsMetricsSawIt {
                        id: case.id,
                        before: Some(base),
                        others: known,
                    })
                }
                _ => None,
            };
            let known: &dyn KnownCases = match &seen_as {
                Some(seen_as) => seen_as,
                None => known,
            };
            let mut fold = Fold::new(known);
            if let Some(change) = fold.settled_change(action, answer, &[]) {
                work.apply(&change);
            }
            QueryData::Metrics(work.metrics)
        }
        _ => server.clone(),
    }
}

/// One case as shown: `server` (the confirmed case, `None` when unknown or gone) with the
/// pending actions on it applied.
///
/// Created offline → a provisional case at version 0, created and updated at the action's
/// time. Updated → the patch applied and `updated_at` moved to the action's time (never
/// backwards); the version stays the server's, since only the server assigns versions.
/// Deleted → `None`. An update never brings a case back from the action's own copy: without
/// server data or an earlier pending creation, there is nothing to update.
pub fn case_view<'a>(
    id: Uuid,
    server: Option<&Case>,
    pending: impl IntoIterator<Item = &'a Action>,
) -> Option<Case> {
    let known = SingleCase { id, case: server };
    let mut fold = Fold::new(&known);
    let mut shown = server.cloned();
    for action in pending {
        if action.case_id() != id {
            continue;
        }
        if let Some(change) = fold.change(action, &[]) {
            shown = change.after.cloned();
        }
    }
    shown
}

/// A page of the case list as shown.
///
/// Placement: a created case, or one that starts matching the filters, is inserted where the
/// list's order puts it when that position is provably on this page: between two of its
/// items; before the first only on page 1; after the last only when this page ends the list
/// and has room. Otherwise it belongs to another page, and only `total` changes. A case that
/// stays between its neighbours keeps its place; one that moves goes through the same rules.
/// When an insertion overfills the page, the last item slides off (to the next page); when a
/// case leaves, the page runs one short until its refetch.
///
/// `total` moves when a case starts or stops matching; for a case neither on the page nor in
/// `known`, the action's own copy (the edit's base, the delete's last known case) stands in,
/// but such a case is never inserted, since the page cannot tell where the server has it.
pub fn case_list_view<'a>(
    server: &CaseList,
    query: &CaseListQuery,
    pending: impl IntoIterator<Item = &'a Action>,
    known: &dyn KnownCases,
) -> CaseList {
    let mut page = PageWork::new(server);
    let mut fold = Fold::new(known);
    for action in pending {
        if let Some(change) = fold.change(action, &server.items) {
            page.apply(&change, query);
        }
    }
    page.finish(server)
}

/// A case's notes as shown: the server's, oldest first, then each pending note on this case
/// in queue order, with its provisional author ("anonymous" when none was given) and the
/// action's time.
pub fn notes_view<'a>(
    server: &[Note],
    case_id: Uuid,
    pending: impl IntoIterator<Item = &'a Action>,
) -> Vec<Note> {
    let mut notes = server.to_vec();
    for action in pending {
        let ActionKind::AddNote {
            case_id: note_case,
            note,
        } = &action.kind
        else {
            continue;
        };
        // A note the server already holds (its answer was lost, or the list was refetched
        // while the action was in flight) is not shown twice.
        if *note_case != case_id || notes.iter().any(|n| n.id == note.id) {
            continue;
        }
        // A time past the year 9999 cannot come from a clock; such an action is not shown.
        if let Some(at) = timestamp_at(action.created_at) {
            notes.push(note.clone().into_note(case_id, at));
        }
    }
    notes
}

/// The dashboard counts as shown.
///
/// Created → its status and priority +1 and its day's `opened_per_day` +1. Status or priority
/// changed → the count moves from the old value to the new. Reaching `resolved` (from any
/// other status, or created resolved) → its day's `resolved_per_day` +1. Deleted → its status
/// and priority −1. Counts never go below zero. The old values come from the case as the
/// fold knows it: an earlier pending action, `known`, else the action's own copy. "Its day"
/// is the UTC date of the action's time; when that is after the series' last day, the series
/// rolls forward (zeros for the days between, the oldest dropped) so the charts keep their
/// 30 days ending today. The mean time to resolve is left to the server.
pub fn metrics_view<'a>(
    server: &DashboardMetrics,
    pending: impl IntoIterator<Item = &'a Action>,
    known: &dyn KnownCases,
) -> DashboardMetrics {
    let mut work = MetricsWork::new(server);
    let mut fold = Fold::new(known);
    for action in pending {
        if let Some(change) = fold.change(action, &[]) {
            work.apply(&change);
        }
    }
    work.metrics
}

/// The UTC instant of `at`, `None` past the year 9999.
pub(crate) fn timestamp_at(at: Millis) -> Option<Timestamp> {
    i64::try_from(at.0)
        .ok()
        .and_then(Timestamp::from_unix_millis)
}

/// One case moved by one action. Both states are borrowed where they can be (`before` from
/// the page or the known cases, `after` from the fold, which keeps it for the next action on
/// the case), so a change costs one copy of the case at most.
struct CaseChange<'f> {
    before: Option<Cow<'f, Case>>,
    after: Option<&'f Case>,
    /// `before` (and so `after`) comes from the action's own copy of the case, not from
    /// server data: good enough to adjust counts, not to place the case in a list.
    guessed: bool,
    /// When it happened, for the per-day series.
    at: Millis,
}

/// The cases touched so far while applying actions in order, so each action starts from what
/// the earlier ones left.
struct Fold<'k> {
    /// `None` for a case deleted by an earlier action.
    states: HashMap<Uuid, Option<Case>, BuildUuidHasher>,
    known: &'k dyn KnownCases,
}

impl<'k> Fold<'k> {
    fn new(known: &'k dyn KnownCases) -> Self {
        Self {
            states: HashMap::with_capacity_and_hasher(16, BuildUuidHasher),
            known,
        }
    }

    /// The case before an action: from an earlier action (taken out, as the action replaces
    /// it), the page at hand, `known`, and last the action's own copy (`fallback`), which
    /// marks the result a guess.
    fn take_before<'a>(
        &mut self,
        id: Uuid,
        page: &'a [Case],
        fallback: Option<&'a Case>,
    ) -> (Option<Cow<'a, Case>>, bool)
    where
        'k: 'a,
    {
        if let Some(state) = self.states.remove(&id) {
            return (state.map(Cow::Owned), false);
        }
        if let Some(case) = page.iter().find(|c| c.id == id) {
            return (Some(Cow::Borrowed(case)), false);
        }
        let known: &'k dyn KnownCases = self.known;
        if let Some(case) = known.known_case(id) {
            return (Some(Cow::Borrowed(case)), false);
        }
        if known.known_absent(id) {
            return (None, false);
        }
        (fallback.map(Cow::Borrowed), fallback.is_some())
    }

    /// How `action`, still pending, changes its case; `None` for notes or an unreadable time.
    fn change<'a>(&'a mut self, action: &'a Action, page: &'a [Case]) -> Option<CaseChange<'a>>
    where
        'k: 'a,
    {
        let at = timestamp_at(action.created_at)?;
        let id = action.case_id();
        let (before, guessed, after) = match &action.kind {
            ActionKind::CreateCase { case } => {
                let (before, guessed) = self.take_before(id, page, None);
                // Already there: the server has it (an answer lost in flight), or a duplicate.
                let after = match &before {
                    Some(existing) => Some(Case::clone(existing)),
                    None => {
                        let mut provisional = case.clone().into_case(at);
                        provisional.version = 0;
                        Some(provisional)
                    }
                };
                (before, guessed, after)
            }
            ActionKind::UpdateCase { patch, base, .. } => {
                let (before, guessed) = self.take_before(id, page, Some(base));
                let after = before.as_deref().map(|case| {
                    let mut updated = case.with_patch(patch);
                    updated.updated_at = updated.updated_at.max(at);
                    updated
                });
                (before, guessed, after)
            }
            ActionKind::DeleteCase { last_known, .. } => {
                let (before, guessed) = self.take_before(id, page, last_known.as_ref());
                (before, guessed, None)
            }
            ActionKind::AddNote { .. } => return None,
        };
        let after = self.states.entry(id).insert_entry(after).into_mut();
        Some(CaseChange {
            before,
            after: after.as_ref(),
            guessed,
            at: action.created_at,
        })
    }

    /// How `action`, confirmed with `answer`, changes its case: like a pending one, but the
    /// server's case replaces the provisional one.
    fn settled_change<'a>(
        &'a mut self,
        action: &'a Action,
        answer: &ServerAnswer,
        page: &'a [Case],
    ) -> Option<CaseChange<'a>>
    where
        'k: 'a,
    {
        let id = action.case_id();
        let (before, guessed) = match &action.kind {
            ActionKind::CreateCase { .. } => self.take_before(id, page, None),
            ActionKind::UpdateCase { base, .. } => self.take_before(id, page, Some(base)),
            ActionKind::DeleteCase { last_known, .. } => {
                self.take_before(id, page, last_known.as_ref())
            }
            ActionKind::AddNote { .. } => return None,
        };
        let (after, at) = match answer {
            ServerAnswer::Case(case) if case.id == id => (
                Some(case.clone()),
                Millis(case.updated_at.unix_millis().max(0) as u64),
            ),
            ServerAnswer::Deleted => (None, action.created_at),
            // An answer that does not fit the action changes nothing.
            ServerAnswer::Case(_) | ServerAnswer::Note(_) => return None,
        };
        let after = self.states.entry(id).insert_entry(after).into_mut();
        Some(CaseChange {
            before,
            after: after.as_ref(),
            guessed: guessed && answer.as_case().is_none(),
            at,
        })
    }
}

/// Hashes UUIDs cheaply: they are random (v4) or time-and-random (v7) already, so folding
/// their bytes is enough, and the fold has no untrusted keys to defend against. SipHash took
/// a quarter of the overlay's time.
#[derive(Clone, Copy, Default)]
struct BuildUuidHasher;

impl std::hash::BuildHasher for BuildUuidHasher {
    type Hasher = UuidHasher;

    fn build_hasher(&self) -> UuidHasher {
        UuidHasher(0)
    }
}

struct UuidHasher(u64);

impl std::hash::Hasher for UuidHasher {
    /// Fx's multiply only carries differences upward, and the table picks buckets from the
    /// low bits: ids differing only in their high bytes (e.g. `Uuid::from_u128(n)`) all
    /// landed in one bucket. MurmurHash3's final mix spreads every input bit to every
    /// output bit for a few instructions.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        // FxHash's step, eight bytes at a time.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

#[cfg(test)]
mod hasher_tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn ids_differing_only_in_high_or_low_bytes_spread_over_buckets() {
        // The low 10 bits pick one of 1,024 buckets; 1,000 sequential ids should fill most.
        for make in [
            |n: u128| Uuid::from_u128(n),
            |n: u128| Uuid::from_u128(n << 64),
        ] {
            let buckets: std::collections::HashSet<u64> = (0..1_000u128)
                .map(|n| BuildUuidHasher.hash_one(make(n)) & 1023)
                .collect();
            assert!(
                buckets.len() > 550,
                "only {} of 1,024 buckets used",
                buckets.len()
            );
        }
    }
}

/// A page of the list being changed, with what it takes to place a case on it.
struct PageWork {
    items: Vec<Case>,
    total: u64,
    is_first: bool,
    /// No matching case comes after this page's last item (as the server answered).
    ends_list: bool,
    per_page: usize,
}

impl PageWork {
    fn new(list: &CaseList) -> Self {
        let page = list.page.max(1);
        let per_page = list.per_page.max(1);
        let offset = u64::from(page - 1) * u64::from(per_page);
        Self {
            items: list.items.clone(),
            total: list.total,
            is_first: page == 1,
            ends_list: offset + list.items.len() as u64 >= list.total,
            // A u32 always fits in usize on the 32- and 64-bit targets we build for.
            per_page: usize::try_from(per_page).unwrap_or(usize::MAX),
        }
    }

    fn apply(&mut self, change: &CaseChange, query: &CaseListQuery) {
        let matched_before = change.before.as_ref().is_some_and(|c| query.matches(c));
        let shown_after = change.after.filter(|c| query.matches(c));
        match (matched_before, shown_after.is_some()) {
            (true, false) => self.total = self.total.saturating_sub(1),
            (false, true) => self.total = self.total.saturating_add(1),
            _ => {}
        }
        let id = change.after.or(change.before.as_deref()).map(|c| c.id);
        let position = id.and_then(|id| self.items.iter().position(|c| c.id == id));
        match position {
            Some(index) => {
                let old = self.items.remove(index);
                if let Some(case) = shown_after {
                    if self.stays_in_place(index, &old, case, query) {
                        self.items.insert(index, case.clone());
                    } else {
                        self.place(case, query);
                    }
                }
            }
            None => {
                if let Some(case) = shown_after.filter(|_| !change.guessed) {
                    self.place(case, query);
                }
            }
        }
    }

    /// Whether a listed case, changed from `old` to `new` and taken out of `index`, still
    /// belongs there: between the same neighbours, and not moved past an edge of the page
    /// towards a page whose items are unknown.
    fn stays_in_place(&self, index: usize, old: &Case, new: &Case, query: &CaseListQuery) -> bool {
        if self.slot_for(new, query) != index {
            return false;
        }
        let moved = query.sort.compare(new, old);
        let past_first = index == 0 && !self.is_first && moved == Ordering::Less;
        let past_last = index == self.items.len() && !self.ends_list && moved == Ordering::Greater;
        !past_first && !past_last
    }

    fn slot_for(&self, case: &Case, query: &CaseListQuery) -> usize {
        self.items
            .partition_point(|item| query.sort.compare(item, case) == Ordering::Less)
    }

    /// Inserts `case` where the order puts it, if that is provably on this page.
    fn place(&mut self, case: &Case, query: &CaseListQuery) {
        let slot = self.slot_for(case, query);
        // Before the first item (or on an empty page) is this page only on page 1: elsewhere
        // it may belong before the previous page's last item, which this page cannot see.
        let on_this_page = if self.items.is_empty() || slot == 0 {
            self.is_first
        } else if slot == self.items.len() {
            self.ends_list && self.items.len() < self.per_page
        } else {
            true
        };
        if on_this_page {
            self.items.insert(slot, case.clone());
            // The page was full: its last item slides to the next page.
            self.items.truncate(self.per_page);
        }
    }

    fn finish(self, server: &CaseList) -> CaseList {
        CaseList {
            items: self.items,
            total: self.total,
            page: server.page,
            per_page: server.per_page,
        }
    }
}

/// The dashboard counts being changed. The day of each series' last entry is read once, so a
/// change that counts nothing per day costs no date text at all.
struct MetricsWork {
    metrics: DashboardMetrics,
    /// Days since the epoch of `opened_per_day`'s and `resolved_per_day`'s last entries.
    opened_last_day: Option<i64>,
    resolved_last_day: Option<i64>,
}

impl MetricsWork {
    fn new(metrics: &DashboardMetrics) -> Self {
        Self {
            opened_last_day: last_day_of(&metrics.opened_per_day),
            resolved_last_day: last_day_of(&metrics.resolved_per_day),
            metrics: metrics.clone(),
        }
    }

    fn apply(&mut self, change: &CaseChange) {
        let metrics = &mut self.metrics;
        let before = change.before.as_deref();
        let after = change.after;
        match (before, after) {
            (Some(old), Some(new)) => {
                if old.status != new.status {
                    decrement(metrics.by_status.get_mut(old.status));
                    increment(metrics.by_status.get_mut(new.status));
                }
                if old.priority != new.priority {
                    decrement(metrics.by_priority.get_mut(old.priority));
                    increment(metrics.by_priority.get_mut(new.priority));
                }
            }
            (None, Some(new)) => {
                increment(metrics.by_status.get_mut(new.status));
                increment(metrics.by_priority.get_mut(new.priority));
            }
            (Some(old), None) => {
                decrement(metrics.by_status.get_mut(old.status));
                decrement(metrics.by_priority.get_mut(old.priority));
            }
            (None, None) => {}
        }
        let Ok(at_ms) = i64::try_from(change.at.0) else {
            return;
        };
        let day = at_ms.div_euclid(DAY_MS);
        // Both series cover the same days: both roll forward to a newer day, whatever counts.
        roll_to_day(&mut metrics.opened_per_day, &mut self.opened_last_day, day);
        roll_to_day(
            &mut metrics.resolved_per_day,
            &mut self.resolved_last_day,
            day,
        );
        if before.is_none() && after.is_some() {
            count_on_day(&mut metrics.opened_per_day, self.opened_last_day, day);
        }
        let was_resolved = before.is_some_and(|c| c.status == CaseStatus::Resolved);
        if after.is_some_and(|c| c.status == CaseStatus::Resolved) && !was_resolved {
            count_on_day(&mut metrics.resolved_per_day, self.resolved_last_day, day);
        }
    }
}

fn increment(count: &mut u64) {
    *count = count.saturating_add(1);
}

fn decrement(count: &mut u64) {
    *count = count.saturating_sub(1);
}

const DAY_MS: i64 = 86_400_000;

/// Days since the epoch of a series' last entry.
fn last_day_of(series: &[DayCount]) -> Option<i64> {
    let last = series.last()?;
    let start = Timestamp::parse(&format!("{}T00:00:00Z", last.date))?;
    Some(start.unix_millis().div_euclid(DAY_MS))
}

/// The `YYYY-MM-DD` of a day counted from the epoch.
fn date_of_day(day: i64) -> Option<String> {
    Timestamp::from_unix_millis(day.checked_mul(DAY_MS)?).map(Timestamp::utc_date)
}

/// Adds one to `day`'s entry. The series has one entry per day ending on `last_day`, so the
/// entry is found by position (and its date checked); a day older than the series covers is
/// not counted.
fn count_on_day(series: &mut [DayCount], last_day: Option<i64>, day: i64) {
    let (Some(last_day), Some(date)) = (last_day, date_of_day(day)) else {
        return;
    };
    let back = usize::try_from(last_day - day).ok();
    let guess = back.and_then(|back| series.len().checked_sub(back + 1));
    let index = guess
        .filter(|i| series.get(*i).is_some_and(|e| e.date == date))
        .or_else(|| series.iter().rposition(|e| e.date == date));
    if let Some(entry) = index.and_then(|i| series.get_mut(i)) {
        increment(&mut entry.count);
    }
}

/// Makes `day` the series' last day if it is newer, keeping the series' length: zeros for the
/// new days, the oldest dropped.
fn roll_to_day(series: &mut Vec<DayCount>, last_day: &mut Option<i64>, day: i64) {
    let Some(last) = *last_day else {
        return;
    };
    if day <= last {
        return;
    }
    let length = series.len() as i64;
    // Only the newest `length` days survive, so no more than that are ever added.
    let first_new = (day - length + 1).max(last + 1);
    for new_day in first_new..=day {
        if let Some(date) = date_of_day(new_day) {
            series.push(DayCount { date, count: 0 });
        }
    }
    let excess = series.len().saturating_sub(length.max(0) as usize);
    series.drain(..excess);
    *last_day = Some(day);
}

/// Knows one case (or knows it is gone): a case view's own server data.
struct SingleCase<'a> {
    id: Uuid,
    case: Option<&'a Case>,
}

impl KnownCases for SingleCase<'_> {
    fn known_case(&self, id: Uuid) -> Option<&Case> {
        self.case.filter(|_| id == self.id)
    }

    fn known_absent(&self, id: Uuid) -> bool {
        id == self.id && self.case.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use casedesk_model::{CasePatch, CaseSort, Priority};

    #[test]
    fn a_case_created_offline_is_provisional_at_version_zero() {
        let create = create_action(1, 100, "New printer", CaseStatus::Open, Priority::High, T0);
        let shown = case_view(case_id(100), None, [&create]).unwrap();
        assert_eq!(shown.version, 0);
        assert_eq!(shown.title, "New printer");
        assert_eq!(shown.created_at, ts(T0));
        assert_eq!(shown.updated_at, ts(T0));
    }

    #[test]
    fn updates_apply_in_order_and_bump_updated_at_and_delete_hides() {
        let server = case(1, CaseStatus::Open, Priority::Low, T0 - 5_000);
        let first = update_action(
            1,
            &server,
            CasePatch {
                status: Some(CaseStatus::InProgress),
                ..CasePatch::default()
            },
            T0,
        );
        let second = update_action(
            2,
            &server,
            CasePatch {
                status: Some(CaseStatus::Resolved),
                title: Some("Fixed".into()),
                ..CasePatch::default()
            },
            T0 + 10,
        );
        let shown = case_view(server.id, Some(&server), [&first, &second]).unwrap();
        assert_eq!(shown.status, CaseStatus::Resolved);
        assert_eq!(shown.title, "Fixed");
        assert_eq!(shown.updated_at, ts(T0 + 10));
        assert_eq!(shown.version, server.version);
        let delete = delete_action(3, &server, T0 + 20);
        assert_eq!(case_view(server.id, Some(&server), [&first, &delete]), None);
        // An action on another case changes nothing here.
        let other = update_action(
            4,
            &case(2, CaseStatus::Open, Priority::Low, 0),
            CasePatch::default(),
            T0,
        );
        assert_eq!(case_view(server.id, Some(&server), [&other]), Some(server));
    }

    #[test]
    fn an_update_never_resurrects_a_case_the_server_does_not_hold() {
        let base = case(1, CaseStatus::Open, Priority::Low, 0);
        let update = update_action(1, &base, title_patch("x"), T0);
        assert_eq!(case_view(base.id, None, [&update]), None);
    }

    #[test]
    fn a_created_case_is_inserted_where_the_sort_puts_it_on_page_one() {
        let server = list_of(
            (1..=3).map(|n| case(n, CaseStatus::Open, Priority::Medium, T0 - n as u64 * 1_000)),
            3,
            1,
            10,
        );
        let query = CaseListQuery::default();
        let create = create_action(1, 100, "Brand new", CaseStatus::Open, Priority::Low, T0);
        let shown = case_list_view(&server, &query, [&create], &NoKnownCases);
        assert_eq!(ids(&shown), vec![100, 1, 2, 3]);
        assert_eq!(shown.total, 4);

        // Sorted by priority, a low-priority case goes last (the page ends the list).
        let by_priority = CaseListQuery {
            sort: CaseSort::PriorityDesc,
            ..query.clone()
        };
        let shown = case_list_view(&server, &by_priority, [&create], &NoKnownCases);
        assert_eq!(ids(&shown), vec![1, 2, 3, 100]);

        // A case the filters refuse is neither shown nor counted.
        let only_closed = CaseListQuery {
            status: Some(CaseStatus::Closed),
            ..query
        };
        let empty = list_of([], 0, 1, 10);
        let shown = case_list_view(&empty, &only_closed, [&create], &NoKnownCases);
        assert!(shown.items.is_empty());
        assert_eq!(shown.total, 0);
    }

    #[test]
    fn placement_respects_the_page_range() {
        // Page 2 of 3 items per page, of 9 cases updated at T0-1000·n: items 4, 5, 6.
        let items: Vec<Case> = (4..=6)
            .map(|n| case(n, CaseStatus::Open, Priority::Medium, T0 - n as u64 * 1_000))
            .collect();
        let server = list_of(items, 9, 2, 3);
        let query = CaseListQuery {
            page: 2,
            per_page: 3,
            ..CaseListQuery::default()
        };
        // Newest of all: belongs on page 1, so only the total moves.
        let create = create_action(1, 100, "New", CaseStatus::Open, Priority::Low, T0);
        let shown = case_list_view(&server, &query, [&create], &NoKnownCases);
        assert_eq!(ids(&shown), vec![4, 5, 6]);
        assert_eq!(shown.total, 10);

        // A case between 4 and 5 (known to the client, newly matching) lands between them
        // and pushes 6 to the next page.
        let known_case = case(50, CaseStatus::Closed, Priority::Medium, T0 - 4_500);
        let known: HashMap<Uuid, Case> = [(known_case.id, known_case.clone())].into();
        let reopen = update_action(
            2,
            &known_case,
            CasePatch {
                status: Some(CaseStatus::Open),
                ..CasePatch::default()
            },
            // No newer than its own updated_at, so it keeps its place in the order.
            0,
        );
        let open_only = CaseListQuery {
            status: Some(CaseStatus::Open),
            ..query.clone()
        };
        let shown = case_list_view(&server, &open_only, [&reopen], &known);
        assert_eq!(ids(&shown), vec![4, 50, 5]);
        assert_eq!(shown.total, 10);
        // Without knowing the case, the page cannot place it: the count moves (from the
        // edit's base), the items do not.
        let shown = case_list_view(&server, &open_only, [&reopen], &NoKnownCases);
        assert_eq!(ids(&shown), vec![4, 5, 6]);
        assert_eq!(shown.total, 10);

        // Oldest of all on a page that does not end the list: belongs to a later page.
        let old_case = case(60, CaseStatus::Closed, Priority::Medium, 1);
        let known: HashMap<Uuid, Case> = [(old_case.id, old_case.clone())].into();
        let reopen_old = update_action(
            3,
            &old_case,
            CasePatch {
                status: Some(CaseStatus::Open),
                ..CasePatch::default()
            },
            0,
        );
        let shown = case_list_view(&server, &open_only, [&reopen_old], &known);
        assert_eq!(ids(&shown), vec![4, 5, 6]);
        assert_eq!(shown.total, 10);
    }

    #[test]
    fn the_last_page_takes_cases_sorting_after_it_while_it_has_room() {
        // Sorted least recently updated first: 8 then 7.
        let items: Vec<Case> = [8, 7]
            .into_iter()
            .map(|n| case(n, CaseStatus::Open, Priority::Medium, T0 - n as u64 * 1_000))
            .collect();
        let server = list_of(items, 8, 3, 3);
        let query = CaseListQuery {
            page: 3,
            per_page: 3,
            sort: CaseSort::UpdatedAsc,
            ..CaseListQuery::default()
        };
        // Sorted oldest-updated first, a new case goes at the very end: this page.
        let create = create_action(1, 100, "New", CaseStatus::Open, Priority::Low, T0);
        let shown = case_list_view(&server, &query, [&create], &NoKnownCases);
        assert_eq!(ids(&shown), vec![8, 7, 100]);
        assert_eq!(shown.total, 9);
        // A second one finds the page full: it starts page 4.
        let another = create_action(2, 101, "Newer", CaseStatus::Open, Priority::Low, T0 + 1);
        let shown = case_list_view(&server, &query, [&create, &another], &NoKnownCases);
        assert_eq!(ids(&shown), vec![8, 7, 100]);
        assert_eq!(shown.total, 10);
    }

    #[test]
    fn an_update_moves_or_drops_a_listed_case_and_a_delete_removes_it() {
        let items: Vec<Case> = (1..=3)
            .map(|n| case(n, CaseStatus::Open, Priority::Medium, T0 - n as u64 * 1_000))
            .collect();
        let server = list_of(items.clone(), 3, 1, 10);
        let open_only = CaseListQuery {
            status: Some(CaseStatus::Open),
            ..CaseListQuery::default()
        };
        // Touching case 3 makes it the most recently updated.
        let touch = update_action(1, &items[2], title_patch("Touched"), T0);
        let shown = case_list_view(&server, &open_only, [&touch], &NoKnownCases);
        assert_eq!(ids(&shown), vec![3, 1, 2]);
        assert_eq!(shown.items[0].title, "Touched");
        assert_eq!(shown.total, 3);
        // Closing case 2 drops it from an "open" list.
        let close = update_action(
            2,
            &items[1],
            CasePatch {
                status: Some(CaseStatus::Closed),
                ..CasePatch::default()
            },
            T0,
        );
        let shown = case_list_view(&server, &open_only, [&close], &NoKnownCases);
        assert_eq!(ids(&shown), vec![1, 3]);
        assert_eq!(shown.total, 2);
        // Deleting case 1.
        let delete = delete_action(3, &items[0], T0);
        let shown = case_list_view(&server, &open_only, [&delete], &NoKnownCases);
        assert_eq!(ids(&shown), vec![2, 3]);
        assert_eq!(shown.total, 2);
        // Deleting a case on another page lowers the total only.
        let elsewhere = case(9, CaseStatus::Open, Priority::Medium, 5);
        let delete_elsewhere = delete_action(4, &elsewhere, T0);
        let shown = case_list_view(&server, &open_only, [&delete_elsewhere], &NoKnownCases);
        assert_eq!(ids(&shown), vec![1, 2, 3]);
        assert_eq!(shown.total, 2);
    }

    #[test]
    fn an_update_that_keeps_its_order_stays_at_the_edge_of_a_later_page() {
        // Sorted by priority: changing the title of page 2's first item keeps it there.
        let items: Vec<Case> = (4..=6)
            .map(|n| case(n, CaseStatus::Open, Priority::Medium, T0))
            .collect();
        let server = list_of(items.clone(), 9, 2, 3);
        let query = CaseListQuery {
            page: 2,
            per_page: 3,
            sort: CaseSort::PriorityDesc,
            ..CaseListQuery::default()
        };
        let retitle = update_action(1, &items[0], title_patch("Renamed"), T0);
        let shown = case_list_view(&server, &query, [&retitle], &NoKnownCases);
        assert_eq!(ids(&shown), vec![4, 5, 6]);
        assert_eq!(shown.items[0].title, "Renamed");
        // Raising its priority moves it to an earlier page.
        let raise = update_action(
            2,
            &items[0],
            CasePatch {
                priority: Some(Priority::Critical),
                ..CasePatch::default()
            },
            T0,
        );
        let raise_last = update_action(
            3,
            &items[2],
            CasePatch {
                priority: Some(Priority::Critical),
                ..CasePatch::default()
            },
            T0,
        );
        let shown = case_list_view(&server, &query, [&raise, &raise_last], &NoKnownCases);
        assert_eq!(ids(&shown), vec![5]);
        assert_eq!(shown.total, 9);
    }

    #[test]
    fn a_create_the_server_already_holds_is_not_shown_twice() {
        let create = create_action(1, 100, "New", CaseStatus::Open, Priority::Low, T0);
        let mut confirmed = case(100, CaseStatus::Open, Priority::Low, T0);
        confirmed.title = "New".into();
        let server = list_of([confirmed.clone()], 1, 1, 10);
        let shown = case_list_view(&server, &CaseListQuery::default(), [&create], &NoKnownCases);
        assert_eq!(ids(&shown), vec![100]);
        assert_eq!(shown.total, 1);
        assert_eq!(shown.items[0].version, 1);
        let metrics = metrics_for(std::slice::from_ref(&confirmed));
        let known: HashMap<Uuid, Case> = [(confirmed.id, confirmed.clone())].into();
        assert_eq!(metrics_view(&metrics, [&create], &known), metrics);
    }

    #[test]
    fn pending_notes_follow_the_servers_oldest_first() {
        let id = case_id(1);
        let server_note = note(1, id, T0 - 1_000);
        let first = note_action(1, id, 2, "first", T0);
        let second = note_action(2, id, 3, "second", T0 + 1);
        let elsewhere = note_action(3, case_id(2), 4, "other", T0 + 2);
        let shown = notes_view(
            std::slice::from_ref(&server_note),
            id,
            [&first, &elsewhere, &second],
        );
        let bodies: Vec<&str> = shown.iter().map(|n| n.body.as_str()).collect();
        assert_eq!(bodies, vec!["server", "first", "second"]);
        assert_eq!(shown[1].author, "anonymous");
        assert_eq!(shown[1].created_at, ts(T0));
        // Already on the server: not twice.
        let mut stored = shown[1].clone();
        stored.author = "dana".into();
        let shown = notes_view(&[server_note, stored], id, [&first]);
        assert_eq!(shown.len(), 2);
    }

    #[test]
    fn metrics_move_with_creates_status_changes_and_deletes() {
        let existing = case(1, CaseStatus::Open, Priority::Low, 0);
        let server = metrics_for(std::slice::from_ref(&existing));
        let create = create_action(1, 100, "New", CaseStatus::Open, Priority::High, T0);
        let resolve = update_action(
            2,
            &existing,
            CasePatch {
                status: Some(CaseStatus::Resolved),
                priority: Some(Priority::Critical),
                ..CasePatch::default()
            },
            T0 + 1,
        );
        let shown = metrics_view(&server, [&create, &resolve], &NoKnownCases);
        assert_eq!(shown.by_status.open, 1);
        assert_eq!(shown.by_status.resolved, 1);
        assert_eq!(shown.by_priority.low, 0);
        assert_eq!(shown.by_priority.high, 1);
        assert_eq!(shown.by_priority.critical, 1);
        assert_eq!(day_count(&shown.opened_per_day, T0), 1);
        assert_eq!(day_count(&shown.resolved_per_day, T0), 1);

        // Deleting uses the last known case; counts never go below zero.
        let delete = delete_action(3, &existing, T0 + 2);
        let shown = metrics_view(&server, [&delete], &NoKnownCases);
        assert_eq!(shown.by_status.open, 0);
        assert_eq!(shown.by_priority.low, 0);
        let shown = metrics_view(&server, [&delete, &delete], &NoKnownCases);
        assert_eq!(shown.by_status.open, 0);
        // An update that leaves status and priority alone moves nothing, even from zero.
        let zeroed = metrics_for(&[]);
        let retitle = update_action(4, &existing, title_patch("x"), T0);
        assert_eq!(metrics_view(&zeroed, [&retitle], &NoKnownCases), zeroed);
    }

    #[test]
    fn old_values_come_from_what_the_client_knows_before_the_actions_copy() {
        // The edit was made on a view that showed an earlier change (now rolled back).
        let confirmed = case(1, CaseStatus::Open, Priority::Low, 0);
        let mut seen = confirmed.clone();
        seen.status = CaseStatus::InProgress;
        let resolve = update_action(
            1,
            &seen,
            CasePatch {
                status: Some(CaseStatus::Resolved),
                ..CasePatch::default()
            },
            T0,
        );
        let server = metrics_for(std::slice::from_ref(&confirmed));
        let known: HashMap<Uuid, Case> = [(confirmed.id, confirmed.clone())].into();
        let shown = metrics_view(&server, [&resolve], &known);
        assert_eq!(shown.by_status.open, 0);
        assert_eq!(shown.by_status.in_progress, 0);
        assert_eq!(shown.by_status.resolved, 1);
    }

    #[test]
    fn the_series_roll_forward_to_the_actions_day() {
        let server = metrics_for(&[]);
        let last_day = server.opened_per_day.last().unwrap().date.clone();
        let two_days_later = T0 + 2 * DAY_MS as u64;
        let create = create_action(
            1,
            100,
            "New",
            CaseStatus::Resolved,
            Priority::Low,
            two_days_later,
        );
        let shown = metrics_view(&server, [&create], &NoKnownCases);
        assert_eq!(shown.opened_per_day.len(), server.opened_per_day.len());
        assert_eq!(shown.resolved_per_day.len(), server.resolved_per_day.len());
        assert_eq!(shown.opened_per_day[27].date, last_day);
        assert_eq!(shown.opened_per_day[29].count, 1);
        assert_eq!(shown.opened_per_day[28].count, 0);
        assert_eq!(shown.resolved_per_day[29].count, 1);
        assert_eq!(
            shown.resolved_per_day[29].date,
            shown.opened_per_day[29].date
        );
        assert_eq!(shown.opened_per_day[0].date, server.opened_per_day[2].date);
        // Far in the future: a whole new window of zeros but today.
        let far = create_action(
            2,
            101,
            "Later",
            CaseStatus::Open,
            Priority::Low,
            T0 + 100 * DAY_MS as u64,
        );
        let shown = metrics_view(&server, [&far], &NoKnownCases);
        assert_eq!(shown.opened_per_day.len(), 30);
        assert_eq!(shown.opened_per_day.iter().map(|d| d.count).sum::<u64>(), 1);
        assert_eq!(shown.opened_per_day[29].count, 1);
        // An action dated before the window is not counted in it.
        let old = create_action(
            3,
            102,
            "Old",
            CaseStatus::Open,
            Priority::Low,
            T0 - 40 * DAY_MS as u64,
        );
        let shown = metrics_view(&server, [&old], &NoKnownCases);
        assert_eq!(shown.opened_per_day, server.opened_per_day);
        assert_eq!(shown.by_status.open, 1);
    }

    #[test]
    fn the_case_index_keeps_the_newest_version_of_each_case() {
        let mut newer = case(1, CaseStatus::Closed, Priority::Low, T0);
        newer.version = 4;
        let older = case(1, CaseStatus::Open, Priority::Low, T0 - 1);
        let other = case(2, CaseStatus::Open, Priority::Low, T0);
        let data = [
            QueryData::CaseList(list_of([older, other.clone()], 2, 1, 10)),
            QueryData::Case(newer.clone()),
            QueryData::Notes(vec![]),
        ];
        let index = CaseIndex::from_data(&data);
        assert_eq!(index.len(), 2);
        assert_eq!(index.known_case(newer.id), Some(&newer));
        assert_eq!(index.known_case(other.id), Some(&other));
        assert_eq!(index.known_case(case_id(3)), None);
    }

    #[test]
    fn view_dispatches_on_the_target_and_settle_folds_in_an_answer() {
        let existing = case(1, CaseStatus::Open, Priority::Low, T0 - 1_000);
        let list = QueryData::CaseList(list_of([existing.clone()], 1, 1, 10));
        let query = CaseListQuery::default();
        let create = create_action(1, 100, "New", CaseStatus::Open, Priority::High, T0);
        let target = OverlayTarget::CaseList(query.clone());
        let shown = view(&target, Some(&list), [&create], &NoKnownCases).unwrap();
        assert_eq!(ids(shown.as_case_list().unwrap()), vec![100, 1]);
        assert_eq!(target.key(), QueryKey::case_list(&query));

        let case_target = OverlayTarget::Case(case_id(100));
        let shown = view(&case_target, None, [&create], &NoKnownCases).unwrap();
        assert_eq!(shown.as_case().unwrap().version, 0);
        assert_eq!(
            view(&OverlayTarget::Metrics, None, [&create], &NoKnownCases),
            None
        );
        assert_eq!(
            view(
                &OverlayTarget::Notes(case_id(1)),
                None,
                [&create],
                &NoKnownCases
            ),
            None
        );
        // Wrong kind of data: shown as is.
        assert_eq!(
            view(
                &OverlayTarget::Metrics,
                Some(&list),
                [&create],
                &NoKnownCases
            ),
            Some(list.clone())
        );

        // Confirmed: the server's case (version 1, its own times) takes the provisional place.
        let mut confirmed = case(100, CaseStatus::Open, Priority::High, T0 + 50);
        confirmed.title = "New".into();
        let answer = ServerAnswer::Case(confirmed.clone());
        let settled = settle(&target, &list, &create, &answer, &NoKnownCases);
        let settled_list = settled.as_case_list().unwrap();
        assert_eq!(ids(settled_list), vec![100, 1]);
        assert_eq!(settled_list.items[0], confirmed);
        assert_eq!(settled_list.total, 2);
        // With the action gone from the queue, the view of the settled data is unchanged.
        let after = view(&target, Some(&settled), [], &NoKnownCases).unwrap();
        assert_eq!(ids(after.as_case_list().unwrap()), vec![100, 1]);

        let metrics = QueryData::Metrics(metrics_for(&[existing]));
        let settled = settle(
            &OverlayTarget::Metrics,
            &metrics,
            &create,
            &answer,
            &NoKnownCases,
        );
        let pending_view = view(
            &OverlayTarget::Metrics,
            Some(&metrics),
            [&create],
            &NoKnownCases,
        );
        assert_eq!(Some(settled), pending_view);
    }
}
