//! Deposits while the database is away. A message's row is normally written when its recording starts;
//! when the database cannot take it at once, the recording goes to the node's spool
//! (`voicemail/.spool/<node>/` under the data directory) beside a small JSON file saying whose it is,
//! and the caller is recorded all the same. When the database is back, each spooled recording gets its row and its place in the mailbox
//! and is made visible like any other message, its notifications queued. A crash mid-recording leaves
//! a spooled WAV whose header is fixed when it is adopted, as for any recording cut short.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parley_core::vm::Folder;
use tracing::{info, warn};

use parley_core::extension::Extension;

use crate::{Store, StoreError};

/// Another node's spooled recording untouched this long is taken for one whose node stopped.
const STALE: Duration = Duration::from_secs(60);

/// Whose a spooled recording is, and, once the call kept it, its folder and length.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SpoolMeta {
    mailbox: String,
    caller: Option<String>,
    caller_name: Option<String>,
    received_at: i64,
    #[serde(default)]
    kept: Option<Kept>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Kept {
    folder: String,
    duration_ms: i64,
}

/// The audio beside a spool entry's JSON file.
pub(crate) fn spool_audio(meta: &Path) -> PathBuf {
    meta.with_extension("wav")
}

async fn write_meta(path: &Path, meta: &SpoolMeta) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    let f = tokio::fs::File::create(&tmp).await?;
    let mut f = f.into_std().await;
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        f.write_all(&bytes)?;
        f.sync_all()
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    tokio::fs::rename(&tmp, path).await?;
    Ok(())
}

impl Store {
    fn spools(&self) -> PathBuf {
        self.data_dir().join("voicemail").join(".spool")
    }

    /// This node's spool (nodes sharing a data directory each have their own).
    pub(crate) fn spool_dir(&self) -> PathBuf {
        let name: String = self
            .node()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.spools().join(name)
    }

    /// Where a new spooled recording's JSON file goes (the audio goes to [`spool_audio`] of it).
    pub(crate) fn new_spool_path(&self, received_at: i64) -> PathBuf {
        self.spool_dir()
            .join(format!("{received_at}-{:016x}.json", rand::random::<u64>()))
    }

    /// Start a spooled recording for `mailbox` at `meta_path` (already marked live by the caller).
    pub(crate) async fn spool_take(
        &self,
        meta_path: &Path,
        mailbox: &str,
        caller: Option<&str>,
        caller_name: Option<&str>,
        received_at: i64,
    ) -> Result<(), StoreError> {
        tokio::fs::create_dir_all(self.spool_dir()).await?;
        let meta = SpoolMeta {
            mailbox: mailbox.to_string(),
            caller: caller.map(str::to_string),
            caller_name: caller_name.map(str::to_string),
            received_at,
            kept: None,
        };
        write_meta(meta_path, &meta).await
    }

    /// The call kept a spooled recording: note its folder and length, then give it its row now if the
    /// database is back (else [`Store::adopt_spooled`] does when it is).
    pub(crate) async fn keep_spooled(
        &self,
        meta_path: &Path,
        duration_ms: u64,
        folder: Folder,
    ) -> Result<(), StoreError> {
        let mut meta = read_meta(meta_path).await?;
        meta.kept = Some(Kept {
            folder: folder.as_str().to_string(),
            duration_ms: duration_ms as i64,
        });
        write_meta(meta_path, &meta).await?;
        match self.adopt(meta_path, Duration::ZERO).await {
            Err(e) if e.is_unavailable() => {
                info!(spooled = %meta_path.display(), error = %e, "message kept in the spool until the database is back");
                Ok(())
            }
            other => other,
        }
    }

    /// Throw a spooled recording away.
    pub(crate) async fn discard_spooled(&self, meta_path: &Path) {
        let _ = tokio::fs::remove_file(spool_audio(meta_path)).await;
        let _ = tokio::fs::remove_file(meta_path).await;
    }

