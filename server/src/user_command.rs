//! The `user` subcommands (docs/api.md §3, §4): people added and changed from the shell, on
//! the database of `--db`, with the rules the API keeps (password rules, the last active
//! admin). Reading the password is the binary's part (`main.rs`).

use crate::config::Config;
use crate::db::Db;
use crate::error::StartError;
use crate::people::{self, ChangeError};
use crate::{clock, sessions};
use casedesk_model::validate::{check_password, validate_new_person};
use casedesk_model::{FieldErrors, NewPerson, Person, PersonPatch, Role};

fn refused(fields: FieldErrors) -> StartError {
    let reasons: Vec<&str> = fields.iter().map(|(_, why)| why.as_str()).collect();
    StartError::ChangePerson(reasons.join(" "))
}

fn parse_role(role: &str) -> Result<Role, StartError> {
    Role::parse(role).ok_or_else(|| StartError::ChangePerson(format!("`{role}` is not a role")))
}

fn check_new_password(password: &str, email: &str) -> Result<(), StartError> {
    let mut fields = FieldErrors::new();
    check_password("password", password, email, &mut fields);
    fields.into_result().map_err(refused)
}

async fn hash(password: &str) -> Result<String, StartError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || people::hash_password(&password))
        .await
        .map_err(|e| StartError::ChangePerson(e.to_string()))?
        .map_err(|e| StartError::ChangePerson(e.to_string()))
}

/// The person with `email` in `db`, or a plain refusal.
async fn find(db: &Db, email: &str) -> Result<Person, StartError> {
    let wanted = email.to_owned();
    let found = db
        .read(move |tx| people::by_email(tx, &wanted))
        .await?
        .map(|record| record.person)
        .filter(|person| !people::is_built_in(person.id));
    found.ok_or_else(|| StartError::ChangePerson(format!("nobody has the email {email}")))
}

/// `user add`: adds a person with `password` (read by the caller).
pub async fn add_user(
    config: &Config,
    email: &str,
    name: &str,
    role: &str,
    password: &str,
) -> Result<Person, StartError> {
    let role = parse_role(role)?;
    let new = NewPerson {
        email: email.trim().to_owned(),
        name: name.trim().to_owned(),
        role,
    };
    validate_new_person(&new).map_err(refused)?;
    check_new_password(password, &new.email)?;
    let (db, _) = Db::open(&config.db).await?;
    let hash = hash(password).await?;
    let person = Person {
        id: uuid::Uuid::now_v7(),
        name: new.name,
        email: new.email,
        role,
        active: true,
    };
    let added = person.clone();
    db.with_writer(move |conn| {
        Ok(people::insert(
            conn,
            &added,
            Some(&hash),
            clock::now_millis(),
        ))
    })
    .await?
    .map_err(|e| StartError::ChangePerson(e.to_string()))?;
    Ok(person)
}

/// `user passwd`: sets the password of the person with `email`; every session of theirs
/// ends (whoever knew the old password is signed out).
pub async fn set_password(
    config: &Config,
    email: &str,
    password: &str,
) -> Result<Person, StartError> {
    let (db, _) = Db::open(&config.db).await?;
    let person = find(&db, email).await?;
    check_new_password(password, &person.email)?;
    let hash = hash(password).await?;
    let id = person.id;
    db.with_writer(move |conn| {
        people::set_password(conn, id, &hash)?;
        sessions::revoke_all_of(conn, id, None, clock::now_millis())?;
        Ok(())
    })
    .await?;
    Ok(person)
}

/// Applies `patch` to the person with `email`, as `PATCH /users/{id}` does.
async fn change(config: &Config, email: &str, patch: PersonPatch) -> Result<Person, StartError> {
    let (db, _) = Db::open(&config.db).await?;
    let id = find(&db, email).await?.id;
    let changed = db
        .write(
            move |conn| {
                people::update(conn, id, &patch, clock::now_millis()).map(|(person, _)| person)
            },
            |_| {},
        )
        .await;
    changed.map_err(|error| match error {
        ChangeError::Database(e) => StartError::Database(e),
        other => StartError::ChangePerson(other.to_string()),
    })
}

/// `user role`: gives the person with `email` another role.
pub async fn set_role(config: &Config, email: &str, role: &str) -> Result<Person, StartError> {
    let patch = PersonPatch {
        role: Some(parse_role(role)?),
        ..PersonPatch::default()
    };
    change(config, email, patch).await
}

/// `user deactivate`: the person with `email` can no longer sign in; their sessions end.
pub async fn deactivate(config: &Config, email: &str) -> Result<Person, StartError> {
    let patch = PersonPatch {
        active: Some(false),
        ..PersonPatch::default()
    };
    change(config, email, patch).await
}
