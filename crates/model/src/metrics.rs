//! The dashboard's numbers (`GET /dashboard/metrics`).

use crate::{CaseStatus, Priority, Timestamp};
use serde::{Deserialize, Serialize};

/// How many cases are in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub open: u64,
    pub in_progress: u64,
    pub resolved: u64,
    pub closed: u64,
}

impl StatusCounts {
    pub fn get(&self, status: CaseStatus) -> u64 {
        match status {
            CaseStatus::Open => self.open,
            CaseStatus::InProgress => self.in_progress,
            CaseStatus::Resolved => self.resolved,
            CaseStatus::Closed => self.closed,
        }
    }

    pub fn get_mut(&mut self, status: CaseStatus) -> &mut u64 {
        match status {
            CaseStatus::Open => &mut self.open,
            CaseStatus::InProgress => &mut self.in_progress,
            CaseStatus::Resolved => &mut self.resolved,
            CaseStatus::Closed => &mut self.closed,
        }
    }

    pub fn total(&self) -> u64 {
        self.open + self.in_progress + self.resolved + self.closed
    }
}

/// How many cases have each priority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityCounts {
    pub low: u64,
    pub medium: u64,
    pub high: u64,
    pub critical: u64,
}

impl PriorityCounts {
    pub fn get(&self, priority: Priority) -> u64 {
        match priority {
            Priority::Low => self.low,
            Priority::Medium => self.medium,
            Priority::High => self.high,
            Priority::Critical => self.critical,
        }
    }

    pub fn get_mut(&mut self, priority: Priority) -> &mut u64 {
        match priority {
            Priority::Low => &mut self.low,
            Priority::Medium => &mut self.medium,
            Priority::High => &mut self.high,
            Priority::Critical => &mut self.critical,
        }
    }
}

/// A count on one UTC day (`2026-10-23`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    pub date: String,
    pub count: u64,
}

/// Number of days the per-day series cover.
pub const SERIES_DAYS: usize = 30;

/// The dashboard's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardMetrics {
    pub by_status: StatusCounts,
    pub by_priority: PriorityCounts,
    /// The last 30 UTC days, oldest first, one entry per day, zeros included.
    pub opened_per_day: Vec<DayCount>,
    /// Same days as `opened_per_day`: cases that reached `resolved` that day.
    pub resolved_per_day: Vec<DayCount>,
    /// Mean time from creation to resolution, over resolved and closed cases; `None` when
    /// no case has been resolved yet.
    pub mean_hours_to_resolve: Option<f64>,
    pub generated_at: Timestamp,
}
