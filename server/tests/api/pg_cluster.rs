//! One throwaway PostgreSQL cluster per run of the `api_postgres` suite: initdb in a temp
//! folder (as the `postgres` user when the tests run as root, which PostgreSQL refuses),
//! a free loopback port, its unix socket in that folder; a fresh database per server.
//! A watcher shell holds a pipe from this process: when the test process ends, however it
//! ends, the pipe closes and the watcher stops the cluster by its pid and removes the folder.
//! Missing PostgreSQL binaries fail the suite loudly (never a silent skip).
//! The cluster also speaks TLS (`ssl=on`) with a certificate for `localhost` from a
//! throwaway certificate authority made here with openssl ([`certificate_authority`]);
//! plain connections work as before.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

struct Cluster {
    port: u16,
    /// The certificate of the CA that signed the cluster's own.
    ca: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    /// Holds the watcher's standard input open; never read.
    _watcher: Mutex<Child>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A new empty database in the run's cluster; its `postgres://` URL.
pub fn fresh_database() -> String {
    let cluster = CLUSTER.get_or_init(start);
    let name = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let status = cluster
        .command("createdb")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.port.to_string(),
            "-U",
            "casedesk",
        ])
        .arg(&name)
        .status()
        .expect("run createdb");
    assert!(status.success(), "createdb {name} failed");
    format!("postgres://casedesk@127.0.0.1:{}/{name}", cluster.port)
}

/// The PEM file of the certificate authority that signed the cluster's certificate (which
/// names `localhost` only).
#[allow(dead_code)]
pub fn cluster_certificate_authority() -> PathBuf {
    CLUSTER.get_or_init(start).ca.clone()
}

/// Makes a certificate authority in `dir` (`NAME.crt`, `NAME.key`); its certificate's path.
#[allow(dead_code)]
pub fn certificate_authority(dir: &Path, name: &str) -> PathBuf {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN=casedesk test {name}"),
        "-keyout",
        &key.to_string_lossy(),
        "-out",
        &crt.to_string_lossy(),
    ]);
    crt
}

/// A server certificate for `localhost` signed by the CA `ca_name` in `dir`:
/// (`server.crt`, `server.key`).
fn server_certificate(dir: &Path, ca_name: &str) -> (PathBuf, PathBuf) {
    let (crt, key, csr, ext) = (
        dir.join("server.crt"),
        dir.join("server.key"),
        dir.join("server.csr"),
        dir.join("server.ext"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n\
         basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n",
    )
    .expect("write the certificate's extensions");
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &key.to_string_lossy(),
        "-out",
        &csr.to_string_lossy(),
    ]);
    let ca_crt = dir.join(format!("{ca_name}.crt"));
    let ca_key = dir.join(format!("{ca_name}.key"));
    openssl(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &csr.to_string_lossy(),
        "-CA",
        &ca_crt.to_string_lossy(),
        "-CAkey",
        &ca_key.to_string_lossy(),
        "-CAcreateserial",
        "-extfile",
        &ext.to_string_lossy(),
        "-out",
        &crt.to_string_lossy(),
    ]);
    (crt, key)
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (Debian's openssl package)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `sql` on the database at `url` with psql; its unaligned output.
// Only the PostgreSQL-only tests (`tests/api_postgres/servers.rs`) use it; the SQLite
// build of the suite compiles it unused.
#[allow(dead_code)]
pub fn psql(url: &str, sql: &str) -> String {
    let cluster = CLUSTER.get_or_init(start);
    let output = cluster
        .command("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Starts psql running `sql` on the database at `url` and leaves it running (the caller
/// stops it by its pid).
#[allow(dead_code)]
pub fn psql_in_background(url: &str, sql: &str) -> Child {
    let cluster = CLUSTER.get_or_init(start);
    cluster
        .command("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run psql")
}

/// The folder of PostgreSQL's programs: `CASEDESK_PG_BIN`, else Debian's PostgreSQL 15.
fn bin_dir() -> PathBuf {
    let dir = std::env::var_os("CASEDESK_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
    assert!(
        dir.join("initdb").exists() && dir.join("pg_ctl").exists(),
        "the PostgreSQL suite needs PostgreSQL's programs in {} (Debian's postgresql-15, \
         installed by scripts/setup; or set CASEDESK_PG_BIN)",
        dir.display()
    );
    dir
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl Cluster {
    /// One of PostgreSQL's programs, run as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        program_command(&self.bin, self.as_postgres, program)
    }
}

fn program_command(bin: &Path, as_postgres: bool, program: &str) -> Command {
    let path = bin.join(program);
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn start() -> Cluster {
    let bin = bin_dir();
    let as_postgres = is_root();
    let dir = tempfile::Builder::new()
        .prefix("casedesk-pg-")
        .tempdir()
        .expect("temp dir")
        .keep();
    if as_postgres {
        let status = Command::new("chown")
            .arg("postgres")
            .arg(&dir)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown postgres {}", dir.display());
    }
    let data = dir.join("data");
    let output = program_command(&bin, as_postgres, "initdb")
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "casedesk", "--no-sync", "-E", "UTF8"])
        .output()
        .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // TLS: the key must belong to the user PostgreSQL runs as, readable by it alone.
    let tls = dir.join("tls");
    std::fs::create_dir(&tls).expect("create the TLS folder");
    let ca = certificate_authority(&tls, "ca");
    let (crt, key) = server_certificate(&tls, "ca");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the server key");
    }
    if as_postgres {
        let status = Command::new("chown")
            .arg("postgres")
            .arg(&key)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown postgres {}", key.display());
    }
    let port = free_port();
    // A throwaway cluster: durability settings off, for speed, unless a benchmark asks for
    // PostgreSQL's defaults (`CASEDESK_PG_DURABLE`), to compare with SQLite's FULL sync.
    let fast = if std::env::var_os("CASEDESK_PG_DURABLE").is_some() {
        ""
    } else {
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    };
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 {fast} -c max_connections=200 \
         -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        dir.display(),
        crt.display(),
        key.display()
    );
    let output = program_command(&bin, as_postgres, "pg_ctl")
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("log"))
        .args(["-w", "start"])
        .stdout(Stdio::null())
        .output()
        .expect("run pg_ctl start");
    assert!(
        output.status.success(),
        "pg_ctl start failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Stops the cluster by the pid in postmaster.pid once our end of the pipe closes.
    let script = format!(
        "read _; pid=$(head -n 1 '{data}/postmaster.pid'); kill -INT \"$pid\"; \
         while kill -0 \"$pid\" 2>/dev/null; do sleep 0.1; done; rm -rf '{dir}'",
        data = data.display(),
        dir = dir.display()
    );
    let watcher = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the cluster's watcher");
    Cluster {
        port,
        ca,
        bin,
        as_postgres,
        _watcher: Mutex::new(watcher),
    }
}
