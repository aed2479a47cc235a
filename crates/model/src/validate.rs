//! The field rules of docs/api.md, checked the same way by the server (422) and by the
//! app's forms (messages next to each field). Lengths count characters, not bytes.

use crate::{CasePatch, NewCase, NewNote, NewPerson, PersonPatch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const TAGS_MAX: usize = 20;
pub const TAG_MAX: usize = 40;
pub const ASSIGNEE_MAX: usize = 100;
pub const NOTE_BODY_MAX: usize = 5_000;
pub const AUTHOR_MAX: usize = 100;
pub const PERSON_NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 10;
/// Long enough for any passphrase; a bound so that hashing stays cheap.
pub const PASSWORD_MAX: usize = 1_000;

/// What is wrong with each bad field, in plain words, keyed by field name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what is wrong with `field`; the first message for a field wins.
    pub fn insert(&mut self, field: &str, message: String) {
        self.0.entry(field.to_owned()).or_insert(message);
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// Checks a title: 1–200 characters once trimmed.
pub fn check_title(title: &str, errors: &mut FieldErrors) {
    let length = title.trim().chars().count();
    if length == 0 {
        errors.insert("title", "Title is required.".into());
    } else if length > TITLE_MAX {
        errors.insert(
            "title",
            format!("Title must be at most {TITLE_MAX} characters (it has {length})."),
        );
    }
}

/// Checks a description: at most 10,000 characters.
pub fn check_description(description: &str, errors: &mut FieldErrors) {
    let length = description.chars().count();
    if length > DESCRIPTION_MAX {
        errors.insert(
            "description",
            format!("Description must be at most {DESCRIPTION_MAX} characters (it has {length})."),
        );
    }
}

/// Checks tags: at most 20, each 1–40 characters once trimmed.
pub fn check_tags(tags: &[String], errors: &mut FieldErrors) {
    if tags.len() > TAGS_MAX {
        errors.insert(
            "tags",
            format!(
                "At most {TAGS_MAX} tags are allowed (there are {}).",
                tags.len()
            ),
        );
        return;
    }
    for tag in tags {
        let length = tag.trim().chars().count();
        if length == 0 {
            errors.insert("tags", "Tags cannot be blank.".into());
        } else if length > TAG_MAX {
            errors.insert(
                "tags",
                format!(
                    "Each tag must be at most {TAG_MAX} characters (`{}` has {length}).",
                    tag.trim()
                ),
            );
        }
    }
}

/// Checks an assignee name: at most 100 characters.
pub fn check_assignee(assignee: Option<&str>, errors: &mut FieldErrors) {
    let length = assignee.map_or(0, |a| a.trim().chars().count());
    if length > ASSIGNEE_MAX {
        errors.insert(
            "assignee",
            format!("Assignee must be at most {ASSIGNEE_MAX} characters (it has {length})."),
        );
    }
}

/// Every rule that applies to a new case.
pub fn validate_new_case(case: &NewCase) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    check_title(&case.title, &mut errors);
    check_description(&case.description, &mut errors);
    check_tags(&case.tags, &mut errors);
    check_assignee(case.assignee.as_deref(), &mut errors);
    errors.into_result()
}

/// Every rule that applies to the fields a patch sets.
pub fn validate_patch(patch: &CasePatch) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    if let Some(title) = &patch.title {
        check_title(title, &mut errors);
    }
    if let Some(description) = &patch.description {
        check_description(description, &mut errors);
    }
    if let Some(tags) = &patch.tags {
        check_tags(tags, &mut errors);
    }
    if let Some(assignee) = &patch.assignee {
        check_assignee(assignee.as_deref(), &mut errors);
    }
    errors.into_result()
}

/// Checks a note body: 1–5,000 characters once trimmed.
pub fn check_note_body(body: &str, errors: &mut FieldErrors) {
    let length = body.trim().chars().count();
    if length == 0 {
        errors.insert("body", "Note cannot be empty.".into());
    } else if length > NOTE_BODY_MAX {
        errors.insert(
            "body",
            format!("Note must be at most {NOTE_BODY_MAX} characters (it has {length})."),
        );
    }
}

/// Every rule that applies to a new note.
pub fn validate_new_note(note: &NewNote) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    check_note_body(&note.body, &mut errors);
    let author_length = note
        .author
        .as_deref()
        .map_or(0, |a| a.trim().chars().count());
    if author_length > AUTHOR_MAX {
        errors.insert(
            "author",
            format!("Author must be at most {AUTHOR_MAX} characters (it has {author_length})."),
        );
    }
    errors.into_result()
}

/// Checks a person's name: 1–100 characters once trimmed.
pub fn check_person_name(name: &str, errors: &mut FieldErrors) {
    let length = name.trim().chars().count();
    if length == 0 {
        errors.insert("name", "Name is required.".into());
    } else if length > PERSON_NAME_MAX {
        errors.insert(
            "name",
            format!("Name must be at most {PERSON_NAME_MAX} characters (it has {length})."),
        );
    }
}

/// Checks an email: something before and after one `@`, no spaces inside, at most 254
/// characters once trimmed. (Whether mail reaches it is not ours to know.)
pub fn check_email(email: &str, errors: &mut FieldErrors) {
    let email = email.trim();
    let length = email.chars().count();
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !well_formed {
        errors.insert("email", "Email must look like name@example.com.".into());
    } else if length > EMAIL_MAX {
        errors.insert(
            "email",
            format!("Email must be at most {EMAIL_MAX} characters (it has {length})."),
        );
    }
}

