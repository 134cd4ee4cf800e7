//! A conference room's audio without IO: every participant's packets go through its own strict
//! source and a bounded jitter buffer; every 20 ms tick each listener gets the sum of the others who
//! are talking, never its own voice (N−1), encoded in its own codec (G.711 µ-law and A-law in one
//! room). Only talkers are mixed: with nobody talking the tick sends comfort silence without mixing,
//! and the participants who are not talking share one encoded mix per codec (only a talker's mix
//! differs, by its own voice). A chime (the ding of an arrival, the dong of a departure) is mixed
//! over the others' audio for everyone but the one it concerns. The shell owns the sockets and the
//! 20 ms clock: it feeds [`Mixer::handle_packet`], calls [`Mixer::handle_tick`], sends what
//! [`Mixer::transmits`] lists, and drains [`Mixer::poll_event`]. A room with nobody in it has no
//! mixer and no clock at all.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crate::g711::Codec;
use crate::plc::Concealer;
use crate::rtp::{is_rtcp, RtpHeader, RtpPacket, SequenceTracker, SourceCheck, StrictSource};
use crate::FRAME_SAMPLES;

/// A participant of a room, named by the shell (its call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

/// A frame whose mean power reaches this (about −38 dBFS) is speech: its sender is talking.
const TALK_POWER: f64 = 400.0 * 400.0;
/// A talker stays a talker for this many quiet frames (300 ms), so the ends of words are mixed.
const TALK_HANGOVER: u8 = 15;
/// The jitter buffer starts playing a participant once this much is buffered (40 ms), and keeps
/// at least this much in reserve.
const PRIME_SAMPLES: usize = 2 * FRAME_SAMPLES;
/// The most a participant's jitter buffer holds (120 ms): beyond it the oldest audio is dropped, so a
/// sender whose clock runs fast cannot make its delay grow (no drift).
pub const MAX_BUFFERED: usize = 6 * FRAME_SAMPLES;
/// The most packets a jitter buffer holds, however short they are.
const MAX_PACKETS: usize = 64;
/// The most reserve a jitter buffer grows to after late audio (80 ms).
const MAX_TARGET: usize = 4 * FRAME_SAMPLES;
/// A buffer that held a frame more than its reserve for this many ticks (1 s) drops one frame, so
/// the delay a jitter spike added does not stay.
const TRIM_TICKS: u32 = 50;
/// Audio that resumes within this many ticks (100 ms) of a concealment running out was late, not
/// a sender that stopped talking.
const LATE_TICKS: u32 = 5;
/// After this many ticks (15 s) with no late audio, the reserve shrinks by one frame.
const CALM_TICKS: u32 = 750;
/// The longest packet taken (60 ms of G.711); longer ones are not audio a phone sends.
const MAX_PACKET_SAMPLES: usize = 3 * FRAME_SAMPLES;

/// What the mixer reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixerEvent {
    /// A participant started (`true`) or stopped talking.
    Talking(ParticipantId, bool),
}

/// Packet counters of one participant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// RTP packets received from the participant.
    pub received: u64,
    /// RTP packets sent to the participant.
    pub sent: u64,
    /// Packets the participant sent that never arrived (sequence gaps).
    pub lost: u64,
    /// Packets dropped because they did not come from the participant.
    pub strangers: u64,
    /// Audio dropped because it came too late or overfilled the jitter buffer, in packets.
    pub dropped: u64,
    /// Frames of the participant's audio concealed because it came late or not at all.
    pub concealed: u64,
}

