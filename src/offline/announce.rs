//! What the person is told about the queue, in plain sentences for the alert region.

use casedesk_core::QueueNotice;

/// The alert a notice raises, if any: `(is_error, sentence)`.
pub fn sentence(notice: &QueueNotice) -> Option<(bool, String)> {
    match notice {
        QueueNotice::Confirmed { .. } => None,
        QueueNotice::RolledBack {
            description,
            reason,
            ..
        } => Some((true, format!("Undone: {description}. {reason}"))),
        QueueNotice::NeedsChoice { description, .. } => Some((
            true,
            format!(
                "{description} clashes with a change made elsewhere: open the case and choose \
                 “Keep mine” or “Use theirs”."
            ),
        )),
        QueueNotice::Discarded {
            description,
            dependents,
            ..
        } => Some((
            false,
            match dependents {
                0 => format!("Discarded: {description}."),
                1 => format!("Discarded: {description}, and 1 change that depended on it."),
                n => format!("Discarded: {description}, and {n} changes that depended on it."),
            },
        )),
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