    /// Give every spooled recording not being recorded now its row and its place in its mailbox
    /// (those cut short by a stop, shorter than `min_message`, are dropped): this node's, and another
    /// node's once its files have not changed for a minute (that node stopped). What the database
    /// cannot take yet stays spooled for the next turn.
    pub async fn adopt_spooled(&self, min_message: Duration) {
        let Ok(mut spools) = tokio::fs::read_dir(self.spools()).await else {
            return;
        };
        let own = self.spool_dir();
        let mut metas = Vec::new();
        while let Ok(Some(spool)) = spools.next_entry().await {
            let dir = spool.path();
            let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
                continue;
            };
            while let Ok(Some(e)) = entries.next_entry().await {
                let p = e.path();
                if p.extension().is_none_or(|x| x != "json") {
                    continue;
                }
                let adoptable = if dir == own {
                    !self.is_live_spool(&p)
                } else {
                    untouched_for(&p, STALE).await && untouched_for(&spool_audio(&p), STALE).await
                };
                if adoptable {
                    metas.push(p);
                }
            }
        }
        metas.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        for meta in metas {
            if let Err(e) = self.adopt(&meta, min_message).await {
                if e.is_unavailable() {
                    info!(error = %e, "the database is still away; spooled messages wait");
                    return;
                }
                warn!(spooled = %meta.display(), error = %e, "a spooled message could not be stored; set aside");
                let _ = tokio::fs::rename(&meta, meta.with_extension("json.failed")).await;
            }
        }
    }

    /// Store one spooled recording as a message.
    async fn adopt(&self, meta_path: &Path, min_message: Duration) -> Result<(), StoreError> {
        let meta = read_meta(meta_path).await?;
        let audio = spool_audio(meta_path);
        if !tokio::fs::try_exists(&audio).await.unwrap_or(false) {
            // Already moved into its mailbox (a stop came before this file was removed).
            let _ = tokio::fs::remove_file(meta_path).await;
            return Ok(());
        }
        let (folder, duration_ms) = match &meta.kept {
            Some(k) => (k.folder.clone(), k.duration_ms),
            None => {
                // Cut short by a stop: its header says nothing yet.
                let samples = crate::switch::fix_wav_header(audio.clone()).await;
                let ms = samples.map(|n| n / 8).unwrap_or(0);
                if ms < min_message.as_millis() as u64 {
                    info!(spooled = %meta_path.display(), ms, "dropped a spooled recording (too short or unreadable)");
                    self.discard_spooled(meta_path).await;
                    return Ok(());
                }
                let mark_read = self.mailbox_settings(&meta.mailbox).await?.mark_read;
                (
                    Folder::for_new_message(mark_read).as_str().to_string(),
                    ms as i64,
                )
            }
        };
        tokio::fs::create_dir_all(self.mailbox_dir(&meta.mailbox)).await?;
        let id = self
            .start_message(
                &meta.mailbox,
                meta.caller.as_deref(),
                meta.caller_name.as_deref(),
                meta.received_at,
            )
            .await?;
        let path = self.message_path(&meta.mailbox, id);
        tokio::fs::rename(&audio, &path).await?;
        let _ = tokio::fs::remove_file(meta_path).await;
        // Should this fail, the row and its audio are where a recording cut short is recovered from.
        self.settle_recording(&crate::AudioKey::message(&meta.mailbox, id), &path, 0)
            .await?;
        self.finish_message(id, duration_ms, &folder).await?;
        info!(message = id, mailbox = %meta.mailbox, ms = duration_ms, "stored a message recorded while the database was away");
        Ok(())
    }
}

/// Whether a file is absent or has not been written for `age`.
async fn untouched_for(path: &Path, age: Duration) -> bool {
    match tokio::fs::metadata(path).await {
        Ok(m) => m
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|e| e >= age),
        Err(_) => true,
    }
}

