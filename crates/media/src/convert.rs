//! Uploaded audio made playable, once, on upload (never on the call path): a WAV already in the
//! telephone format (8 kHz, 16-bit PCM, mono: the seed's format) is kept byte for byte; anything else
//! that decodes (WAV of any rate, width, channel count or G.711/ADPCM/float encoding, MP3, AAC/M4A,
//! Ogg Vorbis, FLAC, AIFF) is mixed to mono, resampled to 8 kHz with a windowed-sinc low-pass filter
//! and written as 16-bit PCM WAV. The result says what was done, for the person who uploaded it.
//!
//! Hostile uploads cost little: a declared sample rate outside 4–192 kHz or more than 8 channels is
//! refused before anything is decoded; decoding stops as soon as the audio passes the longest greeting;
//! and the resampler streams (its memory is its filter, never the decoded file), so no allocation grows
//! with what a header claims, only with the real input and the greeting limit.

use std::fmt;
use std::io::Cursor;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::wav::{self, SampleFormat, WavLayout};
use crate::SAMPLE_RATE;

/// Why an upload cannot become a greeting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// Not an audio file Parley can decode.
    #[error(
        "not an audio file Parley can read ({0}); use WAV, MP3, M4A/AAC, Ogg Vorbis, FLAC or AIFF"
    )]
    Unreadable(String),
    /// It decodes to no sound at all.
    #[error("the file contains no audio")]
    Empty,
    /// Longer than allowed.
    #[error("the recording is longer than the {max_secs} s allowed")]
    TooLong {
        /// The limit, in seconds.
        max_secs: u64,
    },
    /// A sample rate outside what Parley converts.
    #[error("the sample rate {0} Hz is outside 4,000-192,000 Hz")]
    BadRate(u32),
    /// More channels than Parley mixes.
    #[error("the file has {0} channels; at most 8 are accepted")]
    TooManyChannels(usize),
    /// It decodes to far more audio than a file of its size can honestly hold (a decompression bomb).
    #[error("the file decodes to far more audio than a file of its size holds")]
    Overexpanding,
}

/// Decoded PCM (16-bit, all channels) allowed per byte of upload, beyond [`EXPANSION_FLOOR`]: real
/// recordings compress a few to a few dozen times; a bomb of constant blocks, thousands of times.
pub const EXPANSION_RATIO: u64 = 1024;
/// Decoded PCM any upload may produce, whatever its size (short files of near-silence are fine).
pub const EXPANSION_FLOOR: u64 = 16 << 20;

/// Lowest and highest sample rates converted.
pub const RATES: std::ops::RangeInclusive<u32> = 4_000..=192_000;
/// Most channels mixed to mono.
pub const MAX_CHANNELS: usize = 8;

fn check_shape(rate: u32, channels: usize) -> Result<(), ConvertError> {
    if !RATES.contains(&rate) {
        return Err(ConvertError::BadRate(rate));
    }
    if channels > MAX_CHANNELS {
        return Err(ConvertError::TooManyChannels(channels));
    }
    Ok(())
}

/// What the upload was, for the message shown after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Container ("WAV", "MP3", "FLAC", "Ogg", "MP4/M4A", "AIFF" or "audio").
    pub container: &'static str,
    /// Codec as the decoder names it ("PCM Signed 24-bit Little-Endian Interleaved", ...).
    pub codec: String,
    /// Sample rate in Hz.
    pub rate: u32,
    /// Channels.
    pub channels: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channels = match self.channels {
            1 => "mono".to_string(),
            2 => "stereo".to_string(),
            n => format!("{n} channels"),
        };
        write!(
            f,
            "{} ({}, {} Hz, {channels})",
            self.container, self.codec, self.rate
        )
    }
}

/// An upload in the telephone format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The WAV bytes to store (8 kHz, 16-bit PCM, mono).
    pub wav: Vec<u8>,
    /// Length in milliseconds.
    pub duration_ms: u64,
    /// `None` when the upload was already in the telephone format and is stored as is; else what it
    /// was before conversion.
    pub converted_from: Option<Source>,
}

