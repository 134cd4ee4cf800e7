//! The audio store: the one interface through which the rest of Parley reads and writes the audio of
//! messages, greetings, recorded names and announcements. Callers name a recording by an
//! [`AudioKey`] and never learn where it lives.
//!
//! Where it lives is the store's [`AudioPlace`]: WAV files under the data directory
//! (`voicemail/<mailbox>/<id>.wav`, `voicemail/<mailbox>/greetings/<kind>.wav`; the default on
//! SQLite), or the database itself (the default on PostgreSQL, so that several nodes sharing it need
//! no shared directory): a row of `audio` per recording and its 16-bit PCM in chunks of one second
//! in `audio_chunks`. Either way a recording in progress is written by the media task to a local file
//! (see `switch`); in the database a tailer copies each second of it into chunks as it is recorded,
//! so that a node that dies mid-recording loses at most the last second, recovered by another node.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parley_core::extension::Extension;
use parley_core::vm::GreetingKind;
use sqlx::Row;
use tracing::warn;

use crate::{Store, StoreError};

/// Samples per stored chunk: one second at 8 kHz.
pub(crate) const CHUNK_SAMPLES: u64 = 8000;

/// The header of the WAV files Parley writes (PCM, canonical 44 bytes).
const WAV_HEADER: u64 = 44;

/// Where a store keeps its audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioPlace {
    /// WAV files under the data directory (the default on SQLite).
    Files,
    /// The database itself, in chunks of one second (the default on PostgreSQL).
    Database,
}

impl AudioPlace {
    /// `files` or `database`.
    pub fn parse(s: &str) -> Option<AudioPlace> {
        match s.trim() {
            "files" => Some(AudioPlace::Files),
            "database" => Some(AudioPlace::Database),
            _ => None,
        }
    }

    /// Its name, as in the configuration and `parley status`.
    pub fn as_str(self) -> &'static str {
        match self {
            AudioPlace::Files => "files",
            AudioPlace::Database => "database",
        }
    }

    /// The default for a back end: files beside SQLite, the database itself on PostgreSQL.
    pub fn default_for(backend: crate::Backend) -> AudioPlace {
        match backend {
            crate::Backend::Sqlite => AudioPlace::Files,
            crate::Backend::Postgres => AudioPlace::Database,
        }
    }
}

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

    /// Its name in the database (`message/101/42`, `greeting/101/busy`); `None` when its mailbox is
    /// no extension.
    pub(crate) fn name(&self) -> Option<String> {
        if !Extension::is_valid(self.mailbox()) {
            return None;
        }
        Some(match self {
            AudioKey::Message { mailbox, id } => format!("message/{mailbox}/{id}"),
            AudioKey::Greeting { mailbox, kind } => format!("greeting/{mailbox}/{}", kind.as_str()),
        })
    }
}

/// The database names of every recording of a mailbox, as `LIKE` patterns (an extension holds no
/// wildcard).
pub(crate) fn mailbox_patterns(mailbox: &str) -> [String; 2] {
    [
        format!("message/{mailbox}/%"),
        format!("greeting/{mailbox}/%"),
    ]
}

impl Store {
    /// Where this store keeps audio.
    pub fn audio_place(&self) -> AudioPlace {
        self.audio
    }

    /// This handle keeps audio in `place`, whatever the database says (tests; see
    /// [`Store::keep_audio_in`] for the setting).
    pub fn with_audio(mut self, place: AudioPlace) -> Store {
        self.audio = place;
        self
    }

