//! The socket task around Parley's own media end (voicemail, the mailbox menu): a 20 ms ticker, one RTP
//! socket and the WAV file of a recording, driving a [`MediaSession`] (playback, DTMF, strict source,
//! the recording's clock, all in `parley-media` without IO). Samples reach the kernel with every packet
//! and the file's header is synced every second, so a crash loses nothing. No call logic: the switch
//! decides what to play and record; this task only does it and reports. A recording played from the
//! store is streamed: the session asks for its parts as it plays ([`ClipSource`]), so a three-minute
//! message never sits whole in memory.

use std::fs::File;
use std::future::Future;
use std::io::{Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::vm::{RecordEnd, RecordResult};
use parley_media::session::{Clip as SessionClip, Event, MediaSession, RecordStop};
use parley_media::wav::{recover, WavRecorder};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

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
    /// In a conference room: the caller is talking now.
    pub talking: std::sync::atomic::AtomicBool,
}

/// Where a streamed clip's samples come from (a recording in the store), read on request.
pub trait ClipSource: std::fmt::Debug + Send + Sync + 'static {
    /// Samples `from..from + len`: fewer at the end of the recording, none when it cannot be read.
    fn read(&self, from: u64, len: u64) -> Pin<Box<dyn Future<Output = Vec<i16>> + Send>>;
}

/// One thing to play: samples held whole (a prompt), or a recording streamed from its source.
#[derive(Debug, Clone)]
pub struct Clip {
    clip: SessionClip,
    source: Option<Arc<dyn ClipSource>>,
}

impl Clip {
    /// Decoded samples, held whole; `seekable`: rewind and fast-forward apply to it.
    pub fn whole(samples: Arc<[i16]>, seekable: bool) -> Clip {
        Clip {
            clip: SessionClip::whole(samples, seekable),
            source: None,
        }
    }

    /// A recording of `len` samples, read from `source` as it plays.
    pub fn streamed(len: u64, seekable: bool, source: Arc<dyn ClipSource>) -> Clip {
        Clip {
            clip: SessionClip::streamed(len, seekable),
            source: Some(source),
        }
    }

    /// Nothing to hear (what cannot be found plays as nothing).
    pub fn silent() -> Clip {
        Clip::whole(Arc::from(Vec::new()), false)
    }
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
    /// A streamed clip's samples: generation, clip, from, samples.
    Supply(u64, usize, u64, Vec<i16>),
    Close(oneshot::Sender<Option<RecordResult>>),
    /// Into a conference room: the rooms, the room's name, ding for the others.
    Join(crate::conference::Rooms, String, bool),
    /// Out of the conference room: dong for the others.
    Leave(bool),
}

/// The handle the shell keeps for one media session.
#[derive(Debug)]
pub struct Media {
    /// The local RTP port.
    pub port: u16,
    /// Counters.
    pub stats: Arc<MediaStats>,
    cmd: mpsc::UnboundedSender<Cmd>,
}

