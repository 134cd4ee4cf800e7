//! The RIFF/WAVE layout: walk the chunks of untrusted bytes to the `fmt ` and `data` chunks, check
//! the format is 8 kHz mono PCM16/A-law/µ-law, write the canonical 44-byte PCM header, and
//! [`recover`] a header whose sizes went stale in a crash. It never decodes samples.

use std::io::{Read, Seek, SeekFrom, Write};

use super::WavError;
use crate::SAMPLE_RATE;

/// Length of the canonical PCM header written by the recorder.
pub(crate) const PCM_HEADER_LEN: usize = 44;

const FORMAT_PCM: u16 = 1;
const FORMAT_ALAW: u16 = 6;
const FORMAT_ULAW: u16 = 7;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// The most chunks [`WavLayout::read_head`] walks looking for the samples.
pub const MAX_HEAD_CHUNKS: usize = 64;
/// The longest `fmt ` chunk taken (16 bytes, 18 or 40 with extensions).
const MAX_FMT_CHUNK: u32 = 1024;
/// How much of a file [`recover`] reads to find the data chunk.
const RECOVER_PREFIX: u64 = 4096;

/// The sample encoding of a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// 16-bit little-endian linear PCM.
    Pcm16,
    /// G.711 µ-law, one byte per sample.
    Ulaw,
    /// G.711 A-law, one byte per sample.
    Alaw,
}

impl SampleFormat {
    /// Bytes per (mono) sample.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            SampleFormat::Pcm16 => 2,
            SampleFormat::Ulaw | SampleFormat::Alaw => 1,
        }
    }

    /// Decode `data` (whole samples of this format) into 16-bit linear samples appended to `out`;
    /// a trailing partial sample is ignored.
    pub fn decode(self, data: &[u8], out: &mut Vec<i16>) {
        match self {
            SampleFormat::Pcm16 => out.extend(
                data.chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            ),
            SampleFormat::Ulaw => crate::g711::decode_ulaw(data, out),
            SampleFormat::Alaw => crate::g711::decode_alaw(data, out),
        }
    }
}

/// Where the samples are in a checked WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavLayout {
    /// The sample encoding.
    pub format: SampleFormat,
    /// Offset of the first sample byte.
    pub data_offset: usize,
    /// Length of the sample data in bytes (a trailing partial sample excluded).
    pub data_len: usize,
}

impl WavLayout {
    /// Parse and check the WAV bytes `file`. The data chunk must fit in the bytes.
    pub fn parse(file: &[u8]) -> Result<Self, WavError> {
        Self::parse_prefix(file, file.len(), false)
    }

    /// Parse and check the head of a WAV file without reading its samples: `prefix` is its first
    /// bytes (the chunks before `data` must lie in them; 4 KiB is plenty for any file Parley keeps),
    /// `total_len` its size. The data chunk must fit in the file.
    pub fn parse_head(prefix: &[u8], total_len: usize) -> Result<Self, WavError> {
        Self::parse_prefix(prefix, total_len, false)
    }

