//! People in SQL, their roles and passwords, and the fixed people every database has.
//!
//! Changing a role or deactivating someone never leaves the database without an active
//! admin ([`update`] decides it inside the write transaction, under a lock every such
//! change takes, so two admins demoting each other at once cannot both succeed).
//! Passwords are stored as Argon2id PHC strings (salt and parameters inside): a slow,
//! memory-hard, salted hash, so a stolen database does not give the passwords away cheaply.
//! Two people are built in and can never sign in: "Service" (whom `--auth-token` acts as)
//! and "Guest" (everyone under `--no-auth`). The demo people have fixed ids so that a
//! free-text assignee of an older database ("dana") maps to the same person everywhere.

use crate::db::{DbError, Engine, Sql, SqlRow};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use casedesk_model::{Person, PersonPatch, Role};
use uuid::Uuid;

/// The password of every demo person (docs/api.md §4), stated at start-up.
pub(crate) const DEMO_PASSWORD: &str = "casedesk-demo";

/// Whom a service token (`--auth-token`) acts as.
pub(crate) const SERVICE_ID: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_5e71);
/// Whom every request acts as under `--no-auth`.
pub(crate) const GUEST_ID: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_9e57);

/// A person the server knows from the start: `(id, name, email, role)`.
type FixedPerson = (Uuid, &'static str, &'static str, Role);

/// Both act as admins for cases: a service token may do everything (the browser tests
/// create, change and delete through one), and Guest everything it could before roles
/// (only people cannot be managed without people: see `auth::Actor::allows`).
const BUILT_IN: [FixedPerson; 2] = [
    (
        SERVICE_ID,
        "Service",
        "service@casedesk.invalid",
        Role::Admin,
    ),
    (GUEST_ID, "Guest", "guest@casedesk.invalid", Role::Admin),
];

/// Whether `id` is Service or Guest, who are not people one manages or assigns.
pub(crate) fn is_built_in(id: Uuid) -> bool {
    id == SERVICE_ID || id == GUEST_ID
}

/// The built-in person with `id` (Service or Guest), as requests acting as them show it.
fn built_in(id: Uuid) -> Person {
    let (id, name, email, role) = BUILT_IN
        .into_iter()
        .find(|(fixed, ..)| *fixed == id)
        .unwrap_or(BUILT_IN[1]);
    Person {
        id,
        name: name.to_owned(),
        email: email.to_owned(),
        role,
        active: true,
    }
}

/// Whom a service token acts as.
pub(crate) fn service() -> Person {
    built_in(SERVICE_ID)
}

/// Whom every request without a token acts as under `--no-auth`.
pub(crate) fn guest() -> Person {
    built_in(GUEST_ID)
}

/// The demo people; their first names are the assignees of the demo data before people.
pub(crate) const DEMO_PEOPLE: [FixedPerson; 4] = [
    (
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_d001),
        "Dana Reyes",
        "dana@example.com",
        Role::Admin,
    ),
    (
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_d002),
        "Sam Okafor",
        "sam@example.com",
        Role::Agent,
    ),
    (
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_d003),
        "Priya Natarajan",
        "priya@example.com",
        Role::Agent,
    ),
    (
        Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_d004),
        "Lee Chen",
        "lee@example.com",
        Role::Agent,
    ),
];

/// Why a password could not be hashed (only a broken random source or parameters).
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub(crate) struct HashError(String);

