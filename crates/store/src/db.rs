//! The two back ends behind one [`Store`](crate::Store): SQLite (a file under the data directory, the
//! embedded default) and PostgreSQL (a server, shared by several Parley nodes). Everything that differs
//! between them is here: where a database is and how to connect to it, the schema each one gets (one
//! ordered list of migrations, written once per dialect), and the few SQL fragments that are not common
//! to both. The rest of the crate writes portable SQL (`$1` placeholders, `RETURNING`, `ON CONFLICT`)
//! against sqlx's `Any` driver, which holds either pool and dispatches each call to it.

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};

use crate::StoreError;

/// Which database a store is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, `parley.db` under the data directory.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Its name, as in `parley status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The mailbox an outbox row's JSON payload is about, as an SQL expression.
    pub(crate) fn payload_mailbox(self) -> &'static str {
        match self {
            Backend::Sqlite => "json_extract(payload, '$.mailbox')",
            Backend::Postgres => "(payload::json ->> 'mailbox')",
        }
    }

    /// The database's clock in Unix seconds, as an SQL expression (nodes sharing a database compare
    /// times on one clock, not each on its own).
    pub(crate) fn now_secs(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)",
        }
    }

    /// The columns of a table with their declared types, as an SQL query (`$1`: the table).
    pub(crate) fn columns_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT name, type AS data_type FROM pragma_table_info($1)",
            Backend::Postgres => {
                "SELECT column_name::text AS name, data_type::text AS data_type FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        }
    }

    /// What a row-claiming sub-select ends with, so that two nodes never claim one row (SQLite has
    /// one writer at a time, so its UPDATE is atomic without it).
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// Where the database is: the embedded SQLite file of a data directory, or a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// `parley.db` in this directory.
    Sqlite(std::path::PathBuf),
    /// `postgres://user:password@host:port/database` (the password is never shown).
    Postgres(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(dir) => write!(f, "sqlite:{}", dir.join("parley.db").display()),
            Location::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

impl Location {
    /// The database named by `--database` (`postgres://…`, `postgresql://…`, or `sqlite:DIR`), or,
    /// when none is given, the SQLite file of the data directory.
    pub fn parse(database: Option<&str>, data_dir: &Path) -> Result<Location, StoreError> {
        let Some(db) = database.map(str::trim).filter(|d| !d.is_empty()) else {
            return Ok(Location::Sqlite(data_dir.to_path_buf()));
        };
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return Ok(Location::Postgres(db.to_string()));
        }
        if let Some(dir) = db.strip_prefix("sqlite:") {
            let dir = dir.trim_start_matches("//");
            if dir.is_empty() {
                return Ok(Location::Sqlite(data_dir.to_path_buf()));
            }
            return Ok(Location::Sqlite(dir.into()));
        }
        Err(StoreError::Invalid(format!(
            "unknown database {:?}: use postgres://user:password@host/name or sqlite:DIRECTORY",
            without_password(db)
        )))
    }

    /// The back end.
    pub fn backend(&self) -> Backend {
        match self {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }
}

/// A URL with its password (in the user part or a `password` parameter) replaced by `***`; a URL
/// that does not parse is not shown at all.
fn without_password(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "(a database URL that does not parse)".into();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// A path as the path part of a `sqlite://` URL (every byte but unreserved ones and `/` escaped).
fn url_path(path: &Path) -> String {
    let mut out = String::new();
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Open a pool on `location`: SQLite with its write-ahead log and a busy timeout, PostgreSQL as it is.
pub(crate) async fn connect(location: &Location) -> Result<AnyPool, StoreError> {
    sqlx::any::install_default_drivers();
    match location {
        Location::Sqlite(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::DataDir(dir.clone(), e))?;
            let url = format!("sqlite://{}?mode=rwc", url_path(&dir.join("parley.db")));
            let opts: AnyConnectOptions = url.parse()?;
            let pool = AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                        )
                        .await
                        .map(|_| ())
                    })
                })
                .connect_with(opts)
                .await?;
            Ok(pool)
        }
        Location::Postgres(url) => {
            let opts: AnyConnectOptions = url.parse()?;
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(pool)
        }
    }
}