    /// Read and check the head of the WAV file `r` (of `total_len` bytes) without reading its
    /// samples: chunks other than `fmt ` and `data` are skipped by seeking, however large (an upload
    /// kept as it came may carry kilobytes of metadata before its samples). At most
    /// [`MAX_HEAD_CHUNKS`] chunks are walked.
    pub fn read_head<R: Read + Seek>(r: &mut R, total_len: u64) -> Result<Self, WavError> {
        // The chunks that matter, laid end to end: parsed as one prefix by the one parser.
        let mut compact = vec![0u8; 12];
        r.read_exact(&mut compact).map_err(|_| WavError::NotWav)?;
        let mut skipped = 0u64;
        for _ in 0..MAX_HEAD_CHUNKS {
            let mut head = [0u8; 8];
            if r.read_exact(&mut head).is_err() {
                break;
            }
            let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let padded = u64::from(size) + u64::from(size & 1);
            match &head[..4] {
                b"data" => {
                    compact.extend_from_slice(&head);
                    let rest = total_len.saturating_sub(skipped);
                    let rest = usize::try_from(rest).map_err(|_| WavError::TooLarge)?;
                    let mut layout = Self::parse_head(&compact, rest)?;
                    layout.data_offset = usize::try_from(skipped)
                        .ok()
                        .and_then(|s| layout.data_offset.checked_add(s))
                        .ok_or(WavError::TooLarge)?;
                    return Ok(layout);
                }
                b"fmt " => {
                    if size > MAX_FMT_CHUNK {
                        return Err(WavError::BadFmtChunk(size));
                    }
                    compact.extend_from_slice(&head);
                    let at = compact.len();
                    compact.resize(at + padded as usize, 0);
                    r.read_exact(&mut compact[at..])
                        .map_err(|_| WavError::Truncated(format!("fmt  chunk of {size} bytes")))?;
                }
                _ => {
                    let to = i64::try_from(padded).map_err(|_| WavError::TooLarge)?;
                    r.seek(SeekFrom::Current(to))
                        .map_err(|_| WavError::Truncated("a chunk before the data".into()))?;
                    skipped += 8 + padded;
                }
            }
        }
        // No data chunk where one was looked for: the one parser says what is missing.
        Err(Self::parse_head(&compact, compact.len())
            .err()
            .unwrap_or(WavError::MissingChunk("data")))
    }

    /// Parse from `prefix`, the first bytes of a file of `total_len` bytes. With `to_end`, the
    /// data runs to the end of the file whatever its size field says (for [`recover`]).
    fn parse_prefix(prefix: &[u8], total_len: usize, to_end: bool) -> Result<Self, WavError> {
        if prefix.len() < 12 || &prefix[..4] != b"RIFF" || &prefix[8..12] != b"WAVE" {
            return Err(WavError::NotWav);
        }
        let mut format = None;
        let mut offset = 12usize;
        while offset.saturating_add(8) <= prefix.len() {
            let id = &prefix[offset..offset + 4];
            let size = u32::from_le_bytes([
                prefix[offset + 4],
                prefix[offset + 5],
                prefix[offset + 6],
                prefix[offset + 7],
            ]);
            let body = offset + 8;
            let end = body.checked_add(size as usize).ok_or(WavError::TooLarge)?;
            if id == b"data" {
                let format = format.ok_or(WavError::MissingChunk("fmt "))?;
                let end = if to_end {
                    total_len
                } else if end > total_len {
                    return Err(WavError::Truncated(format!(
                        "data chunk declares {size} bytes but only {} are present (unfinished recording?)",
                        total_len - body
                    )));
                } else {
                    end
                };
                let bytes = SampleFormat::bytes_per_sample(format);
                let data_len = (end - body) / bytes * bytes;
                return Ok(WavLayout {
                    format,
                    data_offset: body,
                    data_len,
                });
            }
            if end > prefix.len() {
                return Err(WavError::Truncated(format!(
                    "{} chunk of {size} bytes",
                    String::from_utf8_lossy(id)
                )));
            }
            if id == b"fmt " {
                format = Some(parse_fmt(&prefix[body..end])?);
            }
            offset = end.saturating_add(end & 1); // chunks are padded to even length
        }
        Err(if format.is_some() {
            WavError::MissingChunk("data")
        } else {
            WavError::MissingChunk("fmt ")
        })
    }
}

/// What the `fmt ` chunk of any RIFF/WAVE file claims (whatever its encoding): for checking an
/// upload's shape before a decoder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclaredFormat {
    /// The format tag (1 PCM, 3 float, 6 A-law, 7 µ-law, 0xFFFE extensible, ...).
    pub code: u16,
    /// Channels.
    pub channels: u16,
    /// Samples per second.
    pub rate: u32,
    /// Bits per sample.
    pub bits: u16,
}

