//! A form's field errors as its inputs read them: the message beside a field, its
//! `aria-invalid`, and the `aria-describedby` id of that message (`{prefix}-{field}-error`).

use casedesk_model::FieldErrors;
use leptos::prelude::*;

/// The field errors of one form, whose message elements are named after `prefix`.
#[derive(Clone, Copy)]
pub struct FieldErrorsShown {
    errors: RwSignal<FieldErrors>,
    prefix: &'static str,
}

impl FieldErrorsShown {
    pub fn new(errors: RwSignal<FieldErrors>, prefix: &'static str) -> Self {
        Self { errors, prefix }
    }

    /// The message for `field`, if it has one.
    pub fn error(self, field: &'static str) -> Signal<Option<String>> {
        Signal::derive(move || self.errors.with(|e| e.get(field).map(str::to_owned)))
    }

    /// `aria-invalid` for `field`.
    pub fn invalid(self, field: &'static str) -> impl Fn() -> String + Copy {
        move || self.errors.with(|e| e.get(field).is_some()).to_string()
    }

    /// `aria-describedby` for `field`: its message's id while it has one.
    pub fn described(self, field: &'static str) -> impl Fn() -> Option<String> + Copy {
        move || {
            self.errors
                .with(|e| e.get(field).is_some())
                .then(|| format!("{}-{field}-error", self.prefix))
        }
    }
}
