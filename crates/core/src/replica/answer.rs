//! A page of the case list answered on the device: the replica's cases with the pending
//! actions applied, filtered, searched, sorted and paged by the model's rules (the same the
//! server's SQL follows), and how completely the device could answer.
//!
//! The overlay's list view places changed cases on a page whose neighbours it cannot see;
//! here every candidate is on the device, so each case touched by a pending action is taken
//! as the overlay shows it ([`case_view`]) and the whole list is simply sorted again.

use super::working_set::Coverage;
use super::{Replica, Snapshot};
use crate::action::{Action, ActionKind};
use crate::clock::Millis;
use crate::key::ListKey;
use crate::overlay::{case_view, KnownCases};
use casedesk_model::list::SortKey;
use casedesk_model::{Case, CaseList};
use std::collections::{btree_map, BTreeMap};
use uuid::Uuid;

/// A page of the list from the device.
#[derive(Clone, Debug, PartialEq)]
pub struct ListAnswer {
    pub list: CaseList,
    pub coverage: Coverage,
}

impl Replica {
    /// The page `key` asks for, from the cases held with `pending` (live actions, oldest
    /// first) applied on top, as of `now`. `known` is what else the client knows of cases
    /// (the query cache): an action on a case outside the working set starts from it, and a
    /// copy newer than the replica's (a fetch that overtook the feed) wins.
    pub fn answer<'a>(
        &self,
        key: &ListKey,
        pending: impl IntoIterator<Item = &'a Action>,
        known: &dyn KnownCases,
        now: Millis,
    ) -> ListAnswer {
        let query = match &self.meta.me {
            Some(me) => key.query().resolve_me(me),
            None => key.query().clone(),
        };
        let shown = self.pending_views(pending, known);
        let filter = query.filter();
        // Both maps are ordered by id: walking them together skips the touched cases at the
        // cost of one comparison each.
        let mut touched = shown.keys().peekable();
        let held = self
            .cases
            .iter()
            .filter(|(id, _)| {
                while touched.next_if(|touched| touched < id).is_some() {}
                touched.peek() != Some(id)
            })
            .map(|(_, held)| held)
            .filter(|held| filter.matches_folded(&held.record.case, &held.folded))
            .map(|held| &held.record.case);
        let changed = shown.values().flatten().filter(|case| filter.matches(case));
        let sort = query.sort;
        let mut matching: Vec<(SortKey, &Case)> = held
            .chain(changed)
            .map(|case| (sort.key(case), case))
            .collect();
        let total = matching.len() as u64;
        let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let per_page = usize::try_from(query.per_page).unwrap_or(usize::MAX);
        // Only the pages up to this one need their order.
        let needed = offset.saturating_add(per_page);
        crate::sort::sort_first_by_key(&mut matching, needed, |(key, _)| *key);
        let items: Vec<Case> = matching
            .into_iter()
            .skip(offset)
            .take(per_page)
            .map(|(_, case)| case.clone())
            .collect();
        let coverage = match self.meta.snapshot {
            Snapshot::Complete => self.working_set().coverage(&query, &items, now),
            Snapshot::Downloading { .. } => Coverage::Partial,
        };
        ListAnswer {
            list: CaseList {
                items,
                total,
                page: query.page,
                per_page: query.per_page,
            },
            coverage,
        }
    }

    /// Each case a pending action touches, as the overlay shows it (`None`: deleted, or an
    /// update of a case nobody here knows).
    fn pending_views<'a>(
        &self,
        pending: impl IntoIterator<Item = &'a Action>,
        known: &dyn KnownCases,
    ) -> BTreeMap<Uuid, Option<Case>> {
        let pending: Vec<&Action> = pending.into_iter().collect();
        let mut shown = BTreeMap::new();
        for action in &pending {
            if matches!(action.kind, ActionKind::AddNote { .. }) {
                continue;
            }
            let id = action.case_id();
            if let btree_map::Entry::Vacant(slot) = shown.entry(id) {
                slot.insert(case_view(
                    id,
                    self.server_case(id, known),
                    pending.iter().copied(),
                ));
            }
        }
        shown
    }

    /// The server's case `id` as best known: the later of the replica's and `known`'s copies;
    /// none once the feed said it was deleted.
    fn server_case<'k>(&'k self, id: Uuid, known: &'k dyn KnownCases) -> Option<&'k Case> {
        if self.tombstones.contains_key(&id) {
            return None;
        }
        let other = known.known_case(id);
        match (self.case(id), other) {
            (Some(held), Some(other)) if other.version > held.version => Some(other),
            (Some(held), _) => Some(held),
            (None, other) => other,
        }
    }
}