    /// Where the database says its audio is kept (`None`: not said yet).
    pub(crate) async fn stored_place(&self) -> Result<Option<AudioPlace>, StoreError> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE name = 'audio'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.as_deref().and_then(AudioPlace::parse))
    }

    /// Keep audio where the database says; a database that says nothing yet (a new one) is told
    /// `wanted`, or its back end's default. A `wanted` place that differs from what the database says
    /// is refused: it would hide every recording.
    pub async fn keep_audio_in(mut self, wanted: Option<AudioPlace>) -> Result<Store, StoreError> {
        let stored = match self.stored_place().await? {
            Some(p) => p,
            None => {
                let place = wanted.unwrap_or(AudioPlace::default_for(self.backend));
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ('audio', $1) ON CONFLICT (name) DO NOTHING",
                )
                .bind(place.as_str())
                .execute(&self.pool)
                .await?;
                self.stored_place().await?.unwrap_or(place)
            }
        };
        if let Some(w) = wanted.filter(|w| *w != stored) {
            return Err(StoreError::Invalid(format!(
                "the database {} keeps its audio in {}: audio = \"{}\" would hide every recording; leave \
                 the setting out, or copy the installation into a new database with `parley db copy --audio {}`",
                self.location,
                stored.as_str(),
                w.as_str(),
                w.as_str()
            )));
        }
        self.audio = stored;
        Ok(self)
    }

    /// The file of `key` (`None` when its mailbox is no extension: such a key names nothing). With
    /// audio in the database, the local file of a recording in progress.
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
        match self.audio {
            AudioPlace::Files => match self.audio_file(key) {
                Some(p) => tokio::fs::metadata(p).await.is_ok_and(|m| m.is_file()),
                None => false,
            },
            AudioPlace::Database => self.stored_samples(key).await.ok().flatten().is_some(),
        }
    }

    /// The greetings of `mailbox` that are recorded.
    pub async fn recorded_greetings(&self, mailbox: &str) -> HashSet<GreetingKind> {
        if !Extension::is_valid(mailbox) {
            return HashSet::new();
        }
        match self.audio {
            AudioPlace::Files => GreetingKind::ALL
                .into_iter()
                .filter(|k| self.greeting_path(mailbox, k.as_str()).is_file())
                .collect(),
            AudioPlace::Database => {
                // By name (the primary key), not a pattern: one index lookup per kind.
                let marks: Vec<String> = (1..=GreetingKind::ALL.len())
                    .map(|i| format!("${i}"))
                    .collect();
                let sql = format!(
                    "SELECT name FROM audio WHERE name IN ({})",
                    marks.join(", ")
                );
                let mut q = sqlx::query_scalar(&sql);
                for k in GreetingKind::ALL {
                    q = q.bind(AudioKey::greeting(mailbox, k).name().unwrap_or_default());
                }
                let names: Vec<String> = q.fetch_all(&self.pool).await.unwrap_or_default();
                GreetingKind::ALL
                    .into_iter()
                    .filter(|k| {
                        let key = AudioKey::greeting(mailbox, *k);
                        key.name().is_some_and(|n| names.contains(&n))
                    })
                    .collect()
            }
        }
    }

    /// The recording as a WAV file (PCM, 8 kHz, 16 bit, mono), for a download or an attachment;
    /// `None` when it is not recorded.
    pub async fn audio_wav(&self, key: &AudioKey) -> Option<Vec<u8>> {
        match self.audio {
            AudioPlace::Files => tokio::fs::read(self.audio_file(key)?).await.ok(),
            AudioPlace::Database => {
                let samples = self.audio_samples(key).await?;
                Some(parley_media::wav::encode(
                    &samples,
                    parley_media::wav::SampleFormat::Pcm16,
                ))
            }
        }
    }

    /// The recording's samples, to be played (`None`: not recorded, or unreadable).
    pub async fn audio_samples(&self, key: &AudioKey) -> Option<Arc<[i16]>> {
        match self.audio {
            AudioPlace::Files => crate::switch::read_audio(self.audio_file(key)?).await,
            AudioPlace::Database => {
                let name = key.name()?;
                // One statement: a recording replaced meanwhile is read whole, old or new.
                let rows = sqlx::query(
                    "SELECT a.samples, c.pcm FROM audio a LEFT JOIN audio_chunks c ON c.name = a.name
                     WHERE a.name = $1 ORDER BY c.seq",
                )
                .bind(name)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| warn!(error = %e, "audio unreadable"))
                .ok()?;
                let total = rows.first()?.try_get::<i64, _>("samples").ok()?;
                // Never more than its chunks hold, whatever the row says.
                let total = total.clamp(0, (rows.len() as u64 * CHUNK_SAMPLES) as i64) as usize;
                let mut samples = Vec::with_capacity(total);
                for r in &rows {
                    if let Ok(pcm) = r.try_get::<Vec<u8>, _>("pcm") {
                        samples.extend(pcm_samples(&pcm));
                    }
                }
                samples.truncate(total);
                Some(samples.into())
            }
        }
    }

    /// Store `wav` (already in the telephone format) as `key`, replacing what was there at once: a
    /// reader sees the old recording or the new, never a part.
    pub async fn put_audio(&self, key: &AudioKey, wav: &[u8]) -> std::io::Result<()> {
        match self.audio {
            AudioPlace::Files => {
                let path = self.audio_file(key).ok_or_else(not_a_mailbox)?;
                write_file_atomically(&path, wav).await
            }
            AudioPlace::Database => {
                let samples = parley_media::wav::WavPlayer::from_wav_bytes(wav).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                })?;
                self.put_samples(key, 0, samples.samples())
                    .await
                    .map_err(std::io::Error::other)
            }
        }
    }

    /// Delete `key`'s recording; `false` when there was none.
    pub async fn remove_audio(&self, key: &AudioKey) -> std::io::Result<bool> {
        match self.audio {
            AudioPlace::Files => {
                let Some(path) = self.audio_file(key) else {
                    return Ok(false);
                };
                match tokio::fs::remove_file(path).await {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(e),
                }
            }
            AudioPlace::Database => {
                let Some(name) = key.name() else {
                    return Ok(false);
                };
                let removed = async {
                    let mut tx = self.pool.begin().await?;
                    delete_chunks(&mut tx, &name, 0).await?;
                    let n = sqlx::query("DELETE FROM audio WHERE name = $1")
                        .bind(&name)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(n > 0)
                }
                .await;
                removed.map_err(std::io::Error::other)
            }
        }
    }

    /// Copy the recording `from` to `to` (a forwarded message).
    pub(crate) async fn copy_audio(&self, from: &AudioKey, to: &AudioKey) -> std::io::Result<()> {
        match self.audio {
            AudioPlace::Files => {
                let (Some(from), Some(to)) = (self.audio_file(from), self.audio_file(to)) else {
                    return Err(not_a_mailbox());
                };
                if let Some(d) = to.parent() {
                    tokio::fs::create_dir_all(d).await?;
                }
                tokio::fs::copy(from, to).await.map(|_| ())
            }
            AudioPlace::Database => {
                let (Some(from), Some(to)) = (from.name(), to.name()) else {
                    return Err(not_a_mailbox());
                };
                let copied = async {
                    let mut tx = self.pool.begin().await?;
                    delete_chunks(&mut tx, &to, 0).await?;
                    sqlx::query(
                        "INSERT INTO audio_chunks (name, seq, pcm) SELECT $1, seq, pcm FROM audio_chunks WHERE name = $2",
                    )
                    .bind(&to)
                    .bind(&from)
                    .execute(&mut *tx)
                    .await?;
                    let n = sqlx::query(
                        "INSERT INTO audio (name, samples) SELECT $1, samples FROM audio WHERE name = $2
                         ON CONFLICT (name) DO UPDATE SET samples = excluded.samples",
                    )
                    .bind(&to)
                    .bind(&from)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if n == 0 {
                        return Err(sqlx::Error::RowNotFound);
                    }
                    tx.commit().await
                }
                .await;
                copied.map_err(std::io::Error::other)
            }
        }
    }

    /// How many chunks of `key` the database holds (a recording in progress: its whole seconds).
    pub(crate) async fn stored_chunks(&self, key: &AudioKey) -> Result<u64, StoreError> {
        let Some(name) = key.name() else {
            return Ok(0);
        };
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audio_chunks WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// The length in samples of a recording in the database (`None`: not recorded).
    async fn stored_samples(&self, key: &AudioKey) -> Result<Option<u64>, StoreError> {
        let Some(name) = key.name() else {
            return Ok(None);
        };
        let n: Option<i64> = sqlx::query_scalar("SELECT samples FROM audio WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(n.map(|n| n.max(0) as u64))
    }

    /// Write `samples` as `key`'s recording from chunk `from` on (the chunks before it are kept as
    /// they are: a recording's tailer wrote them), in one transaction: the chunks from `from`, and the
    /// recording's row with its whole length.
    async fn put_samples(
        &self,
        key: &AudioKey,
        from: u64,
        samples: &[i16],
    ) -> Result<(), StoreError> {
        let name = key
            .name()
            .ok_or_else(|| StoreError::Invalid("the audio's mailbox is no extension".into()))?;
        let mut tx = self.pool.begin().await?;
        delete_chunks(&mut tx, &name, from).await?;
        for (i, chunk) in samples.chunks(CHUNK_SAMPLES as usize).enumerate() {
            // (A tailer's late chunk, or another writer's, is overwritten: never a conflict.)
            sqlx::query(
                "INSERT INTO audio_chunks (name, seq, pcm) VALUES ($1, $2, $3)
                 ON CONFLICT (name, seq) DO UPDATE SET pcm = excluded.pcm",
            )
            .bind(&name)
            .bind((from + i as u64) as i64)
            .bind(pcm_bytes(chunk))
            .execute(&mut *tx)
            .await?;
        }
        let total = from * CHUNK_SAMPLES + samples.len() as u64;
        sqlx::query(
            "INSERT INTO audio (name, samples) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET samples = excluded.samples",
        )
        .bind(&name)
        .bind(total as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Store a finished recording's local file (its header right, as the media task or a recovery
    /// left it) as `key`, the chunks before `from` being in the database already; then remove the
    /// file. With audio in files the file is where it belongs already. Returns its samples.
    pub(crate) async fn settle_recording(
        &self,
        key: &AudioKey,
        file: &Path,
        from: u64,
    ) -> Result<u64, StoreError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        // Parley's own recordings: the canonical header, then the samples.
        let total = tokio::fs::metadata(file)
            .await?
            .len()
            .saturating_sub(WAV_HEADER)
            / 2;
        if self.audio == AudioPlace::Files {
            return Ok(total);
        }
        let from = from.min(total / CHUNK_SAMPLES);
        let mut f = tokio::fs::File::open(file).await?;
        f.seek(std::io::SeekFrom::Start(
            WAV_HEADER + from * CHUNK_SAMPLES * 2,
        ))
        .await?;
        let mut bytes = Vec::with_capacity(((total - from * CHUNK_SAMPLES) * 2) as usize);
        f.read_to_end(&mut bytes).await?;
        let rest: Vec<i16> = pcm_samples(&bytes).collect();
        self.put_samples(key, from, &rest).await?;
        let _ = tokio::fs::remove_file(file).await;
        Ok(total)
    }

    /// A recording in the database whose node stopped before it was finished: its row made from the
    /// chunks its tailer wrote. Returns its samples (`None`: nothing of it is there).
    pub(crate) async fn settle_chunks(&self, key: &AudioKey) -> Result<Option<u64>, StoreError> {
        if let Some(n) = self.stored_samples(key).await? {
            return Ok(Some(n));
        }
        let Some(name) = key.name() else {
            return Ok(None);
        };
        let bytes: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(length(pcm)) AS BIGINT) FROM audio_chunks WHERE name = $1",
        )
        .bind(&name)
        .fetch_one(&self.pool)
        .await?;
        let Some(bytes) = bytes.filter(|b| *b > 0) else {
            return Ok(None);
        };
        let samples = bytes as u64 / 2;
        sqlx::query(
            "INSERT INTO audio (name, samples) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&name)
        .bind(samples as i64)
        .execute(&self.pool)
        .await?;
        Ok(Some(samples))
    }

    /// With audio in the database, copy each whole second of a recording in progress into chunks as
    /// the media task writes its file, until stopped (see [`Tailer`]).
    pub(crate) fn tail_recording(&self, key: &AudioKey, file: &Path) -> Option<Tailer> {
        if self.audio != AudioPlace::Database {
            return None;
        }
        let name = key.name()?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let store = self.clone();
        let file = file.to_path_buf();
        let handle = tokio::spawn(async move {
            let mut done = 0u64;
            let mut warned = false;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(TAIL_EVERY) => {}
                }
                match store.tail_once(&name, &file, done).await {
                    Ok(n) => done = n,
                    Err(e) if !warned => {
                        warned = true;
                        warn!(audio = %name, error = %e, "recording not copied into the database yet; its file keeps it");
                    }
                    Err(_) => {}
                }
            }
            done
        });
        Some(Tailer {
            stop: Some(stop),
            handle,
        })
    }

    /// Copy the whole seconds of `file` from chunk `done` on; the chunks now written.
    async fn tail_once(&self, name: &str, file: &Path, done: u64) -> Result<u64, StoreError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let len = tokio::fs::metadata(file).await?.len();
        let whole = len.saturating_sub(WAV_HEADER) / 2 / CHUNK_SAMPLES;
        if whole <= done {
            return Ok(done);
        }
        let mut f = tokio::fs::File::open(file).await?;
        f.seek(std::io::SeekFrom::Start(
            WAV_HEADER + done * CHUNK_SAMPLES * 2,
        ))
        .await?;
        let mut buf = vec![0u8; (CHUNK_SAMPLES * 2) as usize];
        for seq in done..whole {
            f.read_exact(&mut buf).await?;
            // Never over a chunk written since (the recording kept meanwhile).
            sqlx::query(
                "INSERT INTO audio_chunks (name, seq, pcm) VALUES ($1, $2, $3)
                 ON CONFLICT (name, seq) DO NOTHING",
            )
            .bind(name)
            .bind(seq as i64)
            .bind(buf.clone())
            .execute(&self.pool)
            .await?;
        }
        Ok(whole)
    }
}

