//! Packet loss concealment for G.711 audio, after ITU-T G.711 Appendix I: when a participant's
//! audio is missing, its last pitch period is repeated (one period for the first 10 ms, then two,
//! then three, so that long repetition does not buzz), faded out by 20 % every 10 ms after the first
//! 10 ms, and silent after 60 ms; when audio resumes, the synthesis is cross-faded into it. A jitter
//! spike of a few tens of milliseconds is then heard as a slightly smeared sound rather than a hole.
//! No IO and no allocation after construction.

use crate::FRAME_SAMPLES;

/// Audio kept to find the pitch in and to repeat (48.75 ms: three of the longest periods and more).
const HISTORY: usize = 390;
/// The shortest and longest pitch period searched (5 ms and 15 ms: 200 Hz down to 66 Hz).
const PITCH_MIN: usize = 40;
const PITCH_MAX: usize = 120;
/// The window matched against the audio one period earlier to find the pitch (10 ms).
const MATCH: usize = 80;
/// Concealment plays at full level for this long (10 ms), then fades.
const FULL: usize = 80;
/// The longest concealment (60 ms); after it, silence.
pub const CONCEAL_MAX: usize = 480;
/// Samples of the cross-fade from the synthesis into resumed audio (4 ms).
const FADE_IN: usize = 32;

/// One stream's concealer. See the module documentation.
#[derive(Debug, Clone)]
pub struct Concealer {
    /// The last [`HISTORY`] samples heard, oldest first.
    history: [i16; HISTORY],
    /// How many of them are real audio (fewer at the start of a stream).
    filled: usize,
    /// The pitch period found when this concealment began.
    pitch: usize,
    /// Samples synthesized in this concealment; 0: not concealing.
    position: usize,
}

impl Default for Concealer {
    fn default() -> Self {
        Concealer {
            history: [0; HISTORY],
            filled: 0,
            pitch: PITCH_MAX,
            position: 0,
        }
    }
}

impl Concealer {
    /// Whether a concealment is under way.
    pub fn concealing(&self) -> bool {
        self.position > 0
    }

    /// Real audio was heard: `samples` go out as they are, except that the first ones after a
    /// concealment are cross-faded from the synthesis (no click where the real audio resumes).
    pub fn heard(&mut self, samples: &mut [i16]) {
        if self.concealing() {
            let n = FADE_IN.min(samples.len());
            for (k, s) in samples[..n].iter_mut().enumerate() {
                let synth = f64::from(self.synthesize());
                self.position += 1;
                let w = (k + 1) as f64 / (n + 1) as f64;
                *s = (synth * (1.0 - w) + f64::from(*s) * w).round() as i16;
            }
            self.position = 0;
        }
        self.remember(samples);
    }

    /// Audio is missing: fill `out` with the concealment. Returns false once the concealment has
    /// lasted [`CONCEAL_MAX`] (the rest of `out` is silence; the stream is then treated as stopped,
    /// and the next audio heard starts afresh), or when nothing was heard before to conceal with.
    pub fn conceal(&mut self, out: &mut [i16]) -> bool {
        if self.filled < PITCH_MAX + MATCH {
            out.fill(0);
            return false;
        }
        if self.position == 0 {
            self.pitch = self.find_pitch();
        }
        for s in out.iter_mut() {
            if self.position >= CONCEAL_MAX {
                *s = 0;
                continue;
            }
            *s = self.synthesize();
            self.position += 1;
        }
        if self.position >= CONCEAL_MAX {
            self.reset();
            return false;
        }
        true
    }

    /// Forget the stream (it stopped, or a new one starts).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.position = 0;
    }

    /// The synthesized sample at the current position: the last one, two or three pitch periods
    /// of history repeated, faded after [`FULL`].
    fn synthesize(&self) -> i16 {
        let periods = (1 + self.position / FULL).min(3);
        let span = (self.pitch * periods).min(self.filled);
        let k = self.position % span;
        let x = f64::from(self.history[HISTORY - span + k]);
        let gain = if self.position < FULL {
            1.0
        } else {
            (1.0 - 0.2 * (self.position - FULL) as f64 / FULL as f64).max(0.0)
        };
        (x * gain).round() as i16
    }

    /// The lag in [`PITCH_MIN`]..=[`PITCH_MAX`] at which the last [`MATCH`] samples best match
    /// the audio before them (normalized cross-correlation).
    fn find_pitch(&self) -> usize {
        let end = HISTORY;
        let recent = &self.history[end - MATCH..end];
        let mut best = (f64::MIN, PITCH_MAX);
        for lag in PITCH_MIN..=PITCH_MAX {
            let earlier = &self.history[end - MATCH - lag..end - lag];
            let (mut cross, mut energy) = (0.0f64, 0.0f64);
            for (a, b) in recent.iter().zip(earlier) {
                cross += f64::from(*a) * f64::from(*b);
                energy += f64::from(*b) * f64::from(*b);
            }
            let score = if energy > 0.0 {
                cross / energy.sqrt()
            } else {
                0.0
            };
            if score > best.0 {
                best = (score, lag);
            }
        }
        best.1
    }

    fn remember(&mut self, samples: &[i16]) {
        let n = samples.len().min(HISTORY);
        self.history.copy_within(n.., 0);
        self.history[HISTORY - n..].copy_from_slice(&samples[samples.len() - n..]);
        self.filled = (self.filled + n).min(HISTORY);
    }
}

