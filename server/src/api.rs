//! The `/api/v1` endpoints of docs/api.md §1 and the layers every one of them passes:
//! auth → rate limit → chaos → body limit → handler.
//!
//! Reads run on a read connection and answer through [`conditional::respond`] (ETag,
//! 304). Changes go through [`mutate`]: one immediate transaction that checks the
//! idempotency key, applies the change, records the key with the response, appends the
//! change to the change log (`change_log`, last: it orders the commits), commits and
//! publishes the change event with the logged change, in that order (on PostgreSQL the
//! event is sent with NOTIFY inside the transaction, see `pg_events`).

use crate::auth::Actor;
use crate::body::{body_hash, decode_json, read_body, MAX_BODY_BYTES};
use crate::cases::{self, CaseRecord};
use crate::clock;
use crate::conditional;
use crate::db::{Engine, Sql};
use crate::error::ApiError;
use crate::events;
use crate::idempotency::{self, Fingerprint, Lookup, StoredResponse, IDEMPOTENT_REPLAY};
use crate::state::AppState;
use crate::{
    accounts, auth, change_feed, change_log, chaos, client_errors, history, metrics, people,
    pg_events, rate_limit, sign_in,
};
use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri, Path, RawQuery, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use casedesk_model::validate::{validate_new_case, validate_new_note, validate_patch};
use casedesk_model::{
    etag_for_version, version_from_etag, Case, CaseListQuery, CasePatch, ChangeBody, ChangeEvent,
    FieldErrors, HistoryKind, LiveEvent, NewCase, NewNote, Permission, Timestamp,
};
use std::sync::LazyLock;
use tower_http::limit::RequestBodyLimitLayer;
use uuid::Uuid;

/// The content type of every JSON answer.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// An HTTP method a route answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
            Self::Put => MethodFilter::PUT,
            Self::Patch => MethodFilter::PATCH,
            Self::Delete => MethodFilter::DELETE,
        }
    }
}

/// Who may call an endpoint (docs/api.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token: `/health`, signing in, the app's crash reports.
    Open,
    /// A signed-in person whose role allows this, a service token, or Guest (see
    /// `auth::Actor::allows`); else 401, or 403 `forbidden`.
    Needs(Permission),
}

/// One endpoint of `/api/v1`: what the router is built from, so that every route has a
/// rule, and what tests list to check each rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRoute {
    /// `GET`, `POST`…
    pub method: &'static str,
    /// The path under `/api/v1`, with `{id}` for a parameter.
    pub path: &'static str,
    pub access: Access,
}

struct Endpoint {
    verb: Verb,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
}

fn endpoint<H, T>(verb: Verb, path: &'static str, access: Access, handler: H) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Endpoint {
        verb,
        path,
        access,
        handler: on(verb.filter(), handler),
    }
}

/// Every `/api/v1` endpoint with its rule. A route is added here or nowhere.
fn endpoints() -> Vec<Endpoint> {
    use Access::{Needs, Open};
    use Permission::{DeleteCases, ManagePeople, OwnAccount, Read, WriteCases};
    use Verb::{Delete, Get, Patch, Post, Put};
    vec![
        endpoint(Get, "/health", Open, health),
        endpoint(Get, "/cases", Needs(Read), list_cases),
        endpoint(Post, "/cases", Needs(WriteCases), create_case),
        endpoint(Get, "/cases/{id}", Needs(Read), get_case),
        endpoint(Patch, "/cases/{id}", Needs(WriteCases), patch_case),
        endpoint(Delete, "/cases/{id}", Needs(DeleteCases), delete_case),
        endpoint(Get, "/cases/{id}/notes", Needs(Read), list_notes),
        endpoint(Post, "/cases/{id}/notes", Needs(WriteCases), create_note),
        endpoint(Get, "/cases/{id}/history", Needs(Read), case_history),
        endpoint(Get, "/dashboard/metrics", Needs(Read), dashboard_metrics),
        endpoint(Get, "/events", Needs(Read), events::socket),
        endpoint(Get, "/changes", Needs(Read), change_feed::changes),
        // A crash may happen signed out; the `Origin` check still applies.
        endpoint(Post, "/client-errors", Open, client_errors::report),
        endpoint(Post, "/session", Open, sign_in::sign_in),
        endpoint(Delete, "/session", Needs(OwnAccount), sign_in::sign_out),
        endpoint(
            Post,
            "/session/setup",
            Open,
            accounts::sign_in_with_setup_code,
        ),
        endpoint(Get, "/me", Needs(OwnAccount), sign_in::me),
        endpoint(
            Put,
            "/me/password",
            Needs(OwnAccount),
            accounts::change_password,
        ),
        endpoint(
            Delete,
            "/me/sessions",
            Needs(OwnAccount),
            accounts::sign_out_elsewhere,
        ),
        endpoint(Get, "/users", Needs(Read), sign_in::users),
        endpoint(Post, "/users", Needs(ManagePeople), accounts::add_person),
        endpoint(
            Patch,
            "/users/{id}",
            Needs(ManagePeople),
            accounts::change_person,
        ),
        endpoint(
            Post,
            "/users/{id}/setup-code",
            Needs(ManagePeople),
            accounts::new_setup_code,
        ),
    ]
}