/// How often a recording's tailer copies its new seconds into the database.
const TAIL_EVERY: Duration = Duration::from_secs(1);

/// The task copying a recording in progress into the database, second by second. Dropped, it stops
/// after the seconds it is writing; [`Tailer::stop`] also says how many chunks it wrote.
#[derive(Debug)]
pub(crate) struct Tailer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<u64>,
}

impl Tailer {
    /// Stop, and the number of whole chunks written (0 if it could not say within a few seconds).
    pub(crate) async fn stop(mut self) -> u64 {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let handle = &mut self.handle;
        match tokio::time::timeout(Duration::from_secs(5), handle).await {
            Ok(done) => done.unwrap_or(0),
            Err(_) => {
                // Stuck on the database: it writes no more (what it wrote is rewritten by the keep).
                self.handle.abort();
                0
            }
        }
    }
}

/// The most samples one [`AudioStream::read`] returns (ten seconds), whatever it is asked.
pub const READ_MAX: u64 = 10 * CHUNK_SAMPLES;

/// A recording opened to be played in parts, never read whole: a WAV file read by offset, or the
/// database's chunks read by range (see [`Store::open_audio`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct AudioStream {
    len: u64,
    from: StreamFrom,
}

#[derive(Debug, Clone)]
enum StreamFrom {
    /// The file as it was opened: one replaced or removed while it plays keeps playing whole.
    File {
        file: Arc<std::fs::File>,
        layout: parley_media::wav::WavLayout,
    },
    Chunks {
        store: Store,
        name: String,
    },
}

