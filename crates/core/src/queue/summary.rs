//! What an action does, as data: the subject of notices, lists and alerts. The app says it
//! in words (`src/offline/announce.rs`), so the core carries no sentences for people.

use crate::action::{Action, ActionKind};
use crate::merge::CaseField;
use casedesk_model::CaseStatus;
use serde::{Deserialize, Serialize};

/// One action, summed up for a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionSummary {
    /// Creates the case titled `title` (trimmed).
    Create {
        title: String,
    },
    /// Changes `fields` (in form order) of the case titled `title` as the person saw it;
    /// `new_status` is the status it moves to, when the status is among them.
    Change {
        fields: Vec<CaseField>,
        new_status: Option<CaseStatus>,
        title: String,
    },
    /// Deletes the case titled `title`, when it was known.
    Delete {
        title: Option<String>,
    },
    AddNote,
}

impl ActionSummary {
    pub fn of(action: &Action) -> Self {
        match &action.kind {
            ActionKind::CreateCase { case } => Self::Create {
                title: case.title.trim().to_owned(),
            },
            ActionKind::UpdateCase { patch, base, .. } => Self::Change {
                fields: CaseField::ALL
                    .into_iter()
                    .filter(|f| f.is_in(patch))
                    .collect(),
                new_status: patch.status,
                title: base.title.clone(),
            },
            ActionKind::DeleteCase { last_known, .. } => Self::Delete {
                title: last_known.as_ref().map(|case| case.title.clone()),
            },
            ActionKind::AddNote { .. } => Self::AddNote,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::fixtures::*;
    use casedesk_model::{CasePatch, Priority};

    #[test]
    fn a_change_names_its_fields_in_form_order_and_the_new_status() {
        let base = case(1, CaseStatus::Open, Priority::Low, T0);
        let patch = CasePatch {
            tags: Some(vec!["x".into()]),
            status: Some(CaseStatus::Resolved),
            title: Some("New".into()),
            ..CasePatch::default()
        };
        assert_eq!(
            ActionSummary::of(&update_action(1, &base, patch, T0)),
            ActionSummary::Change {
                fields: vec![CaseField::Title, CaseField::Status, CaseField::Tags],
                new_status: Some(CaseStatus::Resolved),
                title: "Case 1".into(),
            }
        );
        let created = create_action(2, 2, "  Printer ", CaseStatus::Open, Priority::High, T0);
        assert_eq!(
            ActionSummary::of(&created),
            ActionSummary::Create {
                title: "Printer".into()
            }
        );
    }
}
