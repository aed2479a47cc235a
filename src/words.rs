//! How the app words what the core reports as data: a failed request ([`Failure`]) as a
//! sentence a person can read. The core never writes English; pages, alerts and the queue's
//! notices come here (the queue's own reasons are worded in `offline::announce`).

use casedesk_core::Failure;

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
        }
    }
}