/// One participant's jitter buffer: packets in sequence order, played out 160 samples a tick, its
/// depth bounded by [`MAX_BUFFERED`]. A packet older than what already played is late and dropped; a
/// packet that arrives out of order while the buffer still holds its successors is put in its place.
///
/// It adapts to the sender's jitter: playing starts once a reserve is buffered (40 ms at first);
/// when audio is missing at a tick, the gap is concealed ([`Concealer`], up to 60 ms) without giving
/// up the missing packets, so that audio which was only late is still played when it comes, and the
/// reserve grows by a frame (to 80 ms at most). A buffer that keeps more than its reserve drops a
/// frame a second until it does not, and the reserve shrinks again after 15 s without late audio.
/// Audio missing beyond 60 ms is a sender that stopped: silence, and the next audio is buffered to
/// the reserve again before it plays.
#[derive(Debug)]
struct JitterBuffer {
    /// Packets not yet started, by extended sequence number (ascending).
    packets: VecDeque<(u64, Vec<i16>)>,
    /// The packet playing and how far.
    head: Vec<i16>,
    head_pos: usize,
    /// The extended sequence number after the last packet taken out.
    next: Option<u64>,
    /// The highest extended sequence number seen (to extend the next).
    highest: Option<u64>,
    primed: bool,
    /// Buffers of packets played, reused.
    spare: Vec<Vec<i16>>,
    dropped: u64,
    /// The reserve, in samples.
    target: usize,
    /// The least buffered at a tick in this trim window, and the window's ticks so far.
    low: usize,
    window: u32,
    /// Ticks since audio was last late.
    calm: u32,
    /// Ticks since a concealment ran out (None: playing, or stopped long ago).
    quiet: Option<u32>,
    plc: Concealer,
    concealed: u64,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        JitterBuffer {
            packets: VecDeque::new(),
            head: Vec::new(),
            head_pos: 0,
            next: None,
            highest: None,
            primed: false,
            spare: Vec::new(),
            dropped: 0,
            target: PRIME_SAMPLES,
            low: usize::MAX,
            window: 0,
            calm: 0,
            quiet: None,
            plc: Concealer::default(),
            concealed: 0,
        }
    }
}

impl JitterBuffer {
    fn buffered(&self) -> usize {
        self.packets.iter().map(|(_, p)| p.len()).sum::<usize>() + self.head.len() - self.head_pos
    }

    /// The extended sequence number of `seq`, nearest to the highest seen.
    fn extend(&mut self, seq: u16) -> u64 {
        let Some(h) = self.highest else {
            // Start far from zero so that a packet from just before the first is still ordered.
            let ext = (1u64 << 32) + u64::from(seq);
            self.highest = Some(ext);
            return ext;
        };
        let delta = seq.wrapping_sub(h as u16) as i16;
        let ext = h.wrapping_add_signed(i64::from(delta));
        if ext > h {
            self.highest = Some(ext);
        }
        ext
    }

    fn push(&mut self, seq: u16, codec: Codec, payload: &[u8]) {
        // A packet without audio adds nothing to play (and would not count against the bound).
        if payload.is_empty() {
            return;
        }
        let ext = self.extend(seq);
        if self.next.is_some_and(|n| ext < n) || payload.len() > MAX_PACKET_SAMPLES {
            self.dropped += 1;
            return;
        }
        let at = self.packets.partition_point(|(s, _)| *s < ext);
        if self.packets.get(at).is_some_and(|(s, _)| *s == ext) {
            return; // a duplicate
        }
        let mut samples = self.spare.pop().unwrap_or_default();
        samples.clear();
        codec.decode(payload, &mut samples);
        self.packets.insert(at, (ext, samples));
        while self.buffered() > MAX_BUFFERED || self.packets.len() > MAX_PACKETS {
            if !self.drop_oldest() {
                break;
            }
        }
    }

    /// Drop the oldest packet not yet started; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        match self.packets.pop_front() {
            Some((s, p)) => {
                self.next = Some(s + 1);
                self.dropped += 1;
                self.spare.push(p);
                true
            }
            None => false,
        }
    }

    /// Fill `out` with the next 20 ms; returns whether any of it was the participant's audio, heard
    /// or concealed (the rest is silence: not yet buffered, or the sender stopped).
    fn pull(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> bool {
        if !self.primed {
            if self.buffered() < self.target {
                self.quiet = self.quiet.map(|q| q + 1).filter(|&q| q <= LATE_TICKS);
                *out = [0; FRAME_SAMPLES];
                return false;
            }
            if self.quiet.take().is_some() {
                // Audio came back right after the concealment ran out: it was late, not stopped.
                self.late();
            }
            self.primed = true;
            self.low = usize::MAX;
            self.window = 0;
        }
        self.adapt();
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            if self.head_pos >= self.head.len() {
                let Some((s, p)) = self.packets.pop_front() else {
                    break;
                };
                self.next = Some(s + 1);
                let old = std::mem::replace(&mut self.head, p);
                if self.spare.len() < 8 {
                    self.spare.push(old);
                }
                self.head_pos = 0;
                continue;
            }
            let n = (self.head.len() - self.head_pos).min(FRAME_SAMPLES - filled);
            out[filled..filled + n].copy_from_slice(&self.head[self.head_pos..self.head_pos + n]);
            self.head_pos += n;
            filled += n;
        }
        if filled == FRAME_SAMPLES {
            if self.plc.concealing() {
                // What was missing came after all: it was late.
                self.late();
            }
            self.plc.heard(out);
            return true;
        }
        if filled > 0 {
            self.plc.heard(&mut out[..filled]);
        }
        if self.plc.conceal(&mut out[filled..]) {
            self.concealed += 1;
            return true;
        }
        // Missing for longer than concealment lasts: the sender stopped (or its audio is very late).
        // Its next audio is buffered to the reserve again.
        self.primed = false;
        self.quiet = Some(0);
        filled > 0
    }

    /// Audio came late: keep a frame more in reserve (up to [`MAX_TARGET`]).
    fn late(&mut self) {
        self.target = (self.target + FRAME_SAMPLES).min(MAX_TARGET);
        self.calm = 0;
    }

    /// Once a tick while playing: drop a frame after a window in which the buffer always held a
    /// frame more than its reserve, and shrink the reserve after a long calm.
    fn adapt(&mut self) {
        self.low = self.low.min(self.buffered());
        self.window += 1;
        self.calm = self.calm.saturating_add(1);
        if self.window >= TRIM_TICKS {
            if self.low >= self.target + FRAME_SAMPLES {
                self.drop_oldest();
            }
            self.low = usize::MAX;
            self.window = 0;
        }
        if self.calm >= CALM_TICKS && self.target > PRIME_SAMPLES {
            self.target -= FRAME_SAMPLES;
            self.calm = 0;
        }
    }
}

