//! Load benchmark for casedesk-server (run it through `scripts/bench-server`), on each
//! engine of `--engines` (SQLite files; PostgreSQL in a throwaway cluster with its default
//! durability, see `tests/api/pg_cluster.rs`):
//!
//! 1. Starts the given server binary on a fresh database, inserts `--cases` cases through
//!    the API, then for `--seconds` each runs `--clients` concurrent clients doing
//!    `GET /api/v1/cases` with mixed filters, then `POST /api/v1/cases`; then the same with
//!    a second server on the same database, the clients taking turns between the two.
//! 2. Starts it again on a fresh database seeded with `--metrics-cases` demo cases (direct
//!    inserts, one transaction), times `GET /api/v1/dashboard/metrics`, and runs 4 clients
//!    of mixed `GET /api/v1/cases` for `--seconds`.
//! 3. The change feed on that database: stops the server, fills the change log up to
//!    `--feed-changes` changes (the seed logged its cases and notes; the rest are written
//!    straight into the log, a case's JSON each), starts it again, and runs 4 clients of
//!    `GET /api/v1/changes` deltas (100 changes after a position anywhere in the log, and
//!    reads at the head that find nothing new), then times working-set pages.
//!
//! `--feed-only` runs only the seed of step 2 and step 3.
//!
//! Prints each figure; with `--write FILE` also replaces the "Server" section of that
//! Markdown file (BENCHMARKS.md) with a table of them (with `--feed-only`, the "Server: change
//! feed" section).

#[path = "../tests/api/pg_cluster.rs"]
mod pg_cluster;

use reqwest::{Client, StatusCode};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

