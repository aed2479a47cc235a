//! The three-way merge a 412 calls for: the case the person edited (base), their patch
//! (mine) and the server's current case (theirs), compared field by field. Fields only I
//! changed go out again on the new version; fields both sides changed differently go to the
//! person, or to a configured policy.

use casedesk_model::{Case, CasePatch, CaseStatus, Priority};
use serde::{Deserialize, Serialize};

/// One editable field of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseField {
    Title,
    Description,
    Status,
    Priority,
    Assignee,
    Tags,
}

impl CaseField {
    /// Every field, in the order forms show them.
    pub const ALL: [CaseField; 6] = [
        Self::Title,
        Self::Description,
        Self::Status,
        Self::Priority,
        Self::Assignee,
        Self::Tags,
    ];

    /// The name a person reads (`Assignee`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Title => "Title",
            Self::Description => "Description",
            Self::Status => "Status",
            Self::Priority => "Priority",
            Self::Assignee => "Assignee",
            Self::Tags => "Tags",
        }
    }

    /// Whether `patch` sets this field.
    pub fn is_in(self, patch: &CasePatch) -> bool {
        match self {
            Self::Title => patch.title.is_some(),
            Self::Description => patch.description.is_some(),
            Self::Status => patch.status.is_some(),
            Self::Priority => patch.priority.is_some(),
            Self::Assignee => patch.assignee.is_some(),
            Self::Tags => patch.tags.is_some(),
        }
    }

    /// This field's value in `case`.
    pub fn value_in(self, case: &Case) -> FieldValue {
        match self {
            Self::Title => FieldValue::Text(case.title.clone()),
            Self::Description => FieldValue::Text(case.description.clone()),
            Self::Status => FieldValue::Status(case.status),
            Self::Priority => FieldValue::Priority(case.priority),
            Self::Assignee => FieldValue::Assignee(case.assignee.clone()),
            Self::Tags => FieldValue::Tags(case.tags.clone()),
        }
    }
}

/// A field's value, typed, so the conflict panel can show it and a choice can send it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum FieldValue {
    /// Title or description.
    Text(String),
    Status(CaseStatus),
    Priority(Priority),
    /// `None` is "nobody".
    Assignee(Option<String>),
    Tags(Vec<String>),
}

impl FieldValue {
    /// The value as a person reads it (`Unassigned`, `hardware, network`).
    pub fn display(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Status(status) => status.label().to_owned(),
            Self::Priority(priority) => priority.label().to_owned(),
            Self::Assignee(Some(name)) => name.clone(),
            Self::Assignee(None) => "Unassigned".to_owned(),
            Self::Tags(tags) if tags.is_empty() => "No tags".to_owned(),
            Self::Tags(tags) => tags.join(", "),
        }
    }

    /// Writes this value into `patch` as `field`. A value of the wrong kind for the field
    /// is ignored: it cannot come from `CaseField::value_in`.
    fn set_in(&self, field: CaseField, patch: &mut CasePatch) {
        match (field, self) {
            (CaseField::Title, Self::Text(text)) => patch.title = Some(text.clone()),
            (CaseField::Description, Self::Text(text)) => patch.description = Some(text.clone()),
            (CaseField::Status, Self::Status(status)) => patch.status = Some(*status),
            (CaseField::Priority, Self::Priority(priority)) => patch.priority = Some(*priority),
            (CaseField::Assignee, Self::Assignee(assignee)) => {
                patch.assignee = Some(assignee.clone());
            }
            (CaseField::Tags, Self::Tags(tags)) => patch.tags = Some(tags.clone()),
            _ => {}
        }
    }
}

/// One field both sides changed, to different values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldConflict {
    pub field: CaseField,
    /// What the person saw before editing.
    pub base: FieldValue,
    /// What the person set.
    pub mine: FieldValue,
    /// What the server holds now.
    pub theirs: FieldValue,
}

/// What to do with fields both sides changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Merge the fields only one side changed; show the fields both changed and let the
    /// person choose ("Keep mine" / "Use theirs").
    #[default]
    Ask,
    /// Merge nothing by itself: whenever the case changed on the server, show every field
    /// of my change next to the server's value and let the person choose.
    AskAlways,
    /// The server's value stands; my conflicting fields are dropped.
    ServerWins,
    /// My value is sent again over theirs.
    ClientWins,
}

/// The merge's verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum MergeOutcome {
    /// Nothing left to ask: send `patch` with `If-Match: if_match`. An empty patch means the
    /// server already holds everything I wanted, and the action is simply done.
    Resend {
        patch: CasePatch,
        if_match: u64,
        /// The new base of the edit: the server's case.
        base: Case,
    },
    /// Some fields need the person: `auto_patch` holds the fields that merged on their own.
    NeedsChoice {
        auto_patch: CasePatch,
        conflicts: Vec<FieldConflict>,
    },
}

