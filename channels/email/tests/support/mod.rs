//! Real mail servers for tests: Dovecot (IMAP) and aiosmtpd (SMTP), each in its own temp
//! dir on a free 127.0.0.1 port, stopped when dropped. Copy this directory (with
//! `smtp_sink.py`) into any test crate and `mod support;`.
//!
//! ```ignore
//! let dovecot = Dovecot::start();                 // user support@goscorp.kz / secret
//! dovecot.deliver(raw_bytes);                     // a maildir file; works while stopped
//! let url = dovecot.url("?idle_timeout=5");       // imap://support%40goscorp.kz:secret@127.0.0.1:PORT/INBOX?...
//! dovecot.stop(); dovecot.start_again();          // same port, same mail
//! dovecot.recreate_mailbox();                     // new UIDVALIDITY (stops and restarts)
//!
//! let smtp = SmtpSink::start();                   // smtp://127.0.0.1:PORT
//! smtp.wait_for_messages(1, Duration::from_secs(5)); // raw messages, oldest first
//! // recipients temp*@... get 451, reject*@... get 550
//! ```
//! Needs, on Debian: `apt-get install dovecot-imapd python3-aiosmtpd` (or `pip install
//! aiosmtpd` into the `python3` on PATH; `BAYLANYS_TEST_PYTHON` picks another). When a
//! server is missing the test fails and says what to install; it never passes silently.
//! Dovecot runs as root with mail owned by `nobody`, or as the current user otherwise.

#![allow(dead_code)] // each test binary uses a different part of this file

use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const IMAP_USER: &str = "support@goscorp.kz";
pub const IMAP_PASSWORD: &str = "secret";

/// A port nobody listens on right now (the race until it is bound is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &dyn Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited with {status} before listening on {port}:\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not listen on 127.0.0.1:{port} within 15 s:\n{}",
        log()
    );
}

fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SIGTERM lets Dovecot stop its own children and free the port; kill is the fallback.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn log_file(path: &Path) -> Stdio {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .expect("creating a log file in the test dir")
}

fn find_program(name: &str, extra_dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The effective uid and gid, from /proc (no libc dependency).
fn current_ids() -> (u32, u32) {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Uid:"), field("Gid:"))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown in the test dir");
    if path.is_dir() {
        for entry in fs::read_dir(path).expect("reading the test dir") {
            chown_tree(&entry.expect("dir entry").path(), uid, gid);
        }
    }
}

/// A Dovecot IMAP server with one user and a maildir INBOX.
pub struct Dovecot {
    dir: tempfile::TempDir,
    pub port: u16,
    binary: PathBuf,
    child: Option<Child>,
    mail_uid: u32,
    mail_gid: u32,
}

impl Dovecot {
    /// Start Dovecot; panics with an install hint if it is missing.
    pub fn start() -> Dovecot {
        let binary =
            find_program("dovecot", &["/usr/sbin", "/usr/local/sbin"]).unwrap_or_else(|| {
                panic!(
                    "Dovecot is not installed, and the IMAP tests need a real server: \
                 run `apt-get install dovecot-imapd` (the CI script installs it)"
                )
            });
        let dir = tempfile::Builder::new()
            .prefix("baylanys-dovecot-")
            .tempdir()
            .expect("creating a temp dir");
        // Dovecot's unprivileged processes must be able to walk into the dir.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        let (uid, gid) = current_ids();
        let root = uid == 0;
        let (mail_uid, mail_gid) = if root { (65534, 65534) } else { (uid, gid) };
        let port = free_port();
        let d = dir.path().display();
        let users = if root {
            String::new()
        } else {
            let me = std::env::var("USER")
                .ok()
                .or_else(|| {
                    let out = Command::new("id").arg("-un").output().ok()?;
                    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
                })
                .unwrap_or_default();
            format!(
                "default_internal_user = {me}\ndefault_login_user = {me}\ndefault_internal_group = {me}\n"
            )
        };
        let config = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             instance_name = baylanys-test-{port}\n\
             log_path = {d}/dovecot.log\n\
             ssl = no\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             mail_location = maildir:{d}/mail/%u\n\
             first_valid_uid = {mail_uid}\n\
             first_valid_gid = {mail_gid}\n\
             {users}\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={d}/home/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n"
        );
        fs::write(dir.path().join("dovecot.conf"), config).expect("writing dovecot.conf");
        fs::write(
            dir.path().join("passwd"),
            format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::::\n"),
        )
        .expect("writing passwd");
        let mut dovecot = Dovecot {
            dir,
            port,
            binary,
            child: None,
            mail_uid,
            mail_gid,
        };
        dovecot.create_maildir();
        dovecot.start_again();
        dovecot
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail").join(IMAP_USER)
    }

    fn create_maildir(&self) {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(self.maildir().join(sub)).expect("creating maildir");
        }
        fs::create_dir_all(self.dir.path().join("home").join(IMAP_USER)).expect("creating home");
        chown_tree(&self.dir.path().join("mail"), self.mail_uid, self.mail_gid);
        chown_tree(&self.dir.path().join("home"), self.mail_uid, self.mail_gid);
    }

    /// `imap://support%40goscorp.kz:secret@127.0.0.1:PORT/INBOX` plus `query` (`?idle_timeout=5`).
    pub fn url(&self, query: &str) -> String {
        format!(
            "imap://{}:{IMAP_PASSWORD}@127.0.0.1:{}/INBOX{query}",
            IMAP_USER.replace('@', "%40"),
            self.port
        )
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Start (again) on the same port with the same mail.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Dovecot is already running");
        let mut child = Command::new(&self.binary)
            .arg("-F")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe nobody reads: a full pipe would block the server.
            .stderr(log_file(&self.dir.path().join("stderr.log")))
            .spawn()
            .expect("spawning dovecot");
        let dir = self.dir.path().to_owned();
        let port = self.port;
        wait_for_port(port, &mut child, "dovecot", &|| {
            fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
                + &fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
        });
        self.child = Some(child);
    }

    /// Stop the server (its clients lose their connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
        // Wait until the port is free again so a restart can bind it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Put one message in the INBOX as a new maildir file. Works whether or not Dovecot
    /// runs; a running Dovecot notices it on the next command or IDLE check.
    pub fn deliver(&self, raw: &[u8]) {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let name = format!("{secs}.M{n}P{}.baylanys-test", std::process::id());
        let tmp = self.maildir().join("tmp").join(&name);
        fs::write(&tmp, raw).expect("writing maildir file");
        std::os::unix::fs::chown(&tmp, Some(self.mail_uid), Some(self.mail_gid))
            .expect("chown mail");
        fs::rename(&tmp, self.maildir().join("new").join(&name)).expect("moving into new/");
    }

    /// Delete and recreate the INBOX, which gives it a new UIDVALIDITY. Stops Dovecot
    /// for the change and starts it again.
    pub fn recreate_mailbox(&mut self) {
        let was_running = self.child.is_some();
        self.stop();
        fs::remove_dir_all(self.maildir()).expect("removing maildir");
        // Dovecot derives UIDVALIDITY from the clock: make sure it moved on.
        std::thread::sleep(Duration::from_millis(1100));
        self.create_maildir();
        if was_running {
            self.start_again();
        }
    }

    /// Maildir file names (`cur/` and `new/`), to check flags like `:2,S` directly.
    pub fn maildir_files(&self) -> Vec<String> {
        let mut names = Vec::new();
        for sub in ["cur", "new"] {
            if let Ok(entries) = fs::read_dir(self.maildir().join(sub)) {
                names.extend(
                    entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned()),
                );
            }
        }
        names
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child);
        }
    }
}