/// Checks a new password for the person with `email`, reporting under `field`: at least
/// 10 characters, at most 1,000, and not the email itself.
pub fn check_password(field: &str, password: &str, email: &str, errors: &mut FieldErrors) {
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        errors.insert(
            field,
            format!("Password must have at least {PASSWORD_MIN} characters (it has {length})."),
        );
    } else if length > PASSWORD_MAX {
        errors.insert(
            field,
            format!("Password must be at most {PASSWORD_MAX} characters (it has {length})."),
        );
    } else if password.trim().to_lowercase() == email.trim().to_lowercase() {
        errors.insert(field, "Password must not be your email.".into());
    }
}

/// Every rule that applies to a new person.
pub fn validate_new_person(person: &NewPerson) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    check_email(&person.email, &mut errors);
    check_person_name(&person.name, &mut errors);
    errors.into_result()
}

/// Every rule that applies to the fields a person patch sets.
pub fn validate_person_patch(patch: &PersonPatch) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    if let Some(name) = &patch.name {
        check_person_name(name, &mut errors);
    }
    errors.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn passwords_need_ten_characters_and_must_not_be_the_email() {
        let check = |password: &str| {
            let mut errors = FieldErrors::new();
            check_password("password", password, "Ada@Example.com", &mut errors);
            errors.get("password").map(str::to_owned)
        };
        assert_eq!(check("correct horse"), None);
        assert_eq!(check("éééééééééé"), None, "ten characters, not bytes");
        assert!(check("ninechars").unwrap().contains("at least 10"));
        assert!(check(" ada@example.COM ").unwrap().contains("email"));
        assert!(check(&"x".repeat(PASSWORD_MAX + 1)).is_some());
    }

    #[test]
    fn a_new_person_needs_an_email_and_a_name() {
        let person = |email: &str, name: &str| NewPerson {
            email: email.into(),
            name: name.into(),
            role: crate::Role::Agent,
        };
        assert!(validate_new_person(&person(" ada@example.com ", "Ada")).is_ok());
        for bad in ["ada", "@example.com", "ada@", "a b@example.com", "a@b@c"] {
            let errors = validate_new_person(&person(bad, "Ada")).unwrap_err();
            assert!(errors.get("email").is_some(), "{bad}");
        }
        let errors = validate_new_person(&person("ada@example.com", "  ")).unwrap_err();
        assert_eq!(errors.get("name"), Some("Name is required."));
        assert!(validate_person_patch(&PersonPatch::default()).is_ok());
        let long = PersonPatch {
            name: Some("x".repeat(PERSON_NAME_MAX + 1)),
            ..PersonPatch::default()
        };
        assert!(validate_person_patch(&long).is_err());
    }

    fn new_case(title: &str) -> NewCase {
        NewCase {
            id: Uuid::nil(),
            title: title.into(),
            description: String::new(),
            status: crate::CaseStatus::Open,
            priority: crate::Priority::Low,
            assignee: None,
            tags: vec![],
        }
    }

    #[test]
    fn title_limits_count_characters_after_trimming() {
        assert!(validate_new_case(&new_case("ok")).is_ok());
        let blank = validate_new_case(&new_case("   ")).unwrap_err();
        assert_eq!(blank.get("title"), Some("Title is required."));
        assert!(validate_new_case(&new_case(&"é".repeat(200))).is_ok());
        let long = validate_new_case(&new_case(&"é".repeat(201))).unwrap_err();
        assert!(long.get("title").unwrap().contains("201"));
        assert!(validate_new_case(&new_case(&format!("  {}  ", "a".repeat(200)))).is_ok());
    }

    #[test]
    fn tags_and_description_limits() {
        let mut case = new_case("t");
        case.tags = vec!["x".into(); 21];
        assert!(validate_new_case(&case).unwrap_err().get("tags").is_some());
        case.tags = vec!["a".repeat(41)];
        assert!(validate_new_case(&case).unwrap_err().get("tags").is_some());
        case.tags = vec!["a".repeat(40); 20];
        case.description = "d".repeat(10_000);
        assert!(validate_new_case(&case).is_ok());
        case.description.push('d');
        assert!(validate_new_case(&case)
            .unwrap_err()
            .get("description")
            .is_some());
    }

    #[test]
    fn a_patch_is_checked_only_on_the_fields_it_sets() {
        assert!(validate_patch(&CasePatch::default()).is_ok());
        let patch = CasePatch {
            title: Some(" ".into()),
            ..CasePatch::default()
        };
        assert!(validate_patch(&patch).unwrap_err().get("title").is_some());
    }

    #[test]
    fn note_body_limits() {
        let note = |body: &str| NewNote {
            id: Uuid::nil(),
            body: body.into(),
            author: None,
        };
        assert!(validate_new_note(&note("hello")).is_ok());
        assert!(validate_new_note(&note(" \n ")).is_err());
        assert!(validate_new_note(&note(&"n".repeat(5_000))).is_ok());
        assert!(validate_new_note(&note(&"n".repeat(5_001))).is_err());
    }
}