impl AudioStream {
    /// Open the WAV file at `path` (its head is read and checked, not its samples); `None` when it
    /// is absent or not a WAV Parley can play.
    pub async fn file(path: PathBuf) -> Option<AudioStream> {
        tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&path).ok()?;
            let total = f.metadata().ok()?.len();
            match parley_media::wav::WavLayout::read_head(&mut &f, total) {
                Ok(layout) => Some(AudioStream {
                    len: (layout.data_len / layout.format.bytes_per_sample()) as u64,
                    from: StreamFrom::File {
                        file: Arc::new(f),
                        layout,
                    },
                }),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "audio file unreadable");
                    None
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Its length in samples.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it has no samples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Samples `from..from + len` (at most [`READ_MAX`], fewer at the end). A part the database
    /// lacks reads as silence, so what follows stays in its place.
    pub async fn read(&self, from: u64, len: u64) -> std::io::Result<Vec<i16>> {
        let len = len.min(READ_MAX).min(self.len.saturating_sub(from));
        if len == 0 {
            return Ok(Vec::new());
        }
        match &self.from {
            StreamFrom::File { file, layout } => {
                let (file, layout) = (file.clone(), *layout);
                tokio::task::spawn_blocking(move || {
                    use std::os::unix::fs::FileExt;
                    let bps = layout.format.bytes_per_sample() as u64;
                    let at = layout.data_offset as u64 + from * bps;
                    // Positional reads: the clones of one stream share the file, not a position.
                    let mut bytes = vec![0u8; (len * bps) as usize];
                    let mut got = 0;
                    while got < bytes.len() {
                        match file.read_at(&mut bytes[got..], at + got as u64)? {
                            0 => break,
                            n => got += n,
                        }
                    }
                    bytes.truncate(got);
                    let mut samples = Vec::with_capacity(len as usize);
                    layout.format.decode(&bytes, &mut samples);
                    Ok(samples)
                })
                .await
                .map_err(std::io::Error::other)?
            }
            StreamFrom::Chunks { store, name } => {
                let first = from / CHUNK_SAMPLES;
                let last = (from + len - 1) / CHUNK_SAMPLES;
                let rows = sqlx::query(
                    "SELECT seq, pcm FROM audio_chunks WHERE name = $1 AND seq >= $2 AND seq <= $3
                     ORDER BY seq",
                )
                .bind(name.as_str())
                .bind(first as i64)
                .bind(last as i64)
                .fetch_all(&store.pool)
                .await
                .map_err(std::io::Error::other)?;
                let mut samples = Vec::with_capacity(((last - first + 1) * CHUNK_SAMPLES) as usize);
                for r in &rows {
                    let seq: i64 = r.try_get("seq").map_err(std::io::Error::other)?;
                    let pcm: Vec<u8> = r.try_get("pcm").map_err(std::io::Error::other)?;
                    let at = (seq.max(0) as u64 - first) * CHUNK_SAMPLES;
                    samples.resize(at as usize, 0);
                    samples.extend(pcm_samples(&pcm).take(CHUNK_SAMPLES as usize));
                }
                let skip = (from - first * CHUNK_SAMPLES) as usize;
                samples.resize(skip + len as usize, 0);
                samples.drain(..skip);
                Ok(samples)
            }
        }
    }
}

