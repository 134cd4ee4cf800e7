//! Parley's own end of a call's media (voicemail, the mailbox menu): one RTP socket, paced 20 ms
//! playback of decoded prompts and messages (with seeking), DTMF from RFC 4733 events or in-band tones,
//! and recording to a WAV file that is synced to disk every second, so that a crash loses at most the
//! last second. Strict source: only the caller's own packets are heard (a [`StrictSource`] learns it
//! once from the addresses its signalling named; a stranger's audio and keys are dropped and counted),
//! and media goes back to where the caller's RTP comes from (symmetric RTP). No call logic: the
//! session decides what to play and record; this task only does it and reports.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::vm::{RecordEnd, RecordResult};
use parley_media::dtmf::inband::InbandDetector;
use parley_media::dtmf::rfc4733::Rfc4733Receiver;
use parley_media::g711::Codec;
use parley_media::rtp::{
    is_rtcp, RtpHeader, RtpPacket, SequenceTracker, SourceCheck, StrictSource,
};
use parley_media::wav::{recover, WavRecorder};
use parley_media::FRAME_SAMPLES;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// Packet counters of one media session.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// RTP packets received from the caller.
    pub received: AtomicU64,
    /// RTP packets sent to the caller.
    pub sent: AtomicU64,
    /// Packets the caller sent that never arrived (sequence gaps).
    pub lost: AtomicU64,
    /// Packets dropped because they did not come from the caller.
    pub strangers: AtomicU64,
}

/// One thing to play: decoded samples, seekable or not.
#[derive(Debug, Clone)]
pub struct Clip {
    /// 8 kHz samples.
    pub samples: Arc<[i16]>,
    /// Rewind and fast-forward apply to it (a message, not a prompt).
    pub seekable: bool,
}

/// What to record.
#[derive(Debug)]
pub struct RecordSpec {
    /// The file to write (created, truncated).
    pub path: PathBuf,
    /// Longest recording.
    pub max: Duration,
    /// End after this much silence.
    pub silence: Option<Duration>,
}

/// What the session's media reports to the shell.
#[derive(Debug)]
pub enum MediaEvent {
    /// The playback with this generation finished.
    PlayDone(u64),
    /// A DTMF digit.
    Digit(char),
    /// The recording ended by itself (silence, maximum length) or on request.
    RecordDone(RecordResult),
}

enum Cmd {
    Remote(Option<SocketAddr>, Option<IpAddr>, u8, Option<u8>),
    Play(u64, Vec<Clip>),
    StopPlay,
    Seek(i64),
    Record(RecordSpec),
    StopRecord,
    Close(oneshot::Sender<Option<RecordResult>>),
}

/// The handle the shell keeps for one media session.
#[derive(Debug)]
pub struct Media {
    /// The local RTP port.
    pub port: u16,
    /// Counters.
    pub stats: Arc<MediaStats>,
    cmd: mpsc::UnboundedSender<Cmd>,
    generation: u64,
}

impl Media {
    /// Start a media session on a bound RTP/RTCP pair; events go to `events` tagged with `id`.
    pub fn start(
        sockets: (UdpSocket, UdpSocket),
        id: u64,
        events: mpsc::UnboundedSender<(u64, MediaEvent)>,
    ) -> std::io::Result<Media> {
        let port = sockets.0.local_addr()?.port();
        let stats = Arc::new(MediaStats::default());
        let (cmd, rx) = mpsc::unbounded_channel();
        let task = Task::new(sockets.0, id, events, stats.clone());
        tokio::spawn(task.run(rx, sockets.1));
        Ok(Media {
            port,
            stats,
            cmd,
            generation: 0,
        })
    }

    /// Where the caller receives RTP (its SDP), the IP its signalling comes from, and which payload
    /// types were agreed.
    pub fn set_remote(
        &self,
        remote: Option<SocketAddr>,
        signalling: Option<IpAddr>,
        audio_pt: u8,
        event_pt: Option<u8>,
    ) {
        let _ = self
            .cmd
            .send(Cmd::Remote(remote, signalling, audio_pt, event_pt));
    }

    /// Play clips in order, replacing what plays; returns the generation its `PlayDone` will carry.
    pub fn play(&mut self, clips: Vec<Clip>) -> u64 {
        self.generation += 1;
        let _ = self.cmd.send(Cmd::Play(self.generation, clips));
        self.generation
    }

    /// The generation of the latest `play`.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Stop playing (no `PlayDone`).
    pub fn stop_play(&mut self) {
        self.generation += 1;
        let _ = self.cmd.send(Cmd::StopPlay);
    }

    /// Seek within the seekable clip playing.
    pub fn seek(&self, delta_ms: i64) {
        let _ = self.cmd.send(Cmd::Seek(delta_ms));
    }