/// An SMTP server (aiosmtpd) that keeps every accepted message as a file.
pub struct SmtpSink {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl SmtpSink {
    /// Start aiosmtpd with `smtp_sink.py`; panics with an install hint if it is missing.
    pub fn start() -> SmtpSink {
        let python = find_python().unwrap_or_else(|| {
            panic!(
                "aiosmtpd is not installed, and the SMTP tests need a real server: run \
                 `apt-get install python3-aiosmtpd` or `pip install aiosmtpd` (the CI script \
                 installs it); BAYLANYS_TEST_PYTHON can name the python that has it"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("baylanys-smtp-")
            .tempdir()
            .expect("creating a temp dir");
        let port = free_port();
        let child = Self::spawn(&python, &dir, port);
        SmtpSink { dir, port, child }
    }

    fn spawn(python: &Path, dir: &tempfile::TempDir, port: u16) -> Child {
        let out = dir.path().join("messages");
        let handler_dir = handler_dir();
        let mut child = Command::new(python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "smtp_sink.Handler",
            ])
            .arg(&out)
            .env("PYTHONPATH", &handler_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&dir.path().join("stderr.log")))
            .spawn()
            .expect("spawning aiosmtpd");
        let stderr = dir.path().join("stderr.log");
        wait_for_port(port, &mut child, "aiosmtpd", &|| {
            fs::read_to_string(&stderr).unwrap_or_default()
        });
        child
    }

    /// Stops the server: connections to its port are refused until [`start_again`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, keeping what it received.
    pub fn start_again(&mut self) {
        let python = find_python().expect("aiosmtpd was found before");
        self.child = Self::spawn(&python, &self.dir, self.port);
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Messages received so far, oldest first, each starting with `X-Envelope-To:`.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir.path().join("messages"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|p| {
                let mut raw = Vec::new();
                fs::File::open(p)
                    .and_then(|mut f| f.read_to_end(&mut raw))
                    .expect("reading a received message");
                raw
            })
            .collect()
    }

    /// How many messages were received so far, without reading them.
    pub fn count(&self) -> usize {
        fs::read_dir(self.dir.path().join("messages"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn wait_for_messages(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() > deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// Where `smtp_sink.py` is: next to this file, whichever package includes it (the e-mail
/// crate's own tests, or the server's through `#[path]`).
fn handler_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("tests").join("support"),
        manifest.join("channels/email/tests/support"),
    ]
    .into_iter()
    .find(|d| d.join("smtp_sink.py").is_file())
    .unwrap_or_else(|| manifest.join("tests").join("support"))
}

fn find_python() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("BAYLANYS_TEST_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(find_program("python3", &[]));
    candidates.push(PathBuf::from("/usr/bin/python3"));
    candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}
