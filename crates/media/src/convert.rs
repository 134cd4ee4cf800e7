//! Uploaded audio made playable, once, on upload (never on the call path): a WAV already in the
//! telephone format (8 kHz, 16-bit PCM, mono: the seed's format) is kept byte for byte; anything else
//! that decodes (WAV of any rate, width, channel count or G.711/ADPCM/float encoding, MP3, AAC/M4A,
//! Ogg Vorbis, FLAC, AIFF) is mixed to mono, resampled to 8 kHz with a windowed-sinc low-pass filter
//! and written as 16-bit PCM WAV. The result says what was done, for the person who uploaded it.

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
    // The decoders are third-party code fed untrusted bytes: a panic in them is an unreadable file.
    let owned = bytes.to_vec();
    let (source, mono) = std::panic::catch_unwind(move || decode(owned, max_ms))
        .map_err(|_| ConvertError::Unreadable("the decoder failed".into()))??;
    if mono.len() as u64 * 1000 > max_ms.saturating_mul(u64::from(source.rate.max(1))) {
        return Err(too_long);
    }
    let resampled = resample(&mono, source.rate, SAMPLE_RATE);
    if resampled.is_empty() {
        return Err(ConvertError::Empty);
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

/// Decode the first audio track to mono f32 at its own rate, stopping past `max_ms`.
fn decode(bytes: Vec<u8>, max_ms: u64) -> Result<(Source, Vec<f32>), ConvertError> {
    let kind = container(&bytes);
    let unreadable = |e: SymError| ConvertError::Unreadable(e.to_string());
    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let probed = symphonia::default::get_probe()
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
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(unreadable)?;
    let mut rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut channels = track.codec_params.channels.map(|c| c.count()).unwrap_or(0);
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
        if decoded.frames() == 0 || channels == 0 {
            continue;
        }
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        mono.extend(
            buf.samples()
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        if rate > 0 && mono.len() as u64 * 1000 > max_ms.saturating_mul(u64::from(rate)) + 1000 {
            return Err(ConvertError::TooLong {
                max_secs: max_ms / 1000,
            });
        }
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
    let (from, to) = (u64::from(from), u64::from(to));
    let g = gcd(from, to);
    let (up, down) = (to / g, from / g); // output n sits at input position n * down / up
    let scale = (to as f64 / from as f64).min(1.0);
    let cutoff = 0.5 * scale * 0.94; // cycles per input sample
    let half = (ZERO_CROSSINGS / scale).ceil() as i64;
    let taps = (2 * half) as usize;
    let coeff = |x: f64| -> f64 {
        let w = x / half as f64;
        if w.abs() >= 1.0 {
            return 0.0;
        }
        let window = 0.42
            + 0.5 * (std::f64::consts::PI * w).cos()
            + 0.08 * (2.0 * std::f64::consts::PI * w).cos();
        let arg = 2.0 * cutoff * x;
        let sinc = if arg.abs() < 1e-12 {
            1.0
        } else {
            (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
        };
        2.0 * cutoff * sinc * window
    };
    // Tap j of output position t (center = floor(t)) reads input[center - half + 1 + j], at distance
    // x = frac(t) + half - 1 - j.
    let table: Option<Vec<f32>> = (up <= MAX_PHASES).then(|| {
        (0..up)
            .flat_map(|p| {
                let frac = p as f64 / up as f64;
                (0..taps).map(move |j| coeff(frac + (half - 1 - j as i64) as f64) as f32)
            })
            .collect()
    });
    let out_len = (input.len() as u64 * up / down) as usize;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len as u64 {
        let pos = n * down;
        let center = (pos / up) as i64;
        let phase = pos % up;
        let first = center - half + 1;
        let mut acc = 0.0f32;
        for j in 0..taps {
            let k = first + j as i64;
            if k < 0 || k as usize >= input.len() {
                continue;
            }
            let c = match &table {
                Some(t) => t[phase as usize * taps + j],
                None => coeff(phase as f64 / up as f64 + (half - 1 - j as i64) as f64) as f32,
            };
            acc += input[k as usize] * c;
        }
        out.push(acc);
    }
    out
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
