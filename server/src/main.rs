//! The casedesk reference API server.

fn main() {}
