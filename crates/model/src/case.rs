//! A case (an incident, request or ticket), its status and priority, and the bodies that
//! create and change one.

use crate::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// Where a case is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Open,
    InProgress,
    Resolved,
    Closed,
}

impl CaseStatus {
    /// Every status, in the order a case usually moves through them.
    pub const ALL: [CaseStatus; 4] = [Self::Open, Self::InProgress, Self::Resolved, Self::Closed];

    /// The wire name (`in_progress`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InProgress => "in_progress",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// The name a person reads (`In progress`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::InProgress => "In progress",
            Self::Resolved => "Resolved",
            Self::Closed => "Closed",
        }
    }

    /// Reads a wire name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a case in this status counts as done (resolved or closed).
    pub fn is_done(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed)
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent a case is. Ordered from least to most urgent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    /// Every priority, least urgent first.
    pub const ALL: [Priority; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The wire name (`critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// The name a person reads (`Critical`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }

    /// Reads a wire name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A case as the server holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: Uuid,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub status: CaseStatus,
    pub priority: Priority,
    /// Who works on it: a person's id (as text); `None` when nobody does yet. Without
    /// people (`--no-auth`), the server keeps it as free text.
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Starts at 1 and grows by one on every accepted change; the case's ETag.
    pub version: u64,
    /// Who created it (set by the server from the session); `None` for cases older than
    /// people, and absent from older servers' answers.
    #[serde(default)]
    pub created_by: Option<Uuid>,
    /// Who changed it last (set by the server from the session).
    #[serde(default)]
    pub updated_by: Option<Uuid>,
}

impl Case {
    /// This case with `patch` applied, not touching `version` or `updated_at`.
    pub fn with_patch(&self, patch: &CasePatch) -> Case {
        let mut next = self.clone();
        patch.apply_to(&mut next);
        next
    }
}

/// The body of `POST /cases`: a case without the fields the server assigns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewCase {
    /// Chosen by the client, so a case created offline keeps its id for ever.
    pub id: Uuid,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_status")]
    pub status: CaseStatus,
    #[serde(default = "default_priority")]
    pub priority: Priority,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_status() -> CaseStatus {
    CaseStatus::Open
}

fn default_priority() -> Priority {
    Priority::Medium
}

impl NewCase {
    /// The case this body creates, as of `now`, at version 1.
    pub fn into_case(self, now: Timestamp) -> Case {
        Case {
            id: self.id,
            title: self.title.trim().to_owned(),
            description: self.description,
            status: self.status,
            priority: self.priority,
            assignee: normalise_assignee(self.assignee),
            tags: self.tags,
            created_at: now,
            updated_at: now,
            version: 1,
            created_by: None,
            updated_by: None,
        }
    }
}

/// The body of `PATCH /cases/{id}`: only the fields present change.
///
/// `assignee` distinguishes "leave as is" (absent) from "unassign" (`null`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CasePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CaseStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_or_null",
        serialize_with = "serialize_present"
    )]
    pub assignee: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

impl CasePatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &CasePatch::default()
    }

    /// Writes the present fields into `case` (title trimmed, empty assignee as none).
    pub fn apply_to(&self, case: &mut Case) {
        if let Some(title) = &self.title {
            case.title = title.trim().to_owned();
        }
        if let Some(description) = &self.description {
            case.description.clone_from(description);
        }
        if let Some(status) = self.status {
            case.status = status;
        }
        if let Some(priority) = self.priority {
            case.priority = priority;
        }
        if let Some(assignee) = &self.assignee {
            case.assignee = normalise_assignee(assignee.clone());
        }
        if let Some(tags) = &self.tags {
            case.tags.clone_from(tags);
        }
    }
}

/// A blank or whitespace-only assignee means nobody.
pub fn normalise_assignee(assignee: Option<String>) -> Option<String> {
    assignee
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
}

// A present field deserialises to `Some(value)`, including `Some(None)` for `null`; serde's
// `default` gives `None` for an absent one.
fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn serialize_present<S, T>(value: &Option<Option<T>>, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize,
{
    match value {
        Some(inner) => inner.serialize(serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Case {
        serde_json::from_str(
            r#"{"id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44","title":"Printer on floor 3 jams",
            "description":"…","status":"open","priority":"high","assignee":"dana","tags":["hardware"],
            "created_at":"2026-11-20T09:12:03Z","updated_at":"2026-11-20T09:12:03Z","version":1}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_contract_example_decodes() {
        let case = sample();
        assert_eq!(case.status, CaseStatus::Open);
        assert_eq!(case.priority, Priority::High);
        assert_eq!(case.assignee.as_deref(), Some("dana"));
        assert_eq!(case.version, 1);
    }

    #[test]
    fn unknown_status_is_an_error_not_a_default() {
        let err = serde_json::from_str::<CaseStatus>("\"pending\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant"));
    }

    #[test]
    fn patch_tells_absent_assignee_from_null_assignee() {
        let absent: CasePatch = serde_json::from_str(r#"{"status":"closed"}"#).unwrap();
        assert_eq!(absent.assignee, None);
        let null: CasePatch = serde_json::from_str(r#"{"assignee":null}"#).unwrap();
        assert_eq!(null.assignee, Some(None));
        assert_eq!(
            serde_json::to_string(&null).unwrap(),
            r#"{"assignee":null}"#
        );
        assert_eq!(
            serde_json::to_string(&absent).unwrap(),
            r#"{"status":"closed"}"#
        );

        let mut case = sample();
        absent.apply_to(&mut case);
        assert_eq!(case.assignee.as_deref(), Some("dana"));
        assert_eq!(case.status, CaseStatus::Closed);
        null.apply_to(&mut case);
        assert_eq!(case.assignee, None);
    }

    #[test]
    fn new_case_defaults_and_trims() {
        let body: NewCase = serde_json::from_str(
            r#"{"id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44","title":"  Hi  ","assignee":"  "}"#,
        )
        .unwrap();
        let case = body.into_case(Timestamp::from_unix_millis(0).unwrap());
        assert_eq!(case.title, "Hi");
        assert_eq!(case.status, CaseStatus::Open);
        assert_eq!(case.priority, Priority::Medium);
        assert_eq!(case.assignee, None);
        assert_eq!(case.version, 1);
    }

    #[test]
    fn wire_names_round_trip() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert!(Priority::Critical > Priority::High);
    }
}
