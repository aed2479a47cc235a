//! The command line (docs/api.md §3): every flag also reads `CASEDESK_<FLAG>` from the
//! environment.

pub use crate::logging::LogFormat;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The casedesk reference API server.
#[derive(Clone, Debug, Parser)]
#[command(name = "casedesk-server", version, about)]
pub struct Config {
    /// Listen address; port 0 picks a free port (the printed line shows the real one).
    #[arg(long, env = "CASEDESK_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// SQLite database path; `:memory:` for a throwaway database; `postgres://USER@HOST:PORT/DB`
    /// (or `postgresql://…`) for PostgreSQL, which any number of servers may share.
    #[arg(long, env = "CASEDESK_DB", default_value = "data/casedesk.db")]
    pub db: String,

    /// Seed demo cases and the demo people, whose password `casedesk-demo` is public: for
    /// trying casedesk out, never for a deployment. Without it a new database is empty.
    #[arg(long, env = "CASEDESK_SEED_DEMO")]
    pub seed_demo: bool,

    /// Accepted for scripts written when seeding was the default; seeding is now off
    /// unless `--seed-demo` is given.
    #[arg(long, env = "CASEDESK_NO_SEED_DEMO", hide = true)]
    pub no_seed_demo: bool,

    /// Serve the built app from this folder at `/`, with SPA fallback to index.html.
    #[arg(long, env = "CASEDESK_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Service token, acting as the person "Service" (repeatable; comma-separated in the
    /// environment).
    #[arg(
        long = "auth-token",
        env = "CASEDESK_AUTH_TOKEN",
        value_delimiter = ','
    )]
    pub auth_tokens: Vec<String>,

    /// Run without people: a request without a token acts as "Guest" (demos only).
    #[arg(long, env = "CASEDESK_NO_AUTH")]
    pub no_auth: bool,

    /// Failed sign-ins one email or one address may make within the window; then 429.
    #[arg(
        long,
        env = "CASEDESK_SIGN_IN_MAX_FAILURES",
        default_value_t = 10,
        hide = true,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub sign_in_max_failures: u32,

    /// The window of `--sign-in-max-failures`, in seconds.
    #[arg(
        long,
        env = "CASEDESK_SIGN_IN_WINDOW_S",
        default_value_t = 900,
        hide = true,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub sign_in_window_s: u64,

    /// Origin allowed by CORS (repeatable; comma-separated in the environment).
    #[arg(
        long = "cors-origin",
        env = "CASEDESK_CORS_ORIGIN",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// An origin people reach this server by, such as `https://casedesk.example`
    /// (repeatable; comma-separated in the environment). A request whose `Host` or `Origin`
    /// names none of them, nor a `--cors-origin`, is refused (against DNS rebinding and
    /// cross-site requests). Default: the listen address (`localhost` and the loopback
    /// addresses with the listening port are always served).
    #[arg(
        long = "public-origin",
        env = "CASEDESK_PUBLIC_ORIGIN",
        value_delimiter = ','
    )]
    pub public_origins: Vec<String>,

    /// A proxy address or range (CIDR, e.g. `10.0.0.0/8`) whose `Forwarded` /
    /// `X-Forwarded-For` header names the client, for the limits, the sign-in throttle and
    /// the logs (repeatable; comma-separated in the environment). Any other peer's
    /// forwarding headers are ignored.
    #[arg(
        long = "trust-proxy",
        env = "CASEDESK_TRUST_PROXY",
        value_delimiter = ','
    )]
    pub trust_proxies: Vec<String>,

    /// Enable `GET/PUT/DELETE /__chaos` to change fault injection at run time.
    #[arg(long, env = "CASEDESK_ALLOW_CHAOS")]
    pub allow_chaos: bool,

    /// Fraction (0..1) of /api/v1 requests answered 503 before touching data.
    #[arg(long, env = "CASEDESK_CHAOS_FAIL_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub chaos_fail_rate: f64,

    /// Delay added to /api/v1 requests, `MIN..MAX` or `N` milliseconds.
    #[arg(long, env = "CASEDESK_CHAOS_LATENCY_MS", default_value = "0")]
    pub chaos_latency_ms: LatencyRange,

    /// Fraction (0..1) of /api/v1 requests whose change is applied and whose answer is then
    /// dropped (the connection closes without a response).
    #[arg(long, env = "CASEDESK_CHAOS_DROP_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub chaos_drop_rate: f64,

    /// Requests per second each client (an accepted token, else the peer's address) may make
    /// to /api/v1 on average; 0 disables rate limiting.
    #[arg(long, env = "CASEDESK_RATE_LIMIT_PER_SEC", default_value_t = 500.0, value_parser = parse_non_negative)]
    pub rate_limit_per_sec: f64,

    /// How many requests a client may make at once above the average (the bucket size);
    /// 0 means twice the per-second rate.
    #[arg(long, env = "CASEDESK_RATE_LIMIT_BURST", default_value_t = 0)]
    pub rate_limit_burst: u32,

    /// Most clients the rate limiter remembers at once; past it, idle buckets are
    /// forgotten first, then the least recently seen (memory stays bounded under a flood of
    /// addresses).
    #[arg(
        long,
        env = "CASEDESK_RATE_LIMIT_MAX_CLIENTS",
        default_value_t = 10_000,
        hide = true
    )]
    pub rate_limit_max_clients: usize,

    /// How long a client may take to send a request's line and headers (and how long an
    /// idle kept-alive connection stays open), in milliseconds; then the connection closes.
    #[arg(long, env = "CASEDESK_HEADER_READ_TIMEOUT_MS", default_value_t = 30_000, value_parser = parse_positive_ms)]
    pub header_read_timeout_ms: u64,

    /// How long a whole request (body included) may take before it is answered 408, in
    /// milliseconds.
    #[arg(long, env = "CASEDESK_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = parse_positive_ms)]
    pub request_timeout_ms: u64,

    /// Most connections served at once; further ones wait to be accepted.
    #[arg(long, env = "CASEDESK_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Most connections served at once from one client address (a trusted proxy has no
    /// such cap); more are answered 429 and closed.
    #[arg(long, env = "CASEDESK_MAX_CONNECTIONS_PER_PEER", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_peer: u32,

    /// Most event sockets open at once from one peer address; more are answered 429.
    #[arg(long, env = "CASEDESK_WS_MAX_PER_PEER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_max_per_peer: u32,

    /// Largest message (and frame) a client may send on the events socket, in bytes; a
    /// larger one closes the socket. Clients only ever send `{"type":"pong"}`.
    #[arg(
        long,
        env = "CASEDESK_WS_MAX_MESSAGE_BYTES",
        default_value_t = 4096,
        hide = true
    )]
    pub ws_max_message_bytes: usize,

    /// How long after a ping an events socket must have answered (a WebSocket Pong frame or
    /// `{"type":"pong"}`) before it is closed, in milliseconds.
    #[arg(long, env = "CASEDESK_WS_PONG_TIMEOUT_MS", default_value_t = 30_000, value_parser = parse_positive_ms)]
    pub ws_pong_timeout_ms: u64,

    /// Demo cases to seed (for load tests).
    #[arg(long, env = "CASEDESK_DEMO_CASES", default_value_t = 500, hide = true)]
    pub demo_cases: u32,

    /// Interval of the WebSocket `ping` message, in milliseconds (tests shorten it).
    #[arg(
        long,
        env = "CASEDESK_WS_PING_MS",
        default_value_t = 15_000,
        hide = true
    )]
    pub ws_ping_ms: u64,

    /// Capacity of the change-event broadcast; a client further behind is told to resync.
    #[arg(
        long,
        env = "CASEDESK_EVENT_BUFFER",
        default_value_t = 1024,
        hide = true
    )]
    pub event_buffer: usize,

    /// Log lines on standard error: `text` for a person, `json` for a log collector (one
    /// object a line: ts, level, msg, request_id, route, status, ms, person_id).
    #[arg(long, env = "CASEDESK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Enables `GET /metrics` (Prometheus text format) for `Authorization: Bearer <this>`;
    /// without it `/metrics` is 404.
    #[arg(long, env = "CASEDESK_METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// A task other than serving (`user add`…, `backup`); none: serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary can do besides serving.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Manage people.
    #[command(subcommand)]
    User(UserCommand),
    /// Write a consistent copy of the SQLite database (`--db`) to PATH while the server
    /// goes on running (PostgreSQL: use pg_dump).
    Backup {
        /// Where the copy goes; an existing file there is replaced once the copy is whole.
        path: PathBuf,
    },
}

