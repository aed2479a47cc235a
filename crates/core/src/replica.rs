//! A person's replica of their working set (`docs/api.md` §6), fed by the change feed: first
//! a snapshot, then deltas, pages and live events in any order. It changes only through
//! [`Replica::apply`], which returns the records to store and the views to notify.
//!
//! The feed's guarantees it relies on: per case, versions only grow; a deleted case never comes
//! back; a page that answers `since=C` holds every change committed after `C`; log positions
//! are dense, so a live change right after the cursor is the next one. Within those,
//! duplicates and reorderings (a live event before or after the page that holds it too) leave
//! the same state, so the replica converges to the server's working set.

use crate::clock::{DurationMs, Millis};
use crate::overlay::KnownCases;
use casedesk_model::{Case, Change, ChangeBody, ChangePage, Cursor, FoldedText, Note, SeqOrder};
use serde::{Deserialize, Serialize};
use std::collections::{btree_map, BTreeMap, BTreeSet};
use uuid::Uuid;

mod answer;
mod record;
mod working_set;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

pub use answer::ListAnswer;
pub use record::{
    CaseRecord, MetaRecord, NoteRecord, RecordError, RecordKey, ReplicaRecord, RestoreOutcome,
    Restored, Snapshot, TombstoneRecord, REPLICA_SCHEMA,
};
use working_set::WorkingSet;
pub use working_set::{Coverage, Extent, WINDOW};

/// How long a tombstone is remembered: the feed keeps 30 days of changes, so no older copy of
/// a deleted case can arrive after that.
const TOMBSTONE_KEPT: DurationMs = DurationMs(30 * 86_400_000);

/// The generation of a case known only from a live event during a download (downloads count
/// from 1).
const UNCONFIRMED: u32 = 0;

/// What happens to the replica.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplicaEvent {
    /// Start or resume syncing (start-up, reconnect, a gap in the live `seq`): pull from the
    /// cursor, or a fresh working set without one.
    Resume,
    /// The pull `from` (as the `Pull` command gave it) was answered with this page, whole and
    /// decoded: a page that does not decode is never half-applied, it is asked again. A page
    /// answering another position than the replica's (the cursor moved since it was asked)
    /// is out of date: ignored, and the feed asked again from where the replica is.
    Page { from: PullFrom, page: ChangePage },
    /// A change pushed over the socket. The very next one after the cursor moves it; one
    /// already held is skipped; after a gap it is applied and the feed is asked for what was
    /// missed. (Boxed: a change holds a whole case.)
    Live(Box<Change>),
    /// The server does not know the cursor (410 `cursor_expired`, a restored database, another
    /// deployment): download a fresh working set. What is held stays shown (as partial) until
    /// it completes, then whatever the new working set did not confirm goes.
    CursorRejected,
    /// Time passed: cases that aged out of the working set leave.
    Prune,
    /// Storage is full: keep only the cases assigned to the person and the active ones.
    Shrink,
    /// Storage has room again: download the whole working set afresh.
    Grow,
}

/// What the glue does after an event.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplicaCommand {
    /// Send `GET /changes?since=` (no `since`: a fresh working set) and answer with `Page`,
    /// quoting `from`.
    Pull(PullFrom),
    /// Write and delete these records, in one transaction.
    Store(StoreBatch),
    /// What views answered from the replica must recompute.
    Notify(ReplicaChanged),
}

/// Where a pull starts: the cursor, within one download of the working set. Two requests
/// for a fresh working set both have no cursor; the download tells the answer to one made
/// before the last `CursorRejected` or `Grow` (which could bring back cases deleted since)
/// from the answer to the current one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullFrom {
    pub since: Option<Cursor>,
    pub download: u32,
}

/// The stored records one event changed: each `put` replaces the record with its key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreBatch {
    pub put: Vec<ReplicaRecord>,
    pub delete: Vec<RecordKey>,
}

/// The cases one event changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaChanged {
    /// Cases added, changed or removed: their pages and every list.
    pub cases: Vec<Uuid>,
    /// Cases whose notes changed.
    pub notes_of: Vec<Uuid>,
}

/// The Sync page's view of the replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub cases: usize,
    pub notes: usize,
    pub snapshot: Snapshot,
    /// When the replica last caught up with the feed.
    pub synced_at: Option<Millis>,
    pub extent: Extent,
    /// Changes of a kind this build does not know, skipped.
    pub skipped_unknown: u64,
}

