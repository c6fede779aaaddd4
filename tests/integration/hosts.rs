//! Two instances and PostgreSQL as three hosts: network namespaces this test makes,
//! joined by a bridge (the test runs on the bridge's address, with the mail servers).
//! Instance A is cut off the network (its link goes down, no FIN, no RST: a partition)
//! while it holds the mailbox and has a job leased: while A is alive it renews the lease
//! and B leaves the job alone; once A is cut off, B takes the job when the lease lapses
//! and does it once, and the mailbox moves to B once PostgreSQL drops A's silent session. Needs root and `ip` (iproute2); where the machine does not allow
//! namespaces the test says so and checks nothing else.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::email::mail_support::{Dovecot, SmtpSink, free_port};
use crate::support::{is_root, pg_bin_dir};

/// The namespaces, bridge and links of one run; all removed on drop.
struct Net {
    tag: u32,
    /// `10.77.N`: .1 PostgreSQL, .2 instance A, .3 instance B, .254 this test.
    prefix: String,
    children: Vec<Child>,
    pg: Option<(String, String)>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Net {
    fn ns(&self, host: &str) -> String {
        format!("bz{}{host}", self.tag)
    }
    fn link(&self, host: &str) -> String {
        format!("bz{}{host}", self.tag)
    }
    fn addr(&self, host: &str) -> String {
        let n = match host {
            "pg" => 1,
            "a" => 2,
            "b" => 3,
            _ => 254,
        };
        format!("{}.{n}", self.prefix)
    }

    fn make() -> Result<Net, String> {
        let tag = std::process::id() % 10_000;
        let net = Net {
            tag,
            prefix: format!("10.77.{}", tag % 250),
            children: Vec::new(),
            pg: None,
        };
        let bridge = format!("bz{tag}br");
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", net.addr("host")),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for host in ["pg", "a", "b"] {
            let (ns, outside, inside) =
                (net.ns(host), net.link(host), format!("{}i", net.link(host)));
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ])?;
            ip(&["link", "set", &inside, "netns", &ns])?;
            ip(&["link", "set", &outside, "master", &bridge, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", net.addr(host)),
                "dev",
                &inside,
            ])?;
            ip(&["-n", &ns, "link", "set", &inside, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// Cuts `host` off (its link down on the bridge side) or joins it again.
    fn cut(&self, host: &str, cut: bool) {
        ip(&[
            "link",
            "set",
            &self.link(host),
            if cut { "down" } else { "up" },
        ])
        .expect("link set");
    }

    fn in_ns(&self, host: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), program]);
        c
    }

    /// PostgreSQL on the `pg` host, trusting the bridge's subnet; its base URL.
    fn start_postgres(&mut self) -> String {
        let dir = std::env::temp_dir().join(format!("baylanys-hosts-pg-{}", self.tag));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("pg dir");
        assert!(
            Command::new("chown")
                .args(["-R", "postgres:postgres", &dir.display().to_string()])
                .status()
                .is_ok_and(|s| s.success())
        );
        let bin = pg_bin_dir();
        let data = dir.join("data").display().to_string();
        let run = |mut c: Command| {
            let out = c.output().expect("runs");
            assert!(
                out.status.success(),
                "{c:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let mut initdb = Command::new("runuser");
        initdb.args([
            "-u",
            "postgres",
            "--",
            &bin.join("initdb").display().to_string(),
            "-D",
            &data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb);
        let hba = format!("{data}/pg_hba.conf");
        let mut conf = std::fs::read_to_string(&hba).expect("pg_hba");
        conf.push_str(&format!("host all all {}.0/24 trust\n", self.prefix));
        std::fs::write(&hba, conf).expect("pg_hba written");
        let pg_ctl = bin.join("pg_ctl").display().to_string();
        let opts = format!(
            "-p 5432 -k {} -c listen_addresses={} -c fsync=off -c synchronous_commit=off",
            dir.display(),
            self.addr("pg")
        );
        let mut start = self.in_ns("pg", "runuser");
        start.args([
            "-u",
            "postgres",
            "--",
            &pg_ctl,
            "-D",
            &data,
            "-o",
            &opts,
            "-w",
            "-l",
            &dir.join("log").display().to_string(),
            "start",
        ]);
        run(start);
        self.pg = Some((pg_ctl, data));
        format!("postgres://postgres@{}:5432", self.addr("pg"))
    }

    /// `baylanys serve` on `host`.
    fn serve(&mut self, host: &str, database: &str, smtp: &str, imap: &str) -> String {
        let url = format!("http://{}:8080", self.addr(host));
        let child = self
            .in_ns(host, env!("CARGO_BIN_EXE_baylanys"))
            .env_remove("BAYLANYS_DATABASE_URL")
            .env("BAYLANYS_LOG", "warn")
            .args([
                "serve",
                "--listen",
                "0.0.0.0:8080",
                "--public-url",
                &url,
                "--database-url",
                database,
                "--smtp-url",
                smtp,
                "--imap-url",
                imap,
                "--instance-id",
                host,
                "--job-lease-secs",
                "8",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        self.children.push(child);
        url
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some((pg_ctl, data)) = &self.pg {
            let _ = self
                .in_ns("pg", "runuser")
                .args([
                    "-u",
                    "postgres",
                    "--",
                    pg_ctl,
                    "-D",
                    data,
                    "-m",
                    "immediate",
                    "stop",
                ])
                .output();
        }
        for host in ["pg", "a", "b"] {
            let _ = ip(&["netns", "del", &self.ns(host)]);
            let _ = ip(&["link", "del", &self.link(host)]);
        }
        let _ = ip(&["link", "del", &format!("bz{}br", self.tag)]);
    }
}

/// Forwards `listen` (on the bridge) to `target` (on loopback), so the hosts reach the
/// mail servers this process started.
async fn forward(listen: &str, target: u16) {
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .expect("bind proxy");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
}

/// An SMTP server that takes connections and never answers: a send to it stays in
/// flight, its job leased, until the instance gives up.
async fn stalling(listen: &str) -> Arc<AtomicUsize> {
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .expect("bind stall");
    let taken = Arc::new(AtomicUsize::new(0));
    let t = taken.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            t.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    taken
}

fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([db, "-tAc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: Citizen {n} <citizen{n}@example.kz>\r\nTo: support@goscorp.kz\r\n\
         Subject: Question {n}\r\nMessage-ID: <hosts-{n}@example.kz>\r\n\
         Date: Wed, 02 Dec 2026 10:00:00 +0500\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Портал не открывается, вопрос {n}.\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_instance_loses_its_jobs_and_the_mailbox_to_the_other() {
    if !is_root() {
        eprintln!("skipped: network namespaces need root here");
        return;
    }
    let mut net = match Net::make() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("skipped: this machine does not allow the test's network namespaces: {e}");
            return;
        }
    };
    let base = net.start_postgres();
    let name = format!("hosts_{}", net.tag);
    psql(
        &format!("{base}/postgres"),
        &format!("CREATE DATABASE {name}"),
    );
    let db = format!("{base}/{name}");
    let out = Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .args(["migrate", "--database-url", &db])
        .env("BAYLANYS_LOG", "warn")
        .output()
        .expect("migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The mail servers run here; the hosts reach them through the bridge address.
    let sink = tokio::task::spawn_blocking(SmtpSink::start)
        .await
        .expect("sink");
    let dovecot = tokio::task::spawn_blocking(Dovecot::start)
        .await
        .expect("dovecot");
    let host = net.addr("host");
    let (smtp_port, imap_port, stall_port) = (free_port(), free_port(), free_port());
    let sink_port: u16 = sink
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    forward(&format!("{host}:{smtp_port}"), sink_port).await;
    let dovecot_port: u16 = dovecot
        .url("")
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("imap port");
    forward(&format!("{host}:{imap_port}"), dovecot_port).await;
    let stalled = stalling(&format!("{host}:{stall_port}")).await;
    let imap = dovecot.url("?idle_timeout=5").replace(
        &format!("127.0.0.1:{dovecot_port}"),
        &format!("{host}:{imap_port}"),
    );

    // A alone: it holds the mailbox, registers the first mail, and its acknowledgement
    // hangs on the SMTP server that never answers, leased to A.
    let a = net.serve("a", &db, &format!("smtp://{host}:{stall_port}"), &imap);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    for url in [&a] {
        let mut up = false;
        for _ in 0..120 {
            if client
                .get(format!("{url}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(up, "{url} never answered");
    }
    dovecot.deliver(&mail(1));
    until("A registers the first mail", 60, || {
        psql(&db, "SELECT count(*) FROM tickets") == "1"
    })
    .await;
    until("A's acknowledgement is in flight", 60, || {
        stalled.load(Ordering::SeqCst) >= 1
    })
    .await;
    let leased = psql(
        &db,
        "SELECT leased_by FROM jobs WHERE status = 'running' AND kind = 'deliver'",
    );
    assert_eq!(leased, "a", "the acknowledgement job is leased to A");

    // B waits behind A's lock; then A is cut off.
    let b = net.serve("b", &db, &format!("smtp://{host}:{smtp_port}"), &imap);
    let mut up = false;
    for _ in 0..120 {
        if client
            .get(format!("{b}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(up, "B never answered");
    // While A is alive it renews the lease: past the 8 s lease B has not taken the job.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        psql(
            &db,
            "SELECT leased_by FROM jobs WHERE status = 'running' AND kind = 'deliver'"
        ),
        "a",
        "a live instance keeps its job past the lease"
    );
    assert_eq!(sink.count(), 0);
    net.cut("a", true);
    let cut_at = Instant::now();
    dovecot.deliver(&mail(2));

    // The job: B takes it when A's 8 s lease lapses, and the citizen gets one answer.
    until("B sends A's acknowledgement", 90, || {
        sink.messages()
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains("citizen1@example.kz"))
    })
    .await;
    let taken_over = cut_at.elapsed();
    // The mailbox: PostgreSQL drops A's silent session (keepalives), B takes the lock.
    until("B registers the mail that came after the cut", 120, || {
        psql(&db, "SELECT count(*) FROM tickets") == "2"
    })
    .await;
    let moved = cut_at.elapsed();
    eprintln!("job taken over after {taken_over:?}, mailbox moved after {moved:?}");

    // A joins again: nothing is done twice.
    net.cut("a", false);
    tokio::time::sleep(Duration::from_secs(12)).await;
    let acks_to_1 = sink
        .messages()
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains("citizen1@example.kz"))
        .count();
    assert_eq!(acks_to_1, 1, "the first citizen got one acknowledgement");
    assert_eq!(
        psql(&db, "SELECT count(*) FROM tickets"),
        "2",
        "no mail became two tickets"
    );
    assert_eq!(
        psql(&db, "SELECT count(*) FROM messages WHERE direction = 'in'"),
        "2",
        "no mail stored twice"
    );
    drop(net);
}