/// Make `bytes` a telephone-format WAV no longer than `max_ms`. Decoding stops as soon as the limit is
/// passed, so a small file claiming hours of audio costs little.
pub fn to_telephone(bytes: &[u8], max_ms: u64) -> Result<Converted, ConvertError> {
    let too_long = ConvertError::TooLong {
        max_secs: max_ms / 1000,
    };
    if let Ok(layout) = WavLayout::parse(bytes) {
        if layout.format == SampleFormat::Pcm16 {
            let duration_ms = (layout.data_len / 2) as u64 * 1000 / u64::from(SAMPLE_RATE);
            if duration_ms > max_ms {
                return Err(too_long);
            }
            if duration_ms == 0 {
                return Err(ConvertError::Empty);
            }
            return Ok(Converted {
                wav: bytes.to_vec(),
                duration_ms,
                converted_from: None,
            });
        }
    }
    // A WAV's shape is checked from its own header before any decoder reads it (the decoder would
    // divide by a zero rate, or size buffers by an absurd one).
    if let Some(f) = wav::declared_format(bytes) {
        check_shape(f.rate, usize::from(f.channels))?;
        if f.channels == 0 {
            return Err(ConvertError::Unreadable("a WAV without channels".into()));
        }
    }
    // The decoders are third-party code fed untrusted bytes: a panic in them is an unreadable file.
    let owned = bytes.to_vec();
    let (source, resampled) = std::panic::catch_unwind(move || decode(owned, max_ms))
        .map_err(|_| ConvertError::Unreadable("the decoder failed".into()))??;
    if resampled.is_empty() {
        return Err(ConvertError::Empty);
    }
    if resampled.len() as u64 * 1000 > max_ms.saturating_mul(u64::from(SAMPLE_RATE)) {
        return Err(too_long);
    }
    let samples: Vec<i16> = resampled
        .iter()
        .map(|s| (s * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    Ok(Converted {
        wav: wav::encode(&samples, SampleFormat::Pcm16),
        duration_ms: samples.len() as u64 * 1000 / u64::from(SAMPLE_RATE),
        converted_from: Some(source),
    })
}

fn container(bytes: &[u8]) -> &'static str {
    let at = |i: usize, m: &[u8]| bytes.get(i..i + m.len()) == Some(m);
    if at(0, b"RIFF") && at(8, b"WAVE") {
        "WAV"
    } else if at(0, b"fLaC") {
        "FLAC"
    } else if at(0, b"OggS") {
        "Ogg"
    } else if at(4, b"ftyp") {
        "MP4/M4A"
    } else if at(0, b"FORM") {
        "AIFF"
    } else if at(0, b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        "MP3"
    } else {
        "audio"
    }
}

/// A probe that knows only the readers for `kind` (as [`container`] names it).
fn probe_for(kind: &str) -> Option<symphonia::core::probe::Probe> {
    use symphonia::default::formats::{
        AdtsReader, AiffReader, FlacReader, IsoMp4Reader, MpaReader, OggReader, WavReader,
    };
    let mut p = symphonia::core::probe::Probe::default();
    match kind {
        "WAV" => p.register_all::<WavReader>(),
        "FLAC" => p.register_all::<FlacReader>(),
        "Ogg" => p.register_all::<OggReader>(),
        "MP4/M4A" => p.register_all::<IsoMp4Reader>(),
        "AIFF" => p.register_all::<AiffReader>(),
        // An MPEG audio frame sync, or an ID3 tag before one; raw AAC (ADTS) starts with the same sync.
        "MP3" => {
            p.register_all::<MpaReader>();
            p.register_all::<AdtsReader>();
        }
        _ => return None,
    }
    Some(p)
}

/// Decode the first audio track, mixed to mono and resampled to 8 kHz as it decodes, stopping past
/// `max_ms`.
fn decode(bytes: Vec<u8>, max_ms: u64) -> Result<(Source, Vec<f32>), ConvertError> {
    let kind = container(&bytes);
    let input_len = bytes.len() as u64;
    let unreadable = |e: SymError| ConvertError::Unreadable(e.to_string());
    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    // Only the reader of the container the file's own magic bytes name is asked: a probe over every
    // format would hand any file to whichever reader finds a marker somewhere inside it.
    let Some(probe) = probe_for(kind) else {
        return Err(ConvertError::Unreadable("unknown file type".into()));
    };
    let probed = probe
        .format(
            &Hint::new(),
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(unreadable)?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| ConvertError::Unreadable("no audio track".into()))?;
    let track_id = track.id;
    let codec = symphonia::default::get_codecs()
        .get_codec(track.codec_params.codec)
        .map(|d| d.long_name.to_string())
        .unwrap_or_else(|| "unknown codec".into());
    let mut rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut channels = track.codec_params.channels.map(|c| c.count()).unwrap_or(0);
    // What the header claims is checked before a decoder is made or anything is decoded.
    if rate != 0 {
        check_shape(rate, channels)?;
        // A length the header declares (FLAC's STREAMINFO, a WAV's data size) is believed when it is
        // too long; when it is short, the count of decoded samples below still stops decoding.
        let declared = track.codec_params.n_frames.unwrap_or(0);
        if declared.saturating_mul(1000)
            > max_ms.saturating_add(1000).saturating_mul(u64::from(rate))
        {
            return Err(ConvertError::TooLong {
                max_secs: max_ms / 1000,
            });
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(unreadable)?;
    let mut resampler: Option<Resampler> = None;
    // Input samples (per channel) decoded so far, and the most that may be: the limit plus a second.
    let mut frames_in = 0u64;
    let mut decoded_bytes = 0u64;
    let mut buf: Option<SampleBuffer<f32>> = None;
    let mut mono = Vec::new();
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) if mono.is_empty() => return Err(unreadable(e)),
            Err(_) => break, // a damaged tail: keep what decoded
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(_)) => {
                bad_packets += 1;
                if bad_packets > 50 && mono.is_empty() {
                    return Err(ConvertError::Unreadable("no packet decodes".into()));
                }
                continue;
            }
            Err(e) => return Err(unreadable(e)),
        };
        let spec = *decoded.spec();
        rate = spec.rate;
        channels = spec.channels.count();
        check_shape(rate, channels)?;
        if decoded.frames() == 0 || channels == 0 {
            continue;
        }
        frames_in += decoded.frames() as u64;
        decoded_bytes += (decoded.frames() * channels * 2) as u64;
        if decoded_bytes > EXPANSION_FLOOR.max(input_len.saturating_mul(EXPANSION_RATIO)) {
            return Err(ConvertError::Overexpanding);
        }
        if frames_in.saturating_mul(1000)
            > max_ms.saturating_add(1000).saturating_mul(u64::from(rate))
        {
            return Err(ConvertError::TooLong {
                max_secs: max_ms / 1000,
            });
        }
        // One packet's worth of interleaved samples, reused while packets keep their size.
        let b = match buf.as_mut() {
            Some(b) if b.capacity() >= decoded.capacity() * channels => b,
            _ => buf.insert(SampleBuffer::<f32>::new(decoded.capacity() as u64, spec)),
        };
        b.copy_interleaved_ref(decoded);
        let r = match resampler.as_mut() {
            Some(r) if r.from == rate => r,
            // A stream whose rate changes mid-way starts a new resampler for the rest.
            _ => {
                if let Some(done) = resampler.take() {
                    mono.extend(done.finish());
                }
                resampler.insert(Resampler::new(rate, SAMPLE_RATE))
            }
        };
        let frame_mix = b
            .samples()
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32);
        r.push(frame_mix, &mut mono);
    }
    if let Some(r) = resampler {
        mono.extend(r.finish());
    }
    if rate == 0 || mono.is_empty() {
        return Err(ConvertError::Empty);
    }
    Ok((
        Source {
            container: kind,
            codec,
            rate,
            channels,
        },
        mono,
    ))
}

