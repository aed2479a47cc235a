//! How the app words what the core reports as data: a failed request ([`Failure`]) as a
//! sentence a person can read, a status or priority recorded by its wire name as the name the
//! rest of the app shows. The core never writes English; pages, alerts and the queue's
//! notices come here (the queue's own reasons are worded in `offline::announce`), and so do
//! the names of roles and the refusals of people management.

use crate::api::ApiError;
use casedesk_core::{Failure, OriginRefusal};
use casedesk_model::{CaseStatus, ErrorCode, Priority, Role};

/// A case field's recorded value (the wire name a history entry keeps, `in_progress`) as the
/// badges and pickers show it (`In progress`); `None` for a field that holds no status or
/// priority, or a name this build does not know, which are shown as they are.
pub fn field_value_label(field: &str, wire: &str) -> Option<&'static str> {
    match field {
        "status" => CaseStatus::parse(wire).map(CaseStatus::label),
        "priority" => Priority::parse(wire).map(Priority::label),
        _ => None,
    }
}

/// A sentence a person can read, for data the core reports.
pub trait Describe {
    fn describe(&self) -> String;
}

impl Describe for Failure {
    fn describe(&self) -> String {
        match self {
            Self::Network { message } => format!("Could not reach the server ({message})."),
            Self::Offline => "You are offline.".to_owned(),
            Self::Timeout => "The server took too long to answer.".to_owned(),
            // A 5xx is the server (or a proxy) failing, not a refusal of what was asked.
            Self::Http {
                status, message, ..
            } if *status >= 500 => format!("The server could not answer ({status}): {message}"),
            Self::Http {
                status, message, ..
            } => format!("The server refused ({status}): {message}"),
            Self::Decode { message, .. } => {
                format!("The server's answer could not be read: {message}")
            }
            Self::NoSession => "Not sent: it waits for its author to sign in.".to_owned(),
        }
    }
}

impl Describe for OriginRefusal {
    fn describe(&self) -> String {
        match self {
            Self::NotAnOrigin => "it is not an origin (scheme://host[:port])".to_owned(),
            Self::Scheme(scheme) => format!("{scheme}: is neither https nor http"),
            Self::Unencrypted => {
                "plain http to another machine would carry the token unencrypted; use https"
                    .to_owned()
            }
        }
    }
}

/// A role's name, as the People page's choices and the account page show it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Viewer => "Viewer",
        Role::Agent => "Agent",
        Role::Admin => "Admin",
    }
}

/// What a role lets a person do, in a few words.
pub fn role_summary(role: Role) -> &'static str {
    match role {
        Role::Viewer => "reads cases",
        Role::Agent => "reads, creates and changes cases, adds notes",
        Role::Admin => "also deletes cases and manages people",
    }
}

/// Why a request about people or one's own account was refused: the server's codes that
/// mean something here get a sentence of their own, anything else its own description.
pub fn account_refusal(error: &ApiError) -> String {
    let Some(failure) = error.failure() else {
        return "The request was cancelled.".to_owned();
    };
    let code = match failure {
        Failure::Http {
            code: Some(code), ..
        } => serde_json::from_value::<ErrorCode>(serde_json::Value::String(code.clone())).ok(),
        _ => None,
    };
    match (failure, code) {
        (_, Some(ErrorCode::LastAdmin)) => {
            "There must always be an active admin: make someone else an admin first.".to_owned()
        }
        (_, Some(ErrorCode::Forbidden)) => "Only an admin can do that.".to_owned(),
        (Failure::Offline, _) => {
            "You are offline: this needs the server. Try again once the network is back.".to_owned()
        }
        (
            Failure::Http { message, .. },
            Some(ErrorCode::ValidationFailed | ErrorCode::AlreadyExists),
        ) => message.clone(),
        (other, _) => other.describe(),
    }
}