/// The `/api/v1` routes and their rules, as the router has them.
pub fn api_routes() -> Vec<ApiRoute> {
    ROUTES.clone()
}

static ROUTES: LazyLock<Vec<ApiRoute>> = LazyLock::new(|| {
    endpoints()
        .into_iter()
        .map(|e| ApiRoute {
            method: e.verb.name(),
            path: e.path,
            access: e.access,
        })
        .collect()
});

/// Whether `method path` (under `/api/v1`) answers without a token.
pub(crate) fn is_open(method: &Method, path: &str) -> bool {
    ROUTES
        .iter()
        .any(|r| r.access == Access::Open && r.path == path && r.method == method.as_str())
}

/// The `/api/v1` router, to be nested at `/api/v1`.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for Endpoint {
        path,
        access,
        handler,
        ..
    } in endpoints()
    {
        let handler = match access {
            Access::Open => handler,
            Access::Needs(permission) => {
                handler.route_layer(from_fn_with_state(permission, auth::permit))
            }
        };
        router = router.route(path, handler);
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn(people_answers_not_stored))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(from_fn_with_state(state.clone(), chaos::inject))
        .layer(from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(from_fn_with_state(state.clone(), auth::require))
}

/// Whether answers under `path` (within `/api/v1`) carry people: who is signed in, the
/// people list, sessions and setup codes.
fn carries_people(path: &str) -> bool {
    ["/session", "/me", "/users"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Answers that carry people are `Cache-Control: no-store`: a browser must not keep names,
/// emails, tokens or setup codes on disk, where the next person at a shared computer could
/// read them. (Other answers are `no-cache`: stored, but revalidated before each use.)
async fn people_answers_not_stored(request: axum::extract::Request, next: Next) -> Response {
    let people = carries_people(request.uri().path());
    let mut response = next.run(request).await;
    if people {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("No such endpoint.".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("This method is not allowed on this path.".into())
}

/// `GET /health` (also at the root): no auth.
pub(crate) async fn health(headers: HeaderMap) -> Response {
    let body = br#"{"status":"ok"}"#.to_vec();
    conditional::respond(&headers, conditional::hash_etag(&body), body)
}

/// A case id from the path; anything but a UUID is a 400.
struct CaseId(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for CaseId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        Uuid::parse_str(&raw)
            .map(CaseId)
            .map_err(|_| ApiError::BadRequest(format!("`{raw}` is not a case id (a UUID).")))
    }
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Internal(format!("cannot encode: {e}")))
}

fn validation(fields: FieldErrors) -> ApiError {
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    ApiError::Validation {
        message: format!("Some fields are invalid: {}.", names.join(", ")),
        fields,
    }
}

// ---------------------------------------------------------------------------------------
// Reads

async fn list_cases(
    State(state): State<AppState>,
    actor: Actor,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let query = CaseListQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|fields| {
            let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
            ApiError::BadParameters {
                message: format!("Bad query parameters: {}.", names.join(", ")),
                fields,
            }
        })?
        .resolve_me(&actor.id().to_string());
    query.check_search_length().map_err(validation)?;
    let list = state
        .db
        .read(move |tx| Ok::<_, ApiError>(cases::list(tx, &query)?))
        .await?;
    let body = encode(&list)?;
    Ok(conditional::respond(
        &headers,
        conditional::hash_etag(&body),
        body,
    ))
}

async fn get_case(
    State(state): State<AppState>,
    CaseId(id): CaseId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let record = state
        .db
        .read(move |tx| Ok::<_, ApiError>(cases::find_live(tx, id)?))
        .await?
        .ok_or_else(|| ApiError::case_not_found(id))?;
    let body = encode(&record.case)?;
    Ok(conditional::respond(
        &headers,
        etag_for_version(record.case.version),
        body,
    ))
}

async fn list_notes(
    State(state): State<AppState>,
    CaseId(id): CaseId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let notes = state
        .db
        .read(move |tx| {
            if cases::find_live(tx, id)?.is_none() {
                return Err(ApiError::case_not_found(id));
            }
            Ok(cases::notes(tx, id)?)
        })
        .await?;
    let body = encode(&notes)?;
    Ok(conditional::respond(
        &headers,
        conditional::hash_etag(&body),
        body,
    ))
}

/// `GET /cases/{id}/history`: oldest first; a deleted case's too (404 only for an id never
/// seen).
async fn case_history(
    State(state): State<AppState>,
    CaseId(id): CaseId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let entries = state
        .db
        .read(move |tx| {
            if cases::find(tx, id)?.is_none() {
                return Err(ApiError::case_not_found(id));
            }
            Ok(history::of_case(tx, id)?)
        })
        .await?;
    let body = encode(&entries)?;
    Ok(conditional::respond(
        &headers,
        conditional::hash_etag(&body),
        body,
    ))
}

/// With people on, an assignee must be the id of a person a case can be assigned to; it
/// is stored in the id's canonical form. Without people (`--no-auth`) it stays free text,
/// as before people existed.
fn check_assignee(
    tx: &dyn Sql,
    people_on: bool,
    assignee: Option<String>,
) -> Result<Option<String>, ApiError> {
    let Some(text) = assignee else {
        return Ok(None);
    };
    if !people_on {
        return Ok(Some(text));
    }
    let id = Uuid::parse_str(text.trim()).ok();
    match id {
        Some(id) if people::is_assignable(tx, id)? => Ok(Some(id.to_string())),
        _ => {
            let mut fields = FieldErrors::new();
            fields.insert("assignee", format!("No person has the id `{text}`."));
            Err(validation(fields))
        }
    }
}

async fn dashboard_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = clock::shifted(state.chaos.clock_offset_ms());
    let metrics = state
        .db
        .read(move |tx| Ok::<_, ApiError>(metrics::compute(tx, now)?))
        .await?;
    // `generated_at` changes on every call; the tag covers everything else, so an
    // unchanged dashboard is a 304.
    let mut unstamped = metrics.clone();
    unstamped.generated_at = Timestamp::UNIX_EPOCH;
    let etag = conditional::hash_etag(&encode(&unstamped)?);
    Ok(conditional::respond(&headers, etag, encode(&metrics)?))
}

