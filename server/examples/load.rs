//! Load benchmark for casedesk-server (run it through `scripts/bench-server`).
//!
//! 1. Starts the given server binary on a temp database, inserts `--cases` cases through
//!    the API, then for `--seconds` each runs `--clients` concurrent clients doing
//!    `GET /api/v1/cases` with mixed filters, then `POST /api/v1/cases`; prints p50/p99.
//! 2. Starts it again on a fresh database seeded with `--metrics-cases` demo cases (direct
//!    inserts, one transaction) and times `GET /api/v1/dashboard/metrics`.

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
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        server: PathBuf::new(),
        clients: 16,
        seconds: 10,
        cases: 10_000,
        metrics_cases: 100_000,
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

fn report(name: &str, latencies: &[Duration], seconds: u64) {
    println!(
        "{name:<34} requests {:>7}  {:>7.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        percentile(latencies, 0.50).as_secs_f64() * 1e3,
        percentile(latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
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

    // 1. 10,000 cases, then GET and POST under load.
    let (server, _) = Server::start(
        &options.server,
        &dir.path().join("load.db"),
        &["--no-seed-demo"],
    )?;
    let base = Arc::new(server.base.clone());
    let started = Instant::now();
    let per_client = options.cases.div_ceil(options.clients);
    let inserts: Vec<_> = (0..options.clients)
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
    println!(
        "inserted {} cases through the API with {} clients in {:.2} s ({:.0} cases/s)",
        options.cases,
        options.clients,
        elapsed.as_secs_f64(),
        options.cases as f64 / elapsed.as_secs_f64()
    );

    let duration = Duration::from_secs(options.seconds);
    let (h, b) = (http.clone(), Arc::clone(&base));
    let gets = load(options.clients, duration, move |n| {
        let (http, base) = (h.clone(), Arc::clone(&b));
        async move {
            let query = QUERIES[n % QUERIES.len()];
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
    .await;
    report(
        &format!("GET /cases (mixed, {} clients)", options.clients),
        &gets,
        options.seconds,
    );

    let (h, b) = (http.clone(), Arc::clone(&base));
    let posts = load(options.clients, duration, move |n| {
        let (http, base) = (h.clone(), Arc::clone(&b));
        async move {
            matches!(
                http.post(format!("{base}/api/v1/cases")).json(&case_body(n)).send().await,
                Ok(response) if response.status() == StatusCode::CREATED
            )
        }
    })
    .await;
    report(
        &format!("POST /cases ({} clients)", options.clients),
        &posts,
        options.seconds,
    );
    drop(server);

    // 2. The metrics query on 100,000 cases.
    let count = options.metrics_cases.to_string();
    let (server, startup) = Server::start(
        &options.server,
        &dir.path().join("metrics.db"),
        &["--seed-demo", "--demo-cases", &count],
    )?;
    println!(
        "seeded {} demo cases (with notes) and started in {:.2} s",
        options.metrics_cases,
        startup.as_secs_f64()
    );
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let response = http
            .get(format!("{}/api/v1/dashboard/metrics", server.base))
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
    println!(
        "GET /dashboard/metrics on {} cases: min {:.1} ms, median {:.1} ms, max {:.1} ms (20 calls, HTTP included)",
        options.metrics_cases,
        times[0].as_secs_f64() * 1e3,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
    let list = load(4, Duration::from_secs(2), {
        let http = http.clone();
        let base = Arc::new(server.base.clone());
        move |n| {
            let (http, base) = (http.clone(), Arc::clone(&base));
            async move {
                let query = QUERIES[n % QUERIES.len()];
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
        }
    })
    .await;
    report(
        &format!("GET /cases at {} cases (4 clients)", options.metrics_cases),
        &list,
        2,
    );
    Ok(())
}
