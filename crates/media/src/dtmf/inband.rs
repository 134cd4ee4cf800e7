//! In-band DTMF detection on 8 kHz linear samples to ITU-T Q.24: Hann-windowed Goertzel filters
//! at the eight DTMF frequencies, with each tone's frequency measured from the phase advance between
//! overlapping windows, twist and level limits, a tone-to-total energy ratio against talk-off, a
//! minimum duration and a gap before a repeat. It never decodes G.711 or reads a clock.
//!
//! Analysis: 20 ms Hann windows every 5 ms. A window is a *hit* for a digit when, for the strongest
//! row and column filter:
//! - the window is steady (each 5 ms quarter holds at least 40 % of the loudest quarter's energy),
//!   as was the previous window;
//! - each tone's frequency, from the phase advance over the 5 ms hop, is within ±2.5 % of nominal
//!   (Q.24: accept ±1.5 %, reject beyond ±3.5 %);
//! - each tone's amplitude (corrected for the window's response at the measured offset) is at
//!   least [`MIN_AMPLITUDE`]; twist is at most 8 dB normal (column weaker) and 4 dB reverse;
//! - the two tones hold at least 90 % of the window's energy (speech, with its many harmonics and
//!   formants, does not; this also bounds the second harmonics).
//!
//! A digit is reported after [`MIN_HITS`] consecutive hits (a 40 ms tone gives 4-5, a 30 ms tone
//! 2-3), once per press: the same digit again needs [`GAP_MISSES`] windows without it (a pause of
//! about 30 ms; Q.24's 40 ms inter-digit pause always qualifies, a 10 ms drop-out never does).

use std::collections::VecDeque;
use std::f64::consts::{PI, TAU};

use crate::SAMPLE_RATE;

/// Row (low-group) frequencies in Hz.
pub const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high-group) frequencies in Hz.
pub const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Digits by row then column.
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Analysis window length in samples (20 ms).
const WINDOW: usize = 160;
/// Hop between windows in samples (5 ms); also the length of the steadiness quarters.
const HOP: usize = 40;
/// Consecutive hits needed to report a digit.
pub const MIN_HITS: u32 = 4;
/// Consecutive windows without the last digit before it may be reported again.
pub const GAP_MISSES: u32 = 9;
/// Minimum amplitude of each tone (about -36 dBm0, taking 0 dBm0 as a 22,700 peak sine).
pub const MIN_AMPLITUDE: f64 = 360.0;
/// Largest accepted deviation from a nominal frequency, as a fraction.
const MAX_DEVIATION: f64 = 0.025;
/// Largest normal twist (row louder than column), in dB.
const MAX_NORMAL_TWIST_DB: f64 = 8.0;
/// Largest reverse twist (column louder than row), in dB.
const MAX_REVERSE_TWIST_DB: f64 = 4.0;
/// Smallest share of window energy the two tones must hold.
const MIN_TONE_RATIO: f64 = 0.9;
/// Smallest energy of a quarter relative to the loudest one for a window to be steady.
const MIN_QUARTER_RATIO: f64 = 0.4;

/// The complex output of one windowed Goertzel filter.
#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    re: f64,
    im: f64,
}

impl Bin {
    fn norm_sq(self) -> f64 {
        self.re * self.re + self.im * self.im
    }
}

/// What one window showed.
#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    bins: [Bin; 8],
    steady: bool,
}