#[derive(Debug)]
struct Slot {
    id: ParticipantId,
    source: StrictSource,
    codec: Codec,
    event_pt: Option<u8>,
    header: RtpHeader,
    jitter: JitterBuffer,
    seq: SequenceTracker,
    counters: Counters,
    /// This tick's frame of the participant's audio.
    frame: [i16; FRAME_SAMPLES],
    /// Quiet frames left before a talker stops being one; 0: not talking.
    talk: u8,
}

impl Slot {
    fn talking(&self) -> bool {
        self.talk > 0
    }
}

#[derive(Debug)]
struct Chime {
    samples: Arc<[i16]>,
    position: usize,
    except: Option<ParticipantId>,
}

/// Where one encoded packet goes: the participant, its address and the bytes in [`Mixer::transmits`].
#[derive(Debug, Clone, Copy)]
struct Transmit {
    id: ParticipantId,
    to: SocketAddr,
    start: usize,
    end: usize,
}

/// One room's mixer. See the module documentation.
#[derive(Debug)]
pub struct Mixer {
    slots: Vec<Slot>,
    chime: Option<Chime>,
    seed: u64,
    /// This tick's packets, back to back.
    out: Vec<u8>,
    transmits: Vec<Transmit>,
    /// Payloads encoded in the last tick (shared ones once).
    encoded: usize,
    events: VecDeque<MixerEvent>,
}

impl Mixer {
    /// An empty room; `seed` varies the participants' SSRCs, sequence numbers and timestamps.
    pub fn new(seed: u64) -> Mixer {
        Mixer {
            slots: Vec::new(),
            chime: None,
            seed,
            out: Vec::new(),
            transmits: Vec::new(),
            encoded: 0,
            events: VecDeque::new(),
        }
    }

    /// Add a participant: where it receives RTP (its SDP), the IP its signalling comes from, and the
    /// payload types agreed. A participant already present is given these settings.
    pub fn add(
        &mut self,
        id: ParticipantId,
        remote: Option<SocketAddr>,
        signalling: Option<IpAddr>,
        audio_pt: u8,
        event_pt: Option<u8>,
    ) {
        let codec = Codec::from_payload_type(audio_pt).unwrap_or(Codec::Pcmu);
        if let Some(s) = self.slots.iter_mut().find(|s| s.id == id) {
            s.source.expect(remote, signalling);
            s.codec = codec;
            s.header.payload_type = codec.payload_type();
            s.event_pt = event_pt;
            return;
        }
        let mut source = StrictSource::new();
        source.expect(remote, signalling);
        let seed = splitmix(self.seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.slots.push(Slot {
            id,
            source,
            codec,
            event_pt,
            header: RtpHeader {
                marker: true,
                payload_type: codec.payload_type(),
                sequence: (seed >> 48) as u16,
                timestamp: (seed >> 16) as u32,
                ssrc: seed as u32,
            },
            jitter: JitterBuffer::default(),
            seq: SequenceTracker::new(),
            counters: Counters::default(),
            frame: [0; FRAME_SAMPLES],
            talk: 0,
        });
    }

    /// Take a participant out; returns whether it was in the room.
    pub fn remove(&mut self, id: ParticipantId) -> bool {
        let before = self.slots.len();
        self.slots.retain(|s| s.id != id);
        if let Some(c) = self.chime.as_mut().filter(|c| c.except == Some(id)) {
            c.except = None;
        }
        self.slots.len() != before
    }

    /// How many participants are in the room.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nobody is in the room.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Play `samples` over the room's audio to everyone but `except` (replacing a chime that plays).
    pub fn chime(&mut self, samples: Arc<[i16]>, except: Option<ParticipantId>) {
        self.chime = Some(Chime {
            samples,
            position: 0,
            except,
        });
    }

    /// A participant's counters.
    pub fn counters(&self, id: ParticipantId) -> Option<Counters> {
        self.all_counters().find(|(i, _)| *i == id).map(|(_, c)| c)
    }

    /// Every participant's counters.
    pub fn all_counters(&self) -> impl Iterator<Item = (ParticipantId, Counters)> + '_ {
        self.slots.iter().map(|s| {
            let c = Counters {
                strangers: s.source.strangers(),
                dropped: s.jitter.dropped,
                concealed: s.jitter.concealed,
                ..s.counters
            };
            (s.id, c)
        })
    }

