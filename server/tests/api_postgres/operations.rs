//! Running on PostgreSQL (docs/api.md §7): TLS to the database as the URL's `sslmode` asks,
//! checked against the run's cluster (`ssl=on`, a certificate for `localhost` from a
//! throwaway CA), and `backup` sending PostgreSQL users to pg_dump.

use crate::support::pg_cluster::{
    certificate_authority, cluster_certificate_authority, fresh_database, psql,
};
use crate::support::{new_case, Server};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FLAGS: &[&str] = &["--no-auth", "--no-seed-demo", "--rate-limit-per-sec", "0"];

/// `url` (a fresh database, on 127.0.0.1) reached by the host name `host` with `query`.
fn with_host_and_query(url: &str, host: &str, query: &str) -> String {
    format!("{}?{query}", url.replacen("127.0.0.1", host, 1))
}

/// The server's standard error when it fails to start on `db` (it must, within 60 s).
fn refused_start(db: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_casedesk-server"))
        .args(["--addr", "127.0.0.1:0", "--db", db])
        .args(FLAGS)
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start casedesk-server");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on {db}, or hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// How many of `database`'s connections use TLS, as PostgreSQL sees them.
fn tls_connections(plain_url: &str) -> u64 {
    let database = plain_url.rsplit('/').next().unwrap();
    psql(
        plain_url,
        &format!(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE datname = '{database}' AND ssl"
        ),
    )
    .parse()
    .unwrap()
}

#[tokio::test]
async fn verify_full_with_the_right_ca_serves_over_tls() {
    let plain = fresh_database();
    let ca = cluster_certificate_authority();
    let url = with_host_and_query(
        &plain,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let server = Server::start_raw(Path::new(&url), FLAGS, &[]);
    server.create(new_case("Sent over TLS")).await;
    assert_eq!(server.list("").await["total"], 1);
    assert!(
        tls_connections(&plain) >= 1,
        "the server's connections use TLS"
    );
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    let plain = fresh_database();
    let url = with_host_and_query(&plain, "127.0.0.1", "sslmode=require");
    let server = Server::start_raw(Path::new(&url), FLAGS, &[]);
    server.create(new_case("Encrypted, unverified")).await;
    assert!(tls_connections(&plain) >= 1);
}

#[tokio::test]
async fn verify_full_refuses_another_ca_and_another_host_name_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let other_ca = certificate_authority(dir.path(), "other");
    let plain = fresh_database();
    let stranger = refused_start(&with_host_and_query(
        &plain,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", other_ca.display()),
    ));
    assert!(
        stranger.contains("certificate is not signed by the certificate authority"),
        "{stranger}"
    );
    let ca = cluster_certificate_authority();
    let wrong_host = refused_start(&with_host_and_query(
        &plain,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    ));
    assert!(
        wrong_host.contains("certificate does not name the host `127.0.0.1`"),
        "{wrong_host}"
    );
    // verify-ca checks the chain only: the same address is accepted with the right CA.
    let url = with_host_and_query(
        &plain,
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
    );
    let server = Server::start_raw(Path::new(&url), FLAGS, &[]);
    server.create(new_case("The chain is enough")).await;
}

#[test]
fn backup_sends_postgresql_users_to_pg_dump_without_printing_the_password() {
    let url = fresh_database().replacen("casedesk@", "casedesk:hunter2@", 1);
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_casedesk-server"))
        .args(["--db", &url, "backup"])
        .arg(dir.path().join("copy"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pg_dump") && stderr.contains("pg_restore"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!dir.path().join("copy").exists());
}