impl Media {
    /// Start a media session on a bound, non-blocking RTP/RTCP pair; its events go to `events`, in
    /// order. Needs the runtime (the sockets become its).
    pub fn start(
        sockets: (std::net::UdpSocket, std::net::UdpSocket),
        events: EventSink,
    ) -> std::io::Result<Media> {
        let sockets = (
            UdpSocket::from_std(sockets.0)?,
            UdpSocket::from_std(sockets.1)?,
        );
        let port = sockets.0.local_addr()?.port();
        let stats = Arc::new(MediaStats::default());
        let (cmd, rx) = mpsc::unbounded_channel();
        let task = Task::new(sockets.0, events, stats.clone(), cmd.downgrade());
        tokio::spawn(task.run(rx, sockets.1));
        Ok(Media { port, stats, cmd })
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

    /// Play clips in order, replacing what plays; its `PlayDone` will carry `generation`.
    pub fn play(&self, generation: u64, clips: Vec<Clip>) {
        let _ = self.cmd.send(Cmd::Play(generation, clips));
    }

    /// Stop playing (no `PlayDone`).
    pub fn stop_play(&self) {
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

    /// Hand the caller's audio to conference room `room` (started if nobody is there): from now on
    /// the room sends to the caller and hears it, and the session plays nothing; `chime`: the others
    /// hear the ding.
    pub fn join(&self, rooms: &crate::conference::Rooms, room: &str, chime: bool) {
        let _ = self
            .cmd
            .send(Cmd::Join(rooms.clone(), room.to_string(), chime));
    }

    /// Take the caller's audio out of its conference room; `chime`: the others hear the dong.
    pub fn leave(&self, chime: bool) {
        let _ = self.cmd.send(Cmd::Leave(chime));
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

/// A datagram from the socket (never ready without one).
async fn receive(
    socket: &Option<UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// Headers and data are synced to disk after this many samples (one second).
const SYNC_EVERY: u64 = 8000;

/// The file a recording is written to.
struct Recording {
    recorder: WavRecorder<File>,
    since_sync: u64,
}

/// Where a media session's events go (the shell's channel, shared with the call's IO answers so
/// that a recording's end is never overtaken by the answer that the media closed).
pub type EventSink = Box<dyn Fn(MediaEvent) + Send + Sync>;

struct Task {
    /// The caller's socket, in the runtime; `None` while in a conference room (the room's loop polls
    /// a copy, which no reactor watches, so its packets wake nobody), when it is `parked` here.
    socket: Option<UdpSocket>,
    parked: Option<std::net::UdpSocket>,
    /// What the signalling said of the caller's media (for a conference room it joins).
    remote: (Option<SocketAddr>, Option<IpAddr>, u8, Option<u8>),
    /// The caller's place in a conference room: the room has its audio.
    seat: Option<crate::conference::Seat>,
    events: EventSink,
    stats: Arc<MediaStats>,
    session: MediaSession,
    recording: Option<Recording>,
    /// The sources of the streamed clips playing (by index in the playlist), and its generation.
    sources: (u64, Vec<Option<Arc<dyn ClipSource>>>),
    /// For the answers of reads (weak: a read in flight does not keep the task alive).
    supply: mpsc::WeakUnboundedSender<Cmd>,
    /// The read in flight for each clip: one at most, so a caller pressing seek keys as fast as
    /// packets go cannot pile reads (database queries) up; a read made stale is aborted.
    reads: Vec<(usize, tokio::task::AbortHandle)>,
}

impl Drop for Task {
    fn drop(&mut self) {
        self.abort_reads();
    }
}

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

impl Task {
    fn new(
        socket: UdpSocket,
        events: EventSink,
        stats: Arc<MediaStats>,
        supply: mpsc::WeakUnboundedSender<Cmd>,
    ) -> Task {
        Task {
            socket: Some(socket),
            parked: None,
            remote: (None, None, 0, None),
            seat: None,
            events,
            stats,
            session: MediaSession::new(rand::random()),
            recording: None,
            sources: (0, Vec::new()),
            supply,
            reads: Vec::new(),
        }
    }

    fn abort_reads(&mut self) {
        for (_, read) in self.reads.drain(..) {
            read.abort();
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
                            self.session.stop_recording(RecordStop::Hangup);
                            let r = self.drain();
                            let _ = reply.send(r);
                            break;
                        }
                        Some(c) => self.command(c),
                    }
                }
                // In a conference room, the room's clock reads the caller's socket and sends to
                // it: this task only waits for commands.
                _ = tick.tick(), if self.socket.is_some() => {
                    if let (Some((to, packet)), Some(socket)) = (self.session.handle_tick(), &self.socket) {
                        let _ = socket.send_to(packet, to).await;
                    }
                }
                r = receive(&self.socket, &mut buf), if self.socket.is_some() => {
                    if let Ok((n, from)) = r {
                        if let Some(samples) = self.session.handle_packet(now(), from, &buf[..n]) {
                            if let Some(rec) = self.recording.as_mut() {
                                write(rec, samples);
                            }
                        }
                    }
                }
            }
            self.drain();
            if self.seat.is_none() {
                self.count();
            }
        }
        self.session.stop_recording(RecordStop::Hangup);
        self.drain();
        if let Some(seat) = self.seat.take() {
            seat.leave(false);
        }
    }

    /// Into a conference room: the socket leaves the runtime (a copy goes to the room).
    fn join(
        &mut self,
        rooms: &crate::conference::Rooms,
        room: &str,
        chime: bool,
    ) -> std::io::Result<()> {
        let socket = match (self.socket.take(), self.parked.take()) {
            (Some(s), _) => s.into_std()?,
            (None, Some(parked)) => parked,
            (None, None) => return Err(std::io::Error::other("no media socket")),
        };
        let copy = socket.try_clone();
        self.parked = Some(socket);
        let (remote, signalling, audio_pt, event_pt) = self.remote;
        let attendee = crate::conference::Attendee {
            socket: copy?,
            stats: Some(self.stats.clone()),
            remote,
            signalling,
            audio_pt,
            event_pt,
        };
        self.seat = Some(rooms.join(room, attendee, chime));
        Ok(())
    }

    /// Out of the conference room: the socket is the runtime's again.
    fn leave(&mut self, chime: bool) {
        if let Some(seat) = self.seat.take() {
            seat.leave(chime);
        }
        if let Some(parked) = self.parked.take() {
            match UdpSocket::from_std(parked) {
                Ok(s) => self.socket = Some(s),
                Err(e) => warn!(error = %e, "media socket lost on leaving the conference"),
            }
        }
        self.stats
            .talking
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    fn count(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let c = self.session.counters();
        self.stats.received.store(c.received, Relaxed);
        self.stats.sent.store(c.sent, Relaxed);
        self.stats.lost.store(c.lost, Relaxed);
        self.stats.strangers.store(c.strangers, Relaxed);
    }

    /// Report the session's events; a recording that ended is finished on disk. Returns the result of
    /// a recording that ended, if any (for `Close`).
    fn drain(&mut self) -> Option<RecordResult> {
        let mut ended = None;
        while let Some(e) = self.session.poll_event() {
            match e {
                Event::PlayDone(g) => self.emit(MediaEvent::PlayDone(g)),
                Event::NeedAudio {
                    generation,
                    clip,
                    from,
                    len,
                } => self.read(generation, clip, from, len),
                Event::Digit(d) => self.emit(MediaEvent::Digit(d)),
                Event::RecordDone { stop, keep } => {
                    let r = self.finish_recording(stop, keep);
                    if stop == RecordStop::Hangup {
                        ended = Some(r);
                    } else {
                        self.emit(MediaEvent::RecordDone(r));
                    }
                }
            }
        }
        ended
    }

    /// Read a streamed clip's part off the task; the samples come back as [`Cmd::Supply`].
    fn read(&mut self, generation: u64, clip: usize, from: u64, len: u64) {
        let source = match &self.sources {
            (g, sources) if *g == generation => sources.get(clip).cloned().flatten(),
            _ => None,
        };
        let Some(source) = source else {
            self.session.supply(generation, clip, from, &[]);
            return;
        };
        let supply = self.supply.clone();
        let read = tokio::spawn(async move {
            let samples = source.read(from, len).await;
            if let Some(tx) = supply.upgrade() {
                let _ = tx.send(Cmd::Supply(generation, clip, from, samples));
            }
        });
        self.reads.retain(|(c, old)| {
            let keep = *c != clip;
            if !keep {
                old.abort();
            }
            keep
        });
        self.reads.push((clip, read.abort_handle()));
    }

    fn emit(&self, e: MediaEvent) {
        (self.events)(e);
    }

    fn command(&mut self, c: Cmd) {
        match c {
            Cmd::Remote(remote, signalling, pt, event_pt) => {
                self.remote = (remote, signalling, pt, event_pt);
                if let Some(seat) = &self.seat {
                    seat.update(remote, signalling, pt, event_pt);
                }
                self.session.set_remote(remote, signalling, pt, event_pt)
            }
            Cmd::Join(rooms, room, chime) => {
                self.abort_reads();
                self.session.stop_play();
                if let Some(old) = self.seat.take() {
                    old.leave(false);
                }
                if let Err(e) = self.join(&rooms, &room, chime) {
                    warn!(error = %e, "cannot hand the caller's media to the conference room");
                }
            }
            Cmd::Leave(chime) => self.leave(chime),
            Cmd::Play(generation, clips) => {
                let (clips, sources) = clips.into_iter().map(|c| (c.clip, c.source)).unzip();
                self.abort_reads();
                self.sources = (generation, sources);
                self.session.play(generation, clips);
            }
            Cmd::Supply(generation, clip, from, samples) => {
                self.session.supply(generation, clip, from, &samples)
            }
            Cmd::StopPlay => {
                self.abort_reads();
                self.sources = (0, Vec::new());
                self.session.stop_play();
            }
            Cmd::Seek(delta_ms) => self.session.seek(delta_ms),
            Cmd::Record(spec) => {
                // A take still running is closed without a report (the switch asked for a new one).
                self.session.cancel_recording();
                if self.recording.is_some() {
                    self.finish_recording(RecordStop::Stopped, u64::MAX);
                }
                match File::create(&spec.path)
                    .map_err(parley_media::wav::WavError::from)
                    .and_then(WavRecorder::new)
                {
                    Ok(recorder) => {
                        self.recording = Some(Recording {
                            recorder,
                            since_sync: 0,
                        });
                        self.session.start_recording(spec.max, spec.silence);
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
            Cmd::StopRecord => self.session.stop_recording(RecordStop::Stopped),
            Cmd::Close(_) => {}
        }
    }

    /// Close the recording's file, keeping `keep` samples (trailing silence cut); synced to disk.
    fn finish_recording(&mut self, stop: RecordStop, keep: u64) -> RecordResult {
        let end = match stop {
            RecordStop::Stopped => RecordEnd::Stopped,
            RecordStop::Silence => RecordEnd::Silence,
            RecordStop::MaxLength => RecordEnd::MaxLength,
            RecordStop::Hangup => RecordEnd::Hangup,
        };
        let Some(rec) = self.recording.take() else {
            return RecordResult {
                duration_ms: keep / 8,
                end,
            };
        };
        let written = rec.recorder.samples_written();
        let keep = keep.min(written);
        match rec.recorder.finish() {
            Ok(mut file) => {
                if keep < written {
                    let _ = file
                        .set_len(44 + keep * 2)
                        .and_then(|_| file.seek(SeekFrom::Start(0)).map(|_| ()));
                    let _ = recover(&mut file);
                }
                let _ = file.sync_all();
            }
            Err(e) => warn!(error = %e, "recording could not be finished"),
        }
        RecordResult {
            duration_ms: keep / 8,
            end,
        }
    }
}

/// Write samples a recording keeps; the header's sizes are refreshed every second for readers of the
/// open file (the samples themselves reach the kernel with every packet: unbuffered writes).
fn write(rec: &mut Recording, samples: &[i16]) {
    if let Err(e) = rec.recorder.push(samples) {
        warn!(error = %e, "recording write failed");
    }
    rec.since_sync += samples.len() as u64;
    if rec.since_sync >= SYNC_EVERY {
        rec.since_sync = 0;
        if rec.recorder.sync_header().is_err() {
            warn!("recording header sync failed");
        }
    }
}
