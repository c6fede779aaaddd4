//! Test support: a real server on port 0 against SQLite (a temp file) or PostgreSQL (a
//! throwaway cluster from the Debian `postgresql` package, or `BAYLANYS_TEST_POSTGRES_URL`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use baylanys::AppState;
use baylanys::config::{Config, ConfigArgs, FileConfig};
use baylanys_core::{
    Channel, ChannelAdapter, DeliveryReceipt, OutboundMessage, SendError, SendFuture,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub url: String,
    pub app: Arc<AppState>,
    pub client: reqwest::Client,
    pub database_url: String,
    /// The LMTP listener's address, when the test configured one.
    pub lmtp_addr: Option<std::net::SocketAddr>,
    _dir: Option<tempfile::TempDir>,
    running: Option<baylanys::Application>,
}

/// A test's server ends with the test: threads joined, connections closed (a test
/// cluster would otherwise fill up with the servers of finished tests).
impl Drop for TestApp {
    fn drop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        // Our idle keep-alive connections close with the client, so the server need not
        // wait for them to time out.
        self.client = reqwest::Client::new();
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| {
                    h.block_on(running.stop_with(false));
                });
            }
            _ => running.state.shutdown.cancel(),
        }
    }
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.url, path))
            .json(&body)
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.url, path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn post_auth(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.url, path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn patch_auth(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .patch(format!("{}{}", self.url, path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("the server answers")
    }

    /// Adds a user with `role` and returns a fresh API token for it.
    pub async fn token(&self, login: &str, role: baylanys::auth::Role) -> String {
        token_for(&self.app, login, role).await
    }

    /// Stops the server and every thread and task of it; says what ended.
    pub async fn stop(mut self) -> baylanys::Stopped {
        let running = self.running.take().expect("a test server is stopped once");
        // Our idle keep-alive connections close with the client: nothing for the graceful
        // stop to wait for.
        self.client = reqwest::Client::new();
        running.stop().await
    }
}

/// Adds a user with `role` to the app's database and returns a fresh API token for it.
pub async fn token_for(app: &AppState, login: &str, role: baylanys::auth::Role) -> String {
    let login = login.to_string();
    app.db
        .write(move |c| {
            baylanys::auth::add_user(c, &login, &login, role, None)?;
            Ok(baylanys::auth::create_token(c, &login, None)?.expect("user just added"))
        })
        .await
        .expect("token created")
}

/// Adds an agency or ici user of registry body `body_id` and returns a fresh token.
pub async fn body_token_for(
    app: &AppState,
    login: &str,
    role: baylanys::auth::Role,
    body_id: &str,
) -> String {
    let (login, body_id) = (login.to_string(), body_id.to_string());
    app.db
        .write(move |c| {
            let pairing = baylanys::auth::check_body_for(c, role, Some(&body_id))?;
            assert_eq!(pairing, Ok(()), "{login} may belong to {body_id}");
            baylanys::auth::add_user_in(c, &login, &login, role, None, Some(&body_id))?;
            Ok(baylanys::auth::create_token(c, &login, None)?.expect("user just added"))
        })
        .await
        .expect("token created")
}

/// Settings for a test server: defaults with the given database and rate limit.
pub fn test_config(database_url: &str, rate_limit: u32) -> Config {
    let args = ConfigArgs {
        database_url: Some(database_url.to_string()),
        listen: Some("127.0.0.1:0".into()),
        rate_limit_per_minute: Some(rate_limit),
        workers: Some(2),
        pool_size: Some(8),
        ..Default::default()
    };
    Config::resolve(args, FileConfig::default()).expect("test config is valid")
}

/// A fresh, empty database of the backend; returns its URL and what keeps it alive.
pub fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("baylanys.db").display());
            (url, Some(dir))
        }
        Backend::Postgres => (postgres_database(), None),
    }
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, 0, Vec::new()).await
}

pub async fn spawn_with(
    backend: Backend,
    rate_limit: u32,
    adapters: Vec<Arc<dyn ChannelAdapter>>,
) -> TestApp {
    let (database_url, dir) = fresh_database(backend);
    spawn_on(&database_url, dir, rate_limit, adapters).await
}

/// A server on an existing database (a second instance sharing it, for example).
pub async fn spawn_on(
    database_url: &str,
    dir: Option<tempfile::TempDir>,
    rate_limit: u32,
    adapters: Vec<Arc<dyn ChannelAdapter>>,
) -> TestApp {
    let mut config = test_config(database_url, rate_limit);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    config.public_url = format!("http://{addr}");
    config.instance_id = format!("test-{}", addr.port());
    let mut app = baylanys::Application::build(config)
        .await
        .expect("app builds");
    for a in adapters {
        app = app.with_adapter(a);
    }
    start(app, listener, database_url, dir).await
}