/// Zero crossings of the sinc on each side of a tap at the output rate.
const ZERO_CROSSINGS: f64 = 12.0;
/// Beyond this many filter phases, coefficients are computed per sample instead of tabulated.
const MAX_PHASES: u64 = 4096;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Band-limited resampling: each output sample is the input convolved with a Blackman-windowed sinc
/// whose cutoff is just below the lower Nyquist frequency (no aliasing when going down to 8 kHz).
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let mut r = Resampler::new(from, to);
    let mut out = Vec::new();
    r.push(input.iter().copied(), &mut out);
    out.extend(r.finish());
    out
}

/// The streaming form of [`resample`]: input is pushed as it is decoded, output comes out as soon as
/// its filter window is complete, and only the last window of input is kept.
struct Resampler {
    from: u32,
    up: u64,
    down: u64,
    half: i64,
    taps: usize,
    cutoff: f64,
    /// Coefficients per phase, when the number of phases is small enough to tabulate.
    table: Option<Vec<f32>>,
    /// Input kept, starting at input index `start`.
    window: std::collections::VecDeque<f32>,
    start: u64,
    /// Input samples pushed so far.
    pushed: u64,
    /// The next output sample's index.
    next: u64,
}

impl Resampler {
    fn new(from: u32, to: u32) -> Resampler {
        let (f, t) = (u64::from(from.max(1)), u64::from(to.max(1)));
        let g = gcd(f, t);
        let (up, down) = (t / g, f / g); // output n sits at input position n * down / up
        let scale = (t as f64 / f as f64).min(1.0);
        let cutoff = 0.5 * scale * 0.94; // cycles per input sample
        let half = (ZERO_CROSSINGS / scale).ceil() as i64;
        let taps = (2 * half) as usize;
        let mut r = Resampler {
            from,
            up,
            down,
            half,
            taps,
            cutoff,
            table: None,
            window: Default::default(),
            start: 0,
            pushed: 0,
            next: 0,
        };
        // Tap j of output position t (center = floor(t)) reads input[center - half + 1 + j], at
        // distance x = frac(t) + half - 1 - j.
        r.table = (up <= MAX_PHASES).then(|| {
            (0..up)
                .flat_map(|p| {
                    let frac = p as f64 / up as f64;
                    (0..taps).map(move |j| (frac, j))
                })
                .map(|(frac, j)| r.coeff(frac + (half - 1 - j as i64) as f64) as f32)
                .collect()
        });
        r
    }

