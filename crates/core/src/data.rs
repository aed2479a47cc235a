//! What a query can hold: the closed set of server answers the app caches. A closed enum
//! (rather than type-erased values) lets the overlay change each kind with real types and
//! lets the cache persist itself as plain JSON.

use casedesk_model::{Case, CaseList, DashboardMetrics, HistoryEntry, Note, Person};
use serde::{Deserialize, Serialize};

/// One cached server answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QueryData {
    Case(Case),
    CaseList(CaseList),
    Notes(Vec<Note>),
    Metrics(DashboardMetrics),
    /// `GET /users`: everyone a case can be assigned to.
    Users(Vec<Person>),
    /// `GET /cases/{id}/history`, oldest first.
    History(Vec<HistoryEntry>),
}

impl QueryData {
    pub fn as_case(&self) -> Option<&Case> {
        match self {
            Self::Case(case) => Some(case),
            _ => None,
        }
    }

    pub fn as_case_list(&self) -> Option<&CaseList> {
        match self {
            Self::CaseList(list) => Some(list),
            _ => None,
        }
    }

    pub fn as_notes(&self) -> Option<&Vec<Note>> {
        match self {
            Self::Notes(notes) => Some(notes),
            _ => None,
        }
    }

    pub fn as_users(&self) -> Option<&Vec<Person>> {
        match self {
            Self::Users(people) => Some(people),
            _ => None,
        }
    }

    pub fn as_history(&self) -> Option<&Vec<HistoryEntry>> {
        match self {
            Self::History(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_metrics(&self) -> Option<&DashboardMetrics> {
        match self {
            Self::Metrics(metrics) => Some(metrics),
            _ => None,
        }
    }
}
