//! People managed in the app and one's own account (docs/api.md §4): adding people with a
//! setup code, changing roles, deactivating (`/users`, admins), signing in the first time
//! with a setup code (`/session/setup`), changing one's password and signing out
//! everywhere else (`/me`).
//!
//! None of these take an `Idempotency-Key`: a stored answer would keep a setup code or a
//! token in the clear, and the changes are idempotent by nature (setting a role twice is
//! setting it once). Argon2id runs on the blocking pool, never inside a write transaction.

use crate::api::{encode, JSON_CONTENT_TYPE};
use crate::auth::{Actor, ActorKind};
use crate::body::{decode_json, read_body};
use crate::clock;
use crate::error::ApiError;
use crate::people::{self, ChangeError};
use crate::sessions;
use crate::setup_codes;
use crate::sign_in::{self, new_session, no_store, session_response};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use casedesk_model::validate::{check_password, validate_new_person, validate_person_patch};
use casedesk_model::{
    FieldErrors, NewPerson, PasswordChange, Person, PersonPatch, SetupCodeIssued, SetupSignIn,
    Timestamp,
};
use uuid::Uuid;

/// A person's id from the path; anything but a UUID is a 400.
pub(crate) struct PersonId(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PersonId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        Uuid::parse_str(&raw)
            .map(PersonId)
            .map_err(|_| ApiError::BadRequest(format!("`{raw}` is not a person's id (a UUID).")))
    }
}

fn validation(fields: FieldErrors) -> ApiError {
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    ApiError::Validation {
        message: format!("Some fields are invalid: {}.", names.join(", ")),
        fields,
    }
}

fn one_field(field: &str, message: &str) -> ApiError {
    let mut fields = FieldErrors::new();
    fields.insert(field, message.to_owned());
    validation(fields)
}

fn person_not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("No person has the id {id}."))
}

fn now_ms(state: &AppState) -> i64 {
    clock::shifted(state.chaos.clock_offset_ms()).unix_millis()
}

/// A JSON answer that no cache keeps (it names people, or holds a secret).
fn json(status: StatusCode, value: &impl serde::Serialize) -> Result<Response, ApiError> {
    let response = (
        status,
        [(header::CONTENT_TYPE, JSON_CONTENT_TYPE)],
        encode(value)?,
    )
        .into_response();
    Ok(no_store(response))
}