/// A server on a fresh database whose settings the test adjusts (`smtp_url`, `imap_url`,
/// ...), with the channels attached as `baylanys serve` attaches them.
pub async fn spawn_config(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (database_url, dir) = fresh_database(backend);
    let mut config = test_config(&database_url, 0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    config.public_url = format!("http://{addr}");
    config.instance_id = format!("test-{}", addr.port());
    tweak(&mut config);
    let app = baylanys::Application::build(config)
        .await
        .expect("app builds");
    start(app, listener, &database_url, dir).await
}

/// A server on `database_url` (fresh, or shared with another instance) whose settings
/// and application the test adjusts (an SMTP URL, a manual clock), with the channels
/// attached as `baylanys serve` attaches them.
pub async fn spawn_custom(
    database_url: &str,
    dir: Option<tempfile::TempDir>,
    tweak: impl FnOnce(&mut Config),
    adjust: impl FnOnce(baylanys::Builder) -> baylanys::Builder,
) -> TestApp {
    let mut config = test_config(database_url, 0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    config.public_url = format!("http://{addr}");
    config.instance_id = format!("test-{}", addr.port());
    tweak(&mut config);
    let app = adjust(
        baylanys::Application::build(config)
            .await
            .expect("app builds"),
    );
    start(app, listener, database_url, dir).await
}

async fn start(
    app: baylanys::Builder,
    listener: std::net::TcpListener,
    database_url: &str,
    dir: Option<tempfile::TempDir>,
) -> TestApp {
    let running = app
        .with_listener(listener)
        .start()
        .await
        .expect("server starts");
    TestApp {
        url: format!("http://{}", running.addr),
        app: running.state.clone(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        database_url: database_url.to_string(),
        lmtp_addr: running.lmtp_addr,
        _dir: dir,
        running: Some(running),
    }
}

/// A valid appeal as the JSON API takes it.
pub fn appeal(text: &str) -> serde_json::Value {
    serde_json::json!({
        "name": "Айгүл Серікқызы",
        "email": "aigul@example.kz",
        "phone": "+7 701 234 5678",
        "region": "astana",
        "topic": "egov_portal",
        "text": text,
        "consent": true
    })
}

/// Records what it was asked to send, from however many instances share it.
#[derive(Default)]
pub struct RecordingAdapter {
    pub channel: Option<Channel>,
    pub sent: Mutex<Vec<OutboundMessage>>,
    /// Fail this many sends temporarily before succeeding.
    pub fail_first: Mutex<u32>,
    pub permanent_failure: bool,
}

impl RecordingAdapter {
    pub fn new(channel: Channel) -> Arc<RecordingAdapter> {
        Arc::new(RecordingAdapter {
            channel: Some(channel),
            ..Default::default()
        })
    }
    pub fn sent(&self) -> Vec<OutboundMessage> {
        self.sent.lock().expect("lock").clone()
    }
}

impl ChannelAdapter for RecordingAdapter {
    fn channel(&self) -> Channel {
        self.channel.unwrap_or(Channel::Telegram)
    }
    fn send<'a>(&'a self, message: &'a OutboundMessage) -> SendFuture<'a> {
        Box::pin(async move {
            if self.permanent_failure {
                return Err(SendError::permanent(
                    "403 Forbidden: bot was blocked by the user",
                ));
            }
            {
                let mut left = self.fail_first.lock().expect("lock");
                if *left > 0 {
                    *left -= 1;
                    return Err(SendError::Temporary {
                        message: "connection refused".into(),
                        retry_after: Some(std::time::Duration::from_millis(50)),
                    });
                }
            }
            self.sent.lock().expect("lock").push(message.clone());
            Ok(DeliveryReceipt::default())
        })
    }
}

/// Polls `check` until it holds or 20 s pass.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Waits until no job is running or due as the worker sees it at `now` (a manual clock):
/// due by that clock, or enqueued to run at once (`run_at` no later than its creation,
/// both wall time), which a clock set in the past would otherwise hide from this wait.
pub async fn settle_jobs(app: &Arc<AppState>, now: chrono::NaiveDateTime) {
    eventually("every due job has run", || {
        let app = app.clone();
        async move {
            app.db
                .run(move |c| {
                    use baylanys::db::schema::jobs;
                    use diesel::prelude::*;
                    Ok(jobs::table
                        .filter(
                            jobs::status.eq("running").or(jobs::status
                                .eq("pending")
                                .and(jobs::run_at.le(now).or(jobs::run_at.le(jobs::created_at)))),
                        )
                        .count()
                        .get_result::<i64>(c)?)
                })
                .await
                .expect("count jobs")
                == 0
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

pub struct Cluster {
    pub base_url: String,
    _dir: Option<PathBuf>,
    ctl: Option<Ctl>,
}

/// How to stop and start a cluster this process made.
struct Ctl {
    pg_ctl: String,
    data: String,
    opts: String,
    root: bool,
}

impl Ctl {
    fn pg_ctl(&self, args: &[&str]) {
        let mut cmd = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &self.pg_ctl]);
            c
        } else {
            Command::new(&self.pg_ctl)
        };
        let out = cmd
            .args(["-D", &self.data])
            .args(args)
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Cluster {
    /// A new, empty database on this cluster.
    pub fn database(&self) -> String {
        let name = format!("t_{}", uuid_like());
        let admin = format!("{}/postgres", self.base_url);
        let status = Command::new("psql")
            .args([&admin, "-q", "-c", &format!("CREATE DATABASE {name}")])
            .status()
            .expect("psql runs (apt-get install postgresql-client)");
        assert!(status.success(), "CREATE DATABASE {name} failed");
        format!("{}/{name}", self.base_url)
    }

    /// Stops the server (fast: open connections are cut).
    pub fn stop(&self) {
        self.ctl
            .as_ref()
            .expect("a cluster this process made")
            .pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// Starts it again on the same port and data.
    pub fn start(&self) {
        let ctl = self.ctl.as_ref().expect("a cluster this process made");
        let log = format!("{}/../log", ctl.data);
        ctl.pg_ctl(&["-o", &ctl.opts, "-w", "-l", &log, "start"]);
    }
}

/// A PostgreSQL cluster of the test's own, which it may stop and start (the shared one
/// serves every other test). `None` when the tests use an outside server.
pub fn private_cluster(tag: &str) -> Option<Cluster> {
    if std::env::var("BAYLANYS_TEST_POSTGRES_URL").is_ok() {
        return None;
    }
    Some(new_cluster(&format!("-{tag}")))
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// A new database in the shared throwaway cluster (or the one given by the environment).
pub fn postgres_database() -> String {
    CLUSTER.get_or_init(start_cluster).database()
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn start_cluster() -> Cluster {
    if let Ok(url) = std::env::var("BAYLANYS_TEST_POSTGRES_URL") {
        // Strip the database name: tests create their own databases next to it.
        let base = match url.rsplit_once('/') {
            Some((b, _)) if b.contains("://") && b.len() > "postgres://".len() => b.to_string(),
            _ => url,
        };
        return Cluster {
            base_url: base,
            _dir: None,
            ctl: None,
        };
    }
    new_cluster("")
}

/// A cluster of its own (`tag` names its directory), for tests that stop and start it.
fn new_cluster(tag: &str) -> Cluster {
    let bin = pg_bin_dir();
    let dir = std::env::temp_dir().join(format!("baylanys-pg-{}{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create cluster dir");
    let root = is_root();
    if root {
        // initdb refuses to run as root: the cluster belongs to the `postgres` user.
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres", &dir.display().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "chown of the cluster dir to postgres failed (is the postgresql package installed?)"
        );
    }
    let data = dir.join("data");
    let port = free_port();
    let run = |args: &[&str]| {
        let mut cmd = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]);
            c.args(args);
            c
        } else {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        };
        let out = cmd.output().expect("PostgreSQL tools run");
        assert!(
            out.status.success(),
            "{:?} failed: {}{}",
            args,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let initdb = bin.join("initdb").display().to_string();
    let pg_ctl = bin.join("pg_ctl").display().to_string();
    let data_s = data.display().to_string();
    run(&[
        &initdb,
        "-D",
        &data_s,
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
        "-A",
        "trust",
    ]);
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
        dir.display()
    );
    run(&[
        &pg_ctl,
        "-D",
        &data_s,
        "-o",
        &opts,
        "-w",
        "-l",
        &dir.join("log").display().to_string(),
        "start",
    ]);
    // A watchdog stops the cluster once this test process has ended, however it ends.
    let stop = format!("{pg_ctl} -D {data_s} -m immediate stop");
    let stop = if root {
        format!("runuser -u postgres -- {stop}")
    } else {
        stop
    };
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {}",
        std::process::id(),
        dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    Cluster {
        base_url: format!("postgres://postgres@127.0.0.1:{port}"),
        _dir: Some(dir),
        ctl: Some(Ctl {
            pg_ctl,
            data: data_s,
            opts,
            root,
        }),
    }
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub(crate) fn pg_bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(base)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .filter(|p| p.join("initdb").exists())
        .expect("PostgreSQL server binaries not found: apt-get install postgresql (or set BAYLANYS_TEST_POSTGRES_URL)")
}
