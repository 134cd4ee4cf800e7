//! Tests of the in-band DTMF detector: Q.24 frequency, twist and duration limits, repeats, noise,
//! and talk-off on synthetic and real speech.

use super::*;
use crate::tone::{dual_tone, mix, noise};

/// Peak amplitude per tone used by default (about -10 dBm0).
const AMP: f64 = 7000.0;

fn freqs(digit: char) -> (f64, f64) {
    for (r, row) in KEYPAD.iter().enumerate() {
        if let Some(c) = row.iter().position(|&d| d == digit) {
            return (ROWS[r], COLS[c]);
        }
    }
    panic!("not a digit: {digit}");
}

/// `lead` ms of silence, a `ms` tone for `digit` with frequencies scaled and levels given, then
/// 100 ms of silence.
fn tone(digit: char, ms: usize, scale: (f64, f64), amps: (f64, f64), lead: usize) -> Vec<i16> {
    let (r, c) = freqs(digit);
    let mut s = vec![0i16; lead * 8];
    s.extend(dual_tone(r * scale.0, amps.0, c * scale.1, amps.1, ms * 8));
    s.extend(vec![0i16; 800]);
    s
}

fn plain(digit: char, ms: usize) -> Vec<i16> {
    tone(digit, ms, (1.0, 1.0), (AMP, AMP), 50)
}

fn detect(samples: &[i16]) -> String {
    let mut d = InbandDetector::new();
    d.push(samples);
    std::iter::from_fn(|| d.poll_digit()).collect()
}

/// Peak amplitudes `db` apart: positive is normal twist (column weaker).
fn twisted(db: f64) -> (f64, f64) {
    let ratio = 10f64.powf(db.abs() / 20.0);
    if db >= 0.0 {
        (AMP, AMP / ratio)
    } else {
        (AMP / ratio, AMP)
    }
}

#[test]
fn all_sixteen_digits_at_nominal_frequency_are_detected_once_each() {
    for d in crate::dtmf::DIGITS {
        assert_eq!(detect(&plain(d, 100)), d.to_string(), "digit {d}");
    }
}

#[test]
fn a_dialled_sequence_with_short_pauses_is_detected_in_order() {
    let mut s = Vec::new();
    for d in "1234567890*#ABCD".chars() {
        s.extend(tone(d, 50, (1.0, 1.0), (AMP, AMP), 50));
    }
    assert_eq!(detect(&s), "1234567890*#ABCD");
}

#[test]
fn tones_1_4_percent_off_nominal_are_detected() {
    for d in crate::dtmf::DIGITS {
        for scale in [
            (1.014, 1.014),
            (0.986, 0.986),
            (1.014, 0.986),
            (0.986, 1.014),
        ] {
            assert_eq!(
                detect(&tone(d, 100, scale, (AMP, AMP), 50)),
                d.to_string(),
                "{d} at {scale:?}"
            );
        }
    }
}

#[test]
fn tones_3_6_percent_off_nominal_are_rejected() {
    for d in crate::dtmf::DIGITS {
        for scale in [
            (1.036, 1.0),
            (0.964, 1.0),
            (1.0, 1.036),
            (1.0, 0.964),
            (1.036, 1.036),
            (0.964, 0.964),
        ] {
            assert_eq!(
                detect(&tone(d, 100, scale, (AMP, AMP), 50)),
                "",
                "{d} at {scale:?}"
            );
        }
    }
}

#[test]
fn normal_twist_of_7_5_db_is_detected_and_8_5_db_rejected() {
    for d in crate::dtmf::DIGITS {
        assert_eq!(
            detect(&tone(d, 100, (1.0, 1.0), twisted(7.5), 50)),
            d.to_string(),
            "{d}"
        );
        assert_eq!(
            detect(&tone(d, 100, (1.0, 1.0), twisted(8.5), 50)),
            "",
            "{d}"
        );
    }
}

#[test]
fn reverse_twist_of_3_5_db_is_detected_and_4_5_db_rejected() {
    for d in crate::dtmf::DIGITS {
        assert_eq!(
            detect(&tone(d, 100, (1.0, 1.0), twisted(-3.5), 50)),
            d.to_string(),
            "{d}"
        );
        assert_eq!(
            detect(&tone(d, 100, (1.0, 1.0), twisted(-4.5), 50)),
            "",
            "{d}"
        );
    }
}

#[test]
fn a_45_ms_tone_is_detected_at_every_alignment_and_a_30_ms_tone_at_none() {
    for lead_samples in 0..HOP {
        for d in ['1', '5', '9', 'D'] {
            let mut s = vec![0i16; 400 + lead_samples];
            s.extend(plain(d, 45));
            assert_eq!(detect(&s), d.to_string(), "45 ms {d} offset {lead_samples}");
            let mut s = vec![0i16; 400 + lead_samples];
            s.extend(plain(d, 30));
            assert_eq!(detect(&s), "", "30 ms {d} offset {lead_samples}");
        }
    }
}

#[test]
fn the_same_digit_after_a_40_ms_pause_is_reported_again() {
    let mut s = plain('5', 60);
    s.truncate(s.len() - 800 + 320); // trailing silence cut to 40 ms
    s.extend(plain('5', 60)[400..].iter()); // no extra lead
    assert_eq!(detect(&s), "55");
}

#[test]
fn a_10_ms_drop_out_inside_a_tone_is_one_press() {
    let (r, c) = freqs('8');
    let whole = dual_tone(r, AMP, c, AMP, 8 * 200);
    for start in (400..480).step_by(7) {
        let mut s = whole.clone();
        s[start..start + 80].iter_mut().for_each(|x| *x = 0);
        assert_eq!(detect(&s), "8", "drop-out at {start}");
    }
}

