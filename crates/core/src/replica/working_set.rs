//! The working set (`docs/api.md` §6): which cases a person's device keeps (open or in
//! progress, assigned to them, or updated in the last 90 days), the smaller set kept when
//! storage runs out, and which list queries the cases kept answer completely.

use crate::clock::{DurationMs, Millis};
use casedesk_model::{AssigneeFilter, Case, CaseListQuery, CaseSort, CaseStatus};
use serde::{Deserialize, Serialize};

const DAY: DurationMs = DurationMs(86_400_000);

/// How long a case that is neither active nor the person's stays after its last update.
pub const WINDOW: DurationMs = DurationMs(90 * DAY.0);

/// How far the device's clock may disagree with the server's before a page read against the
/// window (see [`Coverage::ItemsComplete`]) could miss a case the server still lists.
const CLOCK_MARGIN: DurationMs = DAY;

/// How much of the working set the device keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extent {
    /// All of it.
    #[default]
    Whole,
    /// Storage ran out: only the cases assigned to the person and the active ones (open or in
    /// progress). Recent but settled cases of others are dropped, and not taken in.
    Shrunk,
}

/// How completely the device answers a list query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Every case the query admits is on the device: the items and the total are the server's.
    Complete,
    /// The page's items are the server's, but older cases the device does not keep may match
    /// too: the total is a lower bound. A full page, newest first, ending inside the window.
    ItemsComplete,
    /// The device holds only part of what the query admits: the server completes it.
    Partial,
}

/// The working set's rule for one person (`me`, their id as cases name an assignee; `None`
/// without people) at one extent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkingSet<'a> {
    pub(crate) me: Option<&'a str>,
    pub(crate) extent: Extent,
}

impl WorkingSet<'_> {
    /// Whether the device takes `case` in when the feed brings it: every case, unless shrunk.
    pub(crate) fn admits(&self, case: &Case) -> bool {
        match self.extent {
            Extent::Whole => true,
            Extent::Shrunk => is_active(case.status) || self.is_mine(case),
        }
    }

    /// Whether the device still keeps `case` at `now` (what a prune leaves).
    pub(crate) fn keeps(&self, case: &Case, now: Millis) -> bool {
        self.admits(case)
            && (is_active(case.status) || self.is_mine(case) || updated_since(case, now - WINDOW))
    }

    fn is_mine(&self, case: &Case) -> bool {
        self.me.is_some() && case.assignee.as_deref() == self.me
    }

    /// How completely the cases kept answer `query` (with `me` resolved), whose page, as the
    /// device computed it, is `page`. Only meaningful once the working set is whole on the
    /// device; the caller says `Partial` before that.
    pub(crate) fn coverage(&self, query: &CaseListQuery, page: &[Case], now: Millis) -> Coverage {
        let active_only = query.status.is_some_and(is_active);
        let mine_only = match (&query.assignee, self.me) {
            (Some(AssigneeFilter::Person(id)), Some(me)) => id == me,
            _ => false,
        };
        if active_only || mine_only {
            return Coverage::Complete;
        }
        // Newest first, every case the server lists before one inside the window is inside it
        // too, so on the device. A case created inside the window was updated inside it.
        let last_time = page.last().and_then(|last| match query.sort {
            CaseSort::UpdatedDesc => Some(last.updated_at),
            CaseSort::CreatedDesc => Some(last.created_at),
            _ => None,
        });
        let full = page.len() as u64 >= u64::from(query.per_page);
        let window_start = millis_as_i64(now - WINDOW + CLOCK_MARGIN);
        match (self.extent, last_time) {
            (Extent::Whole, Some(time)) if full && time.unix_millis() > window_start => {
                Coverage::ItemsComplete
            }
            _ => Coverage::Partial,
        }
    }
}

/// Open or in progress: kept whoever works on it and however old.
fn is_active(status: CaseStatus) -> bool {
    matches!(status, CaseStatus::Open | CaseStatus::InProgress)
}

fn updated_since(case: &Case, start: Millis) -> bool {
    case.updated_at.unix_millis() >= millis_as_i64(start)
}

fn millis_as_i64(at: Millis) -> i64 {
    i64::try_from(at.0).unwrap_or(i64::MAX)
}
