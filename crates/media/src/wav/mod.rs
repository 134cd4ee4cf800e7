//! WAV prompts and recordings: the RIFF/WAVE layout (parsed by hand, since G.711 WAVs with format
//! codes 6 and 7 must be read too), [`WavPlayer`] for 20 ms frames, [`WavRecorder`] for
//! crash-tolerant 16-bit PCM, and [`recover`] to fix the sizes of a recording that never finished.
//! Only 8 kHz mono is accepted; other formats are converted on upload, never here. It never opens a
//! file: callers pass bytes or a `Read + Write + Seek` handle.

mod header;
mod player;
mod recorder;

pub use header::{declared_format, encode, recover, DeclaredFormat, SampleFormat, WavLayout};
pub use player::WavPlayer;
pub use recorder::WavRecorder;

/// Why WAV bytes cannot be played or a recording cannot be written or recovered.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// The bytes do not start with a RIFF/WAVE header.
    #[error("not a WAV file: missing RIFF/WAVE header")]
    NotWav,
    /// A chunk extends past the end of the file.
    #[error("WAV file truncated: {0}")]
    Truncated(String),
    /// A required chunk is absent.
    #[error("WAV file has no {0:?} chunk")]
    MissingChunk(&'static str),
    /// The `fmt ` chunk is shorter than 16 bytes.
    #[error("WAV fmt chunk too short ({0} bytes)")]
    BadFmtChunk(u32),
    /// Not PCM, A-law or µ-law.
    #[error("WAV format code {0} not supported (need 1 = PCM, 6 = A-law or 7 = µ-law)")]
    UnsupportedFormat(u16),
    /// Not 8000 Hz.
    #[error("WAV sample rate {0} Hz not supported (need 8000 Hz; convert on upload)")]
    UnsupportedRate(u32),
    /// Not mono.
    #[error("WAV with {0} channels not supported (need mono)")]
    UnsupportedChannels(u16),
    /// Bits per sample do not match the format (16 for PCM, 8 for G.711).
    #[error("{bits}-bit samples not supported for {format:?}")]
    UnsupportedBits {
        /// The format code's meaning.
        format: SampleFormat,
        /// Bits per sample declared.
        bits: u16,
    },
    /// The recording would exceed the 4 GiB a RIFF size field can describe.
    #[error("WAV data too large for a RIFF header")]
    TooLarge,
    /// The underlying writer or reader failed.
    #[error("WAV IO error: {0}")]
    Io(#[from] std::io::Error),
}