impl Store {
    /// Open `key`'s recording to be played in parts (`None`: not recorded, or unreadable).
    pub async fn open_audio(&self, key: &AudioKey) -> Option<AudioStream> {
        match self.audio {
            AudioPlace::Files => AudioStream::file(self.audio_file(key)?).await,
            AudioPlace::Database => {
                let len = self
                    .stored_samples(key)
                    .await
                    .map_err(|e| warn!(error = %e, "audio unreadable"))
                    .ok()??;
                Some(AudioStream {
                    len,
                    from: StreamFrom::Chunks {
                        store: self.clone(),
                        name: key.name()?,
                    },
                })
            }
        }
    }
}

/// Delete the chunks of recording `name` from chunk `from` on.
async fn delete_chunks(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    from: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM audio_chunks WHERE name = $1 AND seq >= $2")
        .bind(name)
        .bind(from as i64)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Stored PCM (16-bit little-endian) as samples.
fn pcm_samples(bytes: &[u8]) -> impl Iterator<Item = i16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
}

fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Write `bytes` to `path` so that a reader sees the old content or the new, never a part: its own
/// temporary file per write (two uploads at once never write into one), synced, then renamed.
pub(crate) async fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{:016x}.upload", rand::random::<u64>()));
    if let Some(d) = path.parent() {
        tokio::fs::create_dir_all(d).await?;
    }
    let written = async {
        let mut f = tokio::fs::File::create(&tmp).await?;
        tokio::io::AsyncWriteExt::write_all(&mut f, bytes).await?;
        f.sync_all().await?;
        tokio::fs::rename(&tmp, path).await
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    written
}