/// `casedesk-server user …`, on the database of `--db`. A password is typed on the
/// terminal without being shown, or read as the first line of standard input when that is
/// not a terminal; never an argument, which any local user could read in the process list.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a person, with a password (at least 10 characters, not the email).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// `viewer`, `agent` (the default) or `admin`.
        #[arg(long, default_value = "agent", value_parser = ["viewer", "agent", "admin"])]
        role: String,
    },
    /// Set a person's password; their sessions end.
    Passwd {
        #[arg(long)]
        email: String,
    },
    /// Change a person's role (the last active admin stays one).
    Role {
        #[arg(long)]
        email: String,
        /// `viewer`, `agent` or `admin`.
        #[arg(long, value_parser = ["viewer", "agent", "admin"])]
        role: String,
    },
    /// Deactivate a person: they cannot sign in and their sessions end; what they wrote
    /// keeps their name (the last active admin cannot be deactivated).
    Deactivate {
        #[arg(long)]
        email: String,
    },
}

impl Config {
    /// The WebSocket heartbeat interval (at least 10 ms).
    pub fn ws_ping_interval(&self) -> Duration {
        Duration::from_millis(self.ws_ping_ms.max(10))
    }
}

/// What the server allows clients, gathered from the flags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_peer: usize,
    pub(crate) ws_max_per_peer: usize,
    pub(crate) ws_max_message_bytes: usize,
    pub(crate) ws_pong_timeout: Duration,
}

