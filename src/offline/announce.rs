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

/// Said once storage works again.
pub const STORAGE_BACK: &str = "Changes are saved on this device again.";
