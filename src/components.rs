//! Pieces of the layout and of several pages.

pub mod alert_region;
pub mod sync_indicator;
