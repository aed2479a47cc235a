//! Whose session the queue's requests carry. An action is sent only under its author's
//! session (docs/api.md §4): after a sign-out nothing goes, and when another person signs in
//! on the device, the first person's actions stay held for them.

use crate::action::Action;
use uuid::Uuid;

/// Who the credentials in force belong to, as the queue was last told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signer {
    /// Not said: a queue outside people (a server without them, a service token), where
    /// every action goes.
    #[default]
    Anyone,
    /// This person's session: their actions, and those stored before people, go.
    Person(Uuid),
    /// No session at all (signed out): nothing goes.
    Nobody,
}

impl Signer {
    /// Whether `action` may go out under this session.
    pub fn may_send(self, action: &Action) -> bool {
        match self {
            Self::Anyone => true,
            Self::Person(me) => action.is_sendable_by(Some(me)),
            Self::Nobody => false,
        }
    }
}