    fn coeff(&self, x: f64) -> f64 {
        let w = x / self.half as f64;
        if w.abs() >= 1.0 {
            return 0.0;
        }
        let window = 0.42
            + 0.5 * (std::f64::consts::PI * w).cos()
            + 0.08 * (2.0 * std::f64::consts::PI * w).cos();
        let arg = 2.0 * self.cutoff * x;
        let sinc = if arg.abs() < 1e-12 {
            1.0
        } else {
            (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
        };
        2.0 * self.cutoff * sinc * window
    }

    /// Output sample `n`, reading input below `len` (the rest counts as silence).
    fn sample(&self, n: u64, len: u64) -> f32 {
        let pos = n * self.down;
        let center = (pos / self.up) as i64;
        let phase = pos % self.up;
        let first = center - self.half + 1;
        let mut acc = 0.0f32;
        for j in 0..self.taps {
            let k = first + j as i64;
            if k < self.start as i64 || k as u64 >= len {
                continue;
            }
            let c = match &self.table {
                Some(t) => t[phase as usize * self.taps + j],
                None => self
                    .coeff(phase as f64 / self.up as f64 + (self.half - 1 - j as i64) as f64)
                    as f32,
            };
            acc += self.window[(k as u64 - self.start) as usize] * c;
        }
        acc
    }

    /// The last input index output `n` reads.
    fn last_input(&self, n: u64) -> i64 {
        (n * self.down / self.up) as i64 + self.half
    }

    fn push(&mut self, input: impl Iterator<Item = f32>, out: &mut Vec<f32>) {
        if self.up == self.down {
            out.extend(input);
            return;
        }
        for x in input {
            self.window.push_back(x);
            self.pushed += 1;
            // Every output whose window is now complete.
            while self.last_input(self.next) < self.pushed as i64 {
                out.push(self.sample(self.next, self.pushed));
                self.next += 1;
                let keep_from = (self.last_input(self.next) - self.taps as i64 + 1).max(0) as u64;
                while self.start < keep_from && !self.window.is_empty() {
                    self.window.pop_front();
                    self.start += 1;
                }
            }
        }
    }

    /// The outputs left once the input has ended (their windows end in silence).
    fn finish(mut self) -> Vec<f32> {
        if self.up == self.down {
            return Vec::new();
        }
        let total = self.pushed * self.up / self.down;
        let mut out = Vec::new();
        while self.next < total {
            out.push(self.sample(self.next, self.pushed));
            self.next += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::dominant_frequency;

    fn sine(freq: f64, rate: u32, secs: f64, amp: f32) -> Vec<f32> {
        (0..(rate as f64 * secs) as usize)
            .map(|i| {
                amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32
            })
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_level_across_rates() {
        for rate in [11025, 16000, 22050, 44100, 48000, 96000] {
            let out = resample(&sine(1000.0, rate, 1.0, 0.5), rate, 8000);
            assert_eq!(out.len(), 8000, "{rate}");
            let mid = &out[1000..7000];
            let level = rms(mid) / (0.5 / 2f32.sqrt());
            assert!((0.97..1.03).contains(&level), "{rate}: level ratio {level}");
            let pcm: Vec<i16> = mid.iter().map(|s| (s * 32767.0) as i16).collect();
            let f = dominant_frequency(&pcm, 100.0, 3900.0, 5.0).unwrap();
            assert!((f - 1000.0).abs() < 15.0, "{rate}: {f} Hz");
        }
    }

    #[test]
    fn frequencies_above_the_telephone_band_are_removed_not_folded() {
        // 6 kHz at 48 kHz would alias to 2 kHz at 8 kHz without the low-pass filter.
        let out = resample(&sine(6000.0, 48000, 1.0, 0.5), 48000, 8000);
        assert!(rms(&out[500..7500]) < 0.01, "{}", rms(&out[500..7500]));
    }

    #[test]
    fn upsampling_from_a_lower_rate_works_too() {
        let out = resample(&sine(500.0, 6000, 1.0, 0.5), 6000, 8000);
        assert_eq!(out.len(), 8000);
        let level = rms(&out[1000..7000]) / (0.5 / 2f32.sqrt());
        assert!((0.97..1.03).contains(&level), "{level}");
    }

    fn hound_wav(rate: u32, channels: u16, bits: u16, secs: f64) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut c = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut c, spec).unwrap();
        let amp = ((1i64 << (bits - 1)) - 1) as f32 * 0.5;
        for s in sine(700.0, rate, secs, 1.0) {
            for _ in 0..channels {
                w.write_sample((s * amp) as i32).unwrap();
            }
        }
        w.finalize().unwrap();
        c.into_inner()
    }

    #[test]
    fn the_telephone_format_is_kept_byte_for_byte() {
        let bytes = hound_wav(8000, 1, 16, 1.5);
        let c = to_telephone(&bytes, 120_000).unwrap();
        assert_eq!(c.wav, bytes);
        assert_eq!(c.converted_from, None);
        assert_eq!(c.duration_ms, 1500);
    }

    #[test]
    fn other_wavs_are_converted_and_say_what_they_were() {
        let c = to_telephone(&hound_wav(44100, 2, 24, 2.0), 120_000).unwrap();
        let src = c.converted_from.clone().unwrap();
        assert_eq!((src.container, src.rate, src.channels), ("WAV", 44100, 2));
        assert!(src.to_string().contains("44100 Hz, stereo"), "{src}");
        assert!((1990..=2000).contains(&c.duration_ms), "{}", c.duration_ms);
        let player = crate::wav::WavPlayer::from_wav_bytes(&c.wav).unwrap();
        let f = dominant_frequency(&player.samples()[2000..14000], 100.0, 3900.0, 5.0).unwrap();
        assert!((f - 700.0).abs() < 15.0, "{f}");
    }

    #[test]
    fn garbage_empty_and_overlong_uploads_are_refused() {
        let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(matches!(
            to_telephone(&garbage, 120_000),
            Err(ConvertError::Unreadable(_))
        ));
        assert!(to_telephone(b"", 120_000).is_err());
        assert_eq!(
            to_telephone(&hound_wav(8000, 1, 16, 3.0), 2000),
            Err(ConvertError::TooLong { max_secs: 2 })
        );
        assert_eq!(
            to_telephone(&hound_wav(16000, 1, 16, 3.0), 2000),
            Err(ConvertError::TooLong { max_secs: 2 })
        );
        assert_eq!(
            to_telephone(&hound_wav(8000, 1, 16, 0.0), 2000),
            Err(ConvertError::Empty)
        );
    }

    /// A 16-bit PCM WAV header claiming `rate` and `channels`, followed by `data` bytes of silence.
    fn claimed_wav(rate: u32, channels: u16, data: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&rate.wrapping_mul(2 * u32::from(channels)).to_le_bytes());
        b.extend_from_slice(&(2 * channels).to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data as u32).to_le_bytes());
        b.resize(b.len() + data, 0);
        b
    }

