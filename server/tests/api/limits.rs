//! What a slow, greedy or hostile client can cost (issue 11): connection and request
//! timeouts, the connection cap, the events socket's limits, the rate limiter's keys, the
//! headers on every answer, and flags refused at start-up.
//!
//! No test bounds how fast the server is: small limits come from flags, and each test waits
//! for the outcome (a closed connection, a 408, a 429) with only a generous guard against
//! hanging for ever.

use crate::support::{client, expect_error, new_case, Server, SERVICE_TOKEN};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

/// Only against hanging for ever: every wait below ends long before on a working server.
const GUARD: Duration = Duration::from_secs(60);

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// A hand-made request with its `Host: x` made this server's address: the test servers
/// run with `--no-auth`, which refuses requests for other hosts (DNS rebinding).
fn with_host(server: &Server, raw: &[u8]) -> Vec<u8> {
    let text =
        String::from_utf8_lossy(raw).replacen("Host: x", &format!("Host: {}", addr(server)), 1);
    text.into_bytes()
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never closed the connection");
    all
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = Server::start(&["--header-read-timeout-ms", "200"]);
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(&with_host(
            &server,
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        ))
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    // Closed without a request having been served.
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));

    // A connection kept alive after an answer, then left idle, is closed the same way.
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(&with_host(
            &server,
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        ))
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_is_answered_408() {
    let server = Server::start(&["--request-timeout-ms", "300"]);
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(&with_host(
            &server,
            b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"id\":",
        ))
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(GUARD, async {
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n{") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a request whose body stalls");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("\"request_id\""),
        "the JSON error body: {answer}"
    );
    assert_eq!(server.list("").await["total"], 0, "nothing was created");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let server = Server::start(&["--max-connections", "2"]);
    // Two connections in the middle of a request hold both places.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        stream
            .write_all(&with_host(&server, b"GET /health HTTP/1.1\r\nHost: x\r\n"))
            .await
            .unwrap();
        holders.push(stream);
    }
    let mut waiting = TcpStream::connect(addr(&server)).await.unwrap();
    waiting
        .write_all(&with_host(
            &server,
            b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ))
        .await
        .unwrap();
    // Not served while both places are taken. (This can only miss a broken cap on a very
    // slow machine, never fail a working one.)
    let mut buf = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the cap: {early:?}");
    // One holder leaves: the waiting client is served.
    drop(holders.remove(0));
    let answer = read_to_close(&mut waiting).await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// A connection to `server` from the loopback address `from` (127.0.0.2 and the like are
/// loopback too, and another client for the server).
async fn connect_from(server: &Server, from: [u8; 4]) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr(server).parse().unwrap()).await.unwrap()
}

/// Sends one `GET /health` on `stream` (closing after it); the whole answer.
async fn health_on(server: &Server, mut stream: TcpStream) -> String {
    stream
        .write_all(&with_host(
            server,
            b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ))
        .await
        .unwrap();
    String::from_utf8_lossy(&read_to_close(&mut stream).await).into_owned()
}

#[tokio::test]
async fn one_address_may_hold_only_its_share_of_connections() {
    let server = Server::start(&["--max-connections-per-peer", "2"]);
    // Two connections in the middle of a request hold the address's places.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from(&server, [127, 0, 0, 1]).await;
        stream
            .write_all(&with_host(&server, b"GET /health HTTP/1.1\r\nHost: x\r\n"))
            .await
            .unwrap();
        holders.push(stream);
    }
    // A third from the same address is refused at once, with an answer it can read.
    let refused = health_on(&server, connect_from(&server, [127, 0, 0, 1]).await).await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(
        refused.contains("\"rate_limited\""),
        "the JSON error body: {refused}"
    );
    // Another address is served.
    let other = health_on(&server, connect_from(&server, [127, 0, 0, 2]).await).await;
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");
    // Once a holder leaves (and the server has seen it go), its place is free again.
    drop(holders.remove(0));
    let served = tokio::time::timeout(GUARD, async {
        loop {
            let answer = health_on(&server, connect_from(&server, [127, 0, 0, 1]).await).await;
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
            assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        }
    })
    .await;
    assert!(
        served.is_ok(),
        "the closed connection's place never came back"
    );
}