// ---------------------------------------------------------------------------------------
// Changes

/// What a change produced: the response (stored with its idempotency key) and, when
/// something changed, how it is announced.
struct Change {
    response: StoredResponse,
    event: Option<Announced>,
}

/// An accepted change as sockets and the change log see it.
struct Announced {
    event: ChangeEvent,
    /// What the change log records (and the event carries, numbered).
    logged: ChangeBody,
}

enum Outcome {
    /// The response, and the event with its logged change when something changed.
    Applied(StoredResponse, Option<Box<LiveEvent>>),
    Replayed(StoredResponse),
}

/// The idempotency fingerprint of a request, if it has a key.
fn fingerprint(
    method: Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<Fingerprint>, ApiError> {
    Ok(
        idempotency::key_from_headers(headers)?.map(|key| Fingerprint {
            key,
            method: method.to_string(),
            path: uri.0.path().to_owned(),
            body_hash: body_hash(body),
        }),
    )
}

/// Runs `change` in one write transaction with the idempotency protocol around it; see
/// the module doc.
async fn mutate<F>(
    state: &AppState,
    fingerprint: Option<Fingerprint>,
    change: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(&dyn Sql, Timestamp) -> Result<Change, ApiError> + Send + 'static,
{
    let events = state.events.clone();
    let engine = state.db.engine();
    let clock_offset_ms = state.chaos.clock_offset_ms();
    let chaos = state.chaos.clone();
    let outcome = state
        .db
        .write(
            move |tx| {
                let now = clock::shifted(clock_offset_ms);
                if let Some(request) = &fingerprint {
                    match idempotency::lookup(tx, request, now.unix_millis())? {
                        Lookup::Replay(stored) => return Ok(Outcome::Replayed(stored)),
                        Lookup::Conflict => return Err(ApiError::IdempotencyConflict),
                        Lookup::Fresh => {}
                    }
                }
                let applied = change(tx, now)?;
                if let Some(request) = &fingerprint {
                    idempotency::record(tx, request, &applied.response, now.unix_millis())?;
                }
                let Some(Announced { event, logged }) = applied.event else {
                    return Ok(Outcome::Applied(applied.response, None));
                };
                // Last: on PostgreSQL the log's counter stays locked until commit.
                let change = change_log::append(tx, now, vec![logged])?.pop();
                let live = LiveEvent { event, change };
                if engine == Engine::Postgres {
                    // Every server hears it at commit, in commit order, this one included.
                    pg_events::notify(tx, &live)?;
                }
                chaos.hold_commit_if_asked();
                Ok(Outcome::Applied(applied.response, Some(Box::new(live))))
            },
            move |outcome| {
                if let (Engine::Sqlite, Outcome::Applied(_, Some(live))) = (engine, outcome) {
                    events.publish(LiveEvent::clone(live));
                }
            },
        )
        .await?;
    Ok(match outcome {
        Outcome::Applied(response, _) => response.into_response(),
        Outcome::Replayed(stored) => {
            let mut response = stored.into_response();
            response
                .headers_mut()
                .insert(IDEMPOTENT_REPLAY, HeaderValue::from_static("true"));
            response
        }
    })
}

fn case_response(status: StatusCode, case: &Case) -> Result<StoredResponse, ApiError> {
    StoredResponse::json(status, case, Some(etag_for_version(case.version)))
}

async fn create_case(
    State(state): State<AppState>,
    actor: Actor,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let fingerprint = fingerprint(Method::POST, &uri, &headers, &bytes)?;
    // Body errors are reported after the key is checked: a replay needs no valid body.
    let parsed = decode_json::<NewCase>(&headers, &bytes)
        .and_then(|new| validate_new_case(&new).map(|()| new).map_err(validation));
    let people_on = state.people;
    mutate(&state, fingerprint, move |tx, now| {
        let mut new = parsed?;
        new.assignee = check_assignee(tx, people_on, new.assignee)?;
        if cases::find(tx, new.id)?.is_some() {
            return Err(ApiError::AlreadyExists(format!(
                "A case with id {} already exists (or existed).",
                new.id
            )));
        }
        let mut case = new.into_case(now);
        case.created_by = Some(actor.id());
        case.updated_by = Some(actor.id());
        let record = CaseRecord::new(case);
        if !cases::insert(tx, &record)? {
            return Err(ApiError::AlreadyExists(format!(
                "A case with id {} already exists (or existed).",
                record.case.id
            )));
        }
        let case = record.case;
        let changes = history::created(&case);
        history::record(
            tx,
            case.id,
            now,
            Some(actor.id()),
            HistoryKind::Created,
            &changes,
        )?;
        Ok(Change {
            response: case_response(StatusCode::CREATED, &case)?,
            event: Some(Announced {
                event: ChangeEvent::CaseCreated {
                    id: case.id,
                    version: case.version,
                    at: now,
                },
                logged: ChangeBody::Case { case },
            }),
        })
    })
    .await
}

/// What `If-Match` asks for.
#[derive(Clone, Copy, Debug)]
enum Precondition {
    Any,
    Version(u64),
}

fn if_match(headers: &HeaderMap) -> Option<Result<Precondition, ApiError>> {
    let value = headers.get(header::IF_MATCH)?;
    let text = value.to_str().unwrap_or("").trim();
    Some(if text == "*" {
        Ok(Precondition::Any)
    } else {
        version_from_etag(text)
            .map(Precondition::Version)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "`If-Match: {text}` is not a case version such as \"3\"."
                ))
            })
    })
}