    #[test]
    fn absurd_rates_and_channel_counts_are_refused_before_decoding() {
        for rate in [4_294_967_294, 1, 3_999, 192_001] {
            let r = to_telephone(&claimed_wav(rate, 1, 64), 120_000);
            assert!(
                matches!(
                    r,
                    Err(ConvertError::BadRate(_)) | Err(ConvertError::Unreadable(_))
                ),
                "{rate}: {r:?}"
            );
        }
        assert_eq!(
            to_telephone(&claimed_wav(4_294_967_294, 1, 64), 120_000),
            Err(ConvertError::BadRate(4_294_967_294))
        );
        assert_eq!(
            to_telephone(&claimed_wav(16_000, 9, 64), 120_000),
            Err(ConvertError::TooManyChannels(9))
        );
        assert!(to_telephone(&claimed_wav(192_000, 8, 19_200), 120_000).is_ok());
    }

    fn crc(data: &[u8], poly: u32, bits: u32) -> u32 {
        let (top, mask) = (1u32 << (bits - 1), (1u32 << bits) - 1);
        let mut c = 0u32;
        for &b in data {
            c ^= u32::from(b) << (bits - 8);
            for _ in 0..8 {
                c = if c & top != 0 {
                    ((c << 1) ^ poly) & mask
                } else {
                    (c << 1) & mask
                };
            }
        }
        c
    }