impl Config {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            max_connections: self.max_connections as usize,
            max_connections_per_peer: self.max_connections_per_peer as usize,
            ws_max_per_peer: self.ws_max_per_peer as usize,
            // A frame header and a pong must always fit.
            ws_max_message_bytes: self.ws_max_message_bytes.max(64),
            ws_pong_timeout: Duration::from_millis(self.ws_pong_timeout_ms),
        }
    }
}

/// A delay range in milliseconds, `MIN..MAX` on the command line, `[MIN,MAX]` in JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyRange {
    pub min_ms: u64,
    pub max_ms: u64,
}

/// The longest delay chaos may add, so a typo cannot hang a test for ever.
pub const MAX_LATENCY_MS: u64 = 60_000;

impl LatencyRange {
    /// A checked range: `min ≤ max ≤ 60 s`.
    pub fn new(min_ms: u64, max_ms: u64) -> Result<Self, String> {
        if min_ms > max_ms {
            return Err(format!(
                "latency minimum {min_ms} is above the maximum {max_ms}"
            ));
        }
        if max_ms > MAX_LATENCY_MS {
            return Err(format!("latency is capped at {MAX_LATENCY_MS} ms"));
        }
        Ok(Self { min_ms, max_ms })
    }
}

impl FromStr for LatencyRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{t}` is not a number of milliseconds"))
        };
        match text.split_once("..") {
            Some((min, max)) => Self::new(number(min)?, number(max)?),
            None => {
                let n = number(text)?;
                Self::new(n, n)
            }
        }
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("`{text}` is not a rate from 0 to 1")),
    }
}

fn parse_positive_ms(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(format!("`{text}` is not a positive number of milliseconds")),
    }
}

fn parse_non_negative(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("`{text}` is not a non-negative number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_ranges_parse_and_are_checked() {
        assert_eq!(
            "10..250".parse::<LatencyRange>(),
            Ok(LatencyRange {
                min_ms: 10,
                max_ms: 250
            })
        );
        assert_eq!(
            "7".parse::<LatencyRange>(),
            Ok(LatencyRange {
                min_ms: 7,
                max_ms: 7
            })
        );
        assert!("9..3".parse::<LatencyRange>().is_err());
        assert!("a..3".parse::<LatencyRange>().is_err());
        assert!("0..600000".parse::<LatencyRange>().is_err());
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::try_parse_from(["casedesk-server"]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.db, "data/casedesk.db");
        assert!(!config.seed_demo && !config.no_seed_demo && !config.allow_chaos);
        assert!(config.auth_tokens.is_empty() && config.cors_origins.is_empty());
        assert!(config.public_origins.is_empty() && config.trust_proxies.is_empty());
        assert!(!config.no_auth, "people are on by default");
        assert!(config.command.is_none());
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(config.metrics_token.is_none());
        assert_eq!(config.chaos_latency_ms, LatencyRange::default());
    }

    #[test]
    fn repeatable_flags_collect() {
        let config = Config::try_parse_from([
            "casedesk-server",
            "--auth-token",
            "a",
            "--auth-token",
            "b",
            "--chaos-fail-rate",
            "0.5",
        ])
        .unwrap();
        assert_eq!(config.auth_tokens, vec!["a", "b"]);
        assert_eq!(config.chaos_fail_rate, 0.5);
        assert!(Config::try_parse_from(["casedesk-server", "--chaos-fail-rate", "2"]).is_err());
    }

    #[test]
    fn user_add_is_a_subcommand_after_the_flags() {
        let config = Config::try_parse_from([
            "casedesk-server",
            "--db",
            "x.db",
            "user",
            "add",
            "--email",
            "a@b.c",
            "--name",
            "A B",
            "--role",
            "admin",
        ])
        .unwrap();
        assert_eq!(config.db, "x.db");
        assert!(matches!(
            config.command,
            Some(Command::User(UserCommand::Add { ref role, .. })) if role == "admin"
        ));
        let role = Config::try_parse_from([
            "casedesk-server",
            "user",
            "role",
            "--email",
            "a@b.c",
            "--role",
            "viewer",
        ])
        .unwrap();
        assert!(matches!(
            role.command,
            Some(Command::User(UserCommand::Role { ref role, .. })) if role == "viewer"
        ));
        assert!(Config::try_parse_from([
            "casedesk-server",
            "user",
            "role",
            "--email",
            "a@b.c",
            "--role",
            "root",
        ])
        .is_err());
    }

    #[test]
    fn seeding_is_asked_for_and_the_old_opt_out_is_still_accepted() {
        let plain = Config::try_parse_from(["casedesk-server"]).unwrap();
        assert!(!plain.seed_demo);
        let old = Config::try_parse_from(["casedesk-server", "--no-seed-demo"]).unwrap();
        assert!(!old.seed_demo);
        let asked = Config::try_parse_from(["casedesk-server", "--seed-demo"]).unwrap();
        assert!(asked.seed_demo);
    }
}