/// Which side a person keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Mine,
    Theirs,
}

/// A person's answer to a conflict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictChoice {
    /// The same side for every conflicting field.
    All(Side),
    /// A side per field; a conflicting field not named here keeps theirs.
    PerField(Vec<(CaseField, Side)>),
}

impl ConflictChoice {
    fn side_for(&self, field: CaseField) -> Side {
        match self {
            Self::All(side) => *side,
            Self::PerField(choices) => choices
                .iter()
                .find(|(named, _)| *named == field)
                .map_or(Side::Theirs, |(_, side)| *side),
        }
    }
}

/// Merges `mine` (made on `base`) with the server's current `theirs`, field by field:
/// theirs equal to mine → nothing to send; theirs equal to base → mine applies; otherwise a
/// conflict, settled by `policy` or left to the person.
///
/// Values are compared as the server stores them (title trimmed, blank assignee as none), so
/// a patch that differs only in spacing is not a conflict.
pub fn merge(base: &Case, mine: &CasePatch, theirs: &Case, policy: ConflictPolicy) -> MergeOutcome {
    let mine_case = base.with_patch(mine);
    let mut auto_patch = CasePatch::default();
    let mut conflicts = Vec::new();
    for field in CaseField::ALL {
        if !field.is_in(mine) {
            continue;
        }
        let mine_value = field.value_in(&mine_case);
        let theirs_value = field.value_in(theirs);
        if theirs_value == mine_value {
            continue;
        }
        let base_value = field.value_in(base);
        if theirs_value == base_value && policy != ConflictPolicy::AskAlways {
            mine_value.set_in(field, &mut auto_patch);
            continue;
        }
        match policy {
            ConflictPolicy::ServerWins => {}
            ConflictPolicy::ClientWins => mine_value.set_in(field, &mut auto_patch),
            ConflictPolicy::Ask | ConflictPolicy::AskAlways => conflicts.push(FieldConflict {
                field,
                base: base_value,
                mine: mine_value,
                theirs: theirs_value,
            }),
        }
    }
    if conflicts.is_empty() {
        MergeOutcome::Resend {
            patch: auto_patch,
            if_match: theirs.version,
            base: theirs.clone(),
        }
    } else {
        MergeOutcome::NeedsChoice {
            auto_patch,
            conflicts,
        }
    }
}

