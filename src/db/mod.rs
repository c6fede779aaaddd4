//! Storage: one diesel codebase over SQLite (embedded default) and PostgreSQL (scale),
//! chosen at run time by the URL. Diesel is synchronous, so every call goes through
//! [`Db::run`] / [`Db::write`] on a blocking thread.

pub mod holder;
pub mod prepared;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use diesel::backend::Backend;
use diesel::connection::SimpleConnection;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::serialize::{self, IsNull, ToSql};
use diesel::sql_types::Binary;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

/// Raw bytes (e-mail sources, attachments): the derived multi-backend lacks `Binary`,
/// so this newtype routes it to each backend's own implementation.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Binary)]
pub struct Blob(pub Vec<u8>);

impl FromSql<Binary, MultiBackend> for Blob {
    fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        bytes.from_sql::<Vec<u8>, Binary>().map(Blob)
    }
}

impl ToSql<Binary, MultiBackend> for Blob {
    fn to_sql<'b>(
        &'b self,
        out: &mut serialize::Output<'b, '_, MultiBackend>,
    ) -> serialize::Result {
        out.set_value((Binary, &self.0));
        Ok(IsNull::No)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database URL `{0}` is not understood: use sqlite://PATH or postgres://...")]
    BadUrl(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(
        "the SQLite database {0} does not exist: check the database URL, or create it with `baylanys migrate`"
    )]
    Missing(String),
}

impl DbError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, DbError::Query(diesel::result::Error::NotFound))
    }
    /// The database could not be reached or asked us to try again: an outage, not a
    /// fault of the data, so the caller defers (exit 75, 503) instead of giving up.
    pub fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        match self {
            DbError::Unavailable(_) | DbError::Missing(_) => true,
            DbError::Query(E::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    K::ClosedConnection
                        | K::UnableToSendCommand
                        | K::SerializationFailure
                        | K::ReadOnlyTransaction
                ) || {
                    let m = info.message();
                    m.contains("database is locked")
                        || m.contains("deadlock detected")
                        || m.contains("disk I/O error")
                        || m.contains("database or disk is full")
                        || m.contains("terminating connection")
                }
            }
            DbError::Query(E::BrokenTransactionManager) => true,
            _ => false,
        }
    }

    /// Two transactions got in each other's way (a deadlock, a serialization failure):
    /// running the same work again is expected to succeed.
    pub fn is_conflict(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        match self {
            DbError::Query(E::DatabaseError(K::SerializationFailure, _)) => true,
            DbError::Query(E::DatabaseError(_, info)) => {
                info.message().contains("deadlock detected")
            }
            _ => false,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Turns `sqlite://data/baylanys.db`, `sqlite::memory:`, a bare path, or
/// `postgres://...` into the engine and the URL diesel's connection wants.
pub fn parse_url(url: &str) -> Result<(Engine, String), DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Engine::Postgres, url.to_string()))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok((Engine::Sqlite, path.to_string()))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Ok((Engine::Sqlite, path.to_string()))
    } else if !url.contains("://") && !url.is_empty() {
        Ok((Engine::Sqlite, url.to_string()))
    } else {
        Err(DbError::BadUrl(url.to_string()))
    }
}

/// How SQLite syncs commits to disk (`PRAGMA synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is on disk before it returns: a 201 survives a power cut.
    #[default]
    Full,
    /// Commits survive a killed process; an OS crash or power loss may lose the last ones.
    Normal,
}

/// How [`Db::open`] treats the database.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    pub pool_size: u32,
    /// A missing SQLite file (and its folders) may be created.
    pub create: bool,
    pub synchronous: Synchronous,
    /// SQLite: a thread of its own copies the write-ahead log into the database file
    /// (`PRAGMA wal_checkpoint(PASSIVE)` every [`CHECKPOINT_EVERY`]), so commits do not
    /// wait for it; the pool's connections checkpoint themselves only past
    /// [`BACKSTOP_PAGES`]. For a long-running server; one-shot commands keep SQLite's own
    /// checkpoints.
    pub background_checkpoint: bool,
}

/// How often the background checkpointer runs.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The log size (in pages) at which a committing connection checkpoints after all, should
/// the background checkpointer fall behind: about 80 MB, where SQLite's default is 1,000.
pub const BACKSTOP_PAGES: u32 = 20_000;

#[derive(Debug)]
struct SqlitePragmas {
    synchronous: Synchronous,
    background_checkpoint: bool,
}