/// Detects DTMF digits in a stream of 8 kHz samples; feed with [`InbandDetector::push`], drain
/// with [`InbandDetector::poll_digit`]. One detector per audio direction.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    window: [f64; WINDOW],
    /// Sum of the window's weights (its gain on a tone's positive-frequency half).
    sum_w: f64,
    /// Sum of the squared weights (relates a tone's amplitude to its windowed energy).
    sum_w_sq: f64,
    buf: Vec<i16>,
    prev: Option<Frame>,
    run_digit: Option<char>,
    run_hits: u32,
    locked: Option<char>,
    misses: u32,
    digits: VecDeque<char>,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDetector {
    /// A detector that has heard nothing.
    pub fn new() -> Self {
        let mut window = [0.0; WINDOW];
        for (n, w) in window.iter_mut().enumerate() {
            *w = 0.5 - 0.5 * (TAU * n as f64 / WINDOW as f64).cos();
        }
        Self {
            window,
            sum_w: window.iter().sum(),
            sum_w_sq: window.iter().map(|w| w * w).sum(),
            buf: Vec::with_capacity(WINDOW + HOP),
            prev: None,
            run_digit: None,
            run_hits: 0,
            locked: None,
            misses: 0,
            digits: VecDeque::new(),
        }
    }

    /// Analyse more samples (any length; windows span calls).
    pub fn push(&mut self, samples: &[i16]) {
        for chunk in samples.chunks(HOP) {
            self.buf.extend_from_slice(chunk);
            while self.buf.len() >= WINDOW {
                let hit = self.analyse();
                self.step(hit);
                self.buf.drain(..HOP);
            }
        }
    }

    /// The next detected digit, oldest first.
    pub fn poll_digit(&mut self) -> Option<char> {
        self.digits.pop_front()
    }

    /// Forget all state (e.g. after the stream was interrupted).
    pub fn reset(&mut self) {
        *self = Self {
            digits: std::mem::take(&mut self.digits),
            ..Self::new()
        };
    }

    /// Analyse the window at the front of the buffer; the digit it is a hit for, if any.
    fn analyse(&mut self) -> Option<char> {
        let samples = &self.buf[..WINDOW];
        let mut quarters = [0.0f64; WINDOW / HOP];
        for (q, chunk) in quarters.iter_mut().zip(samples.chunks(HOP)) {
            *q = chunk.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        }
        let loudest = quarters.iter().copied().fold(0.0, f64::max);
        let steady = loudest > 0.0 && quarters.iter().all(|&q| q >= MIN_QUARTER_RATIO * loudest);
        let mut frame = Frame {
            steady,
            ..Frame::default()
        };
        let mut total = 0.0;
        let mut weighted = [0.0f64; WINDOW];
        for ((v, &s), &w) in weighted.iter_mut().zip(samples).zip(&self.window) {
            *v = f64::from(s) * w;
            total += *v * *v;
        }
        for (bin, &f) in frame.bins.iter_mut().zip(ROWS.iter().chain(&COLS)) {
            *bin = goertzel(&weighted, f);
        }
        let prev = self.prev.replace(frame);
        let prev = prev.filter(|p| p.steady && steady)?;
        let strongest = |range: std::ops::Range<usize>| {
            range.max_by(|&a, &b| frame.bins[a].norm_sq().total_cmp(&frame.bins[b].norm_sq()))
        };
        let (row, col) = (strongest(0..4)?, strongest(4..8)? - 4);
        let row_amp = self.tone_amplitude(prev.bins[row], frame.bins[row], ROWS[row])?;
        let col_amp = self.tone_amplitude(prev.bins[col + 4], frame.bins[col + 4], COLS[col])?;
        if row_amp < MIN_AMPLITUDE || col_amp < MIN_AMPLITUDE {
            return None;
        }
        let twist_db = 20.0 * (row_amp / col_amp).log10();
        if twist_db > MAX_NORMAL_TWIST_DB || -twist_db > MAX_REVERSE_TWIST_DB {
            return None;
        }
        let tone_energy = 0.5 * (row_amp * row_amp + col_amp * col_amp) * self.sum_w_sq;
        if tone_energy < MIN_TONE_RATIO * total {
            return None;
        }
        Some(KEYPAD[row][col])
    }

    /// The amplitude of the tone near `nominal` whose filter gave `earlier` then `later` one hop
    /// apart, or `None` if its measured frequency is outside the tolerance.
    fn tone_amplitude(&self, earlier: Bin, later: Bin, nominal: f64) -> Option<f64> {
        let fs = f64::from(SAMPLE_RATE);
        let advance = (later.im * earlier.re - later.re * earlier.im)
            .atan2(later.re * earlier.re + later.im * earlier.im);
        let expected = TAU * nominal * HOP as f64 / fs;
        let offset = wrap_pi(advance - expected); // radians per hop
        let deviation_hz = offset * fs / (TAU * HOP as f64);
        if deviation_hz.abs() > MAX_DEVIATION * nominal {
            return None;
        }
        // Window response at the measured offset, relative to its response on frequency.
        let step = TAU * deviation_hz / fs;
        let (mut re, mut im) = (0.0, 0.0);
        let (mut c, mut s) = (1.0f64, 0.0f64);
        let (dc, ds) = (step.cos(), step.sin());
        for &w in &self.window {
            re += w * c;
            im += w * s;
            (c, s) = (c * dc - s * ds, c * ds + s * dc);
        }
        let response = (re * re + im * im).sqrt() / self.sum_w;
        Some(2.0 * later.norm_sq().sqrt() / (self.sum_w * response))
    }

    /// Advance the per-press state machine by one window's result.
    fn step(&mut self, hit: Option<char>) {
        match hit {
            Some(d) => {
                if self.run_digit == Some(d) {
                    self.run_hits += 1;
                } else {
                    self.run_digit = Some(d);
                    self.run_hits = 1;
                }
                if self.locked == Some(d) {
                    self.misses = 0;
                    return;
                }
                if self.run_hits >= MIN_HITS {
                    self.digits.push_back(d);
                    self.locked = Some(d);
                    self.misses = 0;
                    return;
                }
            }
            None => {
                self.run_digit = None;
                self.run_hits = 0;
            }
        }
        // A window without the last reported digit.
        self.misses += 1;
        if self.misses >= GAP_MISSES {
            self.locked = None;
        }
    }
}

/// Goertzel filter at `freq` over already-windowed samples: the complex DFT value up to a phase
/// factor that is the same for every window (so phase differences between windows are exact).
fn goertzel(samples: &[f64], freq: f64) -> Bin {
    let omega = TAU * freq / f64::from(SAMPLE_RATE);
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    Bin {
        re: s1 - omega.cos() * s2,
        im: omega.sin() * s2,
    }
}

fn wrap_pi(x: f64) -> f64 {
    (x + PI).rem_euclid(TAU) - PI
}

#[cfg(test)]
#[path = "inband_tests.rs"]
mod tests;