#[test]
fn held_digit_is_reported_once() {
    assert_eq!(detect(&plain('#', 2000)), "#");
}

#[test]
fn digits_are_found_when_samples_arrive_in_odd_sized_pieces() {
    let s = plain('7', 80);
    let mut d = InbandDetector::new();
    for piece in s.chunks(37) {
        d.push(piece);
    }
    assert_eq!(d.poll_digit(), Some('7'));
    assert_eq!(d.poll_digit(), None);
}

/// `digit` for `ms` with white noise added at `snr_db` below the tones' power.
fn noisy(digit: char, ms: usize, snr_db: f64, seed: u64) -> Vec<i16> {
    let clean = plain(digit, ms);
    // Two tones of peak AMP: power AMP²; uniform noise of peak P has power P²/3.
    let peak = (3.0 * AMP * AMP / 10f64.powf(snr_db / 10.0)).sqrt();
    mix(&clean, &noise(seed, peak, clean.len()))
}

#[test]
fn tones_with_noise_at_12_db_snr_are_detected() {
    for (i, d) in crate::dtmf::DIGITS.into_iter().enumerate() {
        for seed in 0..4 {
            assert_eq!(
                detect(&noisy(d, 60, 12.0, 4 * i as u64 + seed + 1)),
                d.to_string(),
                "{d} seed {seed}"
            );
        }
    }
}

#[test]
fn tones_buried_in_noise_at_3_db_snr_are_not_detected() {
    for (i, d) in crate::dtmf::DIGITS.into_iter().enumerate() {
        assert_eq!(detect(&noisy(d, 100, 3.0, i as u64 + 1)), "", "{d}");
    }
}

#[test]
fn tones_below_the_minimum_level_are_ignored() {
    let quiet = tone(
        '1',
        100,
        (1.0, 1.0),
        (MIN_AMPLITUDE * 0.7, MIN_AMPLITUDE * 0.7),
        50,
    );
    assert_eq!(detect(&quiet), "");
    let audible = tone(
        '1',
        100,
        (1.0, 1.0),
        (MIN_AMPLITUDE * 1.5, MIN_AMPLITUDE * 1.5),
        50,
    );
    assert_eq!(detect(&audible), "1");
}

#[test]
fn silence_white_noise_and_single_tones_give_no_digits() {
    assert_eq!(detect(&[0; 8000]), "");
    assert_eq!(detect(&noise(7, 10_000.0, 16_000)), "");
    assert_eq!(detect(&crate::tone::sine(697.0, AMP, 8000)), "");
    assert_eq!(detect(&crate::tone::sine(1209.0, AMP, 8000)), "");
}

#[test]
fn reset_forgets_a_tone_in_progress() {
    let s = plain('3', 100);
    let mut d = InbandDetector::new();
    d.push(&s[..400 + 240]); // lead and 30 ms of tone
    d.reset();
    d.push(&s[400 + 240..400 + 480]); // 30 more ms
    assert_eq!(d.poll_digit(), None);
}

/// A speech-like signal: harmonics of a gliding 100-250 Hz fundamental shaped by three gliding
/// formants, with syllable-rate amplitude envelopes.
fn synthetic_speech(seed: u64, seconds: usize) -> Vec<i16> {
    let n = seconds * 8000;
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    // A new target (f0, F1, F2, F3) every 120 ms; parameters glide linearly between targets.
    let segment = 960;
    let targets: Vec<[f64; 4]> = (0..=n / segment + 1)
        .map(|_| {
            [
                100.0 + 150.0 * next(),
                250.0 + 650.0 * next(),
                850.0 + 1500.0 * next(),
                2400.0 + 700.0 * next(),
            ]
        })
        .collect();
    let mut phases = [0.0f64; 40];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (k, frac) = (i / segment, (i % segment) as f64 / segment as f64);
        let p: Vec<f64> = (0..4)
            .map(|j| targets[k][j] * (1.0 - frac) + targets[k + 1][j] * frac)
            .collect();
        let envelope = (PI * ((i % 1600) as f64 / 1600.0)).sin().powi(2); // 200 ms syllables
        let mut v = 0.0;
        for (h, phase) in phases.iter_mut().enumerate() {
            let f = p[0] * (h + 1) as f64;
            if f > 3400.0 {
                break;
            }
            let gain: f64 = (1..4)
                .map(|j| 1.0 / (1.0 + ((f - p[j]) / 90.0).powi(2)) / j as f64)
                .sum();
            *phase = (*phase + TAU * f / 8000.0) % TAU;
            v += gain * phase.sin();
        }
        out.push((v * 6000.0 * envelope).clamp(-32768.0, 32767.0) as i16);
    }
    out
}

#[test]
fn synthetic_speech_gives_no_false_digits() {
    for seed in 1..=12 {
        assert_eq!(detect(&synthetic_speech(seed, 10)), "", "seed {seed}");
    }
}

#[test]
fn recorded_speech_prompt_gives_no_false_digits() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/speech.wav");
    let Ok(bytes) = std::fs::read(path) else {
        println!("note: {path} is missing; skipping the recorded-speech talk-off check");
        return;
    };
    let mut player = crate::wav::WavPlayer::from_wav_bytes(&bytes).unwrap();
    let mut samples = Vec::new();
    while let Some(frame) = player.next_frame() {
        samples.extend_from_slice(&frame);
    }
    assert!(
        samples.len() > 8000 * 3,
        "the prompt should be several seconds long"
    );
    assert_eq!(detect(&samples), "");
    // Louder and quieter renditions too.
    for gain in [0.25, 3.0] {
        let scaled: Vec<i16> = samples
            .iter()
            .map(|&s| (f64::from(s) * gain).clamp(-32768.0, 32767.0) as i16)
            .collect();
        assert_eq!(detect(&scaled), "", "gain {gain}");
    }
}
