//! `baylanys backup` and `baylanys restore`. SQLite: an online, consistent copy with
//! `VACUUM INTO` (it reads one snapshot while `serve` keeps writing), checked before it is
//! called done; restore puts a checked copy in place atomically. PostgreSQL: `pg_dump
//! --format=custom` and `pg_restore --clean`, the tools of the server's own distribution.

use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::db::{Engine, parse_url};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

fn failed(what: &str) -> impl Fn(diesel::result::Error) -> BackupError + '_ {
    move |e| BackupError::Failed(format!("{what}: {e}"))
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

/// Opens an existing SQLite file (never creates one) and says what it holds.
fn check_sqlite(path: &Path) -> Result<String, BackupError> {
    if !path.is_file() {
        return Err(BackupError::Refused(format!(
            "`{}` does not exist or is not a file",
            path.display()
        )));
    }
    let url = format!("file:{}?mode=ro", path.display());
    let mut c = SqliteConnection::establish(&url)
        .map_err(|e| BackupError::Failed(format!("opening `{}`: {e}", path.display())))?;
    let check: Vec<Line> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut c)
        .map_err(|e| {
            BackupError::Refused(format!(
                "`{}` is not an SQLite database: {e}",
                path.display()
            ))
        })?;
    if check.first().map(|l| l.integrity_check.as_str()) != Some("ok") {
        let lines: Vec<String> = check.into_iter().map(|l| l.integrity_check).collect();
        return Err(BackupError::Refused(format!(
            "`{}` fails its integrity check: {}",
            path.display(),
            lines.join("; ")
        )));
    }
    summary(&mut c, &path.display().to_string())
}

fn summary<C>(c: &mut C, what: &str) -> Result<String, BackupError>
where
    C: diesel::connection::LoadConnection,
    C::Backend: diesel::backend::Backend,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Count>,
{
    let count = |c: &mut C, table: &str| -> Result<i64, BackupError> {
        let rows: Vec<Count> = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .load(c)
            .map_err(|e| {
                BackupError::Refused(format!("{what} is not a Baylanys database ({table}: {e})"))
            })?;
        Ok(rows.first().map_or(0, |r| r.n))
    };
    Ok(format!(
        "{} tickets, {} messages, {} attachments",
        count(c, "tickets")?,
        count(c, "messages")?,
        count(c, "attachments")?
    ))
}

fn pg_tool(name: &str) -> PathBuf {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    // Debian keeps each major version's tools here.
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| PathBuf::from(name))
}

fn run(mut cmd: Command, what: &str) -> Result<(), BackupError> {
    let out = cmd.output().map_err(|e| {
        BackupError::Failed(format!(
            "{what} could not run ({e}): install the PostgreSQL client tools (postgresql-client)"
        ))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackupError::Failed(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Writes a backup of the database at `database_url` to `to` (which must not exist);
/// returns what it holds.
pub fn backup(database_url: &str, to: &Path) -> Result<String, BackupError> {
    if to.exists() {
        return Err(BackupError::Refused(format!(
            "`{}` exists: back up to a new file",
            to.display()
        )));
    }
    let (engine, url) = parse_url(database_url).map_err(|e| BackupError::Refused(e.to_string()))?;
    match engine {
        Engine::Sqlite => {
            let path = Path::new(&url);
            check_exists(path)?;
            let mut c = SqliteConnection::establish(&url)
                .map_err(|e| BackupError::Failed(format!("opening the database: {e}")))?;
            diesel::sql_query("PRAGMA busy_timeout = 10000")
                .execute(&mut c)
                .map_err(failed("setting the busy timeout"))?;
            let target = to.display().to_string().replace('\'', "''");
            diesel::sql_query(format!("VACUUM INTO '{target}'"))
                .execute(&mut c)
                .map_err(failed("VACUUM INTO"))?;
            check_sqlite(to)
        }
        Engine::Postgres => {
            let mut cmd = Command::new(pg_tool("pg_dump"));
            cmd.arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(to)
                .arg("--dbname")
                .arg(&url);
            run(cmd, "pg_dump")?;
            let mut c = PgConnection::establish(&url)
                .map_err(|e| BackupError::Failed(format!("opening the database: {e}")))?;
            Ok(format!(
                "the database held {}",
                summary(&mut c, "the database")?
            ))
        }
    }
}

fn check_exists(path: &Path) -> Result<(), BackupError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(BackupError::Refused(format!(
            "the database `{}` does not exist",
            path.display()
        )))
    }
}

/// Replaces the database at `database_url` with the backup `from`. SQLite: refused while
/// the database looks open (its `-wal` file is there and not empty) unless `force`.
pub fn restore(database_url: &str, from: &Path, force: bool) -> Result<String, BackupError> {
    let (engine, url) = parse_url(database_url).map_err(|e| BackupError::Refused(e.to_string()))?;
    match engine {
        Engine::Sqlite => {
            let held = check_sqlite(from)?;
            let target = PathBuf::from(&url);
            let wal = PathBuf::from(format!("{url}-wal"));
            let in_use = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
            if in_use && !force {
                return Err(BackupError::Refused(format!(
                    "`{}` looks in use (its -wal file is not empty): stop `serve` first, \
                     or give --force",
                    target.display()
                )));
            }
            if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| BackupError::Failed(format!("creating {}: {e}", dir.display())))?;
            }
            let temp = PathBuf::from(format!("{url}.restoring"));
            let io = |what: &str, e: std::io::Error| BackupError::Failed(format!("{what}: {e}"));
            std::fs::copy(from, &temp).map_err(|e| io("copying the backup", e))?;
            std::fs::File::open(&temp)
                .and_then(|f| f.sync_all())
                .map_err(|e| io("syncing the copy", e))?;
            for stale in [wal, PathBuf::from(format!("{url}-shm"))] {
                if stale.exists() {
                    std::fs::remove_file(&stale)
                        .map_err(|e| io("removing the old -wal/-shm", e))?;
                }
            }
            std::fs::rename(&temp, &target).map_err(|e| io("putting the copy in place", e))?;
            Ok(held)
        }
        Engine::Postgres => {
            if !from.is_file() {
                return Err(BackupError::Refused(format!(
                    "`{}` does not exist or is not a file",
                    from.display()
                )));
            }
            let mut cmd = Command::new(pg_tool("pg_restore"));
            cmd.arg("--clean")
                .arg("--if-exists")
                .arg("--no-owner")
                .arg("--single-transaction")
                .arg("--dbname")
                .arg(&url)
                .arg(from);
            run(cmd, "pg_restore")?;
            let mut c = PgConnection::establish(&url)
                .map_err(|e| BackupError::Failed(format!("opening the database: {e}")))?;
            summary(&mut c, "the restored database")
        }
    }
}