    /// FLAC silence of CONSTANT subframes in 65,535-sample blocks (about 35 bytes a block).
    fn flac_bomb(seconds: u64, rate: u64, channels: u64, declare_length: bool) -> Vec<u8> {
        let block = 65_535u64;
        let total = seconds * rate;
        let mut out = b"fLaC\x80\x00\x00\x22".to_vec();
        out.extend_from_slice(&(block as u16).to_be_bytes());
        out.extend_from_slice(&(block as u16).to_be_bytes());
        out.extend_from_slice(&[0; 6]);
        let packed = (rate << 44)
            | ((channels - 1) << 41)
            | (15 << 36)
            | if declare_length { total } else { 0 };
        out.extend_from_slice(&packed.to_be_bytes());
        out.extend_from_slice(&[0; 16]);
        for frame in 0..total.div_ceil(block) {
            let n = block.min(total - frame * block);
            let mut f = vec![0xFF, 0xF8, 0x70, (((channels - 1) << 4) | 0x08) as u8];
            match frame {
                0..=0x7F => f.push(frame as u8),
                0x80..=0x7FF => {
                    f.extend_from_slice(&[0xC0 | (frame >> 6) as u8, 0x80 | (frame & 0x3F) as u8])
                }
                _ => f.extend_from_slice(&[
                    0xE0 | (frame >> 12) as u8,
                    0x80 | ((frame >> 6) & 0x3F) as u8,
                    0x80 | (frame & 0x3F) as u8,
                ]),
            }
            f.extend_from_slice(&((n - 1) as u16).to_be_bytes());
            f.push(crc(&f, 0x07, 8) as u8);
            f.extend(std::iter::repeat_n(0u8, 3 * channels as usize));
            let c = crc(&f, 0x8005, 16) as u16;
            f.extend_from_slice(&c.to_be_bytes());
            out.extend_from_slice(&f);
        }
        out
    }

