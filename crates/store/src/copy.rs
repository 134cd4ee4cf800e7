//! Moving an installation from one database to another (`parley db copy`): every table, row for row,
//! ids kept, into an empty database of either back end; counts compared at the end.

use sqlx::any::AnyRow;
use sqlx::{Column, Row};

use crate::{Backend, Store, StoreError};

/// The tables, parents before children, each with the column it is ordered by and whether its `id`
/// is an identity column (numbered by the database).
const TABLES: &[(&str, &str, bool)] = &[
    ("users", "extension", false),
    ("mailboxes", "extension", false),
    ("messages", "id", true),
    ("ma_instances", "name", false),
    ("ma_groups", "id", true),
    ("ma_members", "id", true),
    ("ma_vip", "id", true),
    ("ma_announcements", "id", true),
    ("audit_log", "id", true),
    ("api_tokens", "id", true),
    ("webhooks", "id", true),
    ("outbox", "id", true),
    ("call_records", "id", true),
    ("trunks", "name", false),
    ("dids", "number", false),
    ("routing", "extension", false),
    ("conferences", "id", false),
    ("conference_moderators", "conference, extension", false),
    ("conference_attendance", "id", true),
];

/// Tables a new database starts with rows in (the seed's unscheduled conferences): they do not make
/// the target count as used, and the source's rows replace them.
const SEEDED: &[&str] = &["conference_moderators", "conferences"];

/// What a target column holds, from its declared type (a NULL is sent typed as its column is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Flag,
    Text,
}

/// The target's columns of `table` and what each holds (booleans of PostgreSQL as flags; SQLite's
/// yes/no columns are integers there and take integers).
async fn column_kinds(
    target: &Store,
    table: &str,
) -> Result<std::collections::HashMap<String, Kind>, StoreError> {
    let rows = sqlx::query(target.backend.columns_sql())
        .bind(table)
        .fetch_all(&target.pool)
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let ty = r.get::<String, _>("data_type").to_ascii_lowercase();
            let kind = if ty.contains("bool") {
                Kind::Flag
            } else if ty.contains("int") {
                Kind::Int
            } else {
                Kind::Text
            };
            (r.get::<String, _>("name"), kind)
        })
        .collect())
}

/// Rows read and written at a time.
const BATCH: i64 = 500;

/// One value of any column.
enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
}

fn value(r: &AnyRow, i: usize) -> Value {
    if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
        return v.map_or(Value::Null, Value::Int);
    }
    if let Ok(v) = r.try_get::<Option<bool>, _>(i) {
        return v.map_or(Value::Null, Value::Bool);
    }
    match r.try_get::<Option<String>, _>(i) {
        Ok(v) => v.map_or(Value::Null, Value::Text),
        Err(_) => Value::Null,
    }
}