async fn read_meta(path: &Path) -> Result<SpoolMeta, StoreError> {
    let bytes = tokio::fs::read(path).await?;
    let meta: SpoolMeta = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::Invalid(format!("spool file {}: {e}", path.display())))?;
    // The mailbox names a directory: only an extension number is taken from the file.
    if !Extension::is_valid(&meta.mailbox) {
        return Err(StoreError::Invalid(format!(
            "spool file {}: not a mailbox",
            path.display()
        )));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_core::vm::RecordingFor;

    fn write_audio(path: &Path, secs: usize, finished: bool) {
        let f = std::fs::File::create(path).unwrap();
        let mut rec = parley_media::wav::WavRecorder::new(f).unwrap();
        rec.push(&vec![800i16; 8000 * secs]).unwrap();
        if finished {
            rec.finish().unwrap();
        }
    }

    fn spooled(s: &Store) -> usize {
        std::fs::read_dir(s.spool_dir()).map_or(0, |d| d.count())
    }

    #[tokio::test]
    async fn another_nodes_spool_is_adopted_only_once_it_stopped_and_a_forged_mailbox_never() {
        let (s, d) = crate::test_store(None).await;
        let other = Store::connect(s.location(), d.path())
            .await
            .unwrap()
            .with_node("node-b:5060");
        other.pool.close().await;
        let purpose = RecordingFor::Message {
            mailbox: "101".into(),
            caller: None,
        };
        let take = other.start_take(purpose, 7).await.unwrap();
        write_audio(take.path(), 2, false);
        drop(take);
        // Its files are fresh: node b may still be recording.
        s.adopt_spooled(Duration::from_secs(1)).await;
        assert!(s.list_messages("101").await.unwrap().is_empty());
        // Node b stopped a minute ago.
        let old = std::time::UNIX_EPOCH + Duration::from_secs((crate::unix_now() - 120) as u64);
        for f in std::fs::read_dir(other.spool_dir()).unwrap() {
            let path = f.unwrap().path();
            let f = std::fs::File::options().write(true).open(path).unwrap();
            f.set_modified(old).unwrap();
        }
        s.adopt_spooled(Duration::from_secs(1)).await;
        assert_eq!(s.list_messages("101").await.unwrap().len(), 1);
        // A spool file naming a path instead of a mailbox is set aside, nothing created.
        std::fs::create_dir_all(s.spool_dir()).unwrap();
        let forged = s.spool_dir().join("1-forged.json");
        let text = r#"{"mailbox":"../../x","caller":null,"caller_name":null,"received_at":1,"kept":{"folder":"new","duration_ms":2000}}"#;
        std::fs::write(&forged, text).unwrap();
        std::fs::write(spool_audio(&forged), b"RIFF").unwrap();
        s.adopt_spooled(Duration::from_secs(1)).await;
        assert!(!d.path().join("x").exists());
        assert!(forged.with_extension("json.failed").exists());
    }

    #[tokio::test]
    async fn a_deposit_made_while_the_database_is_away_arrives_when_it_is_back() {
        let (s, d) = crate::test_store(None).await;
        // This node's connection to the database is gone (as when the server stops).
        let away = Store::connect(s.location(), d.path()).await.unwrap();
        away.pool.close().await;
        let purpose = |caller: &str| RecordingFor::Message {
            mailbox: "101".into(),
            caller: Some(caller.into()),
        };
        // The caller is recorded all the same, into the spool, and the call keeps the take.
        let take = away.start_take(purpose("100"), 50).await.unwrap();
        assert!(take.path().starts_with(away.spool_dir()));
        write_audio(take.path(), 2, true);
        away.keep_take(take, 2000, Folder::New).await.unwrap();
        // A second one is cut short by a stop before it is kept (its header says nothing).
        let cut = away.start_take(purpose("102"), 60).await.unwrap();
        write_audio(cut.path(), 3, false);
        drop(cut);
        assert!(s.list_messages("101").await.unwrap().is_empty());
        assert_eq!(spooled(&s), 4);
        // The database is back: both become messages of their mailbox, in order, audio in place.
        s.adopt_spooled(Duration::from_secs(1)).await;
        let list = s.list_messages("101").await.unwrap();
        let got: Vec<_> = list
            .iter()
            .map(|m| (m.caller.as_deref(), m.received_at, m.duration_ms))
            .collect();
        assert_eq!(got, [(Some("100"), 50, 2000), (Some("102"), 60, 3000)]);
        for m in &list {
            let samples = s
                .audio_samples(&crate::AudioKey::message("101", m.id))
                .await;
            assert_eq!(samples.map(|a| a.len() as i64), Some(m.duration_ms * 8));
        }
        assert_eq!(spooled(&s), 0);
        assert_eq!(s.message_counts("101").await.unwrap().new, 2);
    }

    #[tokio::test]
    async fn a_spooled_recording_in_progress_is_left_alone_and_a_too_short_one_dropped() {
        let (s, d) = crate::test_store(None).await;
        let away = Store::connect(s.location(), d.path()).await.unwrap();
        away.pool.close().await;
        let purpose = RecordingFor::Message {
            mailbox: "101".into(),
            caller: None,
        };
        let take = away.start_take(purpose.clone(), 1).await.unwrap();
        write_audio(take.path(), 2, false);
        // Its node knows it is recording it (and so never adopts it meanwhile) until the take ends.
        let meta = take.path().with_extension("json");
        assert!(away.is_live_spool(&meta));
        drop(take);
        assert!(!away.is_live_spool(&meta));
        let short = away.start_take(purpose, 2).await.unwrap();
        write_audio(short.path(), 0, false);
        drop(short);
        s.adopt_spooled(Duration::from_secs(1)).await;
        assert_eq!(s.list_messages("101").await.unwrap().len(), 1);
        assert_eq!(spooled(&s), 0);
    }
}
