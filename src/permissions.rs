//! What the signed-in person's role lets them do on screen (docs/api.md §4, roles): pages ask
//! [`allows`] before they offer a control that would change data, so a viewer sees none and
//! an agent no "Delete case". The rules themselves are `Role::allows`, the server's own; the
//! server refuses what a role may not do whatever the screen shows.

use crate::session::use_session;
use casedesk_model::Permission;
use leptos::prelude::*;

/// Whether the person's role allows `permission`. Pages mounted without a session (browser
/// tests of one page, acting through a service token) offer everything: the server decides.
pub fn allows(permission: Permission) -> Signal<bool> {
    match use_session() {
        Some(session) => {
            let state = session.state();
            // Whoever's pages these are: signed in, or whose session ended (their pages stay).
            Signal::derive(move || {
                state.with(|s| s.person().is_some_and(|p| p.role.allows(permission)))
            })
        }
        None => Signal::stored(true),
    }
}
