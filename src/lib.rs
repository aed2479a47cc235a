//! casedesk: the app.