/// The `fmt ` chunk of a RIFF/WAVE file, if it has one that is whole; `None` for anything else.
pub fn declared_format(file: &[u8]) -> Option<DeclaredFormat> {
    if file.get(..4)? != b"RIFF" || file.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut offset = 12usize;
    while let Some(head) = file.get(offset..offset.checked_add(8)?) {
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let body = offset + 8;
        if &head[..4] == b"fmt " {
            let f = file.get(body..body.checked_add(size.max(16))?)?;
            let u16_at = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
            return Some(DeclaredFormat {
                code: u16_at(0),
                channels: u16_at(2),
                rate: u32::from_le_bytes([f[4], f[5], f[6], f[7]]),
                bits: u16_at(14),
            });
        }
        offset = body.checked_add(size)?.checked_add(size & 1)?;
    }
    None
}

fn parse_fmt(fmt: &[u8]) -> Result<SampleFormat, WavError> {
    if fmt.len() < 16 {
        return Err(WavError::BadFmtChunk(fmt.len() as u32));
    }
    let u16_at = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
    let mut code = u16_at(0);
    if code == FORMAT_EXTENSIBLE && fmt.len() >= 26 {
        code = u16_at(24); // first two bytes of the sub-format GUID
    }
    let format = match code {
        FORMAT_PCM => SampleFormat::Pcm16,
        FORMAT_ULAW => SampleFormat::Ulaw,
        FORMAT_ALAW => SampleFormat::Alaw,
        other => return Err(WavError::UnsupportedFormat(other)),
    };
    let channels = u16_at(2);
    if channels != 1 {
        return Err(WavError::UnsupportedChannels(channels));
    }
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    if rate != SAMPLE_RATE {
        return Err(WavError::UnsupportedRate(rate));
    }
    let bits = u16_at(14);
    if usize::from(bits) != 8 * format.bytes_per_sample() {
        return Err(WavError::UnsupportedBits { format, bits });
    }
    Ok(format)
}

