//! The `/api/v1/events` WebSocket: one event per accepted change, pings, auth.

use crate::support::{new_case, Server, SERVICE_TOKEN};
use casedesk_model::ChangeEvent;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, query: &str) -> Socket {
    let (socket, response) =
        tokio_tungstenite::connect_async(server.ws_url(&format!("/api/v1/events{query}")))
            .await
            .expect("the socket opens");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// The next change event (pings skipped unless `keep_pings`), within 5 s.
async fn next_event(socket: &mut Socket, keep_pings: bool) -> ChangeEvent {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an event in time")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(text) = message {
            let event: ChangeEvent = serde_json::from_str(&text).unwrap();
            if keep_pings || event != ChangeEvent::Ping {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn every_accepted_change_is_one_event_and_replays_are_none() {
    let server = Server::start(&[]);
    let mut socket = connect(&server, "").await;

    let key = Uuid::new_v4().to_string();
    let body = new_case("Live");
    for _ in 0..2 {
        let response = server
            .post_json("/api/v1/cases", &body)
            .header("Idempotency-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let response = server
        .patch(&id.to_string(), 1, json!({"status": "in_progress"}))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    // Rejected and no-op changes publish nothing.
    let response = server
        .patch(&id.to_string(), 1, json!({"title": "stale"}))
        .await;
    assert_eq!(response.status().as_u16(), 412);
    let response = server
        .patch(&id.to_string(), 2, json!({"status": "in_progress"}))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let note_id = Uuid::now_v7();
    let response = server
        .post_json(
            &format!("/api/v1/cases/{id}/notes"),
            &json!({"id": note_id, "body": "watching"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    for _ in 0..2 {
        server
            .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
            .send()
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next_event(&mut socket, false).await);
    }
    assert!(matches!(seen[0], ChangeEvent::CaseCreated { id: i, version: 1, .. } if i == id));
    assert!(matches!(seen[1], ChangeEvent::CaseUpdated { id: i, version: 2, .. } if i == id));
    assert!(
        matches!(seen[2], ChangeEvent::NoteCreated { id: n, case_id: c, .. } if n == note_id && c == id)
    );
    assert!(matches!(seen[3], ChangeEvent::CaseDeleted { id: i, .. } if i == id));

    // Nothing else was sent: the next event is a new change's.
    let other = server.create(new_case("Next")).await;
    let other_id: Uuid = other["id"].as_str().unwrap().parse().unwrap();
    assert!(matches!(
        next_event(&mut socket, false).await,
        ChangeEvent::CaseCreated { id, .. } if id == other_id
    ));
}

/// The next socket message that announces a change, decoded whole, within 5 s.
async fn next_live(socket: &mut Socket) -> casedesk_model::LiveEvent {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an event in time")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(text) = message {
            let live: casedesk_model::LiveEvent = serde_json::from_str(&text).unwrap();
            if live.event != ChangeEvent::Ping {
                return live;
            }
        }
    }
}

#[tokio::test]
async fn each_event_carries_its_change_numbered_as_the_change_feed_numbers_it() {
    use casedesk_model::{ChangeBody, ChangePage, SeqOrder};
    let server = Server::start(&[]);
    let start: ChangePage = server
        .get("/api/v1/changes")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut socket = connect(&server, "").await;

    let case = server.create(new_case("Live with its change")).await;
    let id: Uuid = case["id"].as_str().unwrap().parse().unwrap();
    let response = server
        .patch(&id.to_string(), 1, json!({"priority": "high"}))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let note_id = Uuid::now_v7();
    let response = server
        .post_json(
            &format!("/api/v1/cases/{id}/notes"),
            &json!({"id": note_id, "body": "carried"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    server
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();

    let mut held = start.cursor.clone();
    let mut carried = Vec::new();
    for _ in 0..4 {
        let live = next_live(&mut socket).await;
        let change = live.change.expect("the event carries its change");
        // Each one is the very next change after what a device holds: no gap.
        assert_eq!(change.seq.relative_to(&held), SeqOrder::Next, "{change:?}");
        held = (&change.seq).into();
        carried.push((live.event, change));
    }
    assert!(matches!(&carried[0], (ChangeEvent::CaseCreated { .. }, c)
        if matches!(&c.body, ChangeBody::Case { case } if case.id == id && case.version == 1)));
    assert!(matches!(&carried[1], (ChangeEvent::CaseUpdated { .. }, c)
        if matches!(&c.body, ChangeBody::Case { case }
            if case.version == 2 && case.priority == casedesk_model::Priority::High)));
    assert!(matches!(&carried[2], (ChangeEvent::NoteCreated { .. }, c)
        if matches!(&c.body, ChangeBody::Note { note } if note.id == note_id)));
    assert!(matches!(&carried[3], (ChangeEvent::CaseDeleted { .. }, c)
        if matches!(&c.body, ChangeBody::CaseDeleted { id: gone } if *gone == id)));

    // The feed holds exactly what the events carried.
    let feed: ChangePage = server
        .get(&format!("/api/v1/changes?since={}", start.cursor))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let from_events: Vec<_> = carried.into_iter().map(|(_, change)| change).collect();
    assert_eq!(feed.changes, from_events);
}

#[tokio::test]
async fn pings_arrive_at_the_configured_interval_and_pongs_are_welcome() {
    let server = Server::start(&["--ws-ping-ms", "100"]);
    let mut socket = connect(&server, "").await;
    for _ in 0..2 {
        assert_eq!(next_event(&mut socket, true).await, ChangeEvent::Ping);
        socket
            .send(Message::text(r#"{"type":"pong"}"#))
            .await
            .unwrap();
    }
    // Still alive after the pongs.
    server.create(new_case("After pongs")).await;
    assert!(matches!(
        next_event(&mut socket, false).await,
        ChangeEvent::CaseCreated { .. }
    ));
}

#[tokio::test]
async fn a_client_ping_is_answered_with_its_id_and_server_pings_still_come() {
    let server = Server::start(&["--ws-ping-ms", "200"]);
    let mut socket = connect(&server, "").await;
    for id in [1u64, 2] {
        socket
            .send(Message::text(format!(r#"{{"type":"ping","id":{id}}}"#)))
            .await
            .unwrap();
        // The answer comes before any server ping is due, but a ping may race it: skip those.
        let pong = loop {
            let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .expect("a pong in time")
                .expect("the socket is open")
                .expect("a message");
            if let Message::Text(text) = message {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "pong" {
                    break value;
                }
                assert_eq!(
                    value,
                    json!({"type": "ping"}),
                    "only pings besides the pong"
                );
            }
        };
        assert_eq!(pong, json!({"type": "pong", "id": id}));
    }
    // The server's own heartbeat goes on, and the contract's pong still keeps the socket.
    assert_eq!(next_event(&mut socket, true).await, ChangeEvent::Ping);
    socket
        .send(Message::text(r#"{"type":"pong"}"#))
        .await
        .unwrap();
    server.create(new_case("After a client ping")).await;
    assert!(matches!(
        next_event(&mut socket, false).await,
        ChangeEvent::CaseCreated { .. }
    ));
}

/// The next message is a close frame with code 1008 and `reason`, within 10 s.
async fn expect_closed(socket: &mut Socket, reason: &str) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1008);
                assert_eq!(frame.reason.as_str(), reason);
                return;
            }
            Some(Ok(Message::Text(text))) => panic!("no event before auth: {text}"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn send_auth(socket: &mut Socket, token: &str) {
    let auth = json!({"type": "auth", "token": token}).to_string();
    socket.send(Message::Text(auth.into())).await.unwrap();
}

#[tokio::test]
async fn the_socket_authenticates_with_its_first_message_not_its_url() {
    let server = Server::start(&["--auth-token", SERVICE_TOKEN]);
    // A token in the URL is not read: the socket waits for its auth message.
    let mut in_url = connect(&server, "?token=s3cret").await;
    in_url
        .send(Message::Text(json!({"type": "pong"}).to_string().into()))
        .await
        .unwrap();
    expect_closed(&mut in_url, "unauthorized").await;
    let mut wrong = connect(&server, "").await;
    send_auth(&mut wrong, "guess").await;
    expect_closed(&mut wrong, "unauthorized").await;

    let mut socket = connect(&server, "").await;
    send_auth(&mut socket, SERVICE_TOKEN).await;
    let response = server
        .post_json("/api/v1/cases", &new_case("Authorised"))
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert!(matches!(
        next_event(&mut socket, false).await,
        ChangeEvent::CaseCreated { .. }
    ));
}

#[tokio::test]
async fn a_signed_out_session_cannot_open_the_socket() {
    let server = Server::start_demo(0, &[]);
    let session = crate::support::sign_in(&server, "dana@example.com", "casedesk-demo").await;
    let token = session["token"].as_str().unwrap();
    let mut socket = connect(&server, "").await;
    send_auth(&mut socket, token).await;
    let created = server
        .post_json("/api/v1/cases", &new_case("Seen"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    assert!(matches!(
        next_event(&mut socket, false).await,
        ChangeEvent::CaseCreated { .. }
    ));
    let out = server
        .request(Method::DELETE, "/api/v1/session")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 204);
    let mut again = connect(&server, "").await;
    send_auth(&mut again, token).await;
    expect_closed(&mut again, "session_expired").await;
}

/// Opens the socket with an `Origin` header; the upgrade's HTTP status.
async fn upgrade_from(server: &Server, origin: &str) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server
        .ws_url("/api/v1/events")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_socket_from_a_foreign_origin_is_refused_and_our_own_accepted() {
    let server = Server::start(&[
        "--auth-token",
        SERVICE_TOKEN,
        "--cors-origin",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(upgrade_from(&server, "http://evil.example").await, 403);
    assert_eq!(upgrade_from(&server, "null").await, 403);
    assert_eq!(upgrade_from(&server, &server.base).await, 101);
    assert_eq!(upgrade_from(&server, "http://127.0.0.1:9").await, 101);
    // Without people too: the check does not depend on auth.
    let open = Server::start(&[]);
    assert_eq!(upgrade_from(&open, "http://evil.example").await, 403);
    assert_eq!(upgrade_from(&open, &open.base).await, 101);
}

#[tokio::test]
async fn a_plain_get_of_the_socket_is_a_json_error() {
    let server = Server::start(&[]);
    let response = server.get("/api/v1/events").send().await.unwrap();
    crate::support::expect_error(response, 400, "bad_request").await;
}

/// Waits (up to 10 s) for the server to close the socket, skipping pings and events.
async fn expect_ended(socket: &mut Socket) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed in time");
        match message {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            Some(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn a_persons_socket_closes_when_their_session_ends_or_they_are_deactivated() {
    let server = Server::start_demo(0, &["--ws-ping-ms", "100"]);
    let dana = crate::support::sign_in(&server, "dana@example.com", "casedesk-demo").await;
    let dana = dana["token"].as_str().unwrap().to_owned();
    let sam = crate::support::sign_in(&server, "sam@example.com", "casedesk-demo").await;
    let sam_id = sam["user"]["id"].as_str().unwrap().to_owned();
    let sam = sam["token"].as_str().unwrap().to_owned();

    // Signing out elsewhere ends the socket of the other session.
    let other = crate::support::sign_in(&server, "dana@example.com", "casedesk-demo").await;
    let mut socket = connect(&server, "").await;
    send_auth(&mut socket, other["token"].as_str().unwrap()).await;
    let everywhere = server
        .request(Method::DELETE, "/api/v1/me/sessions")
        .bearer_auth(&dana)
        .send()
        .await
        .unwrap();
    assert_eq!(everywhere.status().as_u16(), 204);
    expect_ended(&mut socket).await;

    let mut socket = connect(&server, "").await;
    send_auth(&mut socket, &sam).await;
    let off = server
        .request(Method::PATCH, &format!("/api/v1/users/{sam_id}"))
        .bearer_auth(&dana)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status().as_u16(), 200);
    expect_ended(&mut socket).await;
    let mut again = connect(&server, "").await;
    send_auth(&mut again, &sam).await;
    expect_closed(&mut again, "session_expired").await;
    // Dana's own socket stays open and hears changes.
    let mut kept = connect(&server, "").await;
    send_auth(&mut kept, &dana).await;
    let created = server
        .post_json("/api/v1/cases", &new_case("Still heard"))
        .bearer_auth(&dana)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    assert!(matches!(
        next_event(&mut kept, false).await,
        ChangeEvent::CaseCreated { .. }
    ));
}