/// The patch a person's `choice` makes: the automatic part plus every conflicting field they
/// kept. It is sent against the version of the `theirs` the conflicts were found with.
pub fn resolve(
    auto_patch: &CasePatch,
    conflicts: &[FieldConflict],
    choice: &ConflictChoice,
) -> CasePatch {
    let mut patch = auto_patch.clone();
    for conflict in conflicts {
        if choice.side_for(conflict.field) == Side::Mine {
            conflict.mine.set_in(conflict.field, &mut patch);
        }
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use casedesk_model::Timestamp;
    use uuid::Uuid;

    fn base() -> Case {
        Case {
            created_by: None,
            updated_by: None,
            id: Uuid::from_u128(7),
            title: "Printer jams".into(),
            description: "Floor 3".into(),
            status: CaseStatus::Open,
            priority: Priority::Medium,
            assignee: Some("dana".into()),
            tags: vec!["hardware".into()],
            created_at: Timestamp::from_unix_millis(0).unwrap(),
            updated_at: Timestamp::from_unix_millis(0).unwrap(),
            version: 3,
        }
    }

    /// A patch setting one field to the "mine" value, and a case with that field set to a
    /// different "theirs" value.
    fn mine_and_other(field: CaseField) -> (CasePatch, CasePatch) {
        let mut mine = CasePatch::default();
        let mut other = CasePatch::default();
        match field {
            CaseField::Title => {
                mine.title = Some("Printer jams daily".into());
                other.title = Some("Printer broken".into());
            }
            CaseField::Description => {
                mine.description = Some("Floor 3, east".into());
                other.description = Some("Floor 3, west".into());
            }
            CaseField::Status => {
                mine.status = Some(CaseStatus::Resolved);
                other.status = Some(CaseStatus::InProgress);
            }
            CaseField::Priority => {
                mine.priority = Some(Priority::High);
                other.priority = Some(Priority::Low);
            }
            CaseField::Assignee => {
                mine.assignee = Some(Some("lee".into()));
                other.assignee = Some(Some("sam".into()));
            }
            CaseField::Tags => {
                mine.tags = Some(vec!["hardware".into(), "urgent".into()]);
                other.tags = Some(vec![]);
            }
        }
        (mine, other)
    }

    fn theirs_with(patch: &CasePatch) -> Case {
        let mut theirs = base().with_patch(patch);
        theirs.version = 4;
        theirs
    }

    #[test]
    fn a_field_only_i_changed_is_resent_on_their_version() {
        for field in CaseField::ALL {
            let (mine, _) = mine_and_other(field);
            // They changed some other field.
            let theirs_patch = if field == CaseField::Title {
                mine_and_other(CaseField::Tags).1
            } else {
                mine_and_other(CaseField::Title).1
            };
            let theirs = theirs_with(&theirs_patch);
            let outcome = merge(&base(), &mine, &theirs, ConflictPolicy::Ask);
            assert_eq!(
                outcome,
                MergeOutcome::Resend {
                    patch: mine.clone(),
                    if_match: 4,
                    base: theirs.clone()
                },
                "{field:?}"
            );
        }
    }

    #[test]
    fn ask_always_asks_even_for_a_field_only_i_changed() {
        for field in CaseField::ALL {
            let (mine, _) = mine_and_other(field);
            let theirs_patch = if field == CaseField::Title {
                mine_and_other(CaseField::Tags).1
            } else {
                mine_and_other(CaseField::Title).1
            };
            let theirs = theirs_with(&theirs_patch);
            let MergeOutcome::NeedsChoice {
                auto_patch,
                conflicts,
            } = merge(&base(), &mine, &theirs, ConflictPolicy::AskAlways)
            else {
                panic!("{field:?}: the person is asked");
            };
            assert!(auto_patch.is_empty(), "{field:?}: nothing merged by itself");
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].field, field);
            assert_eq!(conflicts[0].theirs, field.value_in(&theirs));
            // "Keep mine" sends my change; "Use theirs" sends nothing.
            let keep = resolve(&auto_patch, &conflicts, &ConflictChoice::All(Side::Mine));
            assert_eq!(keep, mine, "{field:?}");
            let drop = resolve(&auto_patch, &conflicts, &ConflictChoice::All(Side::Theirs));
            assert!(drop.is_empty(), "{field:?}");
            // Already what the server holds: nothing to ask.
            assert!(matches!(
                merge(&base(), &mine, &theirs_with(&mine), ConflictPolicy::AskAlways),
                MergeOutcome::Resend { ref patch, .. } if patch.is_empty()
            ));
        }
    }

    #[test]
    fn a_field_both_set_to_the_same_value_needs_nothing() {
        for field in CaseField::ALL {
            let (mine, _) = mine_and_other(field);
            let theirs = theirs_with(&mine);
            let outcome = merge(&base(), &mine, &theirs, ConflictPolicy::Ask);
            assert_eq!(
                outcome,
                MergeOutcome::Resend {
                    patch: CasePatch::default(),
                    if_match: 4,
                    base: theirs.clone()
                },
                "{field:?}"
            );
        }
    }

    #[test]
    fn a_field_both_changed_differently_is_a_conflict_under_every_policy() {
        for field in CaseField::ALL {
            let (mine, other) = mine_and_other(field);
            let theirs = theirs_with(&other);
            let outcome = merge(&base(), &mine, &theirs, ConflictPolicy::Ask);
            let MergeOutcome::NeedsChoice {
                auto_patch,
                conflicts,
            } = outcome
            else {
                panic!("{field:?} should conflict");
            };
            assert!(auto_patch.is_empty());
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].field, field);
            assert_eq!(conflicts[0].base, field.value_in(&base()));
            assert_eq!(conflicts[0].mine, field.value_in(&base().with_patch(&mine)));
            assert_eq!(conflicts[0].theirs, field.value_in(&theirs));

            let server_wins = merge(&base(), &mine, &theirs, ConflictPolicy::ServerWins);
            assert_eq!(
                server_wins,
                MergeOutcome::Resend {
                    patch: CasePatch::default(),
                    if_match: 4,
                    base: theirs.clone()
                }
            );
            let client_wins = merge(&base(), &mine, &theirs, ConflictPolicy::ClientWins);
            assert_eq!(
                client_wins,
                MergeOutcome::Resend {
                    patch: mine.clone(),
                    if_match: 4,
                    base: theirs.clone()
                }
            );

            // "Keep mine" sends my value; "Use theirs" sends nothing for the field.
            let keep = resolve(&auto_patch, &conflicts, &ConflictChoice::All(Side::Mine));
            assert_eq!(keep, mine);
            let drop = resolve(&auto_patch, &conflicts, &ConflictChoice::All(Side::Theirs));
            assert!(drop.is_empty());
        }
    }

    #[test]
    fn every_pair_of_fields_merges_or_conflicts_independently() {
        // Mine sets field a; theirs sets field b (to a different value). Same field: conflict;
        // different fields: my field goes out alone.
        for a in CaseField::ALL {
            for b in CaseField::ALL {
                let (mine, _) = mine_and_other(a);
                let (_, other) = mine_and_other(b);
                let theirs = theirs_with(&other);
                let outcome = merge(&base(), &mine, &theirs, ConflictPolicy::Ask);
                if a == b {
                    assert!(
                        matches!(outcome, MergeOutcome::NeedsChoice { .. }),
                        "{a:?}/{b:?}"
                    );
                } else {
                    assert_eq!(
                        outcome,
                        MergeOutcome::Resend {
                            patch: mine.clone(),
                            if_match: 4,
                            base: theirs.clone()
                        },
                        "{a:?}/{b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unassign_against_reassign_conflicts_and_unassign_against_unassign_does_not() {
        let unassign = CasePatch {
            assignee: Some(None),
            ..CasePatch::default()
        };
        let reassigned = theirs_with(&CasePatch {
            assignee: Some(Some("sam".into())),
            ..CasePatch::default()
        });
        let MergeOutcome::NeedsChoice { conflicts, .. } =
            merge(&base(), &unassign, &reassigned, ConflictPolicy::Ask)
        else {
            panic!("unassign vs reassign should conflict");
        };
        assert_eq!(conflicts[0].mine, FieldValue::Assignee(None));
        assert_eq!(
            conflicts[0].theirs,
            FieldValue::Assignee(Some("sam".into()))
        );
        assert_eq!(conflicts[0].mine.display(), "Unassigned");
        let keep = resolve(
            &CasePatch::default(),
            &conflicts,
            &ConflictChoice::All(Side::Mine),
        );
        assert_eq!(keep.assignee, Some(None));

        let unassigned = theirs_with(&unassign);
        assert_eq!(
            merge(&base(), &unassign, &unassigned, ConflictPolicy::Ask),
            MergeOutcome::Resend {
                patch: CasePatch::default(),
                if_match: 4,
                base: unassigned.clone()
            }
        );
        // Assigning someone when they unassigned: a conflict the other way round.
        let assign = CasePatch {
            assignee: Some(Some("lee".into())),
            ..CasePatch::default()
        };
        assert!(matches!(
            merge(&base(), &assign, &unassigned, ConflictPolicy::Ask),
            MergeOutcome::NeedsChoice { .. }
        ));
    }

    #[test]
    fn spacing_alone_is_not_a_conflict() {
        let mine = CasePatch {
            title: Some("  Printer broken ".into()),
            assignee: Some(Some("   ".into())),
            ..CasePatch::default()
        };
        let theirs = theirs_with(&CasePatch {
            title: Some("Printer broken".into()),
            assignee: Some(None),
            ..CasePatch::default()
        });
        assert_eq!(
            merge(&base(), &mine, &theirs, ConflictPolicy::Ask),
            MergeOutcome::Resend {
                patch: CasePatch::default(),
                if_match: 4,
                base: theirs.clone()
            }
        );
    }

    #[test]
    fn mixed_patch_keeps_the_automatic_part_and_asks_for_the_rest() {
        let mine = CasePatch {
            title: Some("Printer jams daily".into()),
            status: Some(CaseStatus::Resolved),
            priority: Some(Priority::High),
            ..CasePatch::default()
        };
        // They set the same priority, a different status, and left the title alone.
        let theirs = theirs_with(&CasePatch {
            status: Some(CaseStatus::Closed),
            priority: Some(Priority::High),
            ..CasePatch::default()
        });
        let MergeOutcome::NeedsChoice {
            auto_patch,
            conflicts,
        } = merge(&base(), &mine, &theirs, ConflictPolicy::Ask)
        else {
            panic!("status should conflict");
        };
        assert_eq!(
            auto_patch,
            CasePatch {
                title: Some("Printer jams daily".into()),
                ..CasePatch::default()
            }
        );
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].field, CaseField::Status);

        let per_field = ConflictChoice::PerField(vec![(CaseField::Status, Side::Mine)]);
        let patch = resolve(&auto_patch, &conflicts, &per_field);
        assert_eq!(patch.status, Some(CaseStatus::Resolved));
        assert_eq!(patch.title.as_deref(), Some("Printer jams daily"));
        // A field the choice does not name keeps theirs.
        let unnamed = ConflictChoice::PerField(vec![(CaseField::Title, Side::Mine)]);
        assert_eq!(resolve(&auto_patch, &conflicts, &unnamed), auto_patch);
    }

    #[test]
    fn values_read_plainly() {
        assert_eq!(FieldValue::Tags(vec![]).display(), "No tags");
        assert_eq!(
            FieldValue::Tags(vec!["a".into(), "b".into()]).display(),
            "a, b"
        );
        assert_eq!(
            FieldValue::Status(CaseStatus::InProgress).display(),
            "In progress"
        );
        assert_eq!(CaseField::Assignee.label(), "Assignee");
    }
}