/// The canonical 44-byte header of an 8 kHz mono 16-bit PCM file with `data_len` bytes of data.
pub(crate) fn pcm_header(data_len: u32) -> [u8; PCM_HEADER_LEN] {
    let mut h = [0u8; PCM_HEADER_LEN];
    h[..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&FORMAT_PCM.to_le_bytes());
    h[22..24].copy_from_slice(&1u16.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// A G.711 WAV file (format code 6 or 7, with the `fact` chunk non-PCM files carry) around `data`.
fn g711_file(code: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(58 + data.len());
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(50u32.saturating_add(data.len() as u32)).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&18u32.to_le_bytes());
    v.extend_from_slice(&code.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    v.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8u16.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes()); // cbSize
    v.extend_from_slice(b"fact");
    v.extend_from_slice(&4u32.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Encode 8 kHz mono samples as a complete WAV file in `format` (16-bit PCM, or G.711 at half the
/// size: what voicemail-to-email attaches as its compact option).
pub fn encode(samples: &[i16], format: SampleFormat) -> Vec<u8> {
    match format {
        SampleFormat::Pcm16 => {
            let mut v = pcm_header((samples.len() * 2) as u32).to_vec();
            for s in samples {
                v.extend_from_slice(&s.to_le_bytes());
            }
            v
        }
        SampleFormat::Ulaw | SampleFormat::Alaw => {
            let (law, code) = if format == SampleFormat::Ulaw {
                (crate::g711::Codec::Pcmu, FORMAT_ULAW)
            } else {
                (crate::g711::Codec::Pcma, FORMAT_ALAW)
            };
            let mut data = Vec::with_capacity(samples.len());
            law.encode(samples, &mut data);
            g711_file(code, &data)
        }
    }
}

/// Fix the RIFF and data sizes of a WAV file whose data chunk is last (as the recorder writes it)
/// so that they match the bytes actually present, e.g. after a crash before
/// [`super::WavRecorder::finish`]. Returns the number of samples now described. The IO shell calls
/// this on start-up for recordings left open.
pub fn recover<F: Read + Write + Seek>(file: &mut F) -> Result<u64, WavError> {
    let total = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut prefix = Vec::new();
    Read::by_ref(file)
        .take(RECOVER_PREFIX.min(total))
        .read_to_end(&mut prefix)?;
    let total = usize::try_from(total).map_err(|_| WavError::TooLarge)?;
    let layout = WavLayout::parse_prefix(&prefix, total, true)?;
    let data_len = u32::try_from(layout.data_len).map_err(|_| WavError::TooLarge)?;
    let riff_len =
        u32::try_from(layout.data_offset - 8 + layout.data_len).map_err(|_| WavError::TooLarge)?;
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&riff_len.to_le_bytes())?;
    file.seek(SeekFrom::Start(layout.data_offset as u64 - 4))?;
    file.write_all(&data_len.to_le_bytes())?;
    file.flush()?;
    Ok((layout.data_len / layout.format.bytes_per_sample()) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g711_wav(code: u16, data: &[u8]) -> Vec<u8> {
        g711_file(code, data)
    }

    #[test]
    fn a_head_read_from_a_file_skips_metadata_of_any_size_and_agrees_with_the_whole_parse() {
        let samples: Vec<i16> = (0..800).map(|i| i as i16).collect();
        let plain = encode(&samples, SampleFormat::Pcm16);
        // RIFF, fmt, a 5001-byte LIST chunk (padded to even), then the data, as an editor writes it.
        let mut meta = plain[..36].to_vec();
        meta.extend_from_slice(b"LIST");
        meta.extend_from_slice(&5001u32.to_le_bytes());
        meta.extend(std::iter::repeat_n(b'x', 5002));
        meta.extend_from_slice(&plain[36..]);
        for bytes in [&plain, &meta] {
            let whole = WavLayout::parse(bytes).unwrap();
            let mut r = std::io::Cursor::new(bytes.to_vec());
            let head = WavLayout::read_head(&mut r, bytes.len() as u64).unwrap();
            assert_eq!(head, whole);
            assert_eq!(head.data_len, 1600);
        }
        // A file cut inside its metadata, a fmt chunk claiming a megabyte, more chunks than are
        // walked, and no data chunk: refused, never read whole.
        let cut = &meta[..1000];
        let mut r = std::io::Cursor::new(cut.to_vec());
        assert!(WavLayout::read_head(&mut r, cut.len() as u64).is_err());
        let mut fat = plain.clone();
        fat[16..20].copy_from_slice(&(1u32 << 20).to_le_bytes());
        let mut r = std::io::Cursor::new(fat.clone());
        assert!(matches!(
            WavLayout::read_head(&mut r, fat.len() as u64),
            Err(WavError::BadFmtChunk(n)) if n == 1 << 20
        ));
        let mut many = plain[..36].to_vec();
        for _ in 0..MAX_HEAD_CHUNKS {
            many.extend_from_slice(b"JUNK\0\0\0\0");
        }
        many.extend_from_slice(&plain[36..]);
        let mut r = std::io::Cursor::new(many.clone());
        assert!(WavLayout::read_head(&mut r, many.len() as u64).is_err());
        let mut r = std::io::Cursor::new(plain[..36].to_vec());
        assert!(matches!(
            WavLayout::read_head(&mut r, 36),
            Err(WavError::MissingChunk("data"))
        ));
    }

    #[test]
    fn encoded_files_parse_back_to_the_same_audio() {
        let samples: Vec<i16> = (0..800).map(|i| ((i * 37) % 2000) as i16 - 1000).collect();
        let pcm = encode(&samples, SampleFormat::Pcm16);
        assert_eq!(
            crate::wav::WavPlayer::from_wav_bytes(&pcm)
                .unwrap()
                .samples(),
            &samples[..]
        );
        for f in [SampleFormat::Ulaw, SampleFormat::Alaw] {
            let file = encode(&samples, f);
            let l = WavLayout::parse(&file).unwrap();
            assert_eq!((l.format, l.data_len), (f, samples.len()));
            assert!(file.len() < pcm.len() / 2 + 64);
            let back = crate::wav::WavPlayer::from_wav_bytes(&file).unwrap();
            for (a, b) in back.samples().iter().zip(&samples) {
                assert!((a - b).abs() < 64, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn canonical_pcm_header_parses_to_its_data() {
        let mut file = pcm_header(6).to_vec();
        file.extend_from_slice(&[1, 0, 2, 0, 3, 0]);
        let layout = WavLayout::parse(&file).unwrap();
        assert_eq!(
            layout,
            WavLayout {
                format: SampleFormat::Pcm16,
                data_offset: 44,
                data_len: 6
            }
        );
    }

    #[test]
    fn ulaw_and_alaw_wavs_with_extra_chunks_are_parsed() {
        let layout = WavLayout::parse(&g711_wav(7, &[0xFF; 5])).unwrap();
        assert_eq!((layout.format, layout.data_len), (SampleFormat::Ulaw, 5));
        let layout = WavLayout::parse(&g711_wav(6, &[0xD5; 3])).unwrap();
        assert_eq!(layout.format, SampleFormat::Alaw);
    }

    #[test]
    fn wrong_rate_channels_format_or_bits_are_reported_clearly() {
        let mut h = pcm_header(0);
        h[24..28].copy_from_slice(&16000u32.to_le_bytes());
        assert!(matches!(
            WavLayout::parse(&h),
            Err(WavError::UnsupportedRate(16000))
        ));
        let mut h = pcm_header(0);
        h[22] = 2;
        assert!(matches!(
            WavLayout::parse(&h),
            Err(WavError::UnsupportedChannels(2))
        ));
        let mut h = pcm_header(0);
        h[20] = 3; // IEEE float
        assert!(matches!(
            WavLayout::parse(&h),
            Err(WavError::UnsupportedFormat(3))
        ));
        let mut h = pcm_header(0);
        h[34] = 8;
        let err = WavLayout::parse(&h).unwrap_err();
        assert!(matches!(
            err,
            WavError::UnsupportedBits {
                format: SampleFormat::Pcm16,
                bits: 8
            }
        ));
        assert_eq!(err.to_string(), "8-bit samples not supported for Pcm16");
        assert!(WavError::UnsupportedRate(44100)
            .to_string()
            .contains("need 8000 Hz"));
    }

    #[test]
    fn missing_chunks_and_non_wav_bytes_are_rejected() {
        assert!(matches!(
            WavLayout::parse(b"RIFX\0\0\0\0WAVE"),
            Err(WavError::NotWav)
        ));
        assert!(matches!(WavLayout::parse(b"RIFF"), Err(WavError::NotWav)));
        assert!(matches!(
            WavLayout::parse(&pcm_header(0)[..36]),
            Err(WavError::MissingChunk("data"))
        ));
        let mut no_fmt = b"RIFF\0\0\0\0WAVE".to_vec();
        no_fmt.extend_from_slice(b"data\0\0\0\0");
        assert!(matches!(
            WavLayout::parse(&no_fmt),
            Err(WavError::MissingChunk("fmt "))
        ));
    }

    #[test]
    fn data_chunk_longer_than_the_file_is_truncated() {
        let mut file = pcm_header(100).to_vec();
        file.extend_from_slice(&[0; 10]);
        let err = WavLayout::parse(&file).unwrap_err();
        assert!(
            err.to_string().contains("declares 100 bytes but only 10"),
            "{err}"
        );
        let fmt_cut = &pcm_header(0)[..30];
        assert!(matches!(
            WavLayout::parse(fmt_cut),
            Err(WavError::Truncated(_))
        ));
    }

    #[test]
    fn header_parser_never_panics_on_mutated_headers() {
        let mut base = g711_wav(7, &[1, 2, 3, 4]);
        base.extend(pcm_header(2)); // trailing junk
        let mut rng = crate::TestRng::new(99);
        let mut state = 0u64;
        for _ in 0..20_000 {
            let mut file = base.clone();
            for _ in 0..3 {
                state = rng.next_u64();
                let i = (state % file.len() as u64) as usize;
                file[i] = (state >> 40) as u8;
            }
            let cut = ((state >> 20) % (file.len() as u64 + 1)) as usize;
            if let Ok(layout) = WavLayout::parse(&file[..cut]) {
                assert!(layout.data_offset + layout.data_len <= cut);
            }
        }
    }
}
