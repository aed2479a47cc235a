//! Starts the real `casedesk-server` binary on a free loopback port with a temp database,
//! and small helpers for talking to it.
//!
//! The suite is compiled twice: as `api` it runs on SQLite files, as `api_postgres`
//! (`tests/api_postgres/main.rs`) on PostgreSQL, with a fresh database per server in one throwaway cluster
//! per test run (`pg_cluster`).

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tempfile::TempDir;
use uuid::Uuid;

#[path = "pg_cluster.rs"]
pub mod pg_cluster;

/// Which engine this build of the suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub fn engine() -> Engine {
    if env!("CARGO_CRATE_NAME") == "api_postgres" {
        Engine::Postgres
    } else {
        Engine::Sqlite
    }
}

/// A fresh database for a server: a SQLite file named `file` in `dir`, or (on PostgreSQL)
/// the URL of a new empty database, given as a path so that either goes to `--db`.
pub fn db_in(dir: &Path, file: &str) -> PathBuf {
    match engine() {
        Engine::Sqlite => dir.join(file),
        Engine::Postgres => PathBuf::from(pg_cluster::fresh_database()),
    }
}

/// A running server; killed (by its own process id) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub db: PathBuf,
    /// Keeps the temp folder (and database) alive as long as the server.
    _dir: Option<TempDir>,
}

/// A service token for `--auth-token` (the server refuses ones under 32 characters).
pub const SERVICE_TOKEN: &str = "casedesk-api-tests-service-token-one";
/// A second service token, for tests of several.
pub const OTHER_SERVICE_TOKEN: &str = "casedesk-api-tests-service-token-two";

const NO_RATE_LIMIT: &[&str] = &["--rate-limit-per-sec", "0"];

impl Server {
    /// A server on a fresh temp database (no demo data), with `args` after the test
    /// defaults (`--rate-limit-per-sec 0`, and `--no-auth` unless `args` name a service
    /// token: the tests of everything but people run without people).
    pub fn start(args: &[&str]) -> Self {
        let people = args.contains(&"--auth-token");
        Self::start_with(args, people)
    }

    /// A server with people on (the default), on a fresh temp database with no demo data.
    pub fn start_people(args: &[&str]) -> Self {
        Self::start_with(args, true)
    }

    /// A server with people on and a small demo database (demo people, password
    /// `casedesk-demo`, and `cases` demo cases), with `args` after those.
    pub fn start_demo(cases: u32, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = db_in(dir.path(), "demo.db");
        let cases = cases.to_string();
        let mut all = vec![
            "--seed-demo",
            "--rate-limit-per-sec",
            "0",
            "--demo-cases",
            cases.as_str(),
        ];
        all.extend_from_slice(args);
        let mut server = Self::start_raw(&db, &all, &[]);
        server._dir = Some(dir);
        server
    }

    fn start_with(args: &[&str], people: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = db_in(dir.path(), "casedesk.db");
        let mut all: Vec<&str> = Vec::new();
        if !people {
            all.push("--no-auth");
        }
        if !args.contains(&"--rate-limit-per-sec") {
            all.extend_from_slice(NO_RATE_LIMIT);
        }
        all.extend_from_slice(args);
        let mut server = Self::start_raw(&db, &all, &[]);
        server._dir = Some(dir);
        server
    }

    /// A server on `db` with exactly `args` (plus `--addr` and `--db`) and extra `env`.
    pub fn start_raw(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(db, args, env, Stdio::inherit())
    }

    /// Like [`Server::start_raw`], with standard error (the log) written to the file `log`.
    pub fn start_logging(db: &Path, args: &[&str], env: &[(&str, &str)], log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("create the log file");
        Self::spawn(db, args, env, Stdio::from(file))
    }

    fn spawn(db: &Path, args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_casedesk-server"));
        command
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--db")
            .arg(db)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // Quiet logs unless the person running the tests asks for them.
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start casedesk-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("casedesk-server did not print its address in time");
            }
        };
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("unexpected first line: {line:?}")
            })
            .to_owned();
        Self {
            child,
            base,
            db: db.to_owned(),
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http://", "ws://", 1))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself (after a signal), up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the server and hands back its temp folder, so the database outlives it.
    pub fn stop_keep_db(mut self) -> Option<TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._dir.take()
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        client().request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> RequestBuilder {
        self.request(Method::POST, path).json(body)
    }

    /// Creates a case from `body` and returns it (asserting 201).
    pub async fn create(&self, body: Value) -> Value {
        let response = self.post_json("/api/v1/cases", &body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "creating {body}");
        response.json().await.unwrap()
    }

    /// PATCHes a case at `version` and returns the response.
    pub async fn patch(&self, id: &str, version: u64, body: Value) -> Response {
        self.request(Method::PATCH, &format!("/api/v1/cases/{id}"))
            .header("If-Match", format!("\"{version}\""))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/v1/cases?query` as JSON (asserting 200).
    pub async fn list(&self, query: &str) -> Value {
        let response = self
            .get(&format!("/api/v1/cases?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "listing {query}");
        response.json().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain client (rustls, no proxy).
pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Runs `casedesk-server --db DB user ARGS…` with `stdin` on standard input (not a
/// terminal, so a password is its first line); returns what it printed and its status.
pub fn run_user(db: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_casedesk-server"))
        .arg("--db")
        .arg(db)
        .arg("user")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start casedesk-server user");
    // A command that needs no input may exit before reading it.
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// Adds a person through `casedesk-server user add` on `db` (the password on standard
/// input); returns the new person's id as printed on standard output.
pub fn add_user(db: &Path, email: &str, name: &str, role: &str, password: &str) -> String {
    let output = run_user(
        db,
        &["add", "--email", email, "--name", name, "--role", role],
        &format!("{password}\n"),
    );
    assert!(
        output.status.success(),
        "user add failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Signs in; returns the whole answer (`token`, `user`, `expires_at`), asserting 200.
pub async fn sign_in(server: &Server, email: &str, password: &str) -> Value {
    let response = server
        .post_json(
            "/api/v1/session",
            &json!({"email": email, "password": password}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "signing in as {email}");
    response.json().await.unwrap()
}

/// The body of a new case.
pub fn new_case(title: &str) -> Value {
    json!({"id": Uuid::now_v7(), "title": title})
}

/// Asserts an error answer: its status, code, a message, and the request id matching the
/// `X-Request-ID` header. Returns the whole body.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["error"]["request_id"], request_id.as_str(), "{body}");
    body
}
