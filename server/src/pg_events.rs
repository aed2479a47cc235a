//! Change events between servers sharing one PostgreSQL database (docs/api.md §5).
//!
//! A write publishes its event with `pg_notify` inside its own transaction, so PostgreSQL
//! delivers it at commit, in commit order, to every server listening, this one included;
//! each server's listener thread hands what it hears to its own [`EventBus`]. An event (with
//! the change it carries, docs/api.md §6) over
//! NOTIFY's 8000-byte limit is stored in `event_overflow` and only its id is sent; the
//! listener fetches it. A listener that loses its connection reconnects (with backoff) and
//! then tells its sockets to resync, since events may have passed meanwhile.

use crate::db::{Db, DbError, PgConnect, Sql};
use crate::events::EventBus;
use casedesk_model::{ChangeEvent, LiveEvent};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use std::time::Duration;

/// The NOTIFY channel.
const CHANNEL: &str = "casedesk_events";
/// NOTIFY payloads must be shorter than 8000 bytes.
const MAX_PAYLOAD: usize = 7999;
/// The longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a notification carries: the event itself, or the id of a stored one.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Payload {
    Stored { overflow: i64 },
    Event(Box<LiveEvent>),
}

/// Publishes `event` to every server at the commit of `tx` (PostgreSQL only).
pub(crate) fn notify(tx: &dyn Sql, event: &LiveEvent) -> Result<(), DbError> {
    let encode = |payload: &Payload| {
        serde_json::to_string(payload).map_err(|e| DbError::Task(format!("event: {e}")))
    };
    let mut payload = encode(&Payload::Event(Box::new(event.clone())))?;
    if payload.len() > MAX_PAYLOAD {
        let event = payload;
        let row = tx.query_one(
            "INSERT INTO event_overflow (payload, at) VALUES (?1, ?2) RETURNING seq",
            &[event.into(), crate::clock::now_millis().into()],
        )?;
        payload = encode(&Payload::Stored {
            overflow: row.int(0)?,
        })?;
    }
    tx.execute(
        &format!("SELECT pg_notify('{CHANNEL}', ?1)"),
        &[payload.into()],
    )?;
    Ok(())
}

/// Forgets stored events older than a day (every listener had them long ago).
pub(crate) fn prune(tx: &dyn Sql, now_ms: i64) -> Result<u64, DbError> {
    tx.execute(
        "DELETE FROM event_overflow WHERE at < ?1",
        &[now_ms.saturating_sub(crate::clock::DAY_MS).into()],
    )
}

/// Starts listening (before the server answers anything, so no event it accepts is
/// missed), then hands the connection to a thread that forwards what it hears to `bus`.
pub(crate) async fn start(db: Db, bus: EventBus) -> Result<(), DbError> {
    let Some(connector) = db.postgres_connector() else {
        return Ok(());
    };
    let listening = {
        let connector = connector.clone();
        tokio::task::spawn_blocking(move || listen(&connector))
            .await
            .map_err(|e| DbError::Task(e.to_string()))??
    };
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("casedesk-listen".into())
        .spawn(move || forward_forever(listening, &connector, &db, &bus, &runtime))
        .map_err(|e| DbError::Task(format!("cannot start the event listener: {e}")))?;
    Ok(())
}

fn listen(connector: &PgConnect) -> Result<Client, DbError> {
    let mut client = connector.connect()?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    Ok(client)
}

fn forward_forever(
    mut client: Client,
    connector: &PgConnect,
    db: &Db,
    bus: &EventBus,
    runtime: &tokio::runtime::Handle,
) {
    loop {
        let lost = forward(&mut client, db, bus, runtime);
        tracing::warn!(error = %lost, "lost the change-event listener; listening again");
        let mut backoff = Duration::from_millis(50);
        client = loop {
            // A background thread of its own: waiting here delays nothing else.
            std::thread::sleep(backoff);
            match listen(connector) {
                Ok(client) => break client,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for change events yet");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        // Events committed while nobody listened are lost to this server's sockets.
        bus.publish(ChangeEvent::Resync {
            reason: "live updates were interrupted; refetch what you show".into(),
        });
    }
}

/// Forwards notifications until the connection fails; returns why it did.
fn forward(
    client: &mut Client,
    db: &Db,
    bus: &EventBus,
    runtime: &tokio::runtime::Handle,
) -> DbError {
    let mut notifications = client.notifications();
    let mut heard = notifications.blocking_iter();
    loop {
        let notification = match heard.next() {
            Ok(Some(notification)) => notification,
            Ok(None) => return DbError::Task("the listening connection closed".into()),
            Err(error) => return error.into(),
        };
        match serde_json::from_str::<Payload>(notification.payload()) {
            Ok(Payload::Event(event)) => bus.publish(*event),
            Ok(Payload::Stored { overflow }) => match runtime.block_on(fetch(db, overflow)) {
                Ok(Some(event)) => bus.publish(event),
                Ok(None) => tracing::warn!(overflow, "a stored change event is gone"),
                Err(error) => tracing::warn!(%error, "cannot fetch a stored change event"),
            },
            Err(error) => tracing::warn!(%error, "an unreadable change event"),
        }
    }
}

async fn fetch(db: &Db, seq: i64) -> Result<Option<LiveEvent>, DbError> {
    db.read(move |tx| {
        let Some(row) = tx.query_opt(
            "SELECT payload FROM event_overflow WHERE seq = ?1",
            &[seq.into()],
        )?
        else {
            return Ok(None);
        };
        match serde_json::from_str::<Payload>(&row.text(0)?) {
            Ok(Payload::Event(event)) => Ok(Some(*event)),
            _ => Ok(None),
        }
    })
    .await
}