/// A case's notes as the replica holds them, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseNotes {
    pub notes: Vec<Note>,
    /// Whether these are all of the case's notes: false while the working set downloads, and
    /// for a case that joined it later (reopened, assigned), whose older notes the feed does
    /// not send again.
    pub complete: bool,
}

/// The working set on the device, changed only through [`Replica::apply`].
#[derive(Clone, Debug, PartialEq)]
pub struct Replica {
    meta: MetaRecord,
    cases: BTreeMap<Uuid, Held>,
    /// By case, then by note id. A note may be held before its case arrives (an orphan); it
    /// waits for it until the download completes or a prune.
    notes: BTreeMap<Uuid, BTreeMap<Uuid, NoteRecord>>,
    tombstones: BTreeMap<Uuid, TombstoneRecord>,
}

/// A case as held: its record, and its text folded for search once, not per search.
#[derive(Clone, Debug, PartialEq)]
struct Held {
    record: CaseRecord,
    folded: FoldedText,
}

impl Held {
    fn new(record: CaseRecord) -> Self {
        Self {
            folded: FoldedText::of(&record.case),
            record,
        }
    }
}

/// How a change reached the replica, which says what it vouches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    /// In a page of a working set being downloaded (its cases come with all their notes).
    WorkingSetPage,
    /// In a page of the log, or live right after the cursor: nothing before it was missed.
    InOrder,
    /// Live after a gap, or during a download: perhaps sent before the snapshot was read, of
    /// a case deleted since.
    OutOfOrder,
}

/// A stored record that one event made stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dirty {
    Meta,
    Case(Uuid),
    Note { case: Uuid, note: Uuid },
    Tombstone(Uuid),
}

/// What one `apply` accumulates before it turns into commands.
#[derive(Default)]
struct Effects {
    dirty: BTreeSet<Dirty>,
    cases: BTreeSet<Uuid>,
    notes_of: BTreeSet<Uuid>,
    pull: bool,
}

impl Effects {
    fn case_changed(&mut self, id: Uuid) {
        self.dirty.insert(Dirty::Case(id));
        self.cases.insert(id);
    }

    fn note_changed(&mut self, case: Uuid, note: Uuid) {
        self.dirty.insert(Dirty::Note { case, note });
        self.notes_of.insert(case);
    }
}

impl Replica {
    /// An empty replica for the person `me` (their id as cases name an assignee; `None`
    /// without people), which downloads its working set first.
    pub fn new(me: Option<String>) -> Self {
        Self {
            meta: MetaRecord::new(me),
            cases: BTreeMap::new(),
            notes: BTreeMap::new(),
            tombstones: BTreeMap::new(),
        }
    }

    /// Case `id`, if the device holds it.
    pub fn case(&self, id: Uuid) -> Option<&Case> {
        self.cases.get(&id).map(|held| &held.record.case)
    }

    /// Every case held, by id.
    pub fn cases(&self) -> impl Iterator<Item = &Case> {
        self.cases.values().map(|held| &held.record.case)
    }

