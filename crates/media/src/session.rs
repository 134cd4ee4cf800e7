//! Parley's own end of a call's media, without IO: paced playback of decoded clips (with seeking) in
//! 20 ms frames, DTMF from RFC 4733 events or in-band tones (each digit once), the strict-source check
//! of every packet, and the clock of a recording (its length and its silence counted in samples of the
//! session's own 20 ms ticks, so a caller who stops sending still reaches the silence limit). The
//! shell owns the socket, the ticker and the WAV file: it feeds [`MediaSession::handle_packet`] and
//! [`MediaSession::handle_tick`], sends what they return, writes the samples a recording keeps, and
//! drains [`MediaSession::poll_event`].

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dtmf::inband::InbandDetector;
use crate::dtmf::rfc4733::Rfc4733Receiver;
use crate::g711::Codec;
use crate::rtp::{is_rtcp, RtpHeader, RtpPacket, SequenceTracker, SourceCheck, StrictSource};
use crate::{FRAME_SAMPLES, SAMPLES_PER_MS};

/// One thing to play: decoded samples, seekable or not.
#[derive(Debug, Clone)]
pub struct Clip {
    /// 8 kHz samples.
    pub samples: Arc<[i16]>,
    /// Rewind and fast-forward apply to it (a message, not a prompt).
    pub seekable: bool,
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStop {
    /// Asked to stop.
    Stopped,
    /// The caller was silent for the limit.
    Silence,
    /// The maximum length was reached.
    MaxLength,
    /// The call ended.
    Hangup,
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The playback with this generation finished.
    PlayDone(u64),
    /// A DTMF digit.
    Digit(char),
    /// The recording ended; the shell closes its file, keeping `keep` samples of what it wrote.
    RecordDone {
        /// Why.
        stop: RecordStop,
        /// Samples to keep (trailing silence cut when it ended on silence).
        keep: u64,
    },
}

/// Packet counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// RTP packets received from the caller.
    pub received: u64,
    /// RTP packets sent to the caller.
    pub sent: u64,
    /// Packets the caller sent that never arrived (sequence gaps).
    pub lost: u64,
    /// Packets dropped because they did not come from the caller.
    pub strangers: u64,
}

/// A frame whose mean power is below this (about -45 dBFS) counts as silence.
const SILENCE_POWER: f64 = 180.0 * 180.0;

#[derive(Debug)]
struct Playing {
    generation: u64,
    clips: Vec<Clip>,
    index: usize,
    position: usize,
}

#[derive(Debug)]
struct Recording {
    /// Longest take, in samples.
    max: u64,
    /// Silence that ends it, in samples.
    silence: Option<u64>,
    /// Samples of the session's clock since it started (20 ms a tick).
    elapsed: u64,
    /// `elapsed` when the caller last made a sound.
    last_voice: u64,
    /// Samples handed to the shell to write.
    written: u64,
    /// Of those, the samples since the last sound.
    silent_written: u64,
}

/// One media end. See the module documentation.
#[derive(Debug)]
pub struct MediaSession {
    source: StrictSource,
    codec: Codec,
    event_pt: Option<u8>,
    header: RtpHeader,
    talkspurt: bool,
    playing: Option<Playing>,
    recording: Option<Recording>,
    rfc4733: Rfc4733Receiver,
    inband: InbandDetector,
    seq: Option<SequenceTracker>,
    counters: Counters,
    decoded: Vec<i16>,
    packet: Vec<u8>,
    events: VecDeque<Event>,
}

impl MediaSession {
    /// A session sending PCMU until told otherwise; `seed` picks its SSRC, first sequence number and
    /// timestamp.
    pub fn new(seed: u64) -> MediaSession {
        MediaSession {
            source: StrictSource::new(),
            codec: Codec::Pcmu,
            event_pt: None,
            header: RtpHeader {
                marker: true,
                payload_type: 0,
                sequence: (seed >> 48) as u16,
                timestamp: (seed >> 16) as u32,
                ssrc: seed as u32 ^ 0x5041_524c,
            },
            talkspurt: true,
            playing: None,
            recording: None,
            rfc4733: Rfc4733Receiver::new(),
            inband: InbandDetector::new(),
            seq: None,
            counters: Counters::default(),
            decoded: Vec::with_capacity(FRAME_SAMPLES * 2),
            packet: Vec::with_capacity(12 + FRAME_SAMPLES),
            events: VecDeque::new(),
        }
    }

    /// Where the caller receives RTP (its SDP), the IP its signalling comes from, and which payload
    /// types were agreed.
    pub fn set_remote(
        &mut self,
        remote: Option<SocketAddr>,
        signalling: Option<IpAddr>,
        audio_pt: u8,
        event_pt: Option<u8>,
    ) {
        self.source.expect(remote, signalling);
        self.codec = Codec::from_payload_type(audio_pt).unwrap_or(Codec::Pcmu);
        self.header.payload_type = self.codec.payload_type();
        self.event_pt = event_pt;
    }