    /// The most audio any participant's jitter buffer holds now, in samples (at most
    /// [`MAX_BUFFERED`]).
    pub fn buffered_max(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.jitter.buffered())
            .max()
            .unwrap_or(0)
    }

    /// Who is talking now.
    pub fn talking(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.slots.iter().filter(|s| s.talking()).map(|s| s.id)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MixerEvent> {
        self.events.pop_front()
    }

    /// A datagram arrived at participant `id`'s socket from `from`. Strangers, RTCP, telephone
    /// events and payload types that are not G.711 are not mixed.
    pub fn handle_packet(&mut self, now: Instant, id: ParticipantId, from: SocketAddr, buf: &[u8]) {
        let Some(s) = self.slots.iter_mut().find(|s| s.id == id) else {
            return;
        };
        if s.source.check(now, from) == SourceCheck::Stranger || is_rtcp(buf) {
            return;
        }
        let Ok(pkt) = RtpPacket::parse(buf) else {
            return;
        };
        s.counters.received += 1;
        s.seq.record(pkt.header.sequence);
        s.counters.lost = s.seq.lost().max(0) as u64;
        if Some(pkt.header.payload_type) == s.event_pt {
            return;
        }
        if let Some(codec) = Codec::from_payload_type(pkt.header.payload_type) {
            s.jitter.push(pkt.header.sequence, codec, pkt.payload);
        }
    }

    /// The 20 ms clock ticked: take each participant's next frame, decide who talks, and encode each
    /// listener's packet (listed by [`Mixer::transmits`] until the next tick).
    pub fn handle_tick(&mut self) {
        self.out.clear();
        self.transmits.clear();
        self.encoded = 0;
        let mut mix = [0i32; FRAME_SAMPLES];
        let mut talkers = 0;
        for s in &mut self.slots {
            let heard = s.jitter.pull(&mut s.frame);
            let was = s.talking();
            if heard && crate::tone::mean_power(&s.frame) >= TALK_POWER {
                s.talk = TALK_HANGOVER;
            } else {
                s.talk = s.talk.saturating_sub(1);
            }
            if was != s.talking() {
                self.events
                    .push_back(MixerEvent::Talking(s.id, s.talking()));
            }
            if s.talking() {
                talkers += 1;
                for (m, x) in mix.iter_mut().zip(s.frame.iter()) {
                    *m += i32::from(*x);
                }
            }
        }
        let mut chime = [0i32; FRAME_SAMPLES];
        let mut except = None;
        let chiming = match self.chime.as_mut() {
            Some(c) => {
                let rest = &c.samples[c.position.min(c.samples.len())..];
                let n = rest.len().min(FRAME_SAMPLES);
                for (o, x) in chime.iter_mut().zip(&rest[..n]) {
                    *o = i32::from(*x);
                }
                c.position += n;
                except = c.except;
                if n == 0 {
                    self.chime = None;
                }
                n > 0
            }
            None => false,
        };
        // One encoding per codec for the listeners who hear the same thing: everyone who does not
        // talk (with or without the chime); each talker's differs by its own voice.
        let mut shared: [Option<(usize, usize)>; 4] = [None; 4];
        let mut frame = [0i16; FRAME_SAMPLES];
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            let Some(to) = s.source.destination() else {
                continue;
            };
            let hears_chime = chiming && except != Some(s.id);
            let codec = s.codec;
            let payload = if s.talking() {
                for (k, f) in frame.iter_mut().enumerate() {
                    let c = if hears_chime { chime[k] } else { 0 };
                    *f = clamp(mix[k] - i32::from(s.frame[k]) + c);
                }
                self.encode(codec, &frame)
            } else {
                let key = usize::from(codec == Codec::Pcma) * 2 + usize::from(hears_chime);
                match shared[key] {
                    Some(range) => range,
                    None => {
                        let range = if talkers == 0 && !hears_chime {
                            // Nobody talks: comfort silence, nothing mixed.
                            self.encoded += 1;
                            let start = self.out.len();
                            self.out
                                .extend(std::iter::repeat_n(codec.silence(), FRAME_SAMPLES));
                            (start, self.out.len())
                        } else {
                            for (k, f) in frame.iter_mut().enumerate() {
                                let c = if hears_chime { chime[k] } else { 0 };
                                *f = clamp(mix[k] + c);
                            }
                            self.encode(codec, &frame)
                        };
                        shared[key] = Some(range);
                        range
                    }
                }
            };
            let s = &mut self.slots[i];
            let start = self.out.len();
            s.header.write(&mut self.out);
            let (a, b) = payload;
            self.out.extend_from_within(a..b);
            s.header.marker = false;
            s.header.sequence = s.header.sequence.wrapping_add(1);
            s.header.timestamp = s.header.timestamp.wrapping_add(FRAME_SAMPLES as u32);
            s.counters.sent += 1;
            self.transmits.push(Transmit {
                id: s.id,
                to,
                start,
                end: self.out.len(),
            });
        }
    }

    /// Encode a frame at the end of the tick's buffer; its range there.
    fn encode(&mut self, codec: Codec, frame: &[i16; FRAME_SAMPLES]) -> (usize, usize) {
        self.encoded += 1;
        let start = self.out.len();
        codec.encode(frame, &mut self.out);
        (start, self.out.len())
    }

    /// The packets of the last tick: to whom, where, and the bytes.
    pub fn transmits(&self) -> impl Iterator<Item = (ParticipantId, SocketAddr, &[u8])> + '_ {
        self.transmits
            .iter()
            .map(|t| (t.id, t.to, &self.out[t.start..t.end]))
    }
}

