//! What the person is told about the queue, in plain sentences: the alerts, the storage
//! banner, and why a change was given up. The one place the write side's data (notices,
//! death reasons) becomes words.

use crate::words::Describe;
use casedesk_core::merge::CaseField;
use casedesk_core::queue::ActionSummary;
use casedesk_core::{DeathReason, DurationMs, QueueNotice};

/// The alert a notice raises, if any: `(is_error, sentence)`.
pub fn sentence(notice: &QueueNotice) -> Option<(bool, String)> {
    match notice {
        QueueNotice::Confirmed { .. } => None,
        QueueNotice::RolledBack { what, reason, .. } => Some((
            true,
            format!(
                "Undone: {}. {}",
                describe_action(what),
                death_reason(reason)
            ),
        )),
        QueueNotice::NeedsChoice { what, .. } => Some((
            true,
            format!(
                "{} clashes with a change made elsewhere: open the case and choose \
                 “Keep mine” or “Use theirs”.",
                describe_action(what)
            ),
        )),
        QueueNotice::Discarded {
            what, dependents, ..
        } => Some((false, {
            let description = describe_action(what);
            match dependents {
                0 => format!("Discarded: {description}."),
                1 => format!("Discarded: {description}, and 1 change that depended on it."),
                n => format!("Discarded: {description}, and {n} changes that depended on it."),
            }
        })),
        QueueNotice::SignInNeeded => Some((
            true,
            "Your session has ended. Sign in again to send your changes; they are kept until then."
                .to_owned(),
        )),
    }
}

/// The banner text while storage fails.
pub fn memory_only(reason: &str) -> String {
    format!(
        "Changes are kept in memory only: {reason}. They are still sent, but closing this tab \
         before they are would lose them."
    )
}

/// The banner while the stored queue belongs to a newer casedesk.
pub const NEWER_VERSION: &str = "This device holds changes saved by a newer version of casedesk. \
     They are kept as they are; reload the page to get the newer version, which sends them. \
     Until then, changes made here are sent but not kept on this device: closing this tab \
     before they are sent would lose them.";

/// Said when a newer casedesk in another tab takes the stored queue over.
pub const SUPERSEDED: &str = "casedesk was updated in another tab. Reload this tab to keep \
     working: every change made here is saved on this device, and the updated tab sends it.";

/// Said at start-up when stored changes could not be read.
pub fn unreadable(count: usize) -> String {
    let what = if count == 1 {
        "1 stored change could not be read".to_owned()
    } else {
        format!("{count} stored changes could not be read")
    };
    format!(
        "{what} (saved by another version of casedesk, or damaged). It is kept on this device \
         and not sent; the Sync page lists it, to export or discard."
    )
}

/// Said once storage works again.
pub const STORAGE_BACK: &str = "Changes are saved on this device again.";

/// What an action does, in a few words: `Create “Printer jams”`.
pub fn describe_action(summary: &ActionSummary) -> String {
    match summary {
        ActionSummary::Create { title } => format!("Create “{title}”"),
        ActionSummary::Change {
            fields,
            new_status,
            title,
        } => {
            let names: Vec<&str> = fields
                .iter()
                .map(|field| match field {
                    CaseField::Title => "title",
                    CaseField::Description => "description",
                    CaseField::Status => new_status.map_or("status", |s| s.label()),
                    CaseField::Priority => "priority",
                    CaseField::Assignee => "assignee",
                    CaseField::Tags => "tags",
                })
                .collect();
            format!("Change {} of “{title}”", names.join(", "))
        }
        ActionSummary::Delete { title: Some(title) } => format!("Delete “{title}”"),
        ActionSummary::Delete { title: None } => "Delete a case".to_owned(),
        ActionSummary::AddNote => "Add a note".to_owned(),
    }
}

/// Why a change was given up, as a sentence.
pub fn death_reason(reason: &DeathReason) -> String {
    match reason {
        DeathReason::Refused(failure) => failure.describe(),
        DeathReason::GaveUp { attempts, last } => {
            format!("Gave up after {attempts} attempts: {}", last.describe())
        }
        DeathReason::Expired { retention, last } => format!(
            "Still failing after {}: {}",
            readable_duration(*retention),
            last.describe()
        ),
        DeathReason::ConflictUnreadable(failure) => format!(
            "The case changed on the server, and its new version could not be read: {}",
            failure.describe()
        ),
        DeathReason::UnexpectedConflict { status } => {
            format!("The server refused ({status}): the case changed.")
        }
        DeathReason::CaseNotCreated { title } => {
            format!("Not sent because creating “{title}” failed.")
        }
        DeathReason::Described(words) => words.clone(),
    }
}

/// `7 days`, `1 hour`, `30 minutes`.
fn readable_duration(duration: DurationMs) -> String {
    let minutes = duration.0 / 60_000;
    let (count, unit) = if minutes >= 24 * 60 && minutes.is_multiple_of(24 * 60) {
        (minutes / (24 * 60), "day")
    } else if minutes >= 60 && minutes.is_multiple_of(60) {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use casedesk_core::Failure;
    use wasm_bindgen_test::wasm_bindgen_test;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn durations_read_plainly() {
        assert_eq!(
            readable_duration(DurationMs::from_mins(7 * 24 * 60)),
            "7 days"
        );
        assert_eq!(readable_duration(DurationMs::from_mins(60)), "1 hour");
        assert_eq!(readable_duration(DurationMs::from_mins(90)), "90 minutes");
        assert_eq!(readable_duration(DurationMs::from_mins(1)), "1 minute");
    }

    #[wasm_bindgen_test]
    fn reasons_read_as_the_previous_release_wrote_them() {
        let expired = DeathReason::Expired {
            retention: DurationMs::from_mins(7 * 24 * 60),
            last: Failure::Timeout,
        };
        assert_eq!(
            death_reason(&expired),
            "Still failing after 7 days: The server took too long to answer."
        );
        let cascade = DeathReason::CaseNotCreated {
            title: "New printer".into(),
        };
        assert_eq!(
            death_reason(&cascade),
            "Not sent because creating “New printer” failed."
        );
        let stored = DeathReason::Described("The server refused (422): no".into());
        assert_eq!(death_reason(&stored), "The server refused (422): no");
    }
}