    /// Start recording.
    pub fn record(&self, spec: RecordSpec) {
        let _ = self.cmd.send(Cmd::Record(spec));
    }

    /// Stop the recording (a `RecordDone` follows).
    pub fn stop_record(&self) {
        let _ = self.cmd.send(Cmd::StopRecord);
    }

    /// End the session; returns the result of a recording that was still running (finalized on disk).
    pub async fn close(&self) -> Option<RecordResult> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Close(tx)).is_err() {
            return None;
        }
        rx.await.ok().flatten()
    }
}

struct Playing {
    generation: u64,
    clips: Vec<Clip>,
    index: usize,
    position: usize,
}

struct Recording {
    recorder: WavRecorder<File>,
    started: Instant,
    max: Duration,
    silence: Option<Duration>,
    last_voice: Instant,
    /// Samples written since the last sound above the silence threshold.
    silent_samples: u64,
    since_sync: usize,
}

/// A frame whose mean power is below this (about -45 dBFS) counts as silence.
const SILENCE_POWER: f64 = 180.0 * 180.0;

/// Headers and data are synced to disk after this many samples (one second).
const SYNC_EVERY: usize = 8000;

struct Task {
    socket: UdpSocket,
    id: u64,
    events: mpsc::UnboundedSender<(u64, MediaEvent)>,
    stats: Arc<MediaStats>,
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
    decoded: Vec<i16>,
    /// Outgoing packet, reused every frame.
    packet: Vec<u8>,
}

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

