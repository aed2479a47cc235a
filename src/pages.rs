//! One module per route of docs/api.md §2. Pages stay thin: they read through the query
//! layer and write through actions.

pub mod account;
pub mod case_detail;
pub mod cases;
pub mod dashboard;
pub mod devtools;
pub mod new_case;
pub mod not_found;
pub mod people;
pub mod settings;
pub mod sign_in;
pub mod sync;