/// The Argon2id PHC string of `password`, with a fresh random salt and the crate's default
/// parameters (Argon2id, 19 MiB, 2 passes: OWASP's recommended minimum).
pub(crate) fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| HashError(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the stored PHC string; a malformed one matches nothing.
pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A person with what only the server sees.
#[derive(Clone, Debug)]
pub(crate) struct PersonRecord {
    pub(crate) person: Person,
    /// `None`: this person cannot sign in (built-in people, people of a migration).
    pub(crate) password_hash: Option<String>,
}

const PERSON_COLUMNS: &str = "id, name, email, role, password_hash, active";

fn record_from_row(row: &SqlRow) -> Result<PersonRecord, DbError> {
    let role = row.text(3)?;
    let role = Role::parse(&role).ok_or_else(|| DbError::Decode {
        column: 3,
        message: format!("`{role}` is not a role"),
    })?;
    Ok(PersonRecord {
        person: Person {
            id: row.uuid(0)?,
            name: row.text(1)?,
            email: row.text(2)?,
            role,
            active: row.bool(5)?,
        },
        password_hash: row.opt_text(4)?,
    })
}

/// The person with this email (compared case-insensitively: SQLite's column is NOCASE,
/// PostgreSQL's unique index is on lower(email)).
pub(crate) fn by_email(conn: &dyn Sql, email: &str) -> Result<Option<PersonRecord>, DbError> {
    let condition = match conn.engine() {
        Engine::Sqlite => "email = ?1",
        Engine::Postgres => "lower(email) = lower(?1)",
    };
    conn.query_opt(
        &format!("SELECT {PERSON_COLUMNS} FROM people WHERE {condition}"),
        &[email.trim().into()],
    )?
    .as_ref()
    .map(record_from_row)
    .transpose()
}

pub(crate) fn by_id(conn: &dyn Sql, id: Uuid) -> Result<Option<Person>, DbError> {
    Ok(record_by_id(conn, id)?.map(|r| r.person))
}

/// The person with this id, with their password hash.
pub(crate) fn record_by_id(conn: &dyn Sql, id: Uuid) -> Result<Option<PersonRecord>, DbError> {
    conn.query_opt(
        &format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = ?1"),
        &[id.into()],
    )?
    .as_ref()
    .map(record_from_row)
    .transpose()
}

/// Every person but the built-in ones (Service, Guest), by name, deactivated ones
/// included (their names still label what they wrote).
pub(crate) fn list(conn: &dyn Sql) -> Result<Vec<Person>, DbError> {
    conn.query(
        &format!("SELECT {PERSON_COLUMNS} FROM people WHERE id NOT IN (?1, ?2) ORDER BY name, id"),
        &[SERVICE_ID.into(), GUEST_ID.into()],
    )?
    .iter()
    .map(|row| record_from_row(row).map(|r| r.person))
    .collect()
}

/// Whether a case may be assigned to `id`: a person other than the built-in ones.
pub(crate) fn is_assignable(conn: &dyn Sql, id: Uuid) -> Result<bool, DbError> {
    if is_built_in(id) {
        return Ok(false);
    }
    conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM people WHERE id = ?1)",
        &[id.into()],
    )?
    .bool(0)
}

/// Why a person could not be added.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AddError {
    #[error("a person with the email {0} already exists")]
    EmailTaken(String),
    #[error(transparent)]
    Database(#[from] DbError),
}

/// How many people there are, the built-in ones aside (none: the server says how to add
/// the first admin).
pub(crate) fn count(conn: &dyn Sql) -> Result<u64, DbError> {
    conn.query_one(
        "SELECT count(*) FROM people WHERE id NOT IN (?1, ?2)",
        &[SERVICE_ID.into(), GUEST_ID.into()],
    )?
    .count(0)
}

/// Why a person could not be changed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChangeError {
    #[error("no person has the id {0}")]
    NotFound(Uuid),
    #[error("this is the last active admin: make someone else an admin first")]
    LastAdmin,
    #[error(transparent)]
    Database(#[from] DbError),
}

/// Taken by every change of a role or of `active` (PostgreSQL: an advisory lock held to
/// the end of the transaction; SQLite's writers take turns anyway), so the count of the
/// other active admins cannot change between the check and the write.
const ADMINS_LOCK: i64 = 0x6164_6d69_6e73; // "admins"

/// Changes a person's name, role or `active`. Refuses ([`ChangeError::LastAdmin`]) a change
/// that would leave no active admin where there was one. Returns the person as changed,
/// and whether they were active before. Deactivating ends every session of theirs.
pub(crate) fn update(
    conn: &dyn Sql,
    id: Uuid,
    patch: &PersonPatch,
    now_ms: i64,
) -> Result<(Person, bool), ChangeError> {
    if is_built_in(id) {
        return Err(ChangeError::NotFound(id));
    }
    conn.lock_key(ADMINS_LOCK)?;
    let before = by_id(conn, id)?.ok_or(ChangeError::NotFound(id))?;
    let mut after = before.clone();
    if let Some(name) = &patch.name {
        after.name = name.trim().to_owned();
    }
    if let Some(role) = patch.role {
        after.role = role;
    }
    if let Some(active) = patch.active {
        after.active = active;
    }
    let was_admin = before.active && before.role == Role::Admin;
    let stays_admin = after.active && after.role == Role::Admin;
    if was_admin && !stays_admin && other_active_admins(conn, id)? == 0 {
        return Err(ChangeError::LastAdmin);
    }
    conn.execute(
        "UPDATE people SET name = ?2, role = ?3, active = ?4 WHERE id = ?1",
        &[
            id.into(),
            after.name.as_str().into(),
            after.role.as_str().into(),
            i64::from(after.active).into(),
        ],
    )?;
    if before.active && !after.active {
        crate::sessions::revoke_all_of(conn, id, None, now_ms)?;
    }
    Ok((after, before.active))
}

