//! Parley's media engine: RTP/RTCP wire formats, G.711, RFC 4733 and in-band DTMF, WAV prompts and
//! recordings, and tone helpers. It owns bytes and samples only: it never opens a socket, reads the
//! clock or draws randomness; time and seeds come in as arguments, and the IO shell drives it.
//!
//! # Map
//!
//! - [`rtp`]: [`rtp::RtpPacket::parse`] (checked view of untrusted bytes), [`rtp::RtpHeader::write`],
//!   [`rtp::rewrite_header`] (in place, allocation-free, for the relay's hot path), [`rtp::is_rtcp`]
//!   (RFC 5761 demultiplexing), [`rtp::rtcp`] (SR/RR parse, RR build) and
//!   [`rtp::SequenceTracker`] / [`rtp::Jitter`] (RFC 3550 A.1/A.8 loss and jitter statistics).
//! - [`g711`]: µ-law/A-law sample and slice conversions, and [`g711::Codec`] (PT 0/8 dispatch).
//! - [`dtmf`]: digit/event mapping; [`dtmf::rfc4733`] telephone-event payloads, a
//!   [`dtmf::rfc4733::Rfc4733Receiver`] that reports each event exactly once and a
//!   [`dtmf::rfc4733::Rfc4733Sender`]; [`dtmf::inband::InbandDetector`] (Goertzel, ITU-T Q.24).
//! - [`wav`]: [`wav::WavPlayer`] (20 ms frames from PCM/µ-law/A-law WAV bytes),
//!   [`wav::WavRecorder`] (crash-tolerant PCM writer) and [`wav::recover`] (fix stale header sizes).
//! - [`convert`]: [`convert::to_telephone`] turns an upload (any WAV, MP3, AAC/M4A, Ogg Vorbis, FLAC,
//!   AIFF) into 8 kHz 16-bit mono PCM WAV once, keeping the seed's format byte for byte, and
//!   [`convert::resample`] (windowed sinc).
//! - [`session`]: [`session::MediaSession`], Parley's own media end without IO (paced playback with
//!   seeking, DTMF reported once, strict source, a recording's length and silence on its own clock).
//! - [`mixer`]: [`mixer::Mixer`], a conference room's N−1 mix without IO (strict sources, bounded
//!   jitter buffers, talker detection, one shared encoding per codec for listeners, chimes).
//! - [`plc`]: [`plc::Concealer`], G.711 Appendix I style packet loss concealment (pitch repetition,
//!   fading, cross-fade on resume), used by the mixer's jitter buffers.
//! - [`tone`]: sine/dual-tone/noise generators, [`tone::goertzel_power`] and
//!   [`tone::dominant_frequency`] for checking audio in tests.
//!
//! All audio is 8 kHz mono ([`SAMPLE_RATE`]), handled in 20 ms frames of [`FRAME_SAMPLES`] samples.
//! Parsers of network or upload bytes return errors and never panic.
#![warn(missing_docs)]

pub mod convert;
pub mod dtmf;
pub mod g711;
pub mod mixer;
pub mod plc;
pub mod rtp;
pub mod session;
pub mod tone;
pub mod wav;

/// Sample rate of all audio in this crate, in Hz (G.711 narrowband).
pub const SAMPLE_RATE: u32 = 8000;

/// Samples per millisecond at [`SAMPLE_RATE`].
pub const SAMPLES_PER_MS: u32 = SAMPLE_RATE / 1000;

/// Samples in one 20 ms frame at [`SAMPLE_RATE`] (the packetisation interval Parley uses).
pub const FRAME_SAMPLES: usize = 160;

/// A deterministic xorshift generator for the parsers' "never panics" tests.
#[cfg(test)]
pub(crate) struct TestRng(u64);

#[cfg(test)]
impl TestRng {
    /// A generator from a non-zero seed.
    pub(crate) fn new(seed: u64) -> TestRng {
        TestRng(seed.max(1))
    }

    /// The next 64 bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `len` pseudo-random bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next_u64() >> 32) as u8).collect()
    }
}
