//! Parley's persistence: the SQLite database under the data directory (accounts now; mailboxes, messages
//! and call records as features arrive), with embedded migrations. Owns hashing of secrets (argon2 for
//! passwords and PINs, digest HA1 for SIP). Never logs a secret.
#![warn(missing_docs)]

mod audit;
mod calls;
mod ma;
mod outbox;
mod switch;
mod tokens;
mod users;
mod voicemail;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use audit::AuditEntry;
pub use calls::{CallRecord, Outcome};
pub use ma::{Announcement, Change, Group, Member, Vip};
pub use outbox::{Channel, Event, OutboxItem, Webhook};
pub use switch::{read_audio, read_wav, Take};
pub use tokens::TokenInfo;
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
}

/// Schema migrations, applied in order, each once, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_users.sql")),
    (2, include_str!("../migrations/0002_voicemail.sql")),
    (3, include_str!("../migrations/0003_accounts_ma.sql")),
    (4, include_str!("../migrations/0004_api_tokens.sql")),
    (5, include_str!("../migrations/0005_notifications.sql")),
    (6, include_str!("../migrations/0006_announcements.sql")),
    (7, include_str!("../migrations/0007_call_records.sql")),
    (8, include_str!("../migrations/0008_forward_notes.sql")),
];

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY NOT NULL)",
    )
    .execute(pool)
    .await?;
    for (version, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        let done = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = ?")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_none() {
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version) VALUES (?)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// The realm used for SIP digest HA1 values (changing it invalidates stored HA1s).
pub const SIP_REALM: &str = "parley";

/// A handle on the database (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    data_dir: PathBuf,
    /// Signalled when notifications are queued (the notifier waits on it).
    outbox_wake: std::sync::Arc<tokio::sync::Notify>,
}

impl Store {
    /// Open (creating if needed) the database in `data_dir`, and run migrations.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::DataDir(data_dir.to_path_buf(), e))?;
        let path = data_dir.join("parley.db");
        let opts = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        migrate(&pool).await?;
        Ok(Store {
            pool,
            data_dir: data_dir.to_path_buf(),
            outbox_wake: Default::default(),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Close the database cleanly (checkpoints the WAL).
    pub async fn close(&self) {
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }
}

/// A fresh store in a temporary directory with extension 101 ("Bob", optional email), for unit tests.
#[cfg(test)]
pub(crate) async fn test_store(email: Option<&str>) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).await.unwrap();
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
