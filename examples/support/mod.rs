//! What the benches share: the release server binary next to them, a free port, waiting
//! for it to listen, settings from the environment, a throwaway PostgreSQL cluster.
#![allow(dead_code)] // each bench uses its own subset

pub mod postgres;

use std::path::PathBuf;
use std::time::Duration;

/// `target/release/baylanys`, beside `target/release/examples/`.
pub fn server_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("baylanys"))
        .filter(|p| p.exists())
        .expect("build the server first: cargo build --release")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits (up to 20 s) until something listens on the port.
pub fn wait_listening(port: u16) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
