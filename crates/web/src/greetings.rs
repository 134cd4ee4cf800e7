//! Greetings and announcements, shared by the JSON API and the portal. One model serves every profile:
//! the classic greetings (unavailable, busy, name, temporary) and the Callisto announcements (Standard,
//! A, B, C: one active, each with "Recording active"). An upload is converted once to the telephone
//! format (the seed's 8 kHz 16-bit mono PCM WAV is kept as is) and replaces the stored file only when
//! it is usable, by an atomic rename.

use parley_core::vm::{Announcement, GreetingKind};
use parley_media::convert::{self, ConvertError, Source};
use parley_store::{AudioKey, MailboxSettings, Store, StoreError};

/// The largest upload accepted, in bytes (a two-minute 44.1 kHz stereo WAV fits).
pub const UPLOAD_LIMIT: usize = 32 * 1024 * 1024;

/// Uploads converted at the same time, at most.
pub const CONVERSIONS_AT_ONCE: usize = 2;

/// How long an upload waits for a conversion slot before it is answered "busy".
const CONVERSION_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

static CONVERSIONS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| {
        std::sync::Arc::new(tokio::sync::Semaphore::new(CONVERSIONS_AT_ONCE))
    });

/// One greeting of a mailbox, as pages and the API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreetingState {
    /// Which greeting.
    pub kind: GreetingKind,
    /// A recording exists.
    pub recorded: bool,
    /// Callers hear it when its situation arises.
    pub active: bool,
    /// Its length (0 when not recorded).
    pub duration_ms: u64,
}

/// Why a greeting was not changed.
#[derive(Debug, thiserror::Error)]
pub enum GreetingError {
    /// No such mailbox.
    #[error("mailbox {0} does not exist")]
    NoMailbox(String),
    /// The upload is not usable audio.
    #[error("{0}")]
    Convert(#[from] ConvertError),
    /// The upload is larger than [`UPLOAD_LIMIT`].
    #[error("the file is larger than {} MB", UPLOAD_LIMIT >> 20)]
    TooLarge,
    /// Other uploads are being converted and this one waited too long for its turn.
    #[error("other uploads are being converted: try again in a moment")]
    Busy,
    /// Nothing is recorded for that greeting.
    #[error("{0} has no recording yet: upload or record it first")]
    NotRecorded(&'static str),
    /// Writing the file failed.
    #[error("could not store the greeting: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What an upload became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Which greeting it replaced.
    pub kind: GreetingKind,
    /// Its length.
    pub duration_ms: u64,
    /// `None`: stored as uploaded; else the format it was converted from.
    pub converted_from: Option<Source>,
}

impl Installed {
    /// A sentence for the person who uploaded it.
    pub fn describe(&self) -> String {
        let secs = self.duration_ms as f64 / 1000.0;
        match &self.converted_from {
            None => format!(
                "{} saved ({secs:.1} s). The file was already in the telephone format (WAV, PCM, 8 kHz, 16 bit, mono) and is stored as uploaded.",
                self.kind.label()
            ),
            Some(src) => format!(
                "{} saved ({secs:.1} s). The file was {src}; it was converted once to the telephone format (WAV, PCM, 8 kHz, 16 bit, mono).",
                self.kind.label()
            ),
        }
    }
}

/// A mailbox's settings and the state of each of its greetings.
pub async fn overview(
    st: &Store,
    ext: &str,
) -> Result<(MailboxSettings, Vec<GreetingState>), StoreError> {
    let settings = st.mailbox_settings(ext).await?;
    let mut out = Vec::new();
    for kind in GreetingKind::ALL {
        // Opened, not read: a file's header or the database's length row tells how long it is.
        let audio = st.open_audio(&AudioKey::greeting(ext, kind)).await;
        let is = audio.is_some();
        let active = match kind {
            GreetingKind::Temporary => is && settings.temp_active,
            GreetingKind::AnnouncementA
            | GreetingKind::AnnouncementB
            | GreetingKind::AnnouncementC => is && settings.announcement.greeting() == Some(kind),
            _ => is,
        };
        out.push(GreetingState {
            kind,
            recorded: is,
            active,
            duration_ms: audio.map_or(0, |a| a.len() / u64::from(parley_media::SAMPLES_PER_MS)),
        });
    }
    Ok((settings, out))
}

/// Install an upload as `kind` of mailbox `ext`: converted once (off the async threads), then stored
/// by an atomic rename. An uploaded temporary greeting is switched on. On any error nothing changes.
pub async fn install(
    st: &Store,
    ext: &str,
    kind: GreetingKind,
    bytes: Vec<u8>,
    max_ms: u64,
) -> Result<Installed, GreetingError> {
    if st.get_user(ext).await?.is_none() {
        return Err(GreetingError::NoMailbox(ext.to_string()));
    }
    if bytes.len() > UPLOAD_LIMIT {
        return Err(GreetingError::TooLarge);
    }
    // A few conversions at a time (each holds a decoder and its output): more uploads wait their turn
    // a little, then get a clear "try again".
    // The turn goes with the conversion itself: a client that hangs up does not free it early.
    let turn = tokio::time::timeout(CONVERSION_WAIT, CONVERSIONS.clone().acquire_owned())
        .await
        .map_err(|_| GreetingError::Busy)?
        .map_err(|_| GreetingError::Busy)?;
    let converted = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        convert::to_telephone(&bytes, max_ms)
    })
    .await
    .map_err(|_| ConvertError::Unreadable("the decoder failed".into()))??;
    if converted.duration_ms < 200 {
        return Err(ConvertError::Empty.into());
    }
    st.put_audio(&AudioKey::greeting(ext, kind), &converted.wav)
        .await?;
    if kind == GreetingKind::Temporary {
        let mut m = st.mailbox_settings(ext).await?;
        m.temp_active = true;
        st.set_mailbox_settings(ext, m).await?;
    }
    Ok(Installed {
        kind,
        duration_ms: converted.duration_ms,
        converted_from: converted.converted_from,
    })
}

/// Delete a greeting. Deleting the temporary greeting switches it off; deleting the active
/// announcement makes the standard one active. Returns false when none was recorded.
pub async fn remove(st: &Store, ext: &str, kind: GreetingKind) -> Result<bool, GreetingError> {
    if !st.remove_audio(&AudioKey::greeting(ext, kind)).await? {
        return Ok(false);
    }
    let mut m = st.mailbox_settings(ext).await?;
    let before = m;
    if kind == GreetingKind::Temporary {
        m.temp_active = false;
    }
    if m.announcement.greeting() == Some(kind) {
        m.announcement = Announcement::Standard;
    }
    if m != before {
        st.set_mailbox_settings(ext, m).await?;
    }
    Ok(true)
}

/// Choose the active announcement and the "Recording active" switches. A custom announcement can only
/// be made active once it is recorded.
pub async fn set_announcements(
    st: &Store,
    ext: &str,
    active: Announcement,
    recording: [bool; 4],
) -> Result<MailboxSettings, GreetingError> {
    if st.get_user(ext).await?.is_none() {
        return Err(GreetingError::NoMailbox(ext.to_string()));
    }
    if let Some(kind) = active.greeting() {
        if !st.audio_exists(&AudioKey::greeting(ext, kind)).await {
            return Err(GreetingError::NotRecorded(active.label()));
        }
    }
    let mut m = st.mailbox_settings(ext).await?;
    m.announcement = active;
    m.recording = recording;
    st.set_mailbox_settings(ext, m).await?;
    Ok(m)
}