impl Task {
    fn new(
        socket: UdpSocket,
        id: u64,
        events: mpsc::UnboundedSender<(u64, MediaEvent)>,
        stats: Arc<MediaStats>,
    ) -> Task {
        Task {
            socket,
            id,
            events,
            stats,
            source: StrictSource::new(),
            codec: Codec::Pcmu,
            event_pt: None,
            header: RtpHeader {
                marker: true,
                payload_type: 0,
                sequence: rand::random(),
                timestamp: rand::random(),
                ssrc: rand::random(),
            },
            talkspurt: true,
            playing: None,
            recording: None,
            rfc4733: Rfc4733Receiver::new(),
            inband: InbandDetector::new(),
            seq: None,
            decoded: Vec::with_capacity(FRAME_SAMPLES * 2),
            packet: Vec::with_capacity(12 + FRAME_SAMPLES),
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>, _rtcp: UdpSocket) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut buf = vec![0u8; 2048];
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    match cmd {
                        None => break,
                        Some(Cmd::Close(reply)) => {
                            let r = self.finish_recording(RecordEnd::Hangup);
                            let _ = reply.send(r);
                            break;
                        }
                        Some(c) => self.command(c),
                    }
                }
                _ = tick.tick() => self.tick().await,
                r = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        self.receive(&buf[..n], from);
                    }
                }
            }
        }
        if self.recording.is_some() {
            self.finish_recording(RecordEnd::Hangup);
        }
    }

    fn emit(&self, e: MediaEvent) {
        let _ = self.events.send((self.id, e));
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::Remote(remote, signalling, pt, event_pt) => {
                self.source.expect(remote, signalling);
                self.codec = Codec::from_payload_type(pt).unwrap_or(Codec::Pcmu);
                self.header.payload_type = self.codec.payload_type();
                self.event_pt = event_pt;
            }
            Cmd::Play(generation, clips) => {
                self.playing = Some(Playing {
                    generation,
                    clips,
                    index: 0,
                    position: 0,
                });
                self.talkspurt = true;
            }
            Cmd::StopPlay => self.playing = None,
            Cmd::Seek(delta_ms) => {
                if let Some(p) = self.playing.as_mut() {
                    if let Some(clip) = p.clips.get(p.index).filter(|c| c.seekable) {
                        let target = p.position as i64 + delta_ms * 8;
                        p.position = target.clamp(0, clip.samples.len() as i64) as usize;
                    }
                }
            }
            Cmd::Record(spec) => {
                if self.recording.is_some() {
                    self.finish_recording(RecordEnd::Stopped);
                }
                match File::create(&spec.path)
                    .map_err(parley_media::wav::WavError::from)
                    .and_then(WavRecorder::new)
                {
                    Ok(recorder) => {
                        let t = now();
                        self.recording = Some(Recording {
                            recorder,
                            started: t,
                            max: spec.max,
                            silence: spec.silence,
                            last_voice: t,
                            silent_samples: 0,
                            since_sync: 0,
                        });
                    }
                    Err(e) => {
                        warn!(path = %spec.path.display(), error = %e, "cannot create recording");
                        self.emit(MediaEvent::RecordDone(RecordResult {
                            duration_ms: 0,
                            end: RecordEnd::Stopped,
                        }));
                    }
                }
            }
            Cmd::StopRecord => {
                if let Some(r) = self.finish_recording(RecordEnd::Stopped) {
                    self.emit(MediaEvent::RecordDone(r));
                }
            }
            Cmd::Close(_) => {}
        }
    }

    async fn tick(&mut self) {
        self.check_recording_limits();
        let Some(p) = self.playing.as_mut() else {
            self.talkspurt = true;
            return;
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
            self.emit(MediaEvent::PlayDone(generation));
            return;
        }
        if let Some(to) = self.source.destination() {
            self.packet.clear();
            self.header.marker = std::mem::take(&mut self.talkspurt);
            self.header.write(&mut self.packet);
            self.codec.encode(&frame, &mut self.packet);
            if self.socket.send_to(&self.packet, to).await.is_ok() {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.header.sequence = self.header.sequence.wrapping_add(1);
        self.header.timestamp = self.header.timestamp.wrapping_add(FRAME_SAMPLES as u32);
    }

    fn receive(&mut self, buf: &[u8], from: SocketAddr) {
        match self.source.check(now(), from) {
            SourceCheck::Accept => {}
            SourceCheck::Learned(a) => debug!(source = %a, "media source learned"),
            SourceCheck::Stranger => {
                if self.stats.strangers.fetch_add(1, Ordering::Relaxed) == 0 {
                    debug!(%from, "media from a stranger dropped");
                }
                return;
            }
        }
        if is_rtcp(buf) {
            return;
        }
        let Ok(pkt) = RtpPacket::parse(buf) else {
            return;
        };
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let tracker = self.seq.get_or_insert_with(SequenceTracker::new);
        tracker.record(pkt.header.sequence);
        self.stats
            .lost
            .store(tracker.lost().max(0) as u64, Ordering::Relaxed);
        if Some(pkt.header.payload_type) == self.event_pt {
            let _ = self.rfc4733.handle_packet(&pkt);
            while let Some(d) = self.rfc4733.poll_digit() {
                self.emit(MediaEvent::Digit(d.digit));
            }
            return;
        }
        let Some(codec) = Codec::from_payload_type(pkt.header.payload_type) else {
            return;
        };
        self.decoded.clear();
        codec.decode(pkt.payload, &mut self.decoded);
        self.rfc4733.finish_stale(pkt.header.timestamp);
        while let Some(d) = self.rfc4733.poll_digit() {
            self.emit(MediaEvent::Digit(d.digit));
        }
        if self.event_pt.is_none() {
            self.inband.push(&self.decoded);
            while let Some(d) = self.inband.poll_digit() {
                self.emit(MediaEvent::Digit(d));
            }
        }
        self.record_samples();
    }

    fn record_samples(&mut self) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        let samples = &self.decoded;
        if let Err(e) = rec.recorder.push(samples) {
            warn!(error = %e, "recording write failed");
        }
        let power = parley_media::tone::mean_power(samples);
        if power >= SILENCE_POWER {
            rec.last_voice = now();
            rec.silent_samples = 0;
        } else {
            rec.silent_samples += samples.len() as u64;
        }
        rec.since_sync += samples.len();
        if rec.since_sync >= SYNC_EVERY {
            rec.since_sync = 0;
            // Samples reach the kernel with every packet (unbuffered writes), so a killed process loses
            // nothing; the header's sizes are refreshed every second for readers of the open file.
            let ok = rec.recorder.sync_header().is_ok();
            if !ok {
                warn!("recording header sync failed");
            }
        }
    }

    fn check_recording_limits(&mut self) {
        let Some(rec) = self.recording.as_ref() else {
            return;
        };
        let t = now();
        let end = if t.duration_since(rec.started) >= rec.max {
            Some(RecordEnd::MaxLength)
        } else if rec
            .silence
            .is_some_and(|s| t.duration_since(rec.last_voice) >= s)
        {
            Some(RecordEnd::Silence)
        } else {
            None
        };
        if let Some(end) = end {
            if let Some(r) = self.finish_recording(end) {
                self.emit(MediaEvent::RecordDone(r));
            }
        }
    }

    /// Close the recording: trailing silence is cut when it ended on silence; the file is synced.
    fn finish_recording(&mut self, end: RecordEnd) -> Option<RecordResult> {
        let rec = self.recording.take()?;
        let written = rec.recorder.samples_written();
        let keep = if end == RecordEnd::Silence {
            written.saturating_sub(rec.silent_samples)
        } else {
            written
        };
        let result = match rec.recorder.finish() {
            Ok(mut file) => {
                if keep < written {
                    let _ = file
                        .set_len(44 + keep * 2)
                        .and_then(|_| file.seek(SeekFrom::Start(0)).map(|_| ()));
                    let _ = recover(&mut file);
                }
                let _ = file.sync_all();
                keep / 8
            }
            Err(e) => {
                warn!(error = %e, "recording could not be finished");
                keep / 8
            }
        };
        Some(RecordResult {
            duration_ms: result,
            end,
        })
    }
}