/// How many rows each table holds.
pub type TableCounts = Vec<(&'static str, i64)>;

impl Store {
    /// Rows per table.
    pub async fn table_counts(&self) -> Result<TableCounts, StoreError> {
        let mut out = Vec::new();
        for (table, _, _) in TABLES {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&self.pool)
                .await?;
            out.push((*table, n));
        }
        Ok(out)
    }

    /// Copy every row of this store into `target`, which must be empty (and this one not), keeping ids; the counts of
    /// both are compared at the end (a difference means this store changed during the copy: stop
    /// Parley and copy again into a fresh target). The recordings go where the target keeps audio
    /// (nothing moves between two stores on the same files), counted as `recordings`. Returns the
    /// counts.
    pub async fn copy_into(&self, target: &Store) -> Result<TableCounts, StoreError> {
        if self
            .table_counts()
            .await?
            .iter()
            .all(|(t, n)| *n == 0 || SEEDED.contains(t))
        {
            return Err(StoreError::Invalid(format!(
                "the source database {} is empty: is it the right one?",
                self.location()
            )));
        }
        let target_audio: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audio")
            .fetch_one(&target.pool)
            .await?;
        let used = target
            .table_counts()
            .await?
            .iter()
            .any(|(t, n)| *n > 0 && !SEEDED.contains(t));
        if target_audio > 0 || used {
            return Err(StoreError::Invalid(format!(
                "the target database {} is not empty: copy only into a new, empty database",
                target.location()
            )));
        }
        let mut tx = target.pool.begin().await?;
        for table in SEEDED {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        for (table, order, identity) in TABLES {
            let kinds = column_kinds(target, table).await?;
            let mut offset = 0;
            loop {
                let rows = sqlx::query(&format!(
                    "SELECT * FROM {table} ORDER BY {order} LIMIT $1 OFFSET $2"
                ))
                .bind(BATCH)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                for r in &rows {
                    let cols: Vec<&str> = r.columns().iter().map(|c| c.name()).collect();
                    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "INSERT INTO {table} ({}) VALUES ({})",
                        cols.join(", "),
                        marks.join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for (i, col) in cols.iter().enumerate() {
                        let Some(kind) = kinds.get(*col).copied() else {
                            return Err(StoreError::Invalid(format!(
                                "the target has no column {table}.{col}: copy between the same Parley version"
                            )));
                        };
                        q = match (value(r, i), kind) {
                            (Value::Null, Kind::Flag) => q.bind(None::<bool>),
                            (Value::Null, Kind::Int) => q.bind(None::<i64>),
                            (Value::Null, Kind::Text) => q.bind(None::<String>),
                            (Value::Int(v), Kind::Flag) => q.bind(v != 0),
                            (Value::Int(v), _) => q.bind(v),
                            (Value::Bool(b), Kind::Flag) => q.bind(b),
                            (Value::Bool(b), _) => q.bind(i64::from(b)),
                            (Value::Text(t), _) => q.bind(t),
                        };
                    }
                    q.execute(&mut *tx).await?;
                }
                if (rows.len() as i64) < BATCH {
                    break;
                }
                offset += BATCH;
            }
            // PostgreSQL's identity columns carry on after the highest id copied.
            if target.backend == Backend::Postgres && *identity {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                ))
                .fetch_one(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        let recordings = self.copy_recordings(target).await?;
        let (from, to) = (self.table_counts().await?, target.table_counts().await?);
        if from != to {
            return Err(StoreError::Invalid(format!(
                "counts differ after the copy (source {from:?}, target {to:?}): the source changed \
                 while it was copied; stop Parley and copy again into an empty database"
            )));
        }
        let mut counts = to;
        counts.push(("recordings", recordings));
        Ok(counts)
    }

    /// Every recording this store holds, into `target` (from files into the database, or back, or
    /// between two directories; nothing to do between two stores on the same files). Each one is
    /// checked to be there afterwards; returns how many.
    async fn copy_recordings(&self, target: &Store) -> Result<i64, StoreError> {
        use crate::{AudioKey, AudioPlace};
        let same_files = self.audio == AudioPlace::Files
            && target.audio == AudioPlace::Files
            && std::fs::canonicalize(self.data_dir()).ok()
                == std::fs::canonicalize(target.data_dir()).ok();
        let mut keys: Vec<AudioKey> =
            sqlx::query("SELECT id, mailbox FROM messages WHERE state = 'ready' ORDER BY id")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| AudioKey::message(&r.get::<String, _>("mailbox"), r.get("id")))
                .collect();
        let users: Vec<String> =
            sqlx::query_scalar("SELECT extension FROM users ORDER BY extension")
                .fetch_all(&self.pool)
                .await?;
        for u in &users {
            keys.extend(
                parley_core::vm::GreetingKind::ALL
                    .into_iter()
                    .map(|k| AudioKey::greeting(u, k)),
            );
        }
        let mut n = 0;
        for key in keys {
            if !self.audio_exists(&key).await {
                continue;
            }
            if !same_files {
                let wav = self.audio_wav(&key).await.ok_or_else(|| {
                    StoreError::Invalid(format!("the recording {key:?} could not be read"))
                })?;
                target.put_audio(&key, &wav).await?;
            }
            if !target.audio_exists(&key).await {
                return Err(StoreError::Invalid(format!(
                    "the recording {key:?} is not in the target after the copy"
                )));
            }
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MailboxSettings, NewUser};

    #[tokio::test]
    async fn a_copy_keeps_every_row_and_id_and_new_rows_carry_on_after_them() {
        // From SQLite into the test database (PostgreSQL when the test script provides one).
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).await.unwrap();
        s.add_user(&NewUser {
            extension: "101".into(),
            name: "Bob".into(),
            password: "secret1".into(),
            pin: Some("2468".into()),
            email: Some("bob@example.com".into()),
            privileges: vec![crate::Privilege::Rest],
        })
        .await
        .unwrap();
        let id = s.start_message("101", Some("100"), None, 5).await.unwrap();
        s.finish_message(id, 4200, "work").await.unwrap();
        let settings = MailboxSettings {
            mark_read: true,
            always_prompt: false,
            recording: [true, true, false, false],
            ..Default::default()
        };
        s.set_mailbox_settings("101", settings).await.unwrap();
        s.add_ma_instance("MA", 1).await.unwrap();
        s.audit(1, "cli", "local", "user.add", "101", "")
            .await
            .unwrap();
        // NULLs of every kind: a pending notification (no done_at), a message from before
        // recordings were touched.
        s.add_webhook(
            "http://127.0.0.1:9/h",
            Some("0123456789abcdef"),
            &[crate::Event::New],
        )
        .await
        .unwrap();
        let id2 = s.start_message("101", None, None, 6).await.unwrap();
        s.finish_message(id2, 1000, "new").await.unwrap();
        sqlx::query("UPDATE messages SET touched_at = NULL, node = NULL")
            .execute(&s.pool)
            .await
            .unwrap();
        let tone =
            parley_media::wav::encode(&[300i16; 12000], parley_media::wav::SampleFormat::Pcm16);
        let message = crate::AudioKey::message("101", id);
        let greeting = crate::AudioKey::greeting("101", parley_core::vm::GreetingKind::Busy);
        s.put_audio(&message, &tone).await.unwrap();
        s.put_audio(&greeting, &tone).await.unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let target = crate::open_test(d2.path()).await;
        let counts = s.copy_into(&target).await.unwrap();
        assert!(counts.contains(&("messages", 2)) && counts.contains(&("users", 1)));
        // The recordings come across too, into the target's own place for audio.
        assert!(counts.contains(&("recordings", 2)), "{counts:?}");
        for key in [&message, &greeting] {
            assert_eq!(target.audio_wav(key).await.unwrap(), tone);
        }
        assert!(counts.contains(&("outbox", 1)));
        let copied = &target.list_messages("101").await.unwrap()[0];
        assert_eq!((copied.id, copied.folder.as_str()), (id, "work"));
        assert_eq!(target.mailbox_settings("101").await.unwrap(), settings);
        assert_eq!(
            target.get_user("101").await.unwrap(),
            s.get_user("101").await.unwrap()
        );
        // Secrets come across as they were: the PIN still opens the mailbox.
        let hash = target.pin_hash("101").await.unwrap().unwrap();
        assert!(crate::verify_secret("2468", &hash));
        // New rows are numbered after the copied ones.
        let next = target.start_message("101", None, None, 9).await.unwrap();
        assert!(next > id);
        // A database that is not empty is never copied into, and an empty one never copied.
        assert!(matches!(
            s.copy_into(&target).await,
            Err(StoreError::Invalid(_))
        ));
        let d3 = tempfile::tempdir().unwrap();
        let empty = Store::open(d3.path()).await.unwrap();
        let e = empty.copy_into(&target).await.unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
    }
}
