//! The audio store: the one interface through which the rest of Parley reads and writes the audio of
//! messages, greetings, recorded names and announcements. Callers name a recording by an
//! [`AudioKey`] and never learn where it lives.
//!
//! Today every back end keeps audio as WAV files under the data directory
//! (`voicemail/<mailbox>/<id>.wav`, `voicemail/<mailbox>/greetings/<kind>.wav`); a recording in
//! progress is written by the media task straight to its file (see `switch`). Audio kept in
//! PostgreSQL itself, chunked and streamed, is the next slice of this interface: its callers will not
//! change.

use std::path::PathBuf;
use std::sync::Arc;

use parley_core::extension::Extension;
use parley_core::vm::GreetingKind;

use crate::Store;

/// Which recording.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AudioKey {
    /// A voicemail message of a mailbox.
    Message {
        /// The mailbox (an extension).
        mailbox: String,
        /// The message's id.
        id: i64,
    },
    /// A greeting, recorded name or announcement of a mailbox.
    Greeting {
        /// The mailbox (an extension).
        mailbox: String,
        /// Which one.
        kind: GreetingKind,
    },
}

impl AudioKey {
    /// A message's audio.
    pub fn message(mailbox: &str, id: i64) -> AudioKey {
        AudioKey::Message {
            mailbox: mailbox.to_string(),
            id,
        }
    }

    /// A greeting's (or name's, or announcement's) audio.
    pub fn greeting(mailbox: &str, kind: GreetingKind) -> AudioKey {
        AudioKey::Greeting {
            mailbox: mailbox.to_string(),
            kind,
        }
    }

    fn mailbox(&self) -> &str {
        match self {
            AudioKey::Message { mailbox, .. } | AudioKey::Greeting { mailbox, .. } => mailbox,
        }
    }
}

impl Store {
    /// The file of `key` (`None` when its mailbox is no extension: such a key names nothing).
    pub(crate) fn audio_file(&self, key: &AudioKey) -> Option<PathBuf> {
        if !Extension::is_valid(key.mailbox()) {
            return None;
        }
        Some(match key {
            AudioKey::Message { mailbox, id } => self.message_path(mailbox, *id),
            AudioKey::Greeting { mailbox, kind } => self.greeting_path(mailbox, kind.as_str()),
        })
    }

    /// Whether `key` is recorded.
    pub async fn audio_exists(&self, key: &AudioKey) -> bool {
        match self.audio_file(key) {
            Some(p) => tokio::fs::metadata(p).await.is_ok_and(|m| m.is_file()),
            None => false,
        }
    }

    /// The recording as a WAV file (PCM, 8 kHz, 16 bit, mono), for a download or an attachment;
    /// `None` when it is not recorded.
    pub async fn audio_wav(&self, key: &AudioKey) -> Option<Vec<u8>> {
        tokio::fs::read(self.audio_file(key)?).await.ok()
    }

    /// The recording's samples, to be played (`None`: not recorded, or unreadable).
    pub async fn audio_samples(&self, key: &AudioKey) -> Option<Arc<[i16]>> {
        crate::read_audio(self.audio_file(key)?).await
    }

    /// Store `wav` (already in the telephone format) as `key`, replacing what was there at once: a
    /// reader sees the old recording or the new, never a part.
    pub async fn put_audio(&self, key: &AudioKey, wav: &[u8]) -> std::io::Result<()> {
        let path = self.audio_file(key).ok_or_else(not_a_mailbox)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Its own name per write: two uploads at once never write into one file.
        let tmp = path.with_file_name(format!(".{name}.{:016x}.upload", rand::random::<u64>()));
        if let Some(d) = path.parent() {
            tokio::fs::create_dir_all(d).await?;
        }
        let written = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut f, wav).await?;
            f.sync_all().await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        written
    }

    /// Delete `key`'s recording; `false` when there was none.
    pub async fn remove_audio(&self, key: &AudioKey) -> std::io::Result<bool> {
        let Some(path) = self.audio_file(key) else {
            return Ok(false);
        };
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Copy the recording `from` to `to` (a forwarded message).
    pub(crate) fn copy_audio(&self, from: &AudioKey, to: &AudioKey) -> std::io::Result<()> {
        let (Some(from), Some(to)) = (self.audio_file(from), self.audio_file(to)) else {
            return Err(not_a_mailbox());
        };
        if let Some(d) = to.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::copy(from, to).map(|_| ())
    }
}

fn not_a_mailbox() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "the audio's mailbox is no extension",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(secs: usize) -> Vec<u8> {
        parley_media::wav::encode(
            &vec![1000i16; secs * 8000],
            parley_media::wav::SampleFormat::Pcm16,
        )
    }

    #[tokio::test]
    async fn audio_goes_in_comes_out_and_goes_away_through_one_interface() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        let key = AudioKey::greeting("101", GreetingKind::Busy);
        assert!(!s.audio_exists(&key).await);
        assert_eq!(s.audio_wav(&key).await, None);
        s.put_audio(&key, &wav(1)).await.unwrap();
        assert!(s.audio_exists(&key).await);
        assert_eq!(s.audio_wav(&key).await.unwrap(), wav(1));
        assert_eq!(s.audio_samples(&key).await.unwrap().len(), 8000);
        s.put_audio(&key, &wav(2)).await.unwrap();
        assert_eq!(s.audio_samples(&key).await.unwrap().len(), 16000);
        let copy = AudioKey::message("102", 7);
        s.copy_audio(&key, &copy).unwrap();
        assert_eq!(s.audio_wav(&copy).await.unwrap(), wav(2));
        assert!(s.remove_audio(&key).await.unwrap());
        assert!(!s.remove_audio(&key).await.unwrap());
        assert!(!s.audio_exists(&key).await);
    }

    #[tokio::test]
    async fn a_key_whose_mailbox_is_no_extension_names_nothing_and_writes_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        for evil in ["../../etc", "", "1/2", "..", "101\0"] {
            let key = AudioKey::greeting(evil, GreetingKind::Name);
            assert!(s.put_audio(&key, &wav(1)).await.is_err(), "{evil:?}");
            assert!(!s.audio_exists(&key).await);
            assert!(!s.remove_audio(&key).await.unwrap());
        }
        assert!(!dir.path().join("etc").exists());
    }
}
