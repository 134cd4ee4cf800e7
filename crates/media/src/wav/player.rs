//! The prompt player: decoded 8 kHz samples served as 20 ms frames, with relative seeking for
//! rewind and fast-forward. It never paces itself (the caller's timer asks for each frame) and
//! never touches files.

use super::{WavError, WavLayout};
use crate::{FRAME_SAMPLES, SAMPLES_PER_MS};

/// Plays one prompt or recording frame by frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavPlayer {
    samples: Vec<i16>,
    position: usize,
}

impl WavPlayer {
    /// Decode WAV bytes: 8 kHz mono, 16-bit PCM or G.711 µ-law (format 7) / A-law (format 6).
    pub fn from_wav_bytes(bytes: &[u8]) -> Result<Self, WavError> {
        let layout = WavLayout::parse(bytes)?;
        let data = &bytes[layout.data_offset..layout.data_offset + layout.data_len];
        let mut samples = Vec::with_capacity(data.len() / layout.format.bytes_per_sample());
        layout.format.decode(data, &mut samples);
        Ok(Self::from_samples(samples))
    }

    /// Play already-decoded 8 kHz samples.
    pub fn from_samples(samples: Vec<i16>) -> Self {
        Self {
            samples,
            position: 0,
        }
    }

    /// The next 20 ms frame, the last one padded with silence; `None` once all samples are played.
    pub fn next_frame(&mut self) -> Option<[i16; FRAME_SAMPLES]> {
        let rest = self
            .samples
            .get(self.position..)
            .filter(|r| !r.is_empty())?;
        let n = rest.len().min(FRAME_SAMPLES);
        let mut frame = [0i16; FRAME_SAMPLES];
        frame[..n].copy_from_slice(&rest[..n]);
        self.position += n;
        Some(frame)
    }

    /// Move the play position by `delta_ms` (negative rewinds), clamped to the start and end.
    pub fn seek_ms(&mut self, delta_ms: i64) {
        let delta = delta_ms.saturating_mul(i64::from(SAMPLES_PER_MS));
        let target = (self.position as i64).saturating_add(delta);
        self.position = target.clamp(0, self.samples.len() as i64) as usize;
    }

    /// Go back to the start.
    pub fn rewind(&mut self) {
        self.position = 0;
    }

    /// The play position in ms.
    pub fn position_ms(&self) -> u64 {
        (self.position / SAMPLES_PER_MS as usize) as u64
    }

    /// The total duration in ms (rounded down).
    pub fn duration_ms(&self) -> u64 {
        (self.samples.len() / SAMPLES_PER_MS as usize) as u64
    }

    /// Whether every sample has been played.
    pub fn is_finished(&self) -> bool {
        self.position >= self.samples.len()
    }

    /// All decoded samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711;

    fn player(n: usize) -> WavPlayer {
        WavPlayer::from_samples((0..n).map(|i| i as i16).collect())
    }

    #[test]
    fn frames_cover_the_samples_and_the_last_is_padded_with_silence() {
        let mut p = player(400);
        assert_eq!(p.duration_ms(), 50);
        let a = p.next_frame().unwrap();
        let b = p.next_frame().unwrap();
        let c = p.next_frame().unwrap();
        assert_eq!((a[0], b[0], c[0], c[79]), (0, 160, 320, 399));
        assert!(c[80..].iter().all(|&s| s == 0));
        assert_eq!(p.next_frame(), None);
        assert!(p.is_finished());
        assert_eq!(p.position_ms(), 50);
    }

    #[test]
    fn seeking_moves_relative_and_clamps_at_both_ends() {
        let mut p = player(8000);
        p.seek_ms(300);
        assert_eq!(p.position_ms(), 300);
        assert_eq!(p.next_frame().unwrap()[0], 2400);
        p.seek_ms(-100);
        assert_eq!(p.position_ms(), 220);
        p.seek_ms(-10_000);
        assert_eq!(p.position_ms(), 0);
        p.seek_ms(i64::MAX);
        assert_eq!((p.position_ms(), p.next_frame()), (1000, None));
        p.rewind();
        assert_eq!(p.next_frame().unwrap()[1], 1);
    }

    #[test]
    fn ulaw_wav_bytes_are_decoded_to_linear_samples() {
        let mut v =
            b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x07\0\x01\0\x40\x1f\0\0\x40\x1f\0\0\x01\0\x08\0"
                .to_vec();
        v.extend_from_slice(b"data\x03\0\0\0\x00\x80\xFF");
        let p = WavPlayer::from_wav_bytes(&v).unwrap();
        assert_eq!(p.samples(), &[-32124, 32124, 0]);
        v[20] = 6; // the same bytes as A-law
        let p = WavPlayer::from_wav_bytes(&v).unwrap();
        assert_eq!(
            p.samples(),
            &[
                g711::alaw_to_linear(0),
                g711::alaw_to_linear(0x80),
                g711::alaw_to_linear(0xFF)
            ]
        );
    }

    #[test]
    fn pcm_wav_with_an_odd_data_length_drops_the_partial_sample() {
        let mut v = super::super::header::pcm_header(5).to_vec();
        v.extend_from_slice(&[1, 0, 0xFF, 0x7F, 9]);
        assert_eq!(
            WavPlayer::from_wav_bytes(&v).unwrap().samples(),
            &[1, i16::MAX]
        );
    }
}