/// Stops the checkpointer thread when the last handle of its database is dropped.
struct Checkpointer {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to the SQLite file `path`.
    fn start(path: &str) -> Result<Checkpointer, DbError> {
        let mut c = <diesel::SqliteConnection as Connection>::establish(path)
            .map_err(|e| DbError::Unavailable(format!("cannot open {path}: {e}")))?;
        c.batch_execute("PRAGMA busy_timeout = 10000;")?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    // PASSIVE never blocks a writer or a reader; what a reader still
                    // needs is copied on a later round.
                    if let Err(e) = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!(error = %e, "SQLite checkpoint failed; retrying");
                    }
                }
            })
            .map_err(|e| DbError::Unavailable(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpointer { stop })
    }
}

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            // busy_timeout first, so the pragmas after it wait for a lock instead of failing;
            // journal_mode = WAL is persistent and was set once in `Db::open`. Group commit
            // makes FULL cost one sync per batch, not per appeal.
            let sync = match self.synchronous {
                Synchronous::Full => "FULL",
                Synchronous::Normal => "NORMAL",
            };
            // With the background checkpointer a commit does not copy the log itself.
            let autocheckpoint = if self.background_checkpoint {
                BACKSTOP_PAGES
            } else {
                1000
            };
            c.batch_execute(&format!(
                "PRAGMA busy_timeout = 10000; PRAGMA synchronous = {sync}; \
                 PRAGMA foreign_keys = ON; PRAGMA cache_size = -16000; \
                 PRAGMA wal_autocheckpoint = {autocheckpoint};"
            ))
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

pub type Conn = PooledConnection<ConnectionManager<DbConn>>;

/// The shared database handle: a pool plus, on SQLite, one in-process writer lock so
/// writers queue in memory instead of spinning on SQLITE_BUSY.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<DbConn>>,
    pub engine: Engine,
    write_lock: Arc<std::sync::Mutex<()>>,
    _checkpointer: Option<Arc<Checkpointer>>,
}

impl Db {
    /// Opens (and on SQLite may create) the database with the defaults: FULL sync.
    pub fn connect(url: &str, pool_size: u32) -> Result<Db, DbError> {
        Db::open(
            url,
            OpenOptions {
                pool_size,
                create: true,
                synchronous: Synchronous::Full,
                background_checkpoint: false,
            },
        )
    }

    pub fn open(url: &str, options: OpenOptions) -> Result<Db, DbError> {
        Db::open_as(url, options, false)
    }

    /// An existing database for a one-shot command (`ingest-email`): nothing is created or
    /// switched, and no connection is opened before the first query needs it.
    pub fn open_one_shot(url: &str, synchronous: Synchronous) -> Result<Db, DbError> {
        let options = OpenOptions {
            pool_size: 2,
            create: false,
            synchronous,
            background_checkpoint: false,
        };
        Db::open_as(url, options, true)
    }

