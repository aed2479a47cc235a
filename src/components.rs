//! Pieces of the layout and of several pages. Each takes plain data (or signals of it), so
//! it can be tested in the browser without a server; pages connect them to the data layer.

pub mod alert_region;
pub mod badges;
pub mod case_form;
pub mod charts;
pub mod conflict_panel;
pub mod field_errors;
pub mod local_time;
pub mod metric_card;
pub mod queue_depth;
pub mod reload_banner;
pub mod shortcuts;
pub mod skeleton;
pub mod sync_indicator;