    #[test]
    fn a_flac_bomb_is_refused_whether_or_not_it_declares_its_length() {
        let fine = to_telephone(&flac_bomb(2, 192_000, 8, true), 120_000).unwrap();
        assert_eq!(fine.duration_ms, 2000);
        let bomb = flac_bomb(600, 192_000, 8, true);
        assert!(bomb.len() < 100_000);
        assert_eq!(
            to_telephone(&bomb, 120_000),
            Err(ConvertError::TooLong { max_secs: 120 })
        );
        let hidden = flac_bomb(600, 192_000, 8, false);
        assert_eq!(
            to_telephone(&hidden, 120_000),
            Err(ConvertError::Overexpanding)
        );
    }

    #[test]
    fn a_wav_declaring_no_rate_or_no_channels_is_refused_before_the_decoder_sees_it() {
        // Found by the convert fuzz target: symphonia divides by the rate while probing.
        assert_eq!(
            to_telephone(&claimed_wav(0, 1, 64), 120_000),
            Err(ConvertError::BadRate(0))
        );
        assert!(matches!(
            to_telephone(&claimed_wav(8000, 0, 64), 120_000),
            Err(ConvertError::Unreadable(_))
        ));
    }

    #[test]
    fn streaming_resampling_matches_the_whole_file_at_once() {
        let input = sine(700.0, 44100, 0.3, 0.5);
        let whole = resample(&input, 44100, 8000);
        let mut r = Resampler::new(44100, 8000);
        let mut out = Vec::new();
        for chunk in input.chunks(1152) {
            r.push(chunk.iter().copied(), &mut out);
        }
        out.extend(r.finish());
        assert_eq!(out, whole);
        assert!(r_window_is_small(44100));
    }

    /// The resampler keeps about one filter window of input, never the file.
    fn r_window_is_small(rate: u32) -> bool {
        let mut r = Resampler::new(rate, 8000);
        let mut out = Vec::new();
        r.push(std::iter::repeat_n(0.1, rate as usize * 10), &mut out);
        r.window.len() <= r.taps + 1
    }

    #[test]
    fn damaged_uploads_never_panic_and_what_is_accepted_plays() {
        // Mutations of real files (a 16 kHz stereo WAV and a seed-format WAV): flipped bytes, cut
        // tails, overwritten headers. Each must be refused or give a playable telephone WAV.
        let originals = [hound_wav(16000, 2, 16, 0.5), hound_wav(8000, 1, 16, 0.5)];
        let mut rng = crate::TestRng::new(0x5eed);
        for round in 0..400 {
            let mut b = originals[round % 2].clone();
            match rng.next_u64() % 3 {
                0 => {
                    for _ in 0..1 + rng.next_u64() % 8 {
                        let i = (rng.next_u64() as usize) % b.len();
                        b[i] = (rng.next_u64() >> 24) as u8;
                    }
                }
                1 => b.truncate((rng.next_u64() as usize) % b.len()),
                _ => {
                    let n = (rng.next_u64() as usize) % 64;
                    b[..n].copy_from_slice(&rng.bytes(n));
                }
            }
            if let Ok(c) = to_telephone(&b, 120_000) {
                let p =
                    crate::wav::WavPlayer::from_wav_bytes(&c.wav).expect("accepted but unplayable");
                assert_eq!(p.duration_ms(), c.duration_ms, "round {round}");
            }
        }
    }
}
