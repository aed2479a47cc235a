//! Why a request failed, and what kind of failure that is: the one classification the query
//! retries, the action queue and the UI all share.

use crate::clock::DurationMs;
use serde::{Deserialize, Serialize};

/// A failed request, as the HTTP adapter reports it. Data only: the app words it
/// (`casedesk::words`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// No connection, DNS failure, connection reset, CORS refusal: nothing came back.
    Network { message: String },
    /// The browser reported itself offline; the request was not sent.
    Offline,
    /// No answer within the client's time limit.
    Timeout,
    /// The server answered with an error status.
    Http {
        status: u16,
        /// The error body's `code`, when it had one.
        code: Option<String>,
        /// The error body's message, or a description of the body when it was not ours.
        message: String,
        request_id: Option<String>,
        /// `Retry-After`, when the server sent one.
        retry_after: Option<DurationMs>,
    },
    /// A success status whose body could not be read as what we asked for (bad JSON, wrong
    /// shape, an HTML page from a proxy, an empty body).
    Decode {
        message: String,
        request_id: Option<String>,
    },
    /// Not sent: the session in force on the device is not the one the request must go
    /// under (its person signed out, or another person signed in). Like a 401, it waits for
    /// that person's sign-in.
    NoSession,
}

/// What a failure means for whoever retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureClass {
    /// Worth trying again later: network, offline, timeout, 408, 429, 5xx.
    Transient,
    /// Trying again will fail the same way: other 4xx, undecodable answers.
    Permanent,
    /// 401 (or no session of the right person to send it under): nothing works until the
    /// person signs in again.
    Unauthorized,
    /// 412 on `If-Match`: someone else changed the case; merge before retrying.
    Conflict,
}

impl Failure {
    pub fn class(&self) -> FailureClass {
        match self {
            Self::Network { .. } | Self::Offline | Self::Timeout => FailureClass::Transient,
            Self::Http { status, .. } => match *status {
                401 => FailureClass::Unauthorized,
                412 => FailureClass::Conflict,
                408 | 429 => FailureClass::Transient,
                s if s >= 500 => FailureClass::Transient,
                _ => FailureClass::Permanent,
            },
            // A body we cannot read will not become readable by asking again.
            Self::Decode { .. } => FailureClass::Permanent,
            Self::NoSession => FailureClass::Unauthorized,
        }
    }

    /// What the failure means for an action (a write sent under its idempotency key).
    ///
    /// Unlike a read, a write whose success answer could not be read (cut off, garbled, an
    /// empty body, about another case) most likely *was applied*: giving up would roll the
    /// change back on screen while the server keeps it, and the person would make it again.
    /// Sending it again under the same key is safe, and the replay returns the stored answer.
    pub fn write_class(&self) -> FailureClass {
        match self {
            Self::Decode { .. } => FailureClass::Transient,
            _ => self.class(),
        }
    }

    /// Whether the failure happened because the device was offline; such attempts are not
    /// counted against an action's or a query's retry budget.
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Offline)
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<DurationMs> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Http { request_id, .. } | Self::Decode { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> Failure {
        Failure::Http {
            status,
            code: None,
            message: String::new(),
            request_id: None,
            retry_after: None,
        }
    }

    #[test]
    fn classes_follow_the_design() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(http(s).class(), FailureClass::Transient, "{s}");
        }
        for s in [400, 403, 404, 409, 413, 422, 428] {
            assert_eq!(http(s).class(), FailureClass::Permanent, "{s}");
        }
        assert_eq!(http(401).class(), FailureClass::Unauthorized);
        assert_eq!(http(412).class(), FailureClass::Conflict);
        assert_eq!(Failure::Timeout.class(), FailureClass::Transient);
        assert_eq!(
            Failure::Decode {
                message: "x".into(),
                request_id: None
            }
            .class(),
            FailureClass::Permanent
        );
    }

    #[test]
    fn an_unreadable_success_answer_to_a_write_is_worth_sending_again() {
        let garbled = Failure::Decode {
            message: "cut off".into(),
            request_id: None,
        };
        assert_eq!(garbled.class(), FailureClass::Permanent);
        assert_eq!(garbled.write_class(), FailureClass::Transient);
        for s in [401, 404, 409, 412, 422, 503] {
            assert_eq!(http(s).write_class(), http(s).class(), "{s}");
        }
    }
}