fn check_version(precondition: Precondition, record: &CaseRecord) -> Result<(), ApiError> {
    match precondition {
        Precondition::Version(v) if v != record.case.version => Err(ApiError::VersionConflict {
            current: Box::new(record.case.clone()),
        }),
        _ => Ok(()),
    }
}

async fn patch_case(
    State(state): State<AppState>,
    actor: Actor,
    CaseId(id): CaseId,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let fingerprint = fingerprint(Method::PATCH, &uri, &headers, &bytes)?;
    let precondition = if_match(&headers).unwrap_or(Err(ApiError::PreconditionRequired));
    let parsed = decode_json::<CasePatch>(&headers, &bytes)
        .and_then(|patch| validate_patch(&patch).map(|()| patch).map_err(validation));
    let people_on = state.people;
    mutate(&state, fingerprint, move |tx, now| {
        let precondition = precondition?;
        let mut patch = parsed?;
        if let Some(assignee) = patch.assignee.take() {
            let assignee = casedesk_model::case::normalise_assignee(assignee);
            patch.assignee = Some(check_assignee(tx, people_on, assignee)?);
        }
        let mut record = cases::find_live(tx, id)?.ok_or_else(|| ApiError::case_not_found(id))?;
        check_version(precondition, &record)?;
        let previous = record.case.clone();
        let next = previous.with_patch(&patch);
        if next == previous {
            // Nothing changes: no new version, no event.
            return Ok(Change {
                response: case_response(StatusCode::OK, &previous)?,
                event: None,
            });
        }
        let changes = history::diff(&previous, &next);
        record.case = next;
        record.case.updated_by = Some(actor.id());
        record.case.version = previous.version + 1;
        record.case.updated_at = now.max(previous.updated_at);
        record.track_status(Some(previous.status), record.case.updated_at.unix_millis());
        cases::update(tx, &record)?;
        let case = record.case;
        history::record(
            tx,
            id,
            case.updated_at,
            Some(actor.id()),
            HistoryKind::Updated,
            &changes,
        )?;
        Ok(Change {
            response: case_response(StatusCode::OK, &case)?,
            event: Some(Announced {
                event: ChangeEvent::CaseUpdated {
                    id,
                    version: case.version,
                    at: case.updated_at,
                },
                logged: ChangeBody::Case { case },
            }),
        })
    })
    .await
}