    /// Play clips in order, replacing what plays; [`Event::PlayDone`] with `generation` follows.
    pub fn play(&mut self, generation: u64, clips: Vec<Clip>) {
        self.playing = Some(Playing {
            generation,
            clips,
            index: 0,
            position: 0,
        });
        self.talkspurt = true;
    }

    /// Stop playing (no [`Event::PlayDone`]).
    pub fn stop_play(&mut self) {
        self.playing = None;
    }

    /// Move within the seekable clip playing (negative rewinds); clamped to the clip.
    pub fn seek(&mut self, delta_ms: i64) {
        if let Some(p) = self.playing.as_mut() {
            if let Some(clip) = p.clips.get(p.index).filter(|c| c.seekable) {
                let target = p.position as i64 + delta_ms * i64::from(SAMPLES_PER_MS);
                p.position = target.clamp(0, clip.samples.len() as i64) as usize;
            }
        }
    }

    /// Start counting a recording (the shell has opened its file); one still running is replaced
    /// without an event.
    pub fn start_recording(&mut self, max: Duration, silence: Option<Duration>) {
        let samples = |d: Duration| d.as_millis() as u64 * u64::from(SAMPLES_PER_MS);
        self.recording = Some(Recording {
            max: samples(max),
            silence: silence.map(samples),
            elapsed: 0,
            last_voice: 0,
            written: 0,
            silent_written: 0,
        });
    }

    /// Drop the recording running, if any, without an event (its file was closed by the shell).
    pub fn cancel_recording(&mut self) {
        self.recording = None;
    }

    /// End the recording running, if any ([`Event::RecordDone`] follows).
    pub fn stop_recording(&mut self, stop: RecordStop) {
        let Some(rec) = self.recording.take() else {
            return;
        };
        let keep = if stop == RecordStop::Silence {
            rec.written.saturating_sub(rec.silent_written)
        } else {
            rec.written
        };
        self.events.push_back(Event::RecordDone { stop, keep });
    }

