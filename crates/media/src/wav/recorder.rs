//! The recorder: 8 kHz mono 16-bit PCM written to any `Write + Seek`, with a header kept valid up
//! to the last [`WavRecorder::sync_header`], so a crash loses at most the audio since then (and
//! [`super::recover`] restores even that). It never decides when to sync or where files live.

use std::io::{Seek, SeekFrom, Write};

use super::header::{pcm_header, PCM_HEADER_LEN};
use super::WavError;
use crate::SAMPLES_PER_MS;

/// Largest data size a RIFF header can describe (its size field counts 36 more bytes).
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 36;

/// Writes a recording as a WAV file.
#[derive(Debug)]
pub struct WavRecorder<W: Write + Seek> {
    out: W,
    start: u64,
    data_bytes: u64,
}

impl<W: Write + Seek> WavRecorder<W> {
    /// Start a recording at the writer's current position, writing a header with zero sizes.
    pub fn new(mut out: W) -> Result<Self, WavError> {
        let start = out.stream_position()?;
        out.write_all(&pcm_header(0))?;
        Ok(Self {
            out,
            start,
            data_bytes: 0,
        })
    }

    /// Append samples. The header's sizes are not updated until the next sync or finish.
    pub fn push(&mut self, samples: &[i16]) -> Result<(), WavError> {
        let added = 2 * samples.len() as u64;
        if self.data_bytes + added > MAX_DATA_BYTES {
            return Err(WavError::TooLarge);
        }
        let mut bytes = [0u8; 512];
        for chunk in samples.chunks(bytes.len() / 2) {
            for (b, s) in bytes.chunks_exact_mut(2).zip(chunk) {
                b.copy_from_slice(&s.to_le_bytes());
            }
            self.out.write_all(&bytes[..2 * chunk.len()])?;
        }
        self.data_bytes += added;
        Ok(())
    }

    /// Samples recorded so far.
    pub fn samples_written(&self) -> u64 {
        self.data_bytes / 2
    }

    /// Duration recorded so far in ms (rounded down).
    pub fn duration_ms(&self) -> u64 {
        self.samples_written() / u64::from(SAMPLES_PER_MS)
    }

    /// Rewrite the RIFF and data sizes to cover everything pushed so far, then flush.
    pub fn sync_header(&mut self) -> Result<(), WavError> {
        let header = pcm_header(self.data_bytes as u32);
        self.out.seek(SeekFrom::Start(self.start + 4))?;
        self.out.write_all(&header[4..8])?;
        self.out.seek(SeekFrom::Start(self.start + 40))?;
        self.out.write_all(&header[40..44])?;
        self.out.seek(SeekFrom::Start(
            self.start + PCM_HEADER_LEN as u64 + self.data_bytes,
        ))?;
        self.out.flush()?;
        Ok(())
    }

    /// Sync the header and hand back the writer.
    pub fn finish(mut self) -> Result<W, WavError> {
        self.sync_header()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::tone::sine;
    use crate::wav::{recover, WavPlayer};

    fn played(bytes: &[u8]) -> Vec<i16> {
        let mut p = WavPlayer::from_wav_bytes(bytes).unwrap();
        std::iter::from_fn(|| p.next_frame()).flatten().collect()
    }

    #[test]
    fn recorded_audio_plays_back_sample_for_sample() {
        let audio = sine(440.0, 9000.0, 1000);
        let mut rec = WavRecorder::new(Cursor::new(Vec::new())).unwrap();
        rec.push(&audio[..333]).unwrap();
        rec.push(&audio[333..]).unwrap();
        assert_eq!((rec.samples_written(), rec.duration_ms()), (1000, 125));
        let bytes = rec.finish().unwrap().into_inner();
        assert_eq!(bytes.len(), 44 + 2000);
        let back = played(&bytes);
        assert_eq!(&back[..1000], &audio[..]);
        assert!(
            back[1000..].iter().all(|&s| s == 0),
            "padding of the last frame"
        );
        assert_eq!(back.len(), 1120);
    }

    #[test]
    fn recording_is_readable_by_hound() {
        let audio = sine(1000.0, 5000.0, 500);
        let mut rec = WavRecorder::new(Cursor::new(Vec::new())).unwrap();
        rec.push(&audio).unwrap();
        let bytes = rec.finish().unwrap().into_inner();
        let reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8000, 16)
        );
        let samples: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(samples, audio);
    }

    #[test]
    fn hound_written_pcm_is_playable() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for s in [5i16, -5, 300] {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        let p = WavPlayer::from_wav_bytes(cursor.get_ref()).unwrap();
        assert_eq!(p.samples(), &[5, -5, 300]);
    }

    #[test]
    fn synced_header_makes_a_crashed_file_valid_up_to_the_sync() {
        let mut rec = WavRecorder::new(Cursor::new(Vec::new())).unwrap();
        rec.push(&[1; 160]).unwrap();
        rec.sync_header().unwrap();
        rec.push(&[2; 160]).unwrap(); // then the process dies: no sync, no finish
        let bytes = rec.out.get_ref().clone();
        let p = WavPlayer::from_wav_bytes(&bytes).unwrap();
        assert_eq!(p.samples(), &[1; 160][..]);
    }

    #[test]
    fn recover_after_a_crash_gives_back_every_sample_written() {
        let audio = sine(300.0, 7000.0, 777);
        let mut rec = WavRecorder::new(Cursor::new(Vec::new())).unwrap();
        rec.push(&audio[..100]).unwrap();
        rec.sync_header().unwrap();
        rec.push(&audio[100..]).unwrap(); // crash: the header still says 100 samples
        let mut file = Cursor::new(rec.out.get_ref().clone());
        file.get_mut().push(0xAB); // and half a sample was being written
        assert_eq!(recover(&mut file).unwrap(), 777);
        let bytes = file.into_inner();
        assert_eq!(played(&bytes)[..777], audio[..]);
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
            36 + 1554
        );
    }

    #[test]
    fn recover_of_a_never_synced_file_and_of_a_finished_file() {
        let mut rec = WavRecorder::new(Cursor::new(Vec::new())).unwrap();
        rec.push(&[7; 50]).unwrap();
        let mut crashed = Cursor::new(rec.out.get_ref().clone());
        assert!(WavPlayer::from_wav_bytes(crashed.get_ref())
            .unwrap()
            .samples()
            .is_empty());
        assert_eq!(recover(&mut crashed).unwrap(), 50);
        let mut finished = Cursor::new(rec.finish().unwrap().into_inner());
        let before = finished.get_ref().clone();
        assert_eq!(recover(&mut finished).unwrap(), 50);
        assert_eq!(
            finished.into_inner(),
            before,
            "a good file is left as it was"
        );
    }

    #[test]
    fn recover_rejects_files_that_are_not_wav() {
        let mut junk = Cursor::new(b"hello, this is not audio at all".to_vec());
        assert!(matches!(recover(&mut junk), Err(WavError::NotWav)));
        assert_eq!(
            junk.get_ref(),
            b"hello, this is not audio at all",
            "left untouched"
        );
    }
}