struct Options {
    server: PathBuf,
    clients: usize,
    seconds: u64,
    cases: usize,
    metrics_cases: u32,
    engines: Vec<String>,
    write: Option<PathBuf>,
    feed_changes: u64,
    feed_only: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        server: PathBuf::new(),
        clients: 16,
        seconds: 10,
        cases: 10_000,
        metrics_cases: 100_000,
        engines: vec!["sqlite".into(), "postgres".into()],
        write: None,
        feed_changes: 1_000_000,
        feed_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |text: String| text.parse::<u64>().map_err(|e| format!("{text}: {e}"));
        match flag.as_str() {
            "--server" => options.server = PathBuf::from(value()?),
            "--clients" => options.clients = number(value()?)? as usize,
            "--seconds" => options.seconds = number(value()?)?,
            "--cases" => options.cases = number(value()?)? as usize,
            "--metrics-cases" => options.metrics_cases = number(value()?)? as u32,
            "--engines" => {
                options.engines = value()?.split(',').map(str::to_owned).collect();
                if let Some(bad) = options
                    .engines
                    .iter()
                    .find(|e| *e != "sqlite" && *e != "postgres")
                {
                    return Err(format!("unknown engine {bad} (sqlite, postgres)"));
                }
            }
            "--write" => options.write = Some(PathBuf::from(value()?)),
            "--feed-changes" => options.feed_changes = number(value()?)?,
            "--feed-only" => options.feed_only = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.server.as_os_str().is_empty() {
        return Err("--server PATH is required".into());
    }
    Ok(options)
}

/// A server process, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(binary: &Path, db: &Path, extra: &[&str]) -> Result<(Self, Duration), String> {
        let started = Instant::now();
        let mut child = Command::new(binary)
            // --no-auth: the benchmark measures the API, not sign-in (a person's session
            // would add one indexed lookup per request).
            .args([
                "--addr",
                "127.0.0.1:0",
                "--rate-limit-per-sec",
                "0",
                "--no-auth",
                "--db",
            ])
            .arg(db)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or(format!("unexpected first line {line:?}"))?
            .to_owned();
        Ok((Self { child, base }, started.elapsed()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TITLES: &[&str] = &[
    "Printer jams on floor 3",
    "VPN drops every hour",
    "Laptop will not boot",
    "Badge reader rejects badges",
    "Air conditioning broken",
    "Payroll shows wrong hours",
];
const STATUSES: &[&str] = &["open", "in_progress", "resolved", "closed"];
const PRIORITIES: &[&str] = &["low", "medium", "high", "critical"];
const QUERIES: &[&str] = &[
    "",
    "status=open",
    "priority=high&sort=-priority",
    "q=printer",
    "sort=created_at&page=5",
    "status=in_progress&priority=critical&per_page=100",
    "q=VPN&status=resolved",
    "sort=updated_at&per_page=20&page=40",
];

fn case_body(n: usize) -> serde_json::Value {
    json!({
        "id": Uuid::now_v7(),
        "title": format!("{} #{n}", TITLES[n % TITLES.len()]),
        "description": "Reported by the floor warden; affects several people. ".repeat(1 + n % 4),
        "status": STATUSES[(n / 3) % STATUSES.len()],
        "priority": PRIORITIES[(n / 7) % PRIORITIES.len()],
        "assignee": (["dana", "lee", "sam"])[n % 3],
        "tags": ["bench", TITLES[n % TITLES.len()].split(' ').next().unwrap_or("x")],
    })
}

/// Runs `clients` loops of `request` for `duration`; returns every latency, sorted.
async fn load<F, Fut>(clients: usize, duration: Duration, request: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let request = Arc::clone(&request);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = client * 1_000_000;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    if !request(n).await {
                        eprintln!("load: a request failed");
                    }
                    latencies.push(started.elapsed());
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all.sort_unstable();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// One figure: what was measured and its latencies.
struct Row {
    engine: String,
    servers: usize,
    name: String,
    requests: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn report(engine: &str, servers: usize, name: &str, latencies: &[Duration], seconds: f64) -> Row {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let row = Row {
        engine: engine.to_owned(),
        servers,
        name: name.to_owned(),
        requests: latencies.len(),
        per_second: latencies.len() as f64 / seconds,
        p50_ms: ms(percentile(latencies, 0.50)),
        p99_ms: ms(percentile(latencies, 0.99)),
        max_ms: ms(latencies.last().copied().unwrap_or_default()),
    };
    println!(
        "{engine:<8} {servers} server(s)  {name:<44} requests {:>7}  {:>7.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        row.requests, row.per_second, row.p50_ms, row.p99_ms, row.max_ms,
    );
    row
}

/// A fresh database of `engine` for a server: a file in `dir`, or a new PostgreSQL database.
fn fresh_db(engine: &str, dir: &Path, name: &str) -> PathBuf {
    if engine == "postgres" {
        PathBuf::from(pg_cluster::fresh_database())
    } else {
        dir.join(name)
    }
}

/// Mixed `GET /cases` from `clients` clients for `duration`, taking turns between `bases`.
async fn list_load(
    http: &Client,
    bases: &[String],
    clients: usize,
    duration: Duration,
) -> Vec<Duration> {
    let (http, bases) = (http.clone(), Arc::new(bases.to_vec()));
    load(clients, duration, move |n| {
        let (http, bases) = (http.clone(), Arc::clone(&bases));
        async move {
            let query = QUERIES[n % QUERIES.len()];
            let base = &bases[n % bases.len()];
            match http
                .get(format!("{base}/api/v1/cases?{query}"))
                .send()
                .await
            {
                Ok(response) if response.status() == StatusCode::OK => {
                    response.bytes().await.is_ok()
                }
                _ => false,
            }
        }
    })
    .await
}

/// `POST /cases` from `clients` clients for `duration`, taking turns between `bases`.
async fn create_load(
    http: &Client,
    bases: &[String],
    clients: usize,
    duration: Duration,
) -> Vec<Duration> {
    let (http, bases) = (http.clone(), Arc::new(bases.to_vec()));
    load(clients, duration, move |n| {
        let (http, bases) = (http.clone(), Arc::clone(&bases));
        async move {
            let base = &bases[n % bases.len()];
            matches!(
                http.post(format!("{base}/api/v1/cases")).json(&case_body(n)).send().await,
                Ok(response) if response.status() == StatusCode::CREATED
            )
        }
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let options = options()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let http = Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(options.clients * 2)
        .build()
        .map_err(|e| e.to_string())?;
    if options.engines.iter().any(|e| e == "postgres") {
        // PostgreSQL's own defaults (fsync on), to compare with SQLite's synchronous=FULL.
        std::env::set_var("CASEDESK_PG_DURABLE", "1");
    }
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let load_before = load_average();
    for engine in options.engines.clone() {
        run_engine(&engine, &options, &http, dir.path(), &mut rows, &mut notes).await?;
    }
    // The machine is shared: what else ran decides much of the tail.
    notes.push(format!(
        "load average (1 min) at the start {load_before}, at the end {}",
        load_average()
    ));
    if let Some(path) = &options.write {
        let heading = if options.feed_only {
            FEED_HEADING
        } else {
            SERVER_HEADING
        };
        write_section(path, heading, &options, &rows, &notes)?;
        println!("wrote the {heading} section of {}", path.display());
    }
    Ok(())
}

async fn run_engine(
    engine: &str,
    options: &Options,
    http: &Client,
    dir: &Path,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    if !options.feed_only {
        list_and_create(engine, options, http, dir, rows, notes).await?;
    }

    // 2. The metrics query and the list on `--metrics-cases` demo cases.
    let count = options.metrics_cases.to_string();
    let db = fresh_db(engine, dir, "metrics.db");
    let (server, startup) = Server::start(
        &options.server,
        &db,
        &["--seed-demo", "--demo-cases", &count],
    )?;
    let line = format!(
        "{engine}: seeded {} demo cases (with notes and history) and started in {:.2} s",
        options.metrics_cases,
        startup.as_secs_f64()
    );
    println!("{line}");
    notes.push(line);
    if !options.feed_only {
        metrics_and_list(engine, options, http, &server.base, rows, notes).await?;
    }
    if options.feed_changes > 0 {
        drop(server);
        change_feed(engine, options, http, &db, rows, notes).await?;
    }
    Ok(())
}

/// Step 1: `--cases` cases, then GET and POST under load, on one server and on two.
async fn list_and_create(
    engine: &str,
    options: &Options,
    http: &Client,
    dir: &Path,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let seconds = options.seconds as f64;
    let duration = Duration::from_secs(options.seconds);
    let clients = options.clients;
    let db = fresh_db(engine, dir, "load.db");
    let (a, _) = Server::start(&options.server, &db, &["--no-seed-demo"])?;
    let base = Arc::new(a.base.clone());
    let started = Instant::now();
    let per_client = options.cases.div_ceil(clients);
    let inserts: Vec<_> = (0..clients)
        .map(|client| {
            let http = http.clone();
            let base = Arc::clone(&base);
            let total = options.cases;
            tokio::spawn(async move {
                for n in client * per_client..((client + 1) * per_client).min(total) {
                    let response = http
                        .post(format!("{base}/api/v1/cases"))
                        .json(&case_body(n))
                        .send()
                        .await;
                    if !matches!(response, Ok(ref r) if r.status() == StatusCode::CREATED) {
                        eprintln!("load: insert {n} failed: {response:?}");
                    }
                }
            })
        })
        .collect();
    for task in inserts {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    let line = format!(
        "{engine}: inserted {} cases through the API with {clients} clients in {:.2} s ({:.0} cases/s)",
        options.cases,
        elapsed.as_secs_f64(),
        options.cases as f64 / elapsed.as_secs_f64()
    );
    println!("{line}");
    notes.push(line);

    let cases = options.cases;
    let one = [a.base.clone()];
    let gets = list_load(http, &one, clients, duration).await;
    rows.push(report(
        engine,
        1,
        &format!("GET /cases (mixed) at {cases} cases"),
        &gets,
        seconds,
    ));
    let posts = create_load(http, &one, clients, duration).await;
    rows.push(report(
        engine,
        1,
        &format!("POST /cases at {cases}+ cases"),
        &posts,
        seconds,
    ));

    let (b, _) = Server::start(&options.server, &db, &["--no-seed-demo"])?;
    let two = [a.base.clone(), b.base.clone()];
    let gets = list_load(http, &two, clients, duration).await;
    rows.push(report(
        engine,
        2,
        &format!("GET /cases (mixed) at {cases}+ cases"),
        &gets,
        seconds,
    ));
    let posts = create_load(http, &two, clients, duration).await;
    rows.push(report(
        engine,
        2,
        &format!("POST /cases at {cases}+ cases"),
        &posts,
        seconds,
    ));
    drop((a, b));
    Ok(())
}

/// Step 2's measures: the metrics query, then mixed lists from 4 clients.
async fn metrics_and_list(
    engine: &str,
    options: &Options,
    http: &Client,
    base: &str,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let seconds = options.seconds as f64;
    let duration = Duration::from_secs(options.seconds);
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let response = http
            .get(format!("{base}/api/v1/dashboard/metrics"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        if status != StatusCode::OK || body.is_empty() {
            return Err(format!("metrics answered {status}"));
        }
    }
    times.sort_unstable();
    let total: f64 = times.iter().map(Duration::as_secs_f64).sum();
    rows.push(report(
        engine,
        1,
        &format!(
            "GET /dashboard/metrics at {} cases (1 client)",
            options.metrics_cases
        ),
        &times,
        total,
    ));
    let list = list_load(http, &[base.to_owned()], 4, duration).await;
    rows.push(report(
        engine,
        1,
        &format!(
            "GET /cases (mixed) at {} cases, 4 clients",
            options.metrics_cases
        ),
        &list,
        seconds,
    ));
    notes.push(first_reads_after_a_change(engine, http, base, options.metrics_cases).await?);
    Ok(())
}

/// The JSON of the case every written-in change carries (a realistic size, about 500 bytes).
const FEED_CASE: &str = r#"{"id":"0190c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44","title":"Printer on floor 3 jams on every job","description":"The shared printer near the kitchen jams after one or two pages. Users reroute to floor 4.","status":"in_progress","priority":"high","assignee":"0190000000007000800000000000d001","tags":["hardware","printing"],"created_at":"2026-11-20T09:12:03Z","updated_at":"2026-11-21T10:00:00Z","version":3,"created_by":null,"updated_by":null}"#;

/// The log's id and last number, and how many changes it holds.
fn log_head(engine: &str, db: &Path) -> Result<(u64, u64, u64), String> {
    let sql = "SELECT log, last, (SELECT count(*) FROM change_log) FROM change_log_head";
    let (log, last, count): (i64, i64, i64) = if engine == "postgres" {
        let mut client = postgres::Client::connect(&db.to_string_lossy(), postgres::NoTls)
            .map_err(|e| e.to_string())?;
        let row = client.query_one(sql, &[]).map_err(|e| e.to_string())?;
        (row.get(0), row.get(1), row.get(2))
    } else {
        let conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
        conn.query_row(sql, [], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(|e| e.to_string())?
    };
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok((n(log), n(last), n(count)))
}

/// Writes changes straight into the log (the server stopped) until it holds `target`, each
/// numbered next and carrying [`FEED_CASE`]; returns how many it wrote.
fn fill_log(engine: &str, db: &Path, target: u64) -> Result<u64, String> {
    let (log, last, count) = log_head(engine, db)?;
    let add = target.saturating_sub(count);
    if add == 0 {
        return Ok(0);
    }
    let (from, to) = ((last + 1) as i64, (last + add) as i64);
    let log_hex = format!("{log:016x}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    if engine == "postgres" {
        let mut client = postgres::Client::connect(&db.to_string_lossy(), postgres::NoTls)
            .map_err(|e| e.to_string())?;
        let mut tx = client.transaction().map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO change_log (seq, at, change)
             SELECT g, $3, '{\"seq\":\"' || $4 || '.' || g || '\",\"kind\":\"case\",\"case\":' || $5 || '}'
             FROM generate_series($1::bigint, $2::bigint) AS g",
            &[&from, &to, &now, &log_hex, &FEED_CASE],
        )
        .map_err(|e| e.to_string())?;
        tx.execute("UPDATE change_log_head SET last = $1", &[&to])
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        client
            .batch_execute("VACUUM (ANALYZE) change_log")
            .map_err(|e| e.to_string())?;
    } else {
        let mut conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute(
            "WITH RECURSIVE n(g) AS (SELECT ?1 UNION ALL SELECT g + 1 FROM n WHERE g < ?2)
             INSERT INTO change_log (seq, at, change)
             SELECT g, ?3, '{\"seq\":\"' || ?4 || '.' || g || '\",\"kind\":\"case\",\"case\":' || ?5 || '}'
             FROM n",
            rusqlite::params![from, to, now, log_hex, FEED_CASE],
        )
        .map_err(|e| e.to_string())?;
        tx.execute("UPDATE change_log_head SET last = ?1", [to])
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    Ok(add)
}

/// Step 3: `GET /changes` deltas with `--feed-changes` changes in the log.
async fn change_feed(
    engine: &str,
    options: &Options,
    http: &Client,
    db: &Path,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let seconds = options.seconds as f64;
    let duration = Duration::from_secs(options.seconds);
    let started = Instant::now();
    // The blocking database clients run off the async runtime (the `postgres` client
    // starts a runtime of its own).
    let (engine_name, db_path, target) = (engine.to_owned(), db.to_owned(), options.feed_changes);
    let (added, (log, last, count)) = tokio::task::spawn_blocking(move || {
        let added = fill_log(&engine_name, &db_path, target)?;
        Ok::<_, String>((added, log_head(&engine_name, &db_path)?))
    })
    .await
    .map_err(|e| e.to_string())??;
    let line = format!(
        "{engine}: the change log holds {count} changes ({added} written straight into it in {:.1} s, the rest logged by the seed)",
        started.elapsed().as_secs_f64()
    );
    println!("{line}");
    notes.push(line);
    let (server, _) = Server::start(&options.server, db, &["--no-seed-demo"])?;
    let base = Arc::new(server.base.clone());

    // 100 changes after a position anywhere in the log (a device back after a while).
    let deltas = {
        let (http, base) = (http.clone(), Arc::clone(&base));
        load(4, duration, move |n| {
            let (http, base) = (http.clone(), Arc::clone(&base));
            // Spread over the log (a multiplicative hash of the request number).
            let from =
                (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) % last.saturating_sub(100).max(1);
            async move {
                let url = format!("{base}/api/v1/changes?since={log:016x}.{from}&limit=100");
                match http.get(url).send().await {
                    Ok(response) if response.status() == StatusCode::OK => {
                        response.bytes().await.is_ok_and(|b| b.len() > 1_000)
                    }
                    _ => false,
                }
            }
        })
        .await
    };
    rows.push(report(
        engine,
        1,
        &format!("GET /changes, 100 changes from anywhere in {count}, 4 clients"),
        &deltas,
        seconds,
    ));
    // A device that is up to date asks again and finds nothing new.
    let idle = {
        let (http, base) = (http.clone(), Arc::clone(&base));
        load(4, duration, move |_| {
            let (http, base) = (http.clone(), Arc::clone(&base));
            async move {
                let url = format!("{base}/api/v1/changes?since={log:016x}.{last}");
                matches!(http.get(url).send().await, Ok(r) if r.status() == StatusCode::OK)
            }
        })
        .await
    };
    rows.push(report(
        engine,
        1,
        &format!("GET /changes at the head of {count} (nothing new), 4 clients"),
        &idle,
        seconds,
    ));
    // The first page of a working set (500 changes), one at a time.
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let response = http
            .get(format!("{base}/api/v1/changes?limit=500"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let ok = response.status() == StatusCode::OK;
        response.bytes().await.map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        if !ok {
            return Err("a working-set page failed".into());
        }
    }
    times.sort_unstable();
    let total: f64 = times.iter().map(Duration::as_secs_f64).sum();
    rows.push(report(
        engine,
        1,
        &format!(
            "GET /changes, first working-set page (500) at {} cases, 1 client",
            options.metrics_cases
        ),
        &times,
        total,
    ));
    Ok(())
}

/// Counts, searches and the metrics are shared by reads until the cases change: the first
/// read after a change pays for them. One client, one request at a time: each query (and
/// the metrics) once right after a `POST /cases`, then its median over 9 more reads.
async fn first_reads_after_a_change(
    engine: &str,
    http: &Client,
    base: &str,
    cases: u32,
) -> Result<String, String> {
    let timed = |path: String| {
        let http = http.clone();
        async move {
            let started = Instant::now();
            let response = http.get(path).send().await.map_err(|e| e.to_string())?;
            let ok = response.status() == StatusCode::OK;
            response.bytes().await.map_err(|e| e.to_string())?;
            if !ok {
                return Err("a read failed".to_owned());
            }
            Ok::<f64, String>(started.elapsed().as_secs_f64() * 1e3)
        }
    };
    let mut paths: Vec<(String, String)> = QUERIES
        .iter()
        .map(|q| {
            let name = if q.is_empty() { "(none)" } else { q };
            (format!("`{name}`"), format!("{base}/api/v1/cases?{q}"))
        })
        .collect();
    paths.push(("metrics".into(), format!("{base}/api/v1/dashboard/metrics")));
    let mut parts = Vec::new();
    for (n, (name, path)) in paths.into_iter().enumerate() {
        let created = http
            .post(format!("{base}/api/v1/cases"))
            .json(&case_body(n))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if created.status() != StatusCode::CREATED {
            return Err(format!("a case was not created: {}", created.status()));
        }
        let first = timed(path.clone()).await?;
        let mut again = Vec::new();
        for _ in 0..9 {
            again.push(timed(path.clone()).await?);
        }
        again.sort_by(f64::total_cmp);
        let median = again.get(again.len() / 2).copied().unwrap_or(0.0);
        parts.push(format!("{name} {first:.1} / {median:.1}"));
    }
    let line = format!(
        "{engine} at {cases} cases, one request at a time, ms for the first read after a \
         change / the median of the next 9: {}",
        parts.join(", ")
    );
    println!("{line}");
    Ok(line)
}

/// The 1-minute load average, as /proc/loadavg says (Linux), or "unknown".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

const SERVER_HEADING: &str = "## Server (`scripts/bench-server`)";
const FEED_HEADING: &str = "## Server: change feed (`scripts/bench-server --feed-only`)";

/// Replaces (or appends) the section under `heading` of the Markdown file at `path`.
fn write_section(
    path: &Path,
    heading: &str,
    options: &Options,
    rows: &[Row],
    notes: &[String],
) -> Result<(), String> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut section = format!("{heading}\n\n");
    section.push_str(&format!(
        "Release build on this machine (2 shared cores), loopback HTTP, `--no-auth`. \
         {} clients for {} s per row unless the row says otherwise; mixed GETs cycle through \
         {} queries (two of them searches, one `page=40`). With two servers, the clients take \
         turns between them. PostgreSQL 15 runs in a throwaway cluster with its default \
         durability (fsync on); SQLite with `synchronous=FULL`. Counts, searches and the \
         metrics are shared by reads until the cases change (`server/src/db/read_cache.rs`), \
         so the GET rows measure reads of data no write changed since the same query was \
         last read (the POST rows change it on every request); each engine's last note \
         gives the first read after a change.\n\n",
        options.clients,
        options.seconds,
        QUERIES.len()
    ));
    section.push_str("| engine | servers | what | requests | req/s | p50 ms | p99 ms | max ms |\n");
    section.push_str("|---|---|---|---|---|---|---|---|\n");
    for row in rows {
        section.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
            row.engine,
            row.servers,
            row.name,
            row.requests,
            row.per_second,
            row.p50_ms,
            row.p99_ms,
            row.max_ms
        ));
    }
    section.push('\n');
    for note in notes {
        section.push_str(&format!("- {note}\n"));
    }
    let new = match old.find(heading) {
        Some(start) => {
            let rest = &old[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map_or(old.len(), |i| start + heading.len() + i + 1);
            format!("{}{section}{}", &old[..start], &old[end..])
        }
        None if old.is_empty() => section,
        None => format!(
            "{}\n{section}",
            old.trim_end_matches('\n').to_owned() + "\n"
        ),
    };
    std::fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