    fn open_as(url: &str, options: OpenOptions, one_shot: bool) -> Result<Db, DbError> {
        let pool_size = options.pool_size;
        let (engine, conn_url) = parse_url(url)?;
        let in_memory = conn_url == ":memory:" || conn_url.starts_with("file::memory:");
        if engine == Engine::Sqlite
            && !options.create
            && !in_memory
            && !std::path::Path::new(&conn_url).exists()
        {
            return Err(DbError::Missing(conn_url));
        }
        if engine == Engine::Sqlite
            && let Some(parent) = std::path::Path::new(&conn_url).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                DbError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        if engine == Engine::Sqlite && !one_shot {
            // One connection switches the file to WAL before the pool opens several at once.
            let mut c = <diesel::SqliteConnection as Connection>::establish(&conn_url)
                .map_err(|e| DbError::Unavailable(format!("cannot open {conn_url}: {e}")))?;
            c.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
        }
        let manager = ConnectionManager::<DbConn>::new(conn_url.clone());
        let builder = Pool::builder()
            .max_size(pool_size.max(2))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(SqlitePragmas {
                synchronous: options.synchronous,
                background_checkpoint: options.background_checkpoint,
            }));
        let pool = if one_shot {
            // The first query opens the one connection a one-shot command needs.
            builder.min_idle(Some(0)).build_unchecked(manager)
        } else {
            builder
                .min_idle(Some(1))
                .build(manager)
                .map_err(|e| DbError::Unavailable(e.to_string()))?
        };
        let checkpointer =
            if engine == Engine::Sqlite && options.background_checkpoint && !one_shot && !in_memory
            {
                Some(Arc::new(Checkpointer::start(&conn_url)?))
            } else {
                None
            };
        Ok(Db {
            pool,
            engine,
            write_lock: Arc::new(std::sync::Mutex::new(())),
            _checkpointer: checkpointer,
        })
    }

    pub fn get(&self) -> Result<Conn, DbError> {
        self.pool
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Applies the embedded migrations of this engine; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        let applied = match &mut *conn {
            DbConn::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect()),
            DbConn::Pg(c) => {
                // Several instances may start at once: serialise migrations.
                c.batch_execute("SELECT pg_advisory_lock(4242001)")?;
                let r = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(|m| m.to_string()).collect());
                c.batch_execute("SELECT pg_advisory_unlock(4242001)")?;
                r
            }
        };
        applied.map_err(|e| DbError::Migration(e.to_string()))
    }

    /// Checks, without migrating, that the database has this binary's latest migration:
    /// what a one-shot command does instead of running migrations in every process.
    pub fn check_schema(&self) -> Result<(), DbError> {
        let source = match self.engine {
            Engine::Sqlite => SQLITE_MIGRATIONS,
            Engine::Postgres => POSTGRES_MIGRATIONS,
        };
        let latest = latest_version(source)?;
        #[derive(QueryableByName)]
        struct Version {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            version: Option<String>,
        }
        let mut conn = self.get()?;
        let applied =
            diesel::sql_query("SELECT MAX(version) AS version FROM __diesel_schema_migrations")
                .get_result::<Version>(&mut *conn)
                .map_err(|e| {
                    match e {
            diesel::result::Error::DatabaseError(_, ref info)
                if info.message().contains("__diesel_schema_migrations") =>
            {
                DbError::Migration(
                    "the database has no schema yet: run `baylanys migrate` (or start `serve`)"
                        .into(),
                )
            }
            e => DbError::Query(e),
        }
                })?
                .version;
        match applied {
            Some(v) if v >= latest => Ok(()),
            v => Err(DbError::Migration(format!(
                "the database's schema is at {}, this binary needs {latest}: run `baylanys migrate` \
                 (or restart `serve`) first",
                v.as_deref().unwrap_or("none")
            ))),
        }
    }

    /// Migrations this binary has that the database has not applied.
    pub fn pending_migrations(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        let pending = match &mut *conn {
            DbConn::Sqlite(c) => c
                .pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.name().to_string()).collect()),
            DbConn::Pg(c) => c
                .pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.name().to_string()).collect()),
        };
        pending.map_err(|e| DbError::Migration(e.to_string()))
    }

    /// One round trip: the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|c| Ok(c.batch_execute("SELECT 1")?)).await
    }

    /// Runs a read (or a single self-contained statement) on a blocking thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(move |db| f(&mut *db.get()?)).await
    }

    /// Runs `f` in one write transaction on a blocking thread.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(move |db| db.write_blocking(f)).await
    }

    /// Diesel blocks: off the async threads, keeping the caller's tracing span.
    async fn blocking<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Db) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _g = span.enter();
            f(&db)
        })
        .await
        .map_err(|e| DbError::Unavailable(format!("database task failed: {e}")))?
    }

    /// The synchronous core of [`Db::write`], for callers already on a blocking thread.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError>,
    {
        self.write_blocking_as(f)
    }

    /// [`Db::write_blocking`] for work whose errors are of their own kind (a field, a
    /// deadline), so they are not flattened into a database error.
    pub fn write_blocking_as<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        let mut conn = self.get()?;
        match self.engine {
            Engine::Sqlite => {
                let _guard = self
                    .write_lock
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                // BEGIN IMMEDIATE takes the write lock up front, so a transaction never
                // fails half-way on a read-to-write upgrade.
                conn.batch_execute("BEGIN IMMEDIATE")
                    .map_err(DbError::from)?;
                match f(&mut conn) {
                    Ok(v) => {
                        conn.batch_execute("COMMIT").map_err(DbError::from)?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = conn.batch_execute("ROLLBACK");
                        Err(e)
                    }
                }
            }
            Engine::Postgres => conn.transaction(|c| f(c)),
        }
    }
}

/// The version of the newest embedded migration (`2026-11-30-000001` style names sort).
fn latest_version(source: EmbeddedMigrations) -> Result<String, DbError> {
    use diesel::migration::MigrationSource;
    let migrations = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&source)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .max()
        .ok_or_else(|| DbError::Migration("this binary has no migrations".into()))
}

/// A fresh UUIDv7 as text: time-ordered, so indexes stay append-mostly.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current instant as stored: UTC without offset.
pub fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_checkpointer_copies_the_log_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let db = Db::open(
            &format!("sqlite://{}", path.display()),
            OpenOptions {
                pool_size: 2,
                create: true,
                synchronous: Synchronous::Full,
                background_checkpoint: true,
            },
        )
        .unwrap();
        let mut c = db.get().unwrap();
        c.batch_execute("CREATE TABLE t (x TEXT); BEGIN;").unwrap();
        for _ in 0..2000 {
            c.batch_execute("INSERT INTO t VALUES (hex(randomblob(200)))")
                .unwrap();
        }
        c.batch_execute("COMMIT").unwrap();
        // About 200 pages: under any connection's own threshold (SQLite's 1,000, ours
        // 20,000), so only the checkpointer thread moves them into the file.
        #[derive(QueryableByName)]
        struct Pages {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            wal_autocheckpoint: i32,
        }
        let pages: Pages = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result(&mut *c)
            .unwrap();
        assert_eq!(pages.wal_autocheckpoint, BACKSTOP_PAGES as i32);
        let size = || std::fs::metadata(&path).unwrap().len();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() < 800_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint in 10 s: the file holds {} bytes",
                size()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn database_urls_pick_the_engine() {
        assert_eq!(
            parse_url("sqlite://data/b.db").unwrap(),
            (Engine::Sqlite, "data/b.db".into())
        );
        assert_eq!(
            parse_url("data/b.db").unwrap(),
            (Engine::Sqlite, "data/b.db".into())
        );
        assert_eq!(parse_url("postgres://u@h/db").unwrap().0, Engine::Postgres);
        assert!(
            parse_url("mysql://x")
                .unwrap_err()
                .to_string()
                .contains("sqlite://")
        );
    }
}
