//! Tone helpers at 8 kHz: phase-continuous sine and dual-tone generators, seeded noise, and the
//! measurements tests use to check audio (Goertzel power, dominant frequency, mean power).
//! Pure functions of their arguments: no clock, no thread RNG (noise takes an explicit seed).

use std::f64::consts::TAU;

use crate::SAMPLE_RATE;

/// A sine generator that keeps its phase between calls, so consecutive blocks join without clicks.
#[derive(Debug, Clone)]
pub struct SineGenerator {
    step: f64,
    amplitude: f64,
    phase: f64,
}

impl SineGenerator {
    /// A sine of `freq_hz` with peak `amplitude` (in linear 16-bit units), starting at phase 0.
    pub fn new(freq_hz: f64, amplitude: f64) -> Self {
        Self {
            step: TAU * freq_hz / f64::from(SAMPLE_RATE),
            amplitude,
            phase: 0.0,
        }
    }

    /// Fill `out` with the next samples (clamped to the i16 range).
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            *sample = to_i16(self.next_value());
        }
    }

    /// The next `n` samples as a new vector.
    pub fn generate(&mut self, n: usize) -> Vec<i16> {
        let mut out = vec![0; n];
        self.fill(&mut out);
        out
    }

    fn next_value(&mut self) -> f64 {
        let v = self.amplitude * self.phase.sin();
        self.phase = (self.phase + self.step) % TAU;
        v
    }
}

/// `n` samples of a sine of `freq_hz` with peak `amplitude`, starting at phase 0.
pub fn sine(freq_hz: f64, amplitude: f64, n: usize) -> Vec<i16> {
    SineGenerator::new(freq_hz, amplitude).generate(n)
}

/// A bell-like chime: a sine of `freq_hz` with peak `amplitude`, `ms` long, fading out exponentially
/// (to a thirtieth of its peak at the end), with a 5 ms attack so that it starts without a click. The
/// conference room's ding and dong.
pub fn chime(freq_hz: f64, amplitude: f64, ms: u32) -> Vec<i16> {
    let n = (ms * SAMPLE_RATE / 1000) as usize;
    let attack = (SAMPLE_RATE / 200) as f64;
    let decay = (30.0f64).ln() / n.max(1) as f64;
    let mut g = SineGenerator::new(freq_hz, 1.0);
    (0..n)
        .map(|i| {
            let i = i as f64;
            let envelope = (i / attack).min(1.0) * (-decay * i).exp();
            to_i16(amplitude * envelope * g.next_value())
        })
        .collect()
}

/// `n` samples of the sum of two sines (e.g. a DTMF digit: row and column tone), clamped to i16.
pub fn dual_tone(f1_hz: f64, a1: f64, f2_hz: f64, a2: f64, n: usize) -> Vec<i16> {
    let mut g1 = SineGenerator::new(f1_hz, a1);
    let mut g2 = SineGenerator::new(f2_hz, a2);
    (0..n)
        .map(|_| to_i16(g1.next_value() + g2.next_value()))
        .collect()
}

/// `n` samples of uniform white noise with peak `amplitude`, reproducible from `seed`
/// (xorshift64*; a zero seed is replaced by a fixed non-zero one).
pub fn noise(seed: u64, amplitude: f64, n: usize) -> Vec<i16> {
    let mut state = if seed == 0 {
        0x9E37_79B9_7F4A_7C15
    } else {
        seed
    };
    (0..n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11; // 53 random bits
            let unit = r as f64 / (1u64 << 53) as f64; // [0, 1)
            to_i16(amplitude * (2.0 * unit - 1.0))
        })
        .collect()
}

/// Sample-wise saturating sum of two signals; the result has the length of the longer one.
pub fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            x.saturating_add(y)
        })
        .collect()
}

/// Mean power of `samples` (mean of squares; a sine of amplitude A gives about A²/2). 0 when empty.
pub fn mean_power(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    sum / samples.len() as f64
}