fn not_a_mailbox() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "the audio's mailbox is no extension",
    )
}

/// Wait (up to ten seconds) until `n` chunks of recordings named like `like` are in the database.
#[cfg(test)]
pub(crate) async fn wait_for_chunks(s: &Store, like: &str, n: i64) {
    let mut got = 0;
    for _ in 0..100 {
        got = sqlx::query_scalar("SELECT COUNT(*) FROM audio_chunks WHERE name LIKE $1")
            .bind(like)
            .fetch_one(&s.pool)
            .await
            .unwrap();
        if got == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{got} chunks of {like}, not {n}");
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

    const PLACES: [AudioPlace; 2] = [AudioPlace::Files, AudioPlace::Database];

    #[tokio::test]
    async fn audio_goes_in_comes_out_and_goes_away_through_one_interface() {
        for place in PLACES {
            let dir = tempfile::tempdir().unwrap();
            let s = crate::open_test(dir.path()).await.with_audio(place);
            let key = AudioKey::greeting("101", GreetingKind::Busy);
            assert!(!s.audio_exists(&key).await);
            assert_eq!(s.audio_wav(&key).await, None);
            assert!(s.recorded_greetings("101").await.is_empty());
            s.put_audio(&key, &wav(1)).await.unwrap();
            assert!(s.audio_exists(&key).await, "{place:?}");
            assert_eq!(s.audio_wav(&key).await.unwrap(), wav(1));
            assert_eq!(s.audio_samples(&key).await.unwrap().len(), 8000);
            assert_eq!(
                s.recorded_greetings("101").await,
                HashSet::from([GreetingKind::Busy])
            );
            // Replaced whole, by a recording of a length that is no whole number of chunks.
            let odd = parley_media::wav::encode(
                &(0..12345).map(|i| i as i16).collect::<Vec<_>>(),
                parley_media::wav::SampleFormat::Pcm16,
            );
            s.put_audio(&key, &odd).await.unwrap();
            let got = s.audio_samples(&key).await.unwrap();
            assert_eq!(got.len(), 12345);
            assert_eq!(got[12344], 12344);
            let copy = AudioKey::message("102", 7);
            s.copy_audio(&key, &copy).await.unwrap();
            assert_eq!(s.audio_wav(&copy).await.unwrap(), odd);
            assert!(s.remove_audio(&key).await.unwrap());
            assert!(!s.remove_audio(&key).await.unwrap());
            assert!(!s.audio_exists(&key).await);
            assert!(s.audio_exists(&copy).await);
            // Audio in the database leaves nothing in the data directory.
            if place == AudioPlace::Database {
                assert!(!dir.path().join("voicemail").exists());
            }
        }
    }

    #[tokio::test]
    async fn a_recording_in_the_database_is_copied_there_second_by_second_while_it_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path())
            .await
            .with_audio(AudioPlace::Database);
        let key = AudioKey::message("101", 1);
        let file = dir.path().join("take.wav");
        let mut rec =
            parley_media::wav::WavRecorder::new(std::fs::File::create(&file).unwrap()).unwrap();
        let tailer = s.tail_recording(&key, &file).unwrap();
        // 2.5 s recorded: two whole seconds reach the database, the half waits for the end.
        rec.push(&vec![7i16; 20000]).unwrap();
        wait_for_chunks(&s, &key.name().unwrap(), 2).await;
        // Not a recording yet (no row): it becomes one when kept, or when recovered after a stop.
        assert!(!s.audio_exists(&key).await);
        assert_eq!(s.settle_chunks(&key).await.unwrap(), Some(16000));
        rec.push(&vec![9i16; 4000]).unwrap();
        drop(rec.finish().unwrap());
        let done = tailer.stop().await;
        assert!(done >= 2);
        assert_eq!(s.settle_recording(&key, &file, done).await.unwrap(), 24000);
        let got = s.audio_samples(&key).await.unwrap();
        assert_eq!((got.len(), got[0], got[23999]), (24000, 7, 9));
        assert!(
            !file.exists(),
            "the local file goes once the database holds it"
        );
    }

    #[tokio::test]
    async fn a_key_whose_mailbox_is_no_extension_names_nothing_and_writes_nowhere() {
        for place in PLACES {
            let dir = tempfile::tempdir().unwrap();
            let s = crate::open_test(dir.path()).await.with_audio(place);
            for evil in ["../../etc", "", "1/2", "..", "101\0", "10%"] {
                let key = AudioKey::greeting(evil, GreetingKind::Name);
                assert!(s.put_audio(&key, &wav(1)).await.is_err(), "{evil:?}");
                assert!(!s.audio_exists(&key).await);
                assert!(!s.remove_audio(&key).await.unwrap());
                assert!(s.recorded_greetings(evil).await.is_empty());
            }
            assert!(!dir.path().join("etc").exists());
        }
    }

    #[tokio::test]
    async fn the_database_says_where_its_audio_is_and_a_setting_that_would_hide_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        let default = AudioPlace::default_for(s.backend());
        let other = match default {
            AudioPlace::Files => AudioPlace::Database,
            AudioPlace::Database => AudioPlace::Files,
        };
        // A new database is told; every later handle keeps audio there, and nothing else is taken.
        let s = s.keep_audio_in(None).await.unwrap();
        assert_eq!(s.audio_place(), default);
        let again = Store::connect(s.location(), dir.path()).await.unwrap();
        assert_eq!(again.audio_place(), default);
        let err = again.keep_audio_in(Some(other)).await.unwrap_err();
        assert!(
            err.to_string().contains("would hide every recording"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_recording_opened_to_be_played_is_read_in_parts_as_it_was_recorded() {
        // 11.5 s: more than one read may return, and no whole number of chunks.
        let ramp: Vec<i16> = (0..92_000).map(|i| (i % 30_000) as i16).collect();
        let ulaw_src: Vec<i16> = (0..20_000)
            .map(|i| ((i * 7) % 8000) as i16 - 4000)
            .collect();
        for place in PLACES {
            let dir = tempfile::tempdir().unwrap();
            let s = crate::open_test(dir.path()).await.with_audio(place);
            let key = AudioKey::message("101", 1);
            assert!(s.open_audio(&key).await.is_none());
            s.put_audio(
                &key,
                &parley_media::wav::encode(&ramp, parley_media::wav::SampleFormat::Pcm16),
            )
            .await
            .unwrap();
            let a = s.open_audio(&key).await.unwrap();
            assert_eq!(a.len(), 92_000, "{place:?}");
            assert_eq!(a.read(0, 10).await.unwrap(), &ramp[..10]);
            // Across a chunk's boundary, and across two.
            assert_eq!(a.read(7_990, 20).await.unwrap(), &ramp[7_990..8_010]);
            assert_eq!(a.read(15_000, 10_000).await.unwrap(), &ramp[15_000..25_000]);
            // At most READ_MAX, whatever is asked; fewer at the end; nothing past it.
            let big = a.read(1, u64::MAX).await.unwrap();
            assert_eq!(big, &ramp[1..1 + READ_MAX as usize]);
            assert_eq!(a.read(91_990, 100).await.unwrap(), &ramp[91_990..]);
            assert!(a.read(92_000, 5).await.unwrap().is_empty());
            assert!(a.read(u64::MAX, u64::MAX).await.unwrap().is_empty());
            // G.711 is decoded as it is read (a file keeps it; the database holds PCM).
            let g = AudioKey::greeting("101", GreetingKind::Unavailable);
            let ulaw = parley_media::wav::encode(&ulaw_src, parley_media::wav::SampleFormat::Ulaw);
            let whole = parley_media::wav::WavPlayer::from_wav_bytes(&ulaw).unwrap();
            s.put_audio(&g, &ulaw).await.unwrap();
            let a = s.open_audio(&g).await.unwrap();
            assert_eq!(a.len(), 20_000);
            assert_eq!(
                a.read(12_345, 3_000).await.unwrap(),
                &whole.samples()[12_345..15_345]
            );
            // An upload kept as it came, with kilobytes of metadata before its samples.
            let n = AudioKey::greeting("101", GreetingKind::Name);
            let plain =
                parley_media::wav::encode(&ramp[..4000], parley_media::wav::SampleFormat::Pcm16);
            let mut tagged = plain[..36].to_vec();
            tagged.extend_from_slice(b"LIST");
            tagged.extend_from_slice(&6000u32.to_le_bytes());
            tagged.extend(std::iter::repeat_n(b'i', 6000));
            tagged.extend_from_slice(&plain[36..]);
            s.put_audio(&n, &tagged).await.unwrap();
            let a = s.open_audio(&n).await.expect("it plays");
            assert_eq!(a.len(), 4000);
            assert_eq!(a.read(3000, 2000).await.unwrap(), &ramp[3000..4000]);
            if place == AudioPlace::Files {
                // A greeting replaced while it plays: the caller hears the one that began, whole.
                let playing = s.open_audio(&g).await.unwrap();
                s.put_audio(&g, &wav(1)).await.unwrap();
                assert_eq!(
                    playing.read(19_990, 100).await.unwrap(),
                    &whole.samples()[19_990..]
                );
                assert_eq!(s.open_audio(&g).await.unwrap().len(), 8_000);
            }
            if place == AudioPlace::Database {
                // A second the database lacks plays as silence and the rest stays in place.
                sqlx::query("DELETE FROM audio_chunks WHERE name = $1 AND seq = 1")
                    .bind(key.name().unwrap())
                    .execute(&s.pool)
                    .await
                    .unwrap();
                let a = s.open_audio(&key).await.unwrap();
                let got = a.read(7_000, 10_000).await.unwrap();
                assert_eq!(&got[..1_000], &ramp[7_000..8_000]);
                assert!(got[1_000..9_000].iter().all(|&x| x == 0));
                assert_eq!(&got[9_000..], &ramp[16_000..17_000]);
            }
        }
    }

    #[tokio::test]
    async fn audio_that_is_no_wav_is_refused_by_the_database_store() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path())
            .await
            .with_audio(AudioPlace::Database);
        let key = AudioKey::greeting("101", GreetingKind::Name);
        let err = s
            .put_audio(&key, b"RIFF\0\0\0\0nonsense")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(!s.audio_exists(&key).await);
    }
}