#[tokio::test]
async fn health_is_rate_limited_like_everything_else() {
    let server = Server::start(&["--rate-limit-per-sec", "0.01", "--rate-limit-burst", "2"]);
    for path in ["/health", "/api/v1/health"] {
        let response = server.get(path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for path in ["/health", "/api/v1/health"] {
        let response = server.get(path).send().await.unwrap();
        assert!(response.headers().contains_key("retry-after"), "{path}");
        expect_error(response, 429, "rate_limited").await;
    }
}

#[tokio::test]
async fn made_up_tokens_are_refused_long_before_the_request_limit() {
    // The shipped request limit (500/s, a burst of 1,000): 200 made-up tokens are far
    // below it, yet most are refused 429 before any is looked up.
    let server = Server::start(&["--auth-token", SERVICE_TOKEN, "--rate-limit-per-sec", "500"]);
    let (mut unauthorized, mut refused) = (0, 0);
    for _ in 0..200 {
        let response = server
            .get("/api/v1/cases")
            .bearer_auth(Uuid::new_v4())
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            401 => unauthorized += 1,
            429 => {
                assert!(response.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("{other}"),
        }
    }
    assert!(refused > 0, "{unauthorized} answered 401, none refused 429");
    assert!(
        unauthorized >= 20,
        "the burst of failures is looked up: {unauthorized}"
    );
    // A service token is no lookup: it still works from the same address.
    let good = server
        .get("/api/v1/cases")
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
}

/// A client sending `X-Forwarded-For: forwarded_for` from the loopback address `from`.
fn via(from: [u8; 4], forwarded_for: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", forwarded_for.parse().unwrap());
    reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from(from))
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_get_their_own_rate_limits() {
    let server = Server::start(&[
        "--trust-proxy",
        "127.0.0.1",
        "--rate-limit-per-sec",
        "0.01",
        "--rate-limit-burst",
        "2",
    ]);
    let health = |client: reqwest::Client| {
        let url = server.url("/health");
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    // Through the proxy (127.0.0.1): one bucket per client it names.
    let first = via([127, 0, 0, 1], "198.51.100.1");
    assert_eq!(health(first.clone()).await, 200);
    assert_eq!(health(first.clone()).await, 200);
    assert_eq!(health(first).await, 429);
    assert_eq!(health(via([127, 0, 0, 1], "198.51.100.2")).await, 200);
    // A peer that is no trusted proxy is counted by its own address, whatever it claims.
    for n in 0..2 {
        let claim = format!("203.0.113.{n}");
        assert_eq!(health(via([127, 0, 0, 2], &claim)).await, 200, "{claim}");
    }
    assert_eq!(health(via([127, 0, 0, 2], "203.0.113.9")).await, 429);
}

#[tokio::test]
async fn a_trusted_proxy_may_hold_more_connections_than_one_address() {
    let server = Server::start(&[
        "--trust-proxy",
        "127.0.0.0/8",
        "--max-connections-per-peer",
        "1",
    ]);
    let mut holder = connect_from(&server, [127, 0, 0, 1]).await;
    holder
        .write_all(&with_host(&server, b"GET /health HTTP/1.1\r\nHost: x\r\n"))
        .await
        .unwrap();
    let second = health_on(&server, connect_from(&server, [127, 0, 0, 1]).await).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(server: &Server) -> Result<Socket, tungstenite::Error> {
    tokio_tungstenite::connect_async(server.ws_url("/api/v1/events"))
        .await
        .map(|(socket, _)| socket)
}

#[tokio::test]
async fn an_oversized_websocket_message_closes_the_socket() {
    // Pings are far apart so the next thing the client sees is the server's reaction.
    let server = Server::start(&["--ws-ping-ms", "60000"]);
    let mut socket = open_socket(&server).await.unwrap();
    socket
        .send(Message::text("x".repeat(64 * 1024)))
        .await
        .unwrap();
    let next = tokio::time::timeout(GUARD, socket.next())
        .await
        .expect("the server reacts to the message");
    assert!(
        matches!(next, None | Some(Err(_)) | Some(Ok(Message::Close(_)))),
        "{next:?}"
    );
}

#[tokio::test]
async fn a_small_message_like_a_pong_is_fine() {
    let server = Server::start(&["--ws-ping-ms", "60000"]);
    let mut socket = open_socket(&server).await.unwrap();
    socket
        .send(Message::text(r#"{"type":"pong"}"#))
        .await
        .unwrap();
    server.create(new_case("Still listening")).await;
    let next = tokio::time::timeout(GUARD, socket.next()).await.unwrap();
    let Some(Ok(Message::Text(text))) = next else {
        panic!("{next:?}")
    };
    assert!(text.contains("case.created"), "{text}");
}

#[tokio::test]
async fn a_peer_may_hold_only_so_many_event_sockets() {
    let server = Server::start(&["--ws-max-per-peer", "2"]);
    let first = open_socket(&server).await.unwrap();
    let _second = open_socket(&server).await.unwrap();
    match open_socket(&server).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("a third socket from one address: {other:?}"),
    }
    drop(first);
    // Once the server has seen the first one close, its place is free again.
    let reopened = tokio::time::timeout(GUARD, async {
        loop {
            match open_socket(&server).await {
                Ok(socket) => return socket,
                Err(tungstenite::Error::Http(response)) if response.status() == 429 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
    })
    .await;
    assert!(
        reopened.is_ok(),
        "the closed socket's place never came back"
    );
}

#[tokio::test]
async fn a_socket_that_answers_no_ping_is_closed() {
    let server = Server::start(&["--ws-ping-ms", "50", "--ws-pong-timeout-ms", "200"]);
    // A hand-made client that upgrades and then never answers anything.
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(&with_host(
            &server,
            b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        ))
        .await
        .unwrap();
    let received = read_to_close(&mut stream).await;
    let received = String::from_utf8_lossy(&received);
    assert!(received.starts_with("HTTP/1.1 101"), "{received}");
    assert!(received.contains(r#"{"type":"ping"}"#), "{received}");
}

#[tokio::test]
async fn a_client_that_answers_pings_keeps_its_socket() {
    // tungstenite, like a browser, answers each Ping frame with a Pong frame while reading.
    let server = Server::start(&["--ws-ping-ms", "20", "--ws-pong-timeout-ms", "5000"]);
    let mut socket = open_socket(&server).await.unwrap();
    let mut pings = 0;
    while pings < 400 {
        let next = tokio::time::timeout(GUARD, socket.next()).await.unwrap();
        match next {
            Some(Ok(Message::Text(text))) if text.as_str() == r#"{"type":"ping"}"# => pings += 1,
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("after {pings} pings: {other:?}"),
        }
    }
}

#[tokio::test]
async fn random_bearers_do_not_get_fresh_buckets() {
    // Without people a request may come without a token, but a bearer it sends must be
    // valid: a random one is 401 and spends its peer address's bucket. 0.01/s: no token
    // comes back during the test.
    let server = Server::start(&["--rate-limit-per-sec", "0.01", "--rate-limit-burst", "3"]);
    for _ in 0..3 {
        let response = server
            .get("/api/v1/cases")
            .bearer_auth(Uuid::new_v4())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = server
        .get("/api/v1/cases")
        .bearer_auth(Uuid::new_v4())
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    expect_error(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn failed_auth_spends_the_address_bucket_and_a_valid_token_has_its_own() {
    let server = Server::start(&[
        "--auth-token",
        SERVICE_TOKEN,
        "--rate-limit-per-sec",
        "0.01",
        "--rate-limit-burst",
        "3",
    ]);
    for _ in 0..3 {
        let response = server
            .get("/api/v1/cases")
            .bearer_auth(Uuid::new_v4())
            .send()
            .await
            .unwrap();
        expect_error(response, 401, "unauthorized").await;
    }
    let guessing = server
        .get("/api/v1/cases")
        .bearer_auth(Uuid::new_v4())
        .send()
        .await
        .unwrap();
    expect_error(guessing, 429, "rate_limited").await;
    let no_token = server.get("/api/v1/cases").send().await.unwrap();
    expect_error(no_token, 429, "rate_limited").await;
    // The accepted token is its own client, whatever its address did.
    for _ in 0..3 {
        let response = server
            .get("/api/v1/cases")
            .bearer_auth(SERVICE_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = server
        .get("/api/v1/cases")
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .unwrap();
    expect_error(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let server = Server::start(&[
        "--auth-token",
        SERVICE_TOKEN,
        "--rate-limit-per-sec",
        "0.01",
        "--rate-limit-burst",
        "2",
    ]);
    let t = |path: &str| server.get(path).bearer_auth(SERVICE_TOKEN).send();
    // The address's bucket: /health, the 401; the token's: the cases.
    let answers = vec![
        server.get("/health").send().await.unwrap(),
        server.get("/api/v1/cases").send().await.unwrap(),
        t("/api/v1/cases").await.unwrap(),
        server.get("/nowhere").send().await.unwrap(),
        t("/api/v1/cases/not-a-uuid").await.unwrap(),
        t("/api/v1/cases").await.unwrap(),
        server.get("/api/v1/health").send().await.unwrap(),
    ];
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(statuses, [200, 401, 200, 404, 400, 429, 429]);
    let mut answers = answers;
    answers.push(client().get(server.url("/__chaos")).send().await.unwrap());
    for answer in &answers {
        let headers = answer.headers();
        let status = answer.status();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{status}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{status}");
        assert_eq!(headers["x-frame-options"], "DENY", "{status}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{status}: {csp}");
    }
}

/// Starts the server with `args` (after a fresh SQLite path), expects it to refuse them
/// and stop without listening; returns what it said on standard error.
async fn refused_at_start_up(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk-server"));
        if !args.iter().any(|a| a == "--addr") {
            command.args(["--addr", "127.0.0.1:0"]);
        }
        let mut child = command
            .args(["--no-seed-demo", "--db"])
            .arg(dir.path().join("never.db"))
            .args(&args)
            .env("RUST_LOG", "off")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + GUARD;
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Still running means it started; stop it (by its own pid) and let the test fail.
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        assert!(
            !dir.path().join("never.db").exists(),
            "a refused flag creates no database"
        );
        output
    })
    .await
    .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.stdout.is_empty(), "never listened");
    stderr
}

#[tokio::test]
async fn a_wildcard_cors_origin_is_refused_at_start_up() {
    let stderr = refused_at_start_up(&[
        "--cors-origin",
        "http://127.0.0.1:8080",
        "--cors-origin",
        "*",
    ])
    .await;
    assert!(
        stderr.contains("--cors-origin '*' is refused"),
        "a clear message: {stderr}"
    );
}

#[tokio::test]
async fn a_null_cors_origin_is_refused_at_start_up() {
    for null in ["null", "NULL"] {
        let stderr = refused_at_start_up(&["--cors-origin", null]).await;
        assert!(
            stderr.contains("--cors-origin null is refused"),
            "a clear message: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_service_token_under_32_characters_is_refused_at_start_up() {
    let stderr = refused_at_start_up(&[
        "--auth-token",
        SERVICE_TOKEN,
        "--auth-token",
        "casedesk-browser-tests",
    ])
    .await;
    assert!(
        stderr.contains("service token (--auth-token) of 22 characters is refused"),
        "a clear message: {stderr}"
    );
    // The token itself is never printed.
    assert!(!stderr.contains("casedesk-browser-tests"), "{stderr}");
}

#[tokio::test]
async fn chaos_cannot_be_allowed_on_an_address_beyond_loopback() {
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let stderr = refused_at_start_up(&["--addr", addr, "--allow-chaos"]).await;
        assert!(
            stderr.contains("--allow-chaos is refused when listening on"),
            "a clear message: {stderr}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_closes_sockets_and_idle_connections_and_the_server_exits() {
    let mut server = Server::start(&[]);
    let mut socket = open_socket(&server).await.unwrap();
    // A kept-alive connection, idle after its answer.
    let mut idle = TcpStream::connect(addr(&server)).await.unwrap();
    idle.write_all(&with_host(
        &server,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    ))
    .await
    .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let closing = tokio::time::timeout(GUARD, socket.next()).await.unwrap();
    assert!(
        matches!(closing, Some(Ok(Message::Close(_))) | None | Some(Err(_))),
        "{closing:?}"
    );
    read_to_close(&mut idle).await;
    let exit = tokio::task::spawn_blocking(move || server.wait_exit(GUARD))
        .await
        .unwrap()
        .expect("the server exits after SIGTERM");
    assert!(exit.success(), "{exit:?}");
}