/// Concealment is written for frames of this size or less (the jitter buffer's frames).
const _: () = assert!(FRAME_SAMPLES <= HISTORY);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{goertzel_power, sine};

    fn peak(s: &[i16]) -> i16 {
        s.iter().map(|x| x.saturating_abs()).max().unwrap_or(0)
    }

    #[test]
    fn a_tone_is_continued_then_faded_then_silent() {
        let tone = sine(1000.0, 8000.0, 4 * FRAME_SAMPLES);
        let mut c = Concealer::default();
        for f in tone.chunks(FRAME_SAMPLES) {
            let mut f = f.to_vec();
            c.heard(&mut f);
        }
        let mut out = [0i16; FRAME_SAMPLES];
        assert!(c.conceal(&mut out));
        // The first 20 ms carry the tone: its power at 1 kHz is that of the original.
        let p = goertzel_power(&out[..FULL], 1000.0);
        let q = goertzel_power(&tone[..FULL], 1000.0);
        assert!(p > 0.9 * q, "{p} vs {q}");
        assert!(peak(&out[..FULL]) > 7500);
        assert!(c.conceal(&mut out), "40 ms");
        assert!(peak(&out[FRAME_SAMPLES - 10..]) < 5000, "faded");
        // The third frame ends the 60 ms: it fades to nothing and the stream counts as stopped.
        assert!(!c.conceal(&mut out));
        assert!(peak(&out[FRAME_SAMPLES - 10..]) < 300);
        assert!(!c.concealing());
        assert!(!c.conceal(&mut out), "nothing left to conceal with");
        assert_eq!(peak(&out), 0);
    }

    #[test]
    fn a_voiced_sound_is_repeated_at_its_pitch() {
        // A 125 Hz buzz (period 64 samples) of harmonics: the pitch found is its period.
        let n = 3 * FRAME_SAMPLES;
        let buzz: Vec<i16> = (0..n)
            .map(|i| {
                let t = i as f64 / 8000.0;
                let x: f64 = (1..6)
                    .map(|h| (2.0 * std::f64::consts::PI * 125.0 * h as f64 * t).sin() / h as f64)
                    .sum();
                (x * 5000.0) as i16
            })
            .collect();
        let mut c = Concealer::default();
        let mut b = buzz.clone();
        c.heard(&mut b);
        let mut out = [0i16; FRAME_SAMPLES];
        assert!(c.conceal(&mut out));
        assert_eq!(c.pitch, 64);
        // The first 10 ms are the buzz continued sample for sample.
        for (k, s) in out[..FULL].iter().enumerate() {
            let t = (n + k) as f64 / 8000.0;
            let x: f64 = (1..6)
                .map(|h| (2.0 * std::f64::consts::PI * 125.0 * h as f64 * t).sin() / h as f64)
                .sum();
            assert!((f64::from(*s) - x * 5000.0).abs() < 3.0, "{k}");
        }
    }

    #[test]
    fn resumed_audio_is_cross_faded_and_silence_is_not_invented() {
        let mut c = Concealer::default();
        let mut out = [0i16; FRAME_SAMPLES];
        assert!(!c.conceal(&mut out), "nothing heard yet");
        let mut tone = sine(500.0, 8000.0, 2 * FRAME_SAMPLES);
        c.heard(&mut tone);
        assert!(c.conceal(&mut out));
        let mut resumed = vec![0i16; FRAME_SAMPLES];
        c.heard(&mut resumed);
        assert!(!c.concealing());
        // The fade starts near the synthesis and ends at the real (silent) audio.
        assert!(peak(&resumed[..4]) > 0);
        assert_eq!(peak(&resumed[FADE_IN..]), 0);
    }
}
