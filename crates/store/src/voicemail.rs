//! Mailboxes and messages: settings per mailbox, message rows (created when recording starts, made
//! visible when it ends), folders, counts for message-waiting, and where each audio file lives under the
//! data directory (`voicemail/<mailbox>/<id>.wav`, greetings in `voicemail/<mailbox>/greetings/`).

use std::path::PathBuf;

use parley_core::vm::Announcement;
use sqlx::Row;

use crate::audio::AudioKey;
use crate::db::flag;
use crate::outbox::{enqueue, Event};
use crate::{Store, StoreError};

/// Per-mailbox settings (defaults when never changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MailboxSettings {
    /// Ask for the PIN even from the owner's own phone.
    pub always_prompt: bool,
    /// Store arriving messages as already read (no lamp, no count).
    pub mark_read: bool,
    /// The temporary greeting is active.
    pub temp_active: bool,
    /// "Forward to Email Account": email each new message, with its audio attached, to the owner.
    pub forward_email: bool,
    /// "Send SMS when receiving a message" (only sent for accounts with the `sms` privilege).
    pub send_sms: bool,
    /// The welcome message callers hear (Callisto's Standard, A, B or C).
    #[serde(serialize_with = "announcement_str")]
    pub announcement: Announcement,
    /// "Recording active" per announcement, indexed by [`Announcement::index`].
    pub recording: [bool; 4],
}

fn announcement_str<S: serde::Serializer>(a: &Announcement, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.as_str())
}

impl MailboxSettings {
    /// Whether callers may leave a message after this announcement.
    pub fn records(&self, a: Announcement) -> bool {
        self.recording[a.index()]
    }
}

impl Default for MailboxSettings {
    fn default() -> Self {
        MailboxSettings {
            always_prompt: true,
            mark_read: false,
            temp_active: false,
            forward_email: false,
            send_sms: false,
            announcement: Announcement::Standard,
            recording: Announcement::ALL.map(Announcement::records_by_default),
        }
    }
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredMessage {
    /// Id (also the file name).
    pub id: i64,
    /// Mailbox number.
    pub mailbox: String,
    /// Folder name (`new`, `old`, `work`, `family`, `friends`).
    pub folder: String,
    /// Caller's number.
    pub caller: Option<String>,
    /// Caller's name.
    pub caller_name: Option<String>,
    /// Unix seconds.
    pub received_at: i64,
    /// Length of the audio.
    pub duration_ms: i64,
    /// Who forwarded this copy here (an extension), if it was forwarded.
    #[serde(default)]
    pub forwarded_by: Option<String>,
    /// The note added when it was forwarded.
    #[serde(default)]
    pub note: Option<String>,
}

/// Which unfinished recordings [`Store::unfinished_messages`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unfinished {
    /// Every one (one node alone on its database, at start).
    All = 0,
    /// This node's, and the stale (at start, on a shared database).
    OwnAndStale = 1,
    /// The stale only (while serving).
    Stale = 2,
}

/// New and old message counts of a mailbox (for message-waiting); the switch's type.
pub use parley_core::switch::Counts;

/// The folders a message may be in.
pub const FOLDERS: [&str; 5] = ["new", "old", "work", "family", "friends"];

pub(crate) fn row_to_message(r: &sqlx::any::AnyRow) -> StoredMessage {
    StoredMessage {
        id: r.get("id"),
        mailbox: r.get("mailbox"),
        folder: r.get("folder"),
        caller: r.get("caller"),
        caller_name: r.get("caller_name"),
        received_at: r.get("received_at"),
        duration_ms: r.get("duration_ms"),
        forwarded_by: r.get("forwarded_by"),
        note: r.get("note"),
    }
}

impl Store {
    /// The directory holding a mailbox's audio.
    pub(crate) fn mailbox_dir(&self, mailbox: &str) -> PathBuf {
        self.data_dir().join("voicemail").join(mailbox)
    }

    /// Where a message's audio is.
    pub(crate) fn message_path(&self, mailbox: &str, id: i64) -> PathBuf {
        self.mailbox_dir(mailbox).join(format!("{id}.wav"))
    }

