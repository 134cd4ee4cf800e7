//! Parley's persistence: the SQLite database under the data directory (accounts now; mailboxes, messages
//! and call records as features arrive), with embedded migrations. Owns hashing of secrets (argon2 for
//! passwords and PINs, digest HA1 for SIP). Never logs a secret.
#![warn(missing_docs)]

mod audio;
mod audit;
mod calls;
mod conferences;
mod copy;
mod db;
mod ma;
mod outbox;
mod routing;
mod spool;
mod switch;
mod tokens;
mod trunks;
mod users;
mod voicemail;

use std::path::{Path, PathBuf};

use sqlx::AnyPool;

pub use audio::{AudioKey, AudioPlace, AudioStream};
pub use audit::AuditEntry;
pub use calls::{CallRecord, Direction, Outcome};
pub use conferences::{Attendee, ConferenceRow, ScheduledConference, KEEP_ENDED_SECS};
pub use copy::TableCounts;
pub use db::{Backend, Location, SCHEMA_VERSION};
pub use ma::{Announcement, Change, Group, Member, Vip};
pub use outbox::{Alert, Channel, Event, OutboxItem, PresenceChange, Webhook};
pub use switch::{Take, TEND_EVERY};
pub use tokens::TokenInfo;
pub use trunks::{
    check_e164, codecs_text, parse_caller_id, parse_codecs, parse_number_format, parse_patterns,
    patterns_text, Trunk, TrunkChanges,
};
pub use users::{
    hash_secret, unix_now, validate_extension, verify_secret, Disposal, NewUser, Privilege, User,
    UserChanges,
};
pub use voicemail::{Counts, MailboxSettings, StoredMessage, FOLDERS};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Input that breaks a rule (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// The extension exists already.
    #[error("extension {0} already exists")]
    Duplicate(String),
    /// No such extension.
    #[error("extension {0} does not exist")]
    NotFound(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The data directory could not be created.
    #[error("data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// Hashing failed.
    #[error("hashing failed: {0}")]
    Hash(String),
    /// Audio files could not be moved or removed.
    #[error("audio files: {0}")]
    Files(#[from] std::io::Error),
    /// The database was made by a newer Parley.
    #[error("the database has schema version {found}, newer than this Parley knows ({known}): run the Parley that upgraded it, or a newer one")]
    TooNew {
        /// The database's version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

impl StoreError {
    /// Whether the database could not be reached (down, starting up, or the network away), as opposed
    /// to refusing what was asked: worth waiting for and trying again.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(e) => match e {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
                sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
                // PostgreSQL's "cannot connect now" (starting up, shutting down) and admin shutdowns.
                sqlx::Error::Database(d) => {
                    matches!(d.code().as_deref(), Some("57P01" | "57P02" | "57P03"))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// The realm used for SIP digest HA1 values (changing it invalidates stored HA1s).
pub const SIP_REALM: &str = "parley";

/// A handle on the database (cheap to clone). Callers cannot tell which back end it holds.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    location: Location,
    data_dir: PathBuf,
    /// Signalled when notifications are queued (the notifier waits on it).
    outbox_wake: std::sync::Arc<tokio::sync::Notify>,
    /// The messages this process is recording (kept touched, never recovered by this process).
    live: switch::Live,
    /// This node's name among those sharing the database.
    node: std::sync::Arc<str>,
    /// Where audio is kept.
    audio: AudioPlace,
}

impl Store {
    /// Open (creating if needed) the SQLite database in `data_dir`, and run migrations.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::connect(&Location::Sqlite(data_dir.to_path_buf()), data_dir).await
    }

    /// Open the database at `location`, and run migrations. Audio goes where the back end keeps it
    /// by default ([`AudioPlace::default_for`]; files under `data_dir`, or the database itself),
    /// unless [`Store::with_audio`] says otherwise; recordings in progress are under `data_dir`.
    pub async fn connect(location: &Location, data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::DataDir(data_dir.to_path_buf(), e))?;
        let pool = db::connect(location).await?;
        let backend = location.backend();
        db::migrate(&pool, backend).await?;
        let store = Store {
            pool,
            backend,
            location: location.clone(),
            data_dir: data_dir.to_path_buf(),
            outbox_wake: Default::default(),
            live: Default::default(),
            node: "local".into(),
            audio: AudioPlace::default_for(backend),
        };
        let audio = store.stored_place().await?.unwrap_or(store.audio);
        Ok(store.with_audio(audio))
    }

    /// Name this node among those sharing the database (stable across its restarts, unique among
    /// the nodes running: `host:sip-port` by default). The recordings a stop of this node cut short
    /// are those of its name.
    pub fn with_node(mut self, node: &str) -> Store {
        self.node = node.into();
        self
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Which database this store is in.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the database is (shown without its password).
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Close the database cleanly (on SQLite, checkpoints the write-ahead log).
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await;
        }
        self.pool.close().await;
    }
}

/// A fresh store in a temporary directory with extension 101 ("Bob", optional email), for unit tests.
#[cfg(test)]
pub(crate) async fn test_store(email: Option<&str>) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = open_test(dir.path()).await;
    s.add_user(&NewUser {
        extension: "101".into(),
        name: "Bob".into(),
        password: "secret1".into(),
        pin: None,
        email: email.map(str::to_string),
        privileges: Vec::new(),
    })
    .await
    .unwrap();
    (s, dir)
}

/// A fresh, empty store for a unit test: SQLite in `dir`, or, when `PARLEY_TEST_POSTGRES` names a
/// server (`postgres://user@host:port`), a new database of its own there (audio still in `dir`). The
/// test script runs the store's tests once each way.
#[cfg(test)]
pub(crate) async fn open_test(dir: &Path) -> Store {
    use sqlx::Executor;
    let Ok(server) = std::env::var("PARLEY_TEST_POSTGRES") else {
        return Store::open(dir).await.unwrap();
    };
    let server = server.trim_end_matches('/');
    let name = format!("parley_test_{:016x}", rand::random::<u64>());
    sqlx::any::install_default_drivers();
    let admin = AnyPool::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    admin.close().await;
    Store::connect(&Location::Postgres(format!("{server}/{name}")), dir)
        .await
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_from_a_newer_parley_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let s = open_test(dir.path()).await;
        sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
            .bind(SCHEMA_VERSION + 1)
            .execute(&s.pool)
            .await
            .unwrap();
        let err = Store::connect(s.location(), dir.path()).await.unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found, known } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION)
        );
        assert!(err.to_string().contains("newer than this Parley"), "{err}");
        // Opening it again, as it is, migrates nothing and loses nothing.
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(n, SCHEMA_VERSION + 1);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_worth_waiting_for_and_a_bad_url_is_not() {
        // Nothing listens on port 9 of the loopback.
        let dir = tempfile::tempdir().unwrap();
        let down = Location::Postgres("postgres://parley:pw@127.0.0.1:9/parley".into());
        let err = Store::connect(&down, dir.path()).await.unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
        assert!(!err.to_string().contains(":pw@"));
        let bad = Location::Postgres("postgres://[::1/x".into());
        let err = Store::connect(&bad, dir.path()).await.unwrap_err();
        assert!(!err.is_unavailable(), "{err:?}");
    }
}
