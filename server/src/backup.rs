//! `casedesk-server backup PATH` (docs/api.md §7): a consistent copy of a live SQLite
//! database, taken while the server goes on writing.
//!
//! The copy is SQLite's `VACUUM INTO` on a read-only connection: it reads one snapshot (a
//! read transaction, which in WAL mode never holds a writer up) and writes it compacted to
//! a new file, so the copy holds exactly the changes committed when it began, each whole,
//! with their idempotency keys. It is written beside PATH, checked, flushed to disk, and
//! only then renamed onto PATH, so PATH is never a half-written copy. PostgreSQL has its
//! own tools (`pg_dump`, `pg_restore`): the command says so.

use crate::db::is_postgres_url;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the copy waits for a lock the server holds for a moment (WAL checkpoints).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "`backup` copies SQLite databases; for PostgreSQL use its own tools: \
         pg_dump --format=custom --file=casedesk.dump '{0}' \
         (restore into an empty database with pg_restore --dbname=URL casedesk.dump)"
    )]
    Postgres(String),
    #[error("`:memory:` is a throwaway database: there is nothing to back up")]
    Memory,
    #[error("there is no database at {0}")]
    NoDatabase(PathBuf),
    #[error("cannot copy the database to {path}: {source}")]
    Copy {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the copy at {path} failed its check: {found}")]
    Check { path: PathBuf, found: String },
    #[error("cannot write the copy to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the backup task failed: {0}")]
    Task(String),
}

/// What a finished backup holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// Cases in the copy, deleted ones included.
    pub cases: u64,
    /// The copy's size.
    pub bytes: u64,
}

/// Copies the database `db` (the `--db` value) to `to`; see the module doc.
pub async fn backup(db: &str, to: &Path) -> Result<BackupSummary, BackupError> {
    if is_postgres_url(db) {
        return Err(BackupError::Postgres(redacted(db)));
    }
    if db == ":memory:" {
        return Err(BackupError::Memory);
    }
    let from = PathBuf::from(db);
    let to = to.to_owned();
    tokio::task::spawn_blocking(move || copy(&from, &to))
        .await
        .map_err(|e| BackupError::Task(e.to_string()))?
}

fn copy(from: &Path, to: &Path) -> Result<BackupSummary, BackupError> {
    if !from.is_file() {
        return Err(BackupError::NoDatabase(from.to_owned()));
    }
    let partial = partial_path(to);
    let copy_error = |source| BackupError::Copy {
        path: to.to_owned(),
        source,
    };
    let write_error = |source| BackupError::Write {
        path: to.to_owned(),
        source,
    };
    // `VACUUM INTO` refuses a file that exists; one left by an interrupted backup is ours.
    match std::fs::remove_file(&partial) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(write_error(error))
        }
        _ => {}
    }
    let source = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(copy_error)?;
    source.busy_timeout(BUSY_TIMEOUT).map_err(copy_error)?;
    let target = partial.to_string_lossy().into_owned();
    source
        .execute("VACUUM INTO ?1", [&target])
        .map_err(copy_error)?;
    drop(source);

    let summary = check(&partial).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    // SQLite does not flush what `VACUUM INTO` wrote: do it before the copy takes PATH's
    // name, and flush the folder so the new name survives a power failure too.
    std::fs::File::open(&partial)
        .and_then(|file| file.sync_all())
        .map_err(write_error)?;
    std::fs::rename(&partial, to).map_err(write_error)?;
    if let Some(folder) = to.parent().filter(|f| !f.as_os_str().is_empty()) {
        let _ = std::fs::File::open(folder).and_then(|dir| dir.sync_all());
    }
    Ok(summary)
}

/// The copy opens, passes SQLite's quick check and has the cases table.
fn check(path: &Path) -> Result<BackupSummary, BackupError> {
    let copy_error = |source| BackupError::Copy {
        path: path.to_owned(),
        source,
    };
    let copy =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(copy_error)?;
    let verdict: String = copy
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(copy_error)?;
    if verdict != "ok" {
        return Err(BackupError::Check {
            path: path.to_owned(),
            found: verdict,
        });
    }
    let cases: i64 = copy
        .query_row("SELECT count(*) FROM cases", [], |row| row.get(0))
        .map_err(copy_error)?;
    let bytes = std::fs::metadata(path)
        .map_err(|source| BackupError::Write {
            path: path.to_owned(),
            source,
        })?
        .len();
    Ok(BackupSummary {
        cases: u64::try_from(cases).unwrap_or(0),
        bytes,
    })
}

/// `PATH.partial`, beside PATH (a rename within one folder is atomic).
fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    to.with_file_name(name)
}

/// The URL without its password, fit to print.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_printed_without_its_password() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/casedesk?sslmode=require"),
            "postgres://app@db:5432/casedesk?sslmode=require"
        );
        assert_eq!(redacted("postgres://db/casedesk"), "postgres://db/casedesk");
    }

    #[test]
    fn the_partial_copy_sits_beside_its_target() {
        assert_eq!(
            partial_path(Path::new("/backups/casedesk.db")),
            PathBuf::from("/backups/casedesk.db.partial")
        );
    }
}