/// Power of the `freq_hz` component of `samples` by the Goertzel algorithm, scaled so that a sine of
/// amplitude A at that frequency gives about A²/2 (comparable with [`mean_power`]). 0 when empty.
pub fn goertzel_power(samples: &[i16], freq_hz: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * freq_hz / f64::from(SAMPLE_RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let magnitude_sq = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    2.0 * magnitude_sq / (n * n)
}

/// The frequency in `from_hz..=to_hz` (scanned every `step_hz`) with the largest Goertzel power,
/// or `None` if the range is empty, the step is not positive, or the signal is silent.
pub fn dominant_frequency(samples: &[i16], from_hz: f64, to_hz: f64, step_hz: f64) -> Option<f64> {
    if step_hz.is_nan() || step_hz <= 0.0 || from_hz > to_hz || samples.is_empty() {
        return None;
    }
    let steps = ((to_hz - from_hz) / step_hz).floor() as usize;
    let mut best: Option<(f64, f64)> = None;
    for i in 0..=steps {
        let f = from_hz + i as f64 * step_hz;
        let p = goertzel_power(samples, f);
        if p > 0.0 && best.is_none_or(|(_, bp)| p > bp) {
            best = Some((f, p));
        }
    }
    best.map(|(f, _)| f)
}

fn to_i16(v: f64) -> i16 {
    v.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_of_amplitude_a_has_goertzel_power_near_a_squared_over_two() {
        let s = sine(1000.0, 10_000.0, 800);
        let p = goertzel_power(&s, 1000.0);
        assert!((p / 50_000_000.0 - 1.0).abs() < 0.01, "power {p}");
        assert!((mean_power(&s) / 50_000_000.0 - 1.0).abs() < 0.01);
    }

    #[test]
    fn goertzel_power_far_from_the_tone_is_tiny() {
        let s = sine(1000.0, 10_000.0, 800);
        assert!(goertzel_power(&s, 1500.0) < 50_000_000.0 * 1e-4);
    }

    #[test]
    fn generator_blocks_join_without_a_phase_jump() {
        let whole = sine(440.0, 8000.0, 320);
        let mut g = SineGenerator::new(440.0, 8000.0);
        let mut parts = g.generate(100);
        parts.extend(g.generate(220));
        let max_diff = whole
            .iter()
            .zip(&parts)
            .map(|(a, b)| (a - b).abs())
            .max()
            .unwrap();
        assert!(max_diff <= 1, "max diff {max_diff}");
    }

    #[test]
    fn dominant_frequency_finds_the_strongest_of_two_tones() {
        let s = dual_tone(697.0, 4000.0, 1209.0, 8000.0, 1600);
        assert_eq!(dominant_frequency(&s, 300.0, 3400.0, 1.0), Some(1209.0));
    }

    #[test]
    fn dominant_frequency_of_silence_or_bad_range_is_none() {
        assert_eq!(dominant_frequency(&[0; 160], 300.0, 3400.0, 10.0), None);
        assert_eq!(
            dominant_frequency(&sine(500.0, 1000.0, 160), 600.0, 300.0, 10.0),
            None
        );
        assert_eq!(
            dominant_frequency(&sine(500.0, 1000.0, 160), 300.0, 600.0, 0.0),
            None
        );
    }

    #[test]
    fn noise_is_reproducible_from_its_seed_and_bounded() {
        let a = noise(42, 1000.0, 1000);
        assert_eq!(a, noise(42, 1000.0, 1000));
        assert_ne!(a, noise(43, 1000.0, 1000));
        assert!(a.iter().all(|&x| x.abs() <= 1000));
        // Uniform on [-A, A] has mean power A²/3.
        assert!((mean_power(&a) / (1_000_000.0 / 3.0) - 1.0).abs() < 0.1);
    }

    #[test]
    fn mix_saturates_and_keeps_the_longer_length() {
        assert_eq!(mix(&[30_000, 1], &[30_000]), vec![i16::MAX, 1]);
    }
}