    /// Where a greeting's audio is (`kind`: unavailable, busy, name, temporary).
    pub(crate) fn greeting_path(&self, mailbox: &str, kind: &str) -> PathBuf {
        self.mailbox_dir(mailbox)
            .join("greetings")
            .join(format!("{kind}.wav"))
    }

    /// A mailbox's settings (defaults when never changed).
    pub async fn mailbox_settings(&self, mailbox: &str) -> Result<MailboxSettings, StoreError> {
        let row = sqlx::query("SELECT * FROM mailboxes WHERE extension = $1")
            .bind(mailbox)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| MailboxSettings {
                always_prompt: flag(&r, "always_prompt"),
                mark_read: flag(&r, "mark_read"),
                temp_active: flag(&r, "temp_active"),
                forward_email: flag(&r, "forward_email"),
                send_sms: flag(&r, "send_sms"),
                announcement: Announcement::parse(r.get::<&str, _>("announcement"))
                    .unwrap_or_default(),
                recording: [
                    flag(&r, "record_standard"),
                    flag(&r, "record_a"),
                    flag(&r, "record_b"),
                    flag(&r, "record_c"),
                ],
            })
            .unwrap_or_default())
    }

    /// Store a mailbox's settings.
    pub async fn set_mailbox_settings(
        &self,
        mailbox: &str,
        s: MailboxSettings,
    ) -> Result<(), StoreError> {
        if self.get_user(mailbox).await?.is_none() {
            return Err(StoreError::NotFound(mailbox.to_string()));
        }
        sqlx::query(
            "INSERT INTO mailboxes (extension, always_prompt, mark_read, temp_active, forward_email, send_sms,
             announcement, record_standard, record_a, record_b, record_c)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT(extension) DO UPDATE SET always_prompt = excluded.always_prompt,
             mark_read = excluded.mark_read, temp_active = excluded.temp_active,
             forward_email = excluded.forward_email, send_sms = excluded.send_sms,
             announcement = excluded.announcement, record_standard = excluded.record_standard,
             record_a = excluded.record_a, record_b = excluded.record_b, record_c = excluded.record_c",
        )
        .bind(mailbox)
        .bind(s.always_prompt)
        .bind(s.mark_read)
        .bind(s.temp_active)
        .bind(s.forward_email)
        .bind(s.send_sms)
        .bind(s.announcement.as_str())
        .bind(s.recording[0])
        .bind(s.recording[1])
        .bind(s.recording[2])
        .bind(s.recording[3])
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Create the row of a message whose recording starts now; returns its id.
    pub async fn start_message(
        &self,
        mailbox: &str,
        caller: Option<&str>,
        caller_name: Option<&str>,
        received_at: i64,
    ) -> Result<i64, StoreError> {
        let sql = format!(
            "INSERT INTO messages (mailbox, caller, caller_name, received_at, touched_at, node)
             VALUES ($1, $2, $3, $4, {}, $5) RETURNING id",
            self.backend.now_secs()
        );
        let row = sqlx::query(&sql)
            .bind(mailbox)
            .bind(caller)
            .bind(caller_name)
            .bind(received_at)
            .bind(&*self.node)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get("id"))
    }

    /// Make a recorded message visible in `folder` with its final length, and queue its
    /// notifications (email, SMS, webhooks) in the same transaction.
    pub async fn finish_message(
        &self,
        id: i64,
        duration_ms: i64,
        folder: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE messages SET state = 'ready', duration_ms = $1, folder = $2
             WHERE id = $3 AND state = 'recording' RETURNING *",
        )
        .bind(duration_ms)
        .bind(folder)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(r) = row else {
            return Err(StoreError::Invalid(format!(
                "message {id} is not being recorded (already kept, recovered or deleted)"
            )));
        };
        let queued = enqueue(&mut tx, Event::New, &row_to_message(&r)).await?;
        tx.commit().await?;
        self.outbox_queued(queued);
        Ok(())
    }

    /// Messages whose recording never finished: (id, mailbox, node). `which` says which (all of
    /// them; this node's and the stale; or the stale only, those whose recorder has not touched them
    /// for `stale_secs` by the database's clock).
    pub(crate) async fn unfinished_messages(
        &self,
        which: Unfinished,
        stale_secs: i64,
    ) -> Result<Vec<(i64, String, Option<String>, i64)>, StoreError> {
        let now = self.backend.now_secs();
        let sql = format!(
            "SELECT id, mailbox, node, {now} - COALESCE(touched_at, received_at) AS idle FROM messages
             WHERE state = 'recording' AND ($1 = 0
             OR ($1 = 1 AND node = $2) OR COALESCE(touched_at, received_at) < {now} - $3) ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(which as i64)
            .bind(&*self.node)
            .bind(stale_secs)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let idle = r.try_get::<i64, _>("idle").unwrap_or(0);
                (r.get("id"), r.get("mailbox"), r.get("node"), idle)
            })
            .collect())
    }

    /// A mailbox's messages, oldest first.
    pub async fn list_messages(&self, mailbox: &str) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM messages WHERE mailbox = $1 AND state = 'ready' ORDER BY received_at, id",
        )
        .bind(mailbox)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_to_message).collect())
    }

    /// One message.
    pub async fn get_message(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        let row = sqlx::query("SELECT * FROM messages WHERE id = $1 AND state = 'ready'")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_message))
    }

    /// Move a message to a folder. Leaving New counts as read (the `message.read` webhook event).
    pub async fn move_message(&self, id: i64, folder: &str) -> Result<(), StoreError> {
        if !FOLDERS.contains(&folder) {
            return Err(StoreError::Invalid(format!("no folder {folder:?}")));
        }
        let mut tx = self.pool.begin().await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT folder FROM messages WHERE id = $1 AND state = 'ready'")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let row = sqlx::query("UPDATE messages SET folder = $1 WHERE id = $2 RETURNING *")
            .bind(folder)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let queued = match (before.as_deref(), row) {
            (Some("new"), Some(r)) if folder != "new" => {
                enqueue(&mut tx, Event::Read, &row_to_message(&r)).await?
            }
            _ => 0,
        };
        tx.commit().await?;
        self.outbox_queued(queued);
        Ok(())
    }

    /// Delete a message's row and its audio file (a finished message's deletion is reported to
    /// webhooks; a discarded take is not).
    pub async fn delete_message(&self, id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("DELETE FROM messages WHERE id = $1 RETURNING *")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let mut queued = 0;
        if let Some(r) = &row {
            if r.get::<String, _>("state") == "ready" {
                queued = enqueue(&mut tx, Event::Deleted, &row_to_message(r)).await?;
            }
        }
        tx.commit().await?;
        self.outbox_queued(queued);
        if let Some(r) = row {
            let mailbox: String = r.get("mailbox");
            self.forget_message_audio(&mailbox, id).await;
        }
        Ok(())
    }

    /// Forget a recording that never finished (and its audio): only while it is still unfinished, so
    /// that a message kept meanwhile (by another node) is never touched.
    pub(crate) async fn drop_unfinished(&self, id: i64) -> Result<(), StoreError> {
        let row = sqlx::query(
            "DELETE FROM messages WHERE id = $1 AND state = 'recording' RETURNING mailbox",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(r) = row {
            let mailbox: String = r.get("mailbox");
            self.forget_message_audio(&mailbox, id).await;
        }
        Ok(())
    }

    /// Remove a message's audio: where it is kept, and the local file of its recording.
    async fn forget_message_audio(&self, mailbox: &str, id: i64) {
        let key = AudioKey::message(mailbox, id);
        if let Err(e) = self.remove_audio(&key).await {
            tracing::warn!(message = id, error = %e, "a message's audio was not removed");
        }
        let _ = tokio::fs::remove_file(self.message_path(mailbox, id)).await;
    }

    /// New and old counts of a mailbox.
    pub async fn message_counts(&self, mailbox: &str) -> Result<Counts, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(CASE WHEN folder = 'new' THEN 1 END) AS new, COUNT(CASE WHEN folder <> 'new' THEN 1 END) AS old
             FROM messages WHERE mailbox = $1 AND state = 'ready'",
        )
        .bind(mailbox)
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            new: row.get::<i64, _>("new") as u32,
            old: row.get::<i64, _>("old") as u32,
        })
    }

    /// The argon2 hash of a mailbox's PIN: `Ok(None)` when never set (the default PIN applies), an error
    /// `NotFound` for no such extension. Verify it off the async runtime ([`crate::verify_secret`]).
    pub async fn pin_hash(&self, ext: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT pin_hash FROM users WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(r.get("pin_hash")),
            None => Err(StoreError::NotFound(ext.to_string())),
        }
    }

    /// Copy a message into another mailbox (a new message there, with the same caller and time), noting
    /// who forwarded it and their optional note (at most 500 characters). Returns the new id, or `None`
    /// if the message does not exist.
    pub async fn forward_message(
        &self,
        id: i64,
        to: &str,
        by: &str,
        note: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if let Some(n) = note {
            if n.chars().count() > 500 || n.chars().any(|c| c.is_control() && c != '\n') {
                return Err(StoreError::Invalid(
                    "a note has at most 500 characters and no control characters".into(),
                ));
            }
        }
        let Some(m) = self.get_message(id).await? else {
            return Ok(None);
        };
        if self.get_user(to).await?.is_none() {
            return Err(StoreError::NotFound(to.to_string()));
        }
        let new_id = self
            .start_message(
                to,
                m.caller.as_deref(),
                m.caller_name.as_deref(),
                m.received_at,
            )
            .await?;
        let copied = self
            .copy_audio(
                &AudioKey::message(&m.mailbox, id),
                &AudioKey::message(to, new_id),
            )
            .await;
        if let Err(e) = copied {
            let _ = self.delete_message(new_id).await;
            return Err(StoreError::Invalid(format!(
                "message audio could not be copied: {e}"
            )));
        }
        sqlx::query("UPDATE messages SET forwarded_by = $1, note = $2 WHERE id = $3")
            .bind(by)
            .bind(note)
            .bind(new_id)
            .execute(&self.pool)
            .await?;
        self.finish_message(new_id, m.duration_ms, "new").await?;
        Ok(Some(new_id))
    }

    /// Whether the PIN is still unset (the configured default PIN applies and must be changed).
    pub async fn pin_is_default(&self, ext: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT CASE WHEN pin_hash IS NULL THEN 1 ELSE 0 END AS d FROM users WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some_and(|r| flag(&r, "d")))
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    async fn store() -> (Store, tempfile::TempDir) {
        crate::test_store(None).await
    }

    #[tokio::test]
    async fn a_message_is_invisible_while_recording_and_counted_once_finished() {
        let (s, _d) = store().await;
        let id = s
            .start_message("101", Some("100"), None, 1000)
            .await
            .unwrap();
        assert!(s.list_messages("101").await.unwrap().is_empty());
        let unfinished: Vec<_> = s
            .unfinished_messages(super::Unfinished::All, 60)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, mailbox, node, _idle)| (id, mailbox, node))
            .collect();
        assert_eq!(unfinished, [(id, "101".into(), Some("local".into()))]);
        s.finish_message(id, 4200, "new").await.unwrap();
        let list = s.list_messages("101").await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].duration_ms, 4200);
        assert_eq!(s.message_counts("101").await.unwrap().new, 1);
        s.move_message(id, "work").await.unwrap();
        let c = s.message_counts("101").await.unwrap();
        assert_eq!((c.new, c.old), (0, 1));
        assert!(s.move_message(id, "attic").await.is_err());
        s.delete_message(id).await.unwrap();
        assert!(s.list_messages("101").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn simultaneous_deposits_get_distinct_ids() {
        let (s, _d) = store().await;
        let (a, b) = tokio::join!(
            s.start_message("101", None, None, 1),
            s.start_message("101", None, None, 1)
        );
        assert_ne!(a.unwrap(), b.unwrap());
    }

    #[tokio::test]
    async fn settings_default_then_persist() {
        let (s, _d) = store().await;
        let d = s.mailbox_settings("101").await.unwrap();
        assert!(d.always_prompt && !d.mark_read && !d.temp_active);
        let mut n = d;
        n.mark_read = true;
        s.set_mailbox_settings("101", n).await.unwrap();
        assert!(s.mailbox_settings("101").await.unwrap().mark_read);
        assert!(s.pin_is_default("101").await.unwrap());
        assert!(s.set_mailbox_settings("999", n).await.is_err());
    }
}