/// One schema change, written for each back end.
struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($v:expr, $file:literal) => {
        Migration {
            version: $v,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../migrations/postgres/", $file)),
        }
    };
}

/// The schema, in order; each applied once, in its own transaction.
const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_users.sql"),
    migration!(2, "0002_voicemail.sql"),
    migration!(3, "0003_accounts_ma.sql"),
    migration!(4, "0004_api_tokens.sql"),
    migration!(5, "0005_notifications.sql"),
    migration!(6, "0006_announcements.sql"),
    migration!(7, "0007_call_records.sql"),
    migration!(8, "0008_forward_notes.sql"),
    migration!(9, "0009_recording_liveness.sql"),
    migration!(10, "0010_audio.sql"),
    migration!(11, "0011_trunks.sql"),
    migration!(12, "0012_dialing.sql"),
    migration!(13, "0013_dids.sql"),
    migration!(14, "0014_trunk_options.sql"),
    migration!(15, "0015_routing.sql"),
    migration!(16, "0016_call_routing.sql"),
    migration!(17, "0017_conferences.sql"),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Bring the schema up to date; refuse a database whose schema is newer than this build's. On
/// PostgreSQL an advisory lock keeps two nodes starting at once from migrating together.
pub(crate) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        conn.execute("SELECT COUNT(*) FROM (SELECT pg_advisory_lock(7275390)) AS l")
            .await?;
    }
    let result = migrate_on(&mut conn, backend).await;
    if backend == Backend::Postgres {
        let _ = conn.execute("SELECT pg_advisory_unlock(7275390)").await;
    }
    result
}

async fn migrate_on(conn: &mut AnyConnection, backend: Backend) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY NOT NULL)",
    )
    .await?;
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *conn)
        .await?;
    if let Some(found) = newest.filter(|v| *v > SCHEMA_VERSION) {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS {
        if newest.is_some_and(|v| v >= m.version) {
            continue;
        }
        let mut tx = conn.begin().await?;
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
            .bind(m.version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// A yes/no column: SQLite keeps it as an integer, PostgreSQL as a boolean.
pub(crate) fn flag(r: &AnyRow, column: &str) -> bool {
    match r.try_get::<bool, _>(column) {
        Ok(b) => b,
        Err(_) => match r.try_get::<i64, _>(column) {
            Ok(v) => v != 0,
            Err(e) => {
                tracing::warn!(column, error = %e, "unreadable yes/no column, taken as no");
                false
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_parsed_and_passwords_never_shown() {
        let dir = Path::new("/var/lib/parley");
        assert_eq!(
            Location::parse(None, dir).unwrap(),
            Location::Sqlite(dir.into())
        );
        assert_eq!(
            Location::parse(Some("sqlite:/tmp/x"), dir).unwrap(),
            Location::Sqlite("/tmp/x".into())
        );
        let pg = Location::parse(Some("postgres://parley:s3cret@db:5432/pbx"), dir).unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        assert_eq!(pg.to_string(), "postgres://parley:***@db:5432/pbx");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let err = Location::parse(Some("mysql://u:pw@h/d"), dir).unwrap_err();
        assert!(!err.to_string().contains("pw@"), "{err}");
        let q = Location::parse(
            Some("postgres://u@db/pbx?password=hunter2&sslmode=require"),
            dir,
        )
        .unwrap();
        assert!(!q.to_string().contains("hunter2"), "{q}");
        assert!(q.to_string().contains("sslmode=require"), "{q}");
        let odd = Location::parse(Some("postgres://u:hunter2@[::1/x"), dir).unwrap();
        assert!(!odd.to_string().contains("hunter2"), "{odd}");
    }

    #[test]
    fn paths_are_escaped_in_urls() {
        assert_eq!(url_path(Path::new("/a b/c?#.db")), "/a%20b/c%3F%23.db");
    }

    #[test]
    fn every_migration_is_written_for_both_back_ends_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert!(!m.sqlite.trim().is_empty() && !m.postgres.trim().is_empty());
            assert!(!m.postgres.contains("AUTOINCREMENT") && !m.postgres.contains("NOCASE"));
        }
    }
}