fn clamp(x: i32) -> i16 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// SplitMix64: a participant's RTP identity from the room's seed.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{goertzel_power, sine};

    fn epoch() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    fn addr(n: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 4000 + n))
    }

    /// A participant `n` sending a tone of `hz` (0: silence), with its own sequence numbers.
    struct Phone {
        id: ParticipantId,
        codec: Codec,
        seq: u16,
        hz: f64,
        sent: usize,
        heard: Vec<i16>,
    }

    impl Phone {
        fn new(n: u16, codec: Codec, hz: f64) -> Phone {
            Phone {
                id: ParticipantId(u64::from(n)),
                codec,
                seq: n.wrapping_mul(1000),
                hz,
                sent: 0,
                heard: Vec::new(),
            }
        }

        fn join(&self, m: &mut Mixer) {
            let n = self.id.0 as u16;
            m.add(
                self.id,
                Some(addr(n)),
                None,
                self.codec.payload_type(),
                Some(101),
            );
        }

        fn packet(&mut self) -> Vec<u8> {
            let all = sine(self.hz, 8000.0, self.sent + FRAME_SAMPLES);
            let samples = &all[self.sent..];
            self.sent += FRAME_SAMPLES;
            let mut out = Vec::new();
            RtpHeader {
                marker: false,
                payload_type: self.codec.payload_type(),
                sequence: self.seq,
                timestamp: u32::from(self.seq) * 160,
                ssrc: 77,
            }
            .write(&mut out);
            self.codec.encode(samples, &mut out);
            self.seq = self.seq.wrapping_add(1);
            out
        }

        fn send(&mut self, m: &mut Mixer, now: Instant) {
            let p = self.packet();
            m.handle_packet(now, self.id, addr(self.id.0 as u16), &p);
        }
    }

    /// One tick: every phone sends, the mixer ticks, each phone keeps what it was sent.
    fn tick(m: &mut Mixer, phones: &mut [Phone], now: Instant) {
        for p in phones.iter_mut() {
            p.send(m, now);
        }
        m.handle_tick();
        let sent: Vec<(ParticipantId, SocketAddr, Vec<u8>)> =
            m.transmits().map(|(i, a, b)| (i, a, b.to_vec())).collect();
        for p in phones.iter_mut() {
            let mine: Vec<_> = sent.iter().filter(|(i, _, _)| *i == p.id).collect();
            assert_eq!(mine.len(), 1, "one packet a tick for each participant");
            assert_eq!(mine[0].1, addr(p.id.0 as u16));
            let pkt = RtpPacket::parse(&mine[0].2).unwrap();
            assert_eq!(pkt.header.payload_type, p.codec.payload_type());
            p.codec.decode(pkt.payload, &mut p.heard);
        }
    }

    fn power(samples: &[i16], hz: f64) -> f64 {
        goertzel_power(samples, hz)
    }

    #[test]
    fn each_listener_hears_the_others_and_never_itself_in_its_own_codec() {
        let mut m = Mixer::new(1);
        let mut phones = vec![
            Phone::new(1, Codec::Pcmu, 400.0),
            Phone::new(2, Codec::Pcma, 1200.0),
            Phone::new(3, Codec::Pcmu, 1800.0),
        ];
        for p in &phones {
            p.join(&mut m);
        }
        let t = epoch();
        for _ in 0..50 {
            tick(&mut m, &mut phones, t);
        }
        for p in &phones {
            let tail = &p.heard[p.heard.len() - 4000..];
            let own = power(tail, p.hz);
            for q in phones.iter().filter(|q| q.id != p.id) {
                let other = power(tail, q.hz);
                assert!(
                    other > own * 1000.0,
                    "{:?} hears {} Hz ({other}) far above its own {} Hz ({own})",
                    p.id,
                    q.hz,
                    p.hz
                );
            }
        }
        assert_eq!(m.talking().count(), 3);
    }

    #[test]
    fn nobody_talking_sends_comfort_silence_and_listeners_share_one_encoding() {
        let mut m = Mixer::new(2);
        let mut phones = vec![
            Phone::new(1, Codec::Pcmu, 0.0),
            Phone::new(2, Codec::Pcmu, 0.0),
            Phone::new(3, Codec::Pcma, 0.0),
        ];
        for p in &phones {
            p.join(&mut m);
        }
        tick(&mut m, &mut phones, epoch());
        let payloads: Vec<Vec<u8>> = m
            .transmits()
            .map(|(_, _, b)| RtpPacket::parse(b).unwrap().payload.to_vec())
            .collect();
        assert_eq!(payloads[0], vec![0xFF; FRAME_SAMPLES]);
        assert_eq!(payloads[2], vec![0xD5; FRAME_SAMPLES]);
        // Two µ-law listeners, one payload: one per codec.
        assert_eq!(m.encoded, 2);
    }

    #[test]
    fn a_lone_talker_hears_nothing_of_itself_and_the_others_share_its_voice() {
        let mut m = Mixer::new(3);
        let mut phones = vec![
            Phone::new(1, Codec::Pcmu, 700.0),
            Phone::new(2, Codec::Pcmu, 0.0),
            Phone::new(3, Codec::Pcmu, 0.0),
        ];
        for p in &phones {
            p.join(&mut m);
        }
        let t = epoch();
        for _ in 0..10 {
            tick(&mut m, &mut phones, t);
        }
        let heard = &phones[0].heard[800..];
        assert!(
            heard.iter().all(|x| x.abs() < 16),
            "the talker hears nothing of itself"
        );
        assert!(power(&phones[1].heard[800..], 700.0) > 1e6);
        // Listeners 2 and 3 got the same bytes from one encoding: the talker's and the shared one.
        assert_eq!(m.encoded, 2);
    }

    #[test]
    fn the_chime_is_heard_by_all_but_the_one_it_concerns() {
        let mut m = Mixer::new(4);
        let mut phones = vec![
            Phone::new(1, Codec::Pcmu, 0.0),
            Phone::new(2, Codec::Pcma, 0.0),
            Phone::new(3, Codec::Pcmu, 0.0),
        ];
        for p in &phones {
            p.join(&mut m);
        }
        m.chime(Arc::from(sine(880.0, 8000.0, 1600)), Some(ParticipantId(3)));
        let t = epoch();
        for _ in 0..12 {
            tick(&mut m, &mut phones, t);
        }
        assert!(power(&phones[0].heard, 880.0) > 1e6);
        assert!(power(&phones[1].heard, 880.0) > 1e6);
        assert!(phones[2].heard.iter().all(|x| x.abs() < 16));
        // The chime ended after its 10 frames: silence again.
        assert!(phones[0].heard[1600..].iter().all(|x| x.abs() < 16));
    }

    #[test]
    fn strangers_are_not_mixed_and_are_counted() {
        let mut m = Mixer::new(5);
        let mut phones = vec![
            Phone::new(1, Codec::Pcmu, 0.0),
            Phone::new(2, Codec::Pcmu, 0.0),
        ];
        for p in &phones {
            p.join(&mut m);
        }
        let mut intruder = Phone::new(9, Codec::Pcmu, 1000.0);
        let t = epoch();
        // The participants' sources are learned from their first packets; then a stranger on the
        // same IP sends to 1.
        tick(&mut m, &mut phones, t);
        for _ in 0..5 {
            let pkt = intruder.packet();
            m.handle_packet(t, ParticipantId(1), addr(9), &pkt);
            tick(&mut m, &mut phones, t);
        }
        assert!(
            power(&phones[1].heard, 1000.0) < 1.0,
            "nothing of the stranger is heard"
        );
        assert_eq!(m.counters(ParticipantId(1)).unwrap().strangers, 5);
    }

    #[test]
    fn the_jitter_buffer_reorders_drops_late_and_duplicate_packets_and_stays_bounded() {
        let mut j = JitterBuffer::default();
        let frame = |v: i16| {
            let mut out = Vec::new();
            Codec::Pcmu.encode(&[v; FRAME_SAMPLES], &mut out);
            out
        };
        // 2 before 1: played in order once primed.
        j.push(2, Codec::Pcmu, &frame(2000));
        j.push(1, Codec::Pcmu, &frame(1000));
        j.push(1, Codec::Pcmu, &frame(1000));
        let mut out = [0; FRAME_SAMPLES];
        assert!(j.pull(&mut out));
        assert!((out[0] - 1000).abs() < 40);
        assert!(j.pull(&mut out));
        assert!((out[0] - 2000).abs() < 60);
        // 1 again, now late: dropped; the frame it would have been is concealed.
        j.push(1, Codec::Pcmu, &frame(1000));
        assert!(j.pull(&mut out), "an underrun is concealed");
        assert_eq!((j.dropped, j.concealed), (1, 1));
        // A burst of 20 frames: only the newest 120 ms stay.
        for s in 3..23 {
            j.push(s, Codec::Pcmu, &frame(s as i16 * 100));
        }
        assert!(j.buffered() <= MAX_BUFFERED);
        assert!(j.pull(&mut out));
        // (Its first 4 ms fade from the concealment into it.)
        let last = out[FRAME_SAMPLES - 1];
        assert!((last - 1700).abs() < 60, "{last}");
    }

    /// The longest run of 5 ms windows of `heard` whose peak stays under `level`, in ms, from the
    /// first loud window on.
    fn longest_quiet(heard: &[i16], level: i16) -> usize {
        let loud: Vec<bool> = heard
            .chunks(40)
            .map(|w| w.iter().any(|x| x.saturating_abs() > level))
            .collect();
        let first = loud.iter().position(|&l| l).unwrap_or(loud.len());
        let (mut longest, mut run) = (0, 0);
        for &l in &loud[first..] {
            run = if l { 0 } else { run + 1 };
            longest = longest.max(run);
        }
        longest * 5
    }

    #[test]
    fn a_talkers_late_burst_is_concealed_then_absorbed_and_the_delay_it_added_goes_away() {
        let mut m = Mixer::new(11);
        let mut talker = Phone::new(1, Codec::Pcmu, 1000.0);
        let mut listener = Phone::new(2, Codec::Pcmu, 0.0);
        talker.join(&mut m);
        listener.join(&mut m);
        let now = epoch();
        let mut ticks = 0;
        let mut run = |m: &mut Mixer, talker: &mut Phone, listener: &mut Phone, send: usize| {
            for _ in 0..send {
                talker.send(m, now);
            }
            listener.send(m, now);
            m.handle_tick();
            for (id, _, b) in m.transmits() {
                if id == listener.id {
                    let pkt = RtpPacket::parse(b).unwrap();
                    listener.codec.decode(pkt.payload, &mut listener.heard);
                }
            }
            ticks += 1;
        };
        for _ in 0..100 {
            run(&mut m, &mut talker, &mut listener, 1);
        }
        // The talker's network stalls 100 ms, then delivers the five packets at once.
        for _ in 0..5 {
            run(&mut m, &mut talker, &mut listener, 0);
        }
        run(&mut m, &mut talker, &mut listener, 6);
        let after_first = m.counters(ParticipantId(1)).unwrap();
        assert!((1..=3).contains(&after_first.concealed), "{after_first:?}");
        assert_eq!(
            after_first.dropped, 0,
            "the late packets were played, not dropped"
        );
        // Three seconds on, the delay the spike added is trimmed away to the grown reserve (60 ms).
        for _ in 0..150 {
            run(&mut m, &mut talker, &mut listener, 1);
        }
        let depth = m.slots[0].jitter.buffered();
        assert!(depth <= 3 * FRAME_SAMPLES, "{depth}");
        // A second stall, of 40 ms, is absorbed by that reserve (the first one's 40 ms would not
        // have): nothing concealed.
        for _ in 0..2 {
            run(&mut m, &mut talker, &mut listener, 0);
        }
        run(&mut m, &mut talker, &mut listener, 3);
        for _ in 0..50 {
            run(&mut m, &mut talker, &mut listener, 1);
        }
        assert_eq!(
            m.counters(ParticipantId(1)).unwrap().concealed,
            after_first.concealed
        );
        // What the listener heard: the tone throughout, with no hole as long as 40 ms (the first
        // stall is bridged by the concealment).
        let heard = &listener.heard;
        assert!(
            longest_quiet(heard, 2000) < 40,
            "{} ms",
            longest_quiet(heard, 2000)
        );
        assert!(goertzel_power(&heard[heard.len() - 800..], 1000.0) > 1e6);
        assert_eq!(ticks, 309);
    }

    #[test]
    fn a_sender_that_stops_fades_out_and_its_next_words_are_buffered_again() {
        let mut j = JitterBuffer::default();
        let tone = sine(700.0, 8000.0, 40 * FRAME_SAMPLES);
        let mut seq = 0u16;
        let mut push = |j: &mut JitterBuffer, k: usize| {
            let mut p = Vec::new();
            Codec::Pcmu.encode(&tone[k * FRAME_SAMPLES..(k + 1) * FRAME_SAMPLES], &mut p);
            j.push(seq, Codec::Pcmu, &p);
            seq = seq.wrapping_add(1);
        };
        let mut out = [0; FRAME_SAMPLES];
        for k in 0..10 {
            push(&mut j, k);
            j.pull(&mut out);
        }
        // It stops: the frame in reserve plays, two frames are concealed (fading), and the third
        // fades to silence; then nothing is "heard".
        let concealed: Vec<bool> = (0..6).map(|_| j.pull(&mut out)).collect();
        assert_eq!(concealed, [true, true, true, false, false, false]);
        assert_eq!(j.concealed, 2);
        assert!(out.iter().all(|&x| x == 0));
        // Its next words, long after, wait for the (unchanged) reserve before they play.
        for _ in 0..10 {
            j.pull(&mut out);
        }
        assert_eq!(j.target, PRIME_SAMPLES);
        push(&mut j, 20);
        assert!(!j.pull(&mut out), "one frame is not yet the reserve");
        push(&mut j, 21);
        assert!(j.pull(&mut out));
    }

    #[test]
    fn empty_and_tiny_packets_cannot_grow_a_jitter_buffer() {
        let mut j = JitterBuffer::default();
        for seq in 0..10_000u16 {
            j.push(seq, Codec::Pcmu, &[]);
        }
        assert!(j.packets.is_empty(), "packets without audio are not kept");
        for seq in 10_000..20_000u16 {
            j.push(seq, Codec::Pcmu, &[0xff]);
        }
        assert!(j.packets.len() <= MAX_PACKETS);
    }

    #[test]
    fn sequence_numbers_wrap_without_reordering() {
        let mut j = JitterBuffer::default();
        let mut p = Vec::new();
        Codec::Pcmu.encode(&[500; FRAME_SAMPLES], &mut p);
        for s in [65534u16, 65535, 0, 1] {
            j.push(s, Codec::Pcmu, &p);
        }
        let order: Vec<u64> = j.packets.iter().map(|(s, _)| *s).collect();
        assert!(order.windows(2).all(|w| w[1] == w[0] + 1), "{order:?}");
    }

    #[test]
    fn a_participant_who_leaves_is_no_longer_sent_to_or_mixed() {
        let mut m = Mixer::new(6);
        let mut phones = vec![
            Phone::new(1, Codec::Pcmu, 500.0),
            Phone::new(2, Codec::Pcmu, 0.0),
        ];
        for p in &phones {
            p.join(&mut m);
        }
        let t = epoch();
        for _ in 0..5 {
            tick(&mut m, &mut phones, t);
        }
        assert!(m.remove(ParticipantId(1)));
        assert!(!m.remove(ParticipantId(1)));
        phones.remove(0);
        m.handle_tick();
        assert_eq!(m.transmits().count(), 1);
    }
}