    /// Whether a recording is running.
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    /// The packet counters.
    pub fn counters(&self) -> Counters {
        Counters {
            strangers: self.source.strangers(),
            ..self.counters
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A datagram arrived from `from`; returns the samples to write when a recording keeps them.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, buf: &[u8]) -> Option<&[i16]> {
        match self.source.check(now, from) {
            SourceCheck::Accept | SourceCheck::Learned(_) => {}
            SourceCheck::Stranger => return None,
        }
        if is_rtcp(buf) {
            return None;
        }
        let pkt = RtpPacket::parse(buf).ok()?;
        self.counters.received += 1;
        let tracker = self.seq.get_or_insert_with(SequenceTracker::new);
        tracker.record(pkt.header.sequence);
        self.counters.lost = tracker.lost().max(0) as u64;
        if Some(pkt.header.payload_type) == self.event_pt {
            let _ = self.rfc4733.handle_packet(&pkt);
            self.take_rfc4733_digits();
            return None;
        }
        let codec = Codec::from_payload_type(pkt.header.payload_type)?;
        self.decoded.clear();
        codec.decode(pkt.payload, &mut self.decoded);
        self.rfc4733.finish_stale(pkt.header.timestamp);
        self.take_rfc4733_digits();
        if self.event_pt.is_none() {
            self.inband.push(&self.decoded);
            while let Some(d) = self.inband.poll_digit() {
                self.events.push_back(Event::Digit(d));
            }
        }
        let rec = self.recording.as_mut()?;
        let n = self.decoded.len() as u64;
        rec.written += n;
        if crate::tone::mean_power(&self.decoded) >= SILENCE_POWER {
            rec.last_voice = rec.elapsed;
            rec.silent_written = 0;
        } else {
            rec.silent_written += n;
        }
        Some(&self.decoded)
    }

    fn take_rfc4733_digits(&mut self) {
        while let Some(d) = self.rfc4733.poll_digit() {
            self.events.push_back(Event::Digit(d.digit));
        }
    }

    /// The 20 ms clock ticked: the recording's limits are checked, and the next frame of what plays
    /// is returned with where to send it (nothing while silent or before the caller's address is
    /// known).
    pub fn handle_tick(&mut self) -> Option<(SocketAddr, &[u8])> {
        if let Some(rec) = self.recording.as_mut() {
            rec.elapsed += FRAME_SAMPLES as u64;
            let stop = if rec.elapsed >= rec.max {
                Some(RecordStop::MaxLength)
            } else if rec
                .silence
                .is_some_and(|s| rec.elapsed - rec.last_voice >= s)
            {
                Some(RecordStop::Silence)
            } else {
                None
            };
            if let Some(stop) = stop {
                self.stop_recording(stop);
            }
        }
        let Some(p) = self.playing.as_mut() else {
            self.talkspurt = true;
            return None;
        };
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            let Some(clip) = p.clips.get(p.index) else {
                break;
            };
            let rest = &clip.samples[p.position.min(clip.samples.len())..];
            let n = rest.len().min(FRAME_SAMPLES - filled);
            frame[filled..filled + n].copy_from_slice(&rest[..n]);
            filled += n;
            p.position += n;
            if p.position >= clip.samples.len() {
                p.index += 1;
                p.position = 0;
            }
        }
        if filled == 0 {
            let generation = p.generation;
            self.playing = None;
            self.events.push_back(Event::PlayDone(generation));
            return None;
        }
        let to = self.source.destination();
        self.packet.clear();
        self.header.marker = std::mem::take(&mut self.talkspurt);
        self.header.write(&mut self.packet);
        self.codec.encode(&frame, &mut self.packet);
        self.header.sequence = self.header.sequence.wrapping_add(1);
        self.header.timestamp = self.header.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        let to = to?;
        self.counters.sent += 1;
        Some((to, &self.packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    const CALLER: &str = "127.0.0.1:4000";

    fn session() -> MediaSession {
        let mut s = MediaSession::new(7);
        s.set_remote(Some(CALLER.parse().unwrap()), None, 0, Some(101));
        s
    }

    fn rtp(seq: u16, ts: u32, pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 9,
        }
        .write(&mut out);
        out.extend_from_slice(payload);
        out
    }

    /// A 20 ms PCMU frame of a loud 1 kHz tone, or of silence.
    fn frame(loud: bool) -> Vec<u8> {
        let samples: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|i| {
                if loud {
                    (8000.0 * (i as f64 * 2.0 * std::f64::consts::PI / 8.0).sin()) as i16
                } else {
                    0
                }
            })
            .collect();
        let mut out = Vec::new();
        Codec::Pcmu.encode(&samples, &mut out);
        out
    }

    fn events(s: &mut MediaSession) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn clips_play_in_frames_one_after_the_other_then_report_done_once() {
        let mut s = session();
        let a = Clip {
            samples: Arc::from(vec![1000i16; 200]),
            seekable: false,
        };
        let b = Clip {
            samples: Arc::from(vec![-1000i16; 100]),
            seekable: false,
        };
        s.play(3, vec![a, b]);
        // 300 samples: two frames (160 + 140), then done.
        let (to, first) = s.handle_tick().map(|(t, p)| (t, p.to_vec())).unwrap();
        assert_eq!(to, CALLER.parse().unwrap());
        let first = RtpPacket::parse(&first).unwrap();
        assert!(
            first.header.marker,
            "the first packet of a talkspurt is marked"
        );
        assert_eq!(first.payload.len(), FRAME_SAMPLES);
        let second = s.handle_tick().unwrap().1.to_vec();
        let second = RtpPacket::parse(&second).unwrap();
        assert!(!second.header.marker);
        assert_eq!(
            second.header.sequence,
            first.header.sequence.wrapping_add(1)
        );
        assert_eq!(
            second.header.timestamp,
            first.header.timestamp.wrapping_add(160)
        );
        assert!(s.handle_tick().is_none());
        assert_eq!(events(&mut s), vec![Event::PlayDone(3)]);
        assert!(s.handle_tick().is_none());
        assert!(events(&mut s).is_empty());
        assert_eq!(s.counters().sent, 2);
    }

    #[test]
    fn a_new_playlist_replaces_the_old_one_and_a_stopped_one_reports_nothing() {
        let mut s = session();
        let clip = || Clip {
            samples: Arc::from(vec![1i16; 160]),
            seekable: false,
        };
        s.play(1, vec![clip()]);
        s.play(2, vec![clip()]);
        s.handle_tick();
        s.handle_tick();
        assert_eq!(events(&mut s), vec![Event::PlayDone(2)]);
        s.play(3, vec![clip()]);
        s.stop_play();
        s.handle_tick();
        assert!(events(&mut s).is_empty());
    }

    #[test]
    fn seeking_moves_within_a_message_but_not_a_prompt() {
        let mut s = session();
        let samples: Vec<i16> = (0..8000).map(|i| i as i16).collect();
        s.play(
            1,
            vec![Clip {
                samples: Arc::from(samples.clone()),
                seekable: true,
            }],
        );
        s.seek(500);
        let pkt = RtpPacket::parse(s.handle_tick().unwrap().1)
            .unwrap()
            .payload
            .to_vec();
        let mut expect = Vec::new();
        Codec::Pcmu.encode(&samples[4000..4160], &mut expect);
        assert_eq!(pkt, expect);
        s.seek(-10_000);
        let pkt = RtpPacket::parse(s.handle_tick().unwrap().1)
            .unwrap()
            .payload
            .to_vec();
        let mut expect = Vec::new();
        Codec::Pcmu.encode(&samples[..160], &mut expect);
        assert_eq!(pkt, expect, "clamped to the start");
        s.play(
            2,
            vec![Clip {
                samples: Arc::from(samples.clone()),
                seekable: false,
            }],
        );
        s.seek(500);
        let pkt = RtpPacket::parse(s.handle_tick().unwrap().1)
            .unwrap()
            .payload
            .to_vec();
        assert_eq!(pkt, expect, "a prompt does not seek");
    }

    #[test]
    fn nothing_is_sent_before_the_callers_address_is_known() {
        let mut s = MediaSession::new(1);
        s.play(
            1,
            vec![Clip {
                samples: Arc::from(vec![5i16; 320]),
                seekable: false,
            }],
        );
        assert!(s.handle_tick().is_none());
        assert_eq!(s.counters().sent, 0);
    }

    #[test]
    fn a_recording_keeps_the_callers_audio_and_ends_on_silence_with_the_silence_cut() {
        let mut s = session();
        let now = epoch();
        let from: SocketAddr = CALLER.parse().unwrap();
        s.start_recording(Duration::from_secs(60), Some(Duration::from_secs(1)));
        let mut written = 0;
        for i in 0..100u16 {
            // Two seconds of voice, then silence.
            let loud = i < 100;
            let n = s
                .handle_packet(now, from, &rtp(i, u32::from(i) * 160, 0, &frame(loud)))
                .map_or(0, |x| x.len());
            written += n;
            s.handle_tick();
        }
        assert_eq!(written, 16000);
        for i in 100..200u16 {
            s.handle_packet(now, from, &rtp(i, u32::from(i) * 160, 0, &frame(false)));
            s.handle_tick();
            if !s.is_recording() {
                break;
            }
        }
        assert_eq!(
            events(&mut s),
            vec![Event::RecordDone {
                stop: RecordStop::Silence,
                keep: 16000
            }]
        );
    }

    #[test]
    fn a_caller_who_stops_sending_still_reaches_the_silence_limit() {
        let mut s = session();
        s.start_recording(Duration::from_secs(60), Some(Duration::from_secs(2)));
        for _ in 0..99 {
            s.handle_tick();
        }
        assert!(s.is_recording());
        s.handle_tick();
        assert_eq!(
            events(&mut s),
            vec![Event::RecordDone {
                stop: RecordStop::Silence,
                keep: 0
            }]
        );
    }

    #[test]
    fn a_recording_ends_at_its_maximum_length_counted_on_the_sessions_clock() {
        let mut s = session();
        let now = epoch();
        let from: SocketAddr = CALLER.parse().unwrap();
        s.start_recording(Duration::from_secs(1), None);
        for i in 0..50u16 {
            assert!(s.is_recording());
            s.handle_packet(now, from, &rtp(i, u32::from(i) * 160, 0, &frame(true)));
            s.handle_tick();
        }
        assert_eq!(
            events(&mut s),
            vec![Event::RecordDone {
                stop: RecordStop::MaxLength,
                keep: 8000
            }]
        );
    }

    #[test]
    fn a_digit_sent_as_rfc4733_is_reported_once_and_a_strangers_is_not() {
        let mut s = session();
        let now = epoch();
        let from: SocketAddr = CALLER.parse().unwrap();
        let stranger: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        // Event 5, volume 10, duration growing; the end is sent three times.
        for (i, (end, dur)) in [
            (false, 160u16),
            (false, 320),
            (true, 480),
            (true, 480),
            (true, 480),
        ]
        .into_iter()
        .enumerate()
        {
            let payload = [
                5,
                if end { 0x80 | 10 } else { 10 },
                (dur >> 8) as u8,
                dur as u8,
            ];
            s.handle_packet(now, from, &rtp(i as u16, 1000, 101, &payload));
            s.handle_packet(now, stranger, &rtp(i as u16, 1000, 101, &[7, 0x8a, 1, 0]));
        }
        assert_eq!(events(&mut s), vec![Event::Digit('5')]);
        assert_eq!(s.counters().strangers, 5);
        assert_eq!(s.counters().received, 5);
    }

    #[test]
    fn lost_packets_are_counted_from_sequence_gaps() {
        let mut s = session();
        let now = epoch();
        let from: SocketAddr = CALLER.parse().unwrap();
        for seq in [1u16, 2, 5, 6] {
            s.handle_packet(now, from, &rtp(seq, u32::from(seq) * 160, 0, &frame(false)));
        }
        assert_eq!(s.counters().lost, 2);
    }
}