    /// How many cases are held.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// Case `case_id`'s notes, oldest first (ties by id, as the server cannot be asked its
    /// insertion order).
    pub fn notes(&self, case_id: Uuid) -> CaseNotes {
        let mut notes: Vec<Note> = self
            .notes
            .get(&case_id)
            .into_iter()
            .flat_map(BTreeMap::values)
            .map(|record| record.note.clone())
            .collect();
        crate::sort::sort_by(&mut notes, |a, b| {
            a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))
        });
        let complete = self.meta.snapshot == Snapshot::Complete
            && self
                .cases
                .get(&case_id)
                .is_some_and(|held| held.record.notes_complete);
        CaseNotes { notes, complete }
    }

    /// The cursor the next pull starts from; `None` before the first page of a working set.
    pub fn cursor(&self) -> Option<&Cursor> {
        self.meta.cursor.as_ref()
    }

    /// Where the next pull starts.
    pub fn pull_from(&self) -> PullFrom {
        PullFrom {
            since: self.meta.cursor.clone(),
            download: self.meta.generation,
        }
    }

    pub fn status(&self) -> ReplicaStatus {
        ReplicaStatus {
            cases: self.cases.len(),
            notes: self.notes.values().map(BTreeMap::len).sum(),
            snapshot: self.meta.snapshot,
            synced_at: self.meta.synced_at,
            extent: self.meta.extent,
            skipped_unknown: self.meta.skipped_unknown,
        }
    }

    fn working_set(&self) -> WorkingSet<'_> {
        WorkingSet {
            me: self.meta.me.as_deref(),
            extent: self.meta.extent,
        }
    }

    /// The one reducer: applies `event` at `now` and returns what the glue must do.
    pub fn apply(&mut self, event: ReplicaEvent, now: Millis) -> Vec<ReplicaCommand> {
        let mut fx = Effects::default();
        match event {
            ReplicaEvent::Resume => fx.pull = true,
            ReplicaEvent::Page { from, page } => self.apply_page(from, page, now, &mut fx),
            ReplicaEvent::Live(change) => self.apply_live(*change, now, &mut fx),
            ReplicaEvent::CursorRejected => {
                // Another timeline, perhaps (a restored database): its deletions are not ours.
                for id in std::mem::take(&mut self.tombstones).into_keys() {
                    fx.dirty.insert(Dirty::Tombstone(id));
                }
                self.download_again(&mut fx);
            }
            ReplicaEvent::Prune => self.prune(now, &mut fx),
            ReplicaEvent::Shrink => self.shrink(&mut fx),
            ReplicaEvent::Grow => {
                if self.meta.extent == Extent::Shrunk {
                    self.meta.extent = Extent::Whole;
                    self.download_again(&mut fx);
                }
            }
        }
        self.finish(fx)
    }

    fn is_downloading(&self) -> bool {
        matches!(self.meta.snapshot, Snapshot::Downloading { .. })
    }

    fn apply_page(&mut self, from: PullFrom, page: ChangePage, now: Millis, fx: &mut Effects) {
        if from != self.pull_from() {
            fx.pull = true;
            return;
        }
        let downloading = self.is_downloading();
        // Until the working set is all sent, the feed's cursor is not a log position; the
        // page that finishes it may end with changes from the log.
        let arrival = match &from.since {
            Some(cursor) if cursor.position().is_some() => Arrival::InOrder,
            _ if downloading => Arrival::WorkingSetPage,
            _ => Arrival::InOrder,
        };
        let mut received = 0u64;
        for change in page.changes {
            received += u64::from(matches!(change.body, ChangeBody::Case { .. }));
            self.apply_change(change.body, arrival, now, fx);
        }
        if let Snapshot::Downloading { received: total } = &mut self.meta.snapshot {
            *total = total.saturating_add(received);
        }
        self.meta.cursor = Some(page.cursor);
        if page.more {
            fx.pull = true;
        } else {
            if downloading {
                self.complete_download(fx);
            }
            self.meta.synced_at = Some(now);
        }
        fx.dirty.insert(Dirty::Meta);
    }

    fn apply_live(&mut self, change: Change, now: Millis, fx: &mut Effects) {
        let order = self
            .meta
            .cursor
            .as_ref()
            .map_or(SeqOrder::Unrelated, |held| change.seq.relative_to(held));
        match order {
            // A page brought it already (pages are applied whole, up to their cursor).
            SeqOrder::AlreadyHeld => {}
            SeqOrder::Next => {
                let cursor = Cursor::from(&change.seq);
                self.apply_change(change.body, Arrival::InOrder, now, fx);
                self.meta.cursor = Some(cursor);
                fx.dirty.insert(Dirty::Meta);
            }
            SeqOrder::Gap | SeqOrder::Unrelated => {
                self.apply_change(change.body, Arrival::OutOfOrder, now, fx);
                // A download is pulling anyway; otherwise fetch what was missed (from another
                // database, the pull is refused and a fresh download follows).
                if !self.is_downloading() {
                    fx.pull = true;
                }
            }
        }
    }

    fn apply_change(
        &mut self,
        change: ChangeBody,
        arrival: Arrival,
        now: Millis,
        fx: &mut Effects,
    ) {
        match change {
            ChangeBody::Case { case } => self.upsert(case, arrival, fx),
            ChangeBody::CaseDeleted { id } => self.delete(id, now, fx),
            ChangeBody::Note { note } => self.add_note(note, fx),
            ChangeBody::Unknown => {
                self.meta.skipped_unknown = self.meta.skipped_unknown.saturating_add(1);
                fx.dirty.insert(Dirty::Meta);
            }
        }
    }

    fn upsert(&mut self, case: Case, arrival: Arrival, fx: &mut Effects) {
        let id = case.id;
        // A deleted case never comes back: this is an older copy, late.
        if self.tombstones.contains_key(&id) {
            return;
        }
        let generation = self.meta.generation;
        let downloading = self.is_downloading();
        let in_order = arrival != Arrival::OutOfOrder;
        // A page of a working set says the case is in it, and its notes come with it.
        let vouched = arrival == Arrival::WorkingSetPage;
        let held_generation = self.cases.get(&id).map(|held| held.record.generation);
        // Held from an earlier download (perhaps another timeline: a restored database), a
        // case is replaced whatever its version; from this one, only by a later version.
        let this_download = held_generation.is_some_and(|g| g == generation || g == UNCONFIRMED);
        if let Some(held) = self.cases.get_mut(&id) {
            if this_download && held.record.case.version >= case.version {
                let confirmed = if in_order {
                    generation
                } else {
                    held.record.generation
                };
                let notes_complete = held.record.notes_complete || vouched;
                if (confirmed, notes_complete)
                    != (held.record.generation, held.record.notes_complete)
                {
                    held.record.generation = confirmed;
                    held.record.notes_complete = notes_complete;
                    fx.dirty.insert(Dirty::Case(id));
                }
                return;
            }
        }
        if !self.working_set().admits(&case) {
            self.remove_case(id, fx);
            return;
        }
        // A live event during a download may be one sent before the snapshot was read, of a
        // case deleted since: it waits for a page to confirm it (see `complete_download`).
        let confirmed = if in_order || !downloading || held_generation == Some(generation) {
            generation
        } else {
            UNCONFIRMED
        };
        match self.cases.entry(id) {
            btree_map::Entry::Occupied(entry) => {
                let held = entry.into_mut();
                held.record.notes_complete =
                    vouched || (this_download && held.record.notes_complete);
                held.record.generation = confirmed;
                fx.dirty.insert(Dirty::Case(id));
                if held.record.case != case {
                    held.folded = FoldedText::of(&case);
                    held.record.case = case;
                    fx.cases.insert(id);
                }
            }
            btree_map::Entry::Vacant(entry) => {
                // A case created since has no notes the feed has not sent.
                let notes_complete = vouched || case.version == 1;
                entry.insert(Held::new(CaseRecord {
                    case,
                    generation: confirmed,
                    notes_complete,
                }));
                fx.case_changed(id);
            }
        }
    }

    fn delete(&mut self, id: Uuid, now: Millis, fx: &mut Effects) {
        self.remove_case(id, fx);
        if let btree_map::Entry::Vacant(entry) = self.tombstones.entry(id) {
            entry.insert(TombstoneRecord { id, seen_at: now });
            fx.dirty.insert(Dirty::Tombstone(id));
        }
    }

    fn add_note(&mut self, note: Note, fx: &mut Effects) {
        let (case_id, note_id) = (note.case_id, note.id);
        if self.tombstones.contains_key(&case_id) {
            return;
        }
        let generation = self.meta.generation;
        match self.notes.entry(case_id).or_default().entry(note_id) {
            btree_map::Entry::Occupied(entry) => {
                // Notes are never edited: a copy only vouches for it in this download.
                let held = entry.into_mut();
                if held.generation != generation {
                    held.generation = generation;
                    fx.dirty.insert(Dirty::Note {
                        case: case_id,
                        note: note_id,
                    });
                }
            }
            btree_map::Entry::Vacant(entry) => {
                entry.insert(NoteRecord { note, generation });
                fx.note_changed(case_id, note_id);
            }
        }
    }

    /// Case `id` and its notes leave the device.
    fn remove_case(&mut self, id: Uuid, fx: &mut Effects) {
        if self.cases.remove(&id).is_some() {
            fx.case_changed(id);
        }
        for note in self
            .notes
            .remove(&id)
            .into_iter()
            .flat_map(BTreeMap::into_keys)
        {
            fx.note_changed(id, note);
        }
    }

    /// Starts a fresh working set; what is held stays until it completes.
    fn download_again(&mut self, fx: &mut Effects) {
        self.meta.cursor = None;
        self.meta.generation = self.meta.generation.saturating_add(1);
        self.meta.snapshot = Snapshot::Downloading { received: 0 };
        fx.dirty.insert(Dirty::Meta);
        fx.pull = true;
    }

    /// The working set is whole: whatever it did not confirm (deleted or aged out while the
    /// cursor was lost, or known only from a live event), and notes whose case never came,
    /// leave. A case known only from a live event may be newer than the last page: the feed
    /// is asked again from the cursor, which brings it back if it is.
    fn complete_download(&mut self, fx: &mut Effects) {
        let generation = self.meta.generation;
        self.meta.snapshot = Snapshot::Complete;
        let unconfirmed: Vec<(Uuid, u32)> = self
            .cases
            .values()
            .filter(|held| held.record.generation < generation)
            .map(|held| (held.record.case.id, held.record.generation))
            .collect();
        if unconfirmed.iter().any(|(_, g)| *g == UNCONFIRMED) {
            fx.pull = true;
        }
        for (id, _) in unconfirmed {
            self.remove_case(id, fx);
        }
        let cases = &self.cases;
        self.notes.retain(|case_id, notes| {
            let held = cases.contains_key(case_id);
            notes.retain(|note_id, note| {
                let keep = held && note.generation == generation;
                if !keep {
                    fx.note_changed(*case_id, *note_id);
                }
                keep
            });
            !notes.is_empty()
        });
    }

    fn prune(&mut self, now: Millis, fx: &mut Effects) {
        let working_set = self.working_set();
        let aged_out: Vec<Uuid> = self
            .cases
            .values()
            .filter(|held| !working_set.keeps(&held.record.case, now))
            .map(|held| held.record.case.id)
            .collect();
        for id in aged_out {
            self.remove_case(id, fx);
        }
        // While a download runs, a note may still be waiting for its case's page.
        if self.meta.snapshot == Snapshot::Complete {
            let orphans: Vec<Uuid> = self
                .notes
                .keys()
                .filter(|case_id| !self.cases.contains_key(case_id))
                .copied()
                .collect();
            for case_id in orphans {
                self.remove_case(case_id, fx);
            }
        }
        let forget_before = now - TOMBSTONE_KEPT;
        self.tombstones.retain(|id, tombstone| {
            let keep = tombstone.seen_at >= forget_before;
            if !keep {
                fx.dirty.insert(Dirty::Tombstone(*id));
            }
            keep
        });
    }

    fn shrink(&mut self, fx: &mut Effects) {
        if self.meta.extent != Extent::Shrunk {
            self.meta.extent = Extent::Shrunk;
            fx.dirty.insert(Dirty::Meta);
        }
        let working_set = self.working_set();
        let dropped: Vec<Uuid> = self
            .cases
            .values()
            .filter(|held| !working_set.admits(&held.record.case))
            .map(|held| held.record.case.id)
            .collect();
        for id in dropped {
            self.remove_case(id, fx);
        }
    }

    fn finish(&self, fx: Effects) -> Vec<ReplicaCommand> {
        let mut commands = Vec::new();
        if !fx.dirty.is_empty() {
            let mut batch = StoreBatch::default();
            for dirty in fx.dirty {
                let record = match dirty {
                    Dirty::Meta => Some(ReplicaRecord::Meta(self.meta.clone())),
                    Dirty::Case(id) => self
                        .cases
                        .get(&id)
                        .map(|held| ReplicaRecord::Case(held.record.clone())),
                    Dirty::Note { case, note } => self
                        .notes
                        .get(&case)
                        .and_then(|notes| notes.get(&note))
                        .cloned()
                        .map(ReplicaRecord::Note),
                    Dirty::Tombstone(id) => self
                        .tombstones
                        .get(&id)
                        .cloned()
                        .map(ReplicaRecord::Tombstone),
                };
                match record {
                    Some(record) => batch.put.push(record),
                    None => batch.delete.push(dirty.key()),
                }
            }
            commands.push(ReplicaCommand::Store(batch));
        }
        if !fx.cases.is_empty() || !fx.notes_of.is_empty() {
            commands.push(ReplicaCommand::Notify(ReplicaChanged {
                cases: fx.cases.into_iter().collect(),
                notes_of: fx.notes_of.into_iter().collect(),
            }));
        }
        if fx.pull {
            commands.push(ReplicaCommand::Pull(self.pull_from()));
        }
        commands
    }
}

impl Dirty {
    fn key(self) -> RecordKey {
        match self {
            Self::Meta => RecordKey::Meta,
            Self::Case(id) => RecordKey::Case(id),
            Self::Note { note, .. } => RecordKey::Note(note),
            Self::Tombstone(id) => RecordKey::Tombstone(id),
        }
    }
}

/// The replica as the overlay's known cases: a deleted case is known to be gone.
impl KnownCases for Replica {
    fn known_case(&self, id: Uuid) -> Option<&Case> {
        self.case(id)
    }

    fn known_absent(&self, id: Uuid) -> bool {
        self.tombstones.contains_key(&id)
    }
}
