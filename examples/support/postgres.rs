//! A throwaway PostgreSQL cluster for the benches (Debian's `postgresql` tools, fsync on).

use std::process::{Command, Stdio};

/// A throwaway PostgreSQL cluster in `dir`; returns its URL and the command that stops it.
pub fn start_postgres(dir: &std::path::Path) -> (String, String) {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("apt-get install postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .max()
        .expect("PostgreSQL server binaries");
    let data = dir.join("pg");
    std::fs::create_dir_all(&data).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let wrap = |cmd: String| {
        if root {
            format!("runuser -u postgres -- {cmd}")
        } else {
            cmd
        }
    };
    if root {
        Command::new("chown")
            .args(["-R", "postgres:postgres", &dir.display().to_string()])
            .status()
            .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sh = |cmd: String| {
        let ok = Command::new("sh")
            .args(["-c", &wrap(cmd.clone())])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success());
        assert_eq!(ok.ok(), Some(true), "{cmd}");
    };
    sh(format!(
        "{}/initdb -D {} -U postgres -A trust -E UTF8",
        bin.display(),
        data.display()
    ));
    sh(format!(
        "{}/pg_ctl -D {} -o '-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200' -w -l {}/log start",
        bin.display(),
        data.display(),
        dir.display(),
        dir.display()
    ));
    let stop = wrap(format!(
        "{}/pg_ctl -D {} -m fast stop",
        bin.display(),
        data.display()
    ));
    (
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        stop,
    )
}