/// Hashes `password` with Argon2id, in turn with every other password check
/// (`password_checks`).
async fn hash(state: &AppState, password: String) -> Result<String, ApiError> {
    state
        .password_checks
        .run(move || people::hash_password(&password))
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A new setup code for `person`, stored (replacing any other) in `tx`; the answer of
/// `POST /users` and `POST /users/{id}/setup-code`.
fn issue_code(
    tx: &dyn crate::db::Sql,
    person: Person,
    now_ms: i64,
) -> Result<SetupCodeIssued, ApiError> {
    let (code, code_hash) =
        setup_codes::new_code().map_err(|e| ApiError::Internal(e.to_string()))?;
    let expires_ms = setup_codes::replace(tx, person.id, &code_hash, now_ms)?;
    Ok(SetupCodeIssued {
        user: person,
        setup_code: code,
        expires_at: Timestamp::from_unix_millis(expires_ms).unwrap_or(Timestamp::UNIX_EPOCH),
    })
}

/// `POST /users` (admin): adds a person, who cannot sign in until they use the setup code
/// in the answer (201).
pub(crate) async fn add_person(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let new = decode_json::<NewPerson>(&headers, &bytes)?;
    validate_new_person(&new).map_err(validation)?;
    let now_ms = now_ms(&state);
    let issued = state
        .db
        .write(
            move |tx| {
                let person = Person {
                    id: Uuid::now_v7(),
                    name: new.name.trim().to_owned(),
                    email: new.email.trim().to_owned(),
                    role: new.role,
                    active: true,
                };
                match people::insert(tx, &person, None, now_ms) {
                    Ok(()) => {}
                    Err(people::AddError::EmailTaken(_)) => {
                        return Err(one_field(
                            "email",
                            "A person with this email already exists.",
                        ))
                    }
                    Err(people::AddError::Database(e)) => return Err(e.into()),
                }
                issue_code(tx, person, now_ms)
            },
            |_| {},
        )
        .await?;
    json(StatusCode::CREATED, &issued)
}

/// `PATCH /users/{id}` (admin): a new name, role or `active`. Deactivating ends every
/// session of that person; their cases, notes and history keep their name. The last
/// active admin stays one (409 `last_admin`).
pub(crate) async fn change_person(
    State(state): State<AppState>,
    PersonId(id): PersonId,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let patch = decode_json::<PersonPatch>(&headers, &bytes)?;
    validate_person_patch(&patch).map_err(validation)?;
    let now_ms = now_ms(&state);
    let (person, _) = state
        .db
        .write(
            move |tx| match people::update(tx, id, &patch, now_ms) {
                Ok(changed) => Ok(changed),
                Err(ChangeError::NotFound(id)) => Err(person_not_found(id)),
                Err(ChangeError::LastAdmin) => Err(ApiError::LastAdmin),
                Err(ChangeError::Database(e)) => Err(e.into()),
            },
            |_| {},
        )
        .await?;
    json(StatusCode::OK, &person)
}

/// `POST /users/{id}/setup-code` (admin): a new setup code for the person; any earlier one
/// stops working.
pub(crate) async fn new_setup_code(
    State(state): State<AppState>,
    PersonId(id): PersonId,
) -> Result<Response, ApiError> {
    let now_ms = now_ms(&state);
    let issued = state
        .db
        .write(
            move |tx| {
                let person = people::by_id(tx, id)?
                    .filter(|p| !people::is_built_in(p.id))
                    .ok_or_else(|| person_not_found(id))?;
                issue_code(tx, person, now_ms)
            },
            |_| {},
        )
        .await?;
    json(StatusCode::OK, &issued)
}

/// `POST /session/setup`: sets the password of the person whose setup code this is, uses
/// the code up, ends any other session of theirs (an admin's new code is also how a
/// forgotten password is replaced), and signs them in: the answer of `POST /session`.
/// An unknown email, a wrong, used or expired code, and a deactivated person all get the
/// same 401 `invalid_credentials`.
pub(crate) async fn sign_in_with_setup_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let SetupSignIn {
        email,
        setup_code,
        password,
    } = decode_json::<SetupSignIn>(&headers, &bytes)?;
    let mut fields = FieldErrors::new();
    check_password("password", &password, &email, &mut fields);
    fields.into_result().map_err(validation)?;

    let code_hash = sessions::token_hash(setup_code.trim());
    let checked_at = now_ms(&state);
    let person = state
        .db
        .read(move |tx| {
            let Some(record) = people::by_email(tx, &email)? else {
                return Ok::<_, ApiError>(None);
            };
            let person = record.person;
            let usable = person.active
                && !people::is_built_in(person.id)
                && setup_codes::is_live(tx, person.id, &code_hash, checked_at)?;
            Ok(usable.then_some(person))
        })
        .await?
        .ok_or(ApiError::InvalidSetupCode)?;

    // The slow hash outside any transaction; the code is taken (or found gone) after it.
    let phc = hash(&state, password).await?;
    let person_id = person.id;
    let (token, expires_ms) = new_session(&state, move |tx, session, now_ms| {
        if !setup_codes::take(tx, person_id, &code_hash, now_ms)? {
            return Err(ApiError::InvalidSetupCode);
        }
        people::set_password(tx, person_id, &phc)?;
        sessions::revoke_all_of(tx, person_id, None, now_ms)?;
        Ok(sessions::create(tx, session, person_id, now_ms)?)
    })
    .await?;
    session_response(token, person, expires_ms)
}

/// `PUT /me/password`: changes the signed-in person's password (the current one must be
/// given: a token left on a shared computer must not be enough) and ends every other
/// session of theirs (204). A wrong current password is a 422 on `current`, not a 401,
/// which would tell the app the session had ended; wrong guesses count as failed sign-ins
/// (429 past the limit).
pub(crate) async fn change_password(
    State(state): State<AppState>,
    actor: Actor,
    parts: Parts,
    body: Body,
) -> Result<Response, ApiError> {
    if actor.kind != ActorKind::Person {
        return Err(ApiError::Forbidden(format!(
            "{} has no password to change.",
            actor.person.name
        )));
    }
    let bytes = read_body(body).await?;
    let PasswordChange { current, new } = decode_json::<PasswordChange>(&parts.headers, &bytes)?;
    let mut fields = FieldErrors::new();
    check_password("new", &new, &actor.person.email, &mut fields);
    fields.into_result().map_err(validation)?;

    let id = actor.id();
    let stored = state
        .db
        .read(move |tx| Ok::<_, ApiError>(people::record_by_id(tx, id)?))
        .await?
        .and_then(|record| record.password_hash);
    let peer = crate::peer::address(&parts.extensions).map(crate::peer::network);
    let matches =
        sign_in::check_own_password(&state, &actor.person.email, peer, current, stored).await?;
    if !matches {
        return Err(one_field("current", "The current password is wrong."));
    }
    let phc = hash(&state, new).await?;
    let keep = actor.session;
    let now_ms = now_ms(&state);
    state
        .db
        .write(
            move |tx| {
                people::set_password(tx, id, &phc)?;
                sessions::revoke_all_of(tx, id, keep.as_ref(), now_ms)?;
                Ok::<_, ApiError>(())
            },
            |_| {},
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /me/sessions`: ends every session of the signed-in person but this one (204).
/// A service token or Guest has no sessions: 204 as well.
pub(crate) async fn sign_out_elsewhere(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Response, ApiError> {
    if let (ActorKind::Person, Some(keep)) = (actor.kind, actor.session) {
        let id = actor.id();
        let now_ms = now_ms(&state);
        state
            .db
            .write(
                move |tx| Ok::<_, ApiError>(sessions::revoke_all_of(tx, id, Some(&keep), now_ms)?),
                |_| {},
            )
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