fn other_active_admins(conn: &dyn Sql, except: Uuid) -> Result<u64, DbError> {
    conn.query_one(
        "SELECT count(*) FROM people
         WHERE role = 'admin' AND active = ?4 AND id NOT IN (?1, ?2, ?3)",
        &[
            except.into(),
            SERVICE_ID.into(),
            GUEST_ID.into(),
            1i64.into(),
        ],
    )?
    .count(0)
}

/// Stores a new password hash for `id`.
pub(crate) fn set_password(conn: &dyn Sql, id: Uuid, phc: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE people SET password_hash = ?2 WHERE id = ?1",
        &[id.into(), phc.into()],
    )?;
    Ok(())
}

/// Adds a person; the email must be new.
pub(crate) fn insert(
    conn: &dyn Sql,
    person: &Person,
    password_hash: Option<&str>,
    now_ms: i64,
) -> Result<(), AddError> {
    if by_email(conn, &person.email)?.is_some() {
        return Err(AddError::EmailTaken(person.email.clone()));
    }
    conn.execute(
        "INSERT INTO people (id, name, email, role, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            person.id.into(),
            person.name.as_str().into(),
            person.email.trim().into(),
            person.role.as_str().into(),
            password_hash.into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

fn insert_fixed(
    conn: &dyn Sql,
    (id, name, email, role): FixedPerson,
    password_hash: Option<&str>,
) -> Result<(), DbError> {
    // An existing row keeps its password unless it has none yet.
    conn.execute(
        "INSERT INTO people (id, name, email, role, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0)
         ON CONFLICT (id) DO UPDATE
         SET password_hash = coalesce(people.password_hash, excluded.password_hash)",
        &[
            id.into(),
            name.into(),
            email.into(),
            role.as_str().into(),
            password_hash.into(),
        ],
    )?;
    Ok(())
}

/// Migration step: the built-in people, then each free-text assignee (and note author)
/// mapped to the demo person it names, else cleared. See [`legacy_person`].
pub(crate) fn migrate_legacy(conn: &dyn Sql) -> Result<(), DbError> {
    for fixed in BUILT_IN {
        insert_fixed(conn, fixed, None)?;
    }
    let assignees = conn.query(
        "SELECT DISTINCT assignee FROM cases WHERE assignee IS NOT NULL",
        &[],
    )?;
    for row in assignees {
        let text = row.text(0)?;
        let mapped = legacy_person(&text);
        if let Some(person) = mapped {
            // A person a migration adds has no password: an admin gives them one with
            // `user add`-style tooling later; nobody can sign in as them meanwhile.
            insert_fixed(conn, person, None)?;
        }
        conn.execute(
            "UPDATE cases SET assignee = ?2 WHERE assignee = ?1",
            &[
                text.as_str().into(),
                mapped.map(|(id, ..)| id.to_string()).into(),
            ],
        )?;
    }
    let authors = conn.query("SELECT DISTINCT author FROM notes", &[])?;
    for row in authors {
        let text = row.text(0)?;
        if let Some(person) = legacy_person(&text) {
            insert_fixed(conn, person, None)?;
            conn.execute(
                "UPDATE notes SET author_id = ?2 WHERE author = ?1",
                &[text.as_str().into(), person.0.into()],
            )?;
        }
    }
    Ok(())
}

/// The demo person a free-text name means: equal, ignoring case and surrounding spaces, to
/// a demo person's full name or to their first name (the part before the first space, as
/// the demo data before people wrote them: "dana").
pub(crate) fn legacy_person(text: &str) -> Option<FixedPerson> {
    let wanted = text.trim().to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    DEMO_PEOPLE.into_iter().find(|(_, name, ..)| {
        let name = name.to_lowercase();
        let first = name.split(' ').next().unwrap_or_default();
        wanted == name || wanted == first
    })
}

/// Seeds the demo people with [`DEMO_PASSWORD`] (kept for those who already have one).
pub(crate) fn seed_demo(conn: &dyn Sql, demo_password_hash: &str) -> Result<(), DbError> {
    for fixed in DEMO_PEOPLE {
        insert_fixed(conn, fixed, Some(demo_password_hash))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_map_by_full_or_first_name() {
        assert_eq!(legacy_person(" Dana ").map(|p| p.1), Some("Dana Reyes"));
        assert_eq!(legacy_person("lee chen").map(|p| p.1), Some("Lee Chen"));
        assert_eq!(legacy_person("marco"), None);
        assert_eq!(legacy_person("Reyes"), None);
        assert_eq!(legacy_person(""), None);
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct hors", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