/// `DELETE /cases/{id}`: 204, again for a deleted case, and also for an id never seen
/// (the end state, "no such case", holds). An optional `If-Match` is honoured (412).
async fn delete_case(
    State(state): State<AppState>,
    actor: Actor,
    CaseId(id): CaseId,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let fingerprint = fingerprint(Method::DELETE, &uri, &headers, &bytes)?;
    let precondition = if_match(&headers).transpose();
    mutate(&state, fingerprint, move |tx, now| {
        let precondition = precondition?;
        let gone = Change {
            response: StoredResponse::empty(StatusCode::NO_CONTENT),
            event: None,
        };
        let Some(record) = cases::find_live(tx, id)? else {
            return Ok(gone);
        };
        if let Some(precondition) = precondition {
            check_version(precondition, &record)?;
        }
        let at = now.max(record.case.updated_at);
        cases::mark_deleted(tx, id, record.case.version + 1, at, actor.id())?;
        history::record(tx, id, at, Some(actor.id()), HistoryKind::Deleted, &[])?;
        Ok(Change {
            event: Some(Announced {
                event: ChangeEvent::CaseDeleted { id, at },
                logged: ChangeBody::CaseDeleted { id },
            }),
            ..gone
        })
    })
    .await
}

async fn create_note(
    State(state): State<AppState>,
    actor: Actor,
    CaseId(case_id): CaseId,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body).await?;
    let fingerprint = fingerprint(Method::POST, &uri, &headers, &bytes)?;
    let parsed = decode_json::<NewNote>(&headers, &bytes)
        .and_then(|new| validate_new_note(&new).map(|()| new).map_err(validation));
    mutate(&state, fingerprint, move |tx, now| {
        let new = parsed?;
        if cases::find_live(tx, case_id)?.is_none() {
            return Err(ApiError::case_not_found(case_id));
        }
        // The author is whoever the session says, whatever the body claims.
        let mut note = new.into_note(case_id, now);
        note.author = actor.person.name.clone();
        note.author_id = Some(actor.id());
        if !cases::insert_note(tx, &note)? {
            return Err(ApiError::AlreadyExists(format!(
                "A note with id {} already exists.",
                note.id
            )));
        }
        history::record(
            tx,
            case_id,
            now,
            Some(actor.id()),
            HistoryKind::NoteAdded,
            &[casedesk_model::FieldChange {
                field: "note".to_owned(),
                from: serde_json::Value::Null,
                to: serde_json::Value::String(note.id.to_string()),
            }],
        )?;
        Ok(Change {
            response: StoredResponse::json(StatusCode::CREATED, &note, None)?,
            event: Some(Announced {
                event: ChangeEvent::NoteCreated {
                    id: note.id,
                    case_id,
                    at: now,
                },
                logged: ChangeBody::Note { note },
            }),
        })
    })
    .await
}
