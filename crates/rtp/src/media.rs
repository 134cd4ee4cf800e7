//! Parley's own media end (voicemail, the mailbox menu, the Conference Center's prompts), the IO
//! side: each session is a clocked job on one of the relay's event loops that every 20 ms takes what
//! the caller sent (one `recvmmsg`; the socket is in no epoll set, so an arriving packet wakes no
//! thread), writes what a recording keeps to its WAV file, and sends the next packet of playback,
//! driving a [`MediaSession`] (playback, DTMF, strict source, the recording's clock, all in
//! `parley-media` without IO). Samples reach the kernel with every packet and the file's header is
//! refreshed every second, so a crash loses nothing; a finished recording is cut and synced to disk
//! off the loop, and its report (with the events after it, in order) goes once that is done. No call
//! logic: the switch decides what to play and record; this job only does it and reports. A recording
//! played from the store is streamed: the session asks for its parts as it plays ([`ClipSource`],
//! read on the async runtime), so a three-minute message never sits whole in memory.

use std::fs::File;
use std::future::Future;
use std::io::{Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parley_core::vm::{RecordEnd, RecordResult};
use parley_media::session::{Clip as SessionClip, Event, MediaSession, RecordStop};
use parley_media::wav::{recover, WavRecorder};
use tokio::sync::oneshot;
use tracing::warn;

use crate::relay::sys::Batch;
use crate::relay::{Clocked, Engine};

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

impl MediaStats {
    /// The session's (or its conference seat's) counters, where the status reads them.
    pub(crate) fn show(&self, received: u64, sent: u64, lost: u64, strangers: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.received.store(received, Relaxed);
        self.sent.store(sent, Relaxed);
        self.lost.store(lost, Relaxed);
        self.strangers.store(strangers, Relaxed);
    }
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
    Close(oneshot::Sender<Option<RecordResult>>),
    /// Into a conference room: the rooms, the room's name, ding for the others.
    Join(crate::conference::Rooms, String, bool),
    /// Out of the conference room: dong for the others.
    Leave(bool),
}

/// What comes back to a session from work done off its loop.
enum Back {
    /// A streamed clip's samples: generation, clip, from, samples.
    Supply(u64, usize, u64, Vec<i16>),
    /// Recording `.0`'s file is finished and synced: its report can go.
    Finished(u64),
}

/// The session's events in the order they happened, where a recording's report waits for its file
/// to be synced (off the loop) and everything after it waits behind it.
#[derive(Default)]
struct Ordered {
    queue: std::collections::VecDeque<Held>,
    next: u64,
}

enum Held {
    Event(MediaEvent),
    /// A recording's report, with whether its file is synced yet.
    Report(u64, RecordResult, bool),
}

impl Ordered {
    /// An event, out now unless something waits before it.
    fn emit(&mut self, e: MediaEvent, sink: &EventSink) {
        if self.queue.is_empty() {
            sink(e);
        } else {
            self.queue.push_back(Held::Event(e));
        }
    }

    /// A recording's report, which waits for its file; returns the number its file's end will bring.
    fn report(&mut self, r: RecordResult) -> u64 {
        self.next += 1;
        self.queue.push_back(Held::Report(self.next, r, false));
        self.next
    }

    /// Recording `n`'s file is synced: what can go, goes.
    fn synced(&mut self, n: u64, sink: &EventSink) {
        for h in &mut self.queue {
            if let Held::Report(m, _, done) = h {
                if *m == n {
                    *done = true;
                }
            }
        }
        while let Some(h) = self.queue.front() {
            if let Held::Report(_, _, false) = h {
                break;
            }
            match self.queue.pop_front() {
                Some(Held::Event(e)) => sink(e),
                Some(Held::Report(_, r, _)) => sink(MediaEvent::RecordDone(r)),
                None => {}
            }
        }
    }

    /// Whether a report still waits for its file.
    fn waiting(&self) -> bool {
        !self.queue.is_empty()
    }
}

/// The handle the shell keeps for one media session.
#[derive(Debug)]
pub struct Media {
    /// The local RTP port.
    pub port: u16,
    /// Counters.
    pub stats: Arc<MediaStats>,
    cmd: mpsc::Sender<Cmd>,
}

impl Media {
    /// Start a media session on a bound, non-blocking RTP/RTCP pair, as a clocked job on one of
    /// `engine`'s loops; its events go to `events`, in order. Needs the runtime (reads of streamed
    /// clips and the syncing of finished recordings run there).
    pub fn start(
        sockets: (std::net::UdpSocket, std::net::UdpSocket),
        events: EventSink,
        engine: &Engine,
    ) -> std::io::Result<Media> {
        let port = sockets.0.local_addr()?.port();
        let stats = Arc::new(MediaStats::default());
        let (cmd, rx) = mpsc::channel();
        let (back_tx, back) = mpsc::channel();
        let job = Job {
            socket: Arc::new(sockets.0),
            _rtcp: sockets.1,
            rx,
            back,
            back_tx,
            runtime: tokio::runtime::Handle::current(),
            remote: (None, None, 0, None),
            seat: None,
            events,
            ordered: Ordered::default(),
            stats: stats.clone(),
            session: MediaSession::new(rand::random()),
            recording: None,
            sources: (0, Vec::new()),
            reads: Vec::new(),
        };
        engine.clock(Box::new(job));
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

/// One media session, a clocked job on one of the relay's event loops: every 20 ms it takes what
/// the caller sent (one `recvmmsg`; the socket is in no epoll set, so a packet wakes nobody), writes
/// what a recording keeps, sends the next packet of playback, and carries out the commands that came.
struct Job {
    socket: Arc<std::net::UdpSocket>,
    _rtcp: std::net::UdpSocket,
    rx: mpsc::Receiver<Cmd>,
    back: mpsc::Receiver<Back>,
    back_tx: mpsc::Sender<Back>,
    runtime: tokio::runtime::Handle,
    /// What the signalling said of the caller's media (for a conference room it joins).
    remote: (Option<SocketAddr>, Option<IpAddr>, u8, Option<u8>),
    /// The caller's place in a conference room: the room has its audio, this job only commands.
    seat: Option<crate::conference::Seat>,
    events: EventSink,
    /// While a finished recording's file is synced off the loop, its report and the events after it
    /// wait here, so that the shell hears them in order.
    ordered: Ordered,
    stats: Arc<MediaStats>,
    session: MediaSession,
    recording: Option<Recording>,
    /// The sources of the streamed clips playing (by index in the playlist), and its generation.
    sources: (u64, Vec<Option<Arc<dyn ClipSource>>>),
    /// The read in flight for each clip: one at most, so a caller pressing seek keys as fast as
    /// packets go cannot pile reads (database queries) up; a read made stale is aborted.
    reads: Vec<(usize, tokio::task::AbortHandle)>,
}

impl Drop for Job {
    fn drop(&mut self) {
        self.abort_reads();
    }
}

impl Clocked for Job {
    fn tick(&mut self, now: Instant, batch: &mut Batch) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Cmd::Close(reply)) => {
                    self.end(Some(reply));
                    return false;
                }
                Ok(c) => self.command(c),
                Err(mpsc::TryRecvError::Empty) => break,
                // The shell dropped its handle.
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.end(None);
                    return false;
                }
            }
        }
        while let Ok(b) = self.back.try_recv() {
            match b {
                Back::Supply(generation, clip, from, samples) => {
                    self.session.supply(generation, clip, from, &samples)
                }
                Back::Finished(n) => self.ordered.synced(n, &self.events),
            }
        }
        // In a conference room, the room reads the caller's socket and sends to it.
        if self.seat.is_none() {
            let (session, recording) = (&mut self.session, &mut self.recording);
            batch.drain(self.socket.as_raw_fd(), |from, bytes| {
                if let Some(samples) = session.handle_packet(now, from, bytes) {
                    if let Some(rec) = recording.as_mut() {
                        write(rec, samples);
                    }
                }
            });
            if let Some((to, packet)) = self.session.handle_tick() {
                let _ = self.socket.send_to(packet, to);
            }
        }
        self.drain();
        if self.seat.is_none() {
            self.count();
        }
        true
    }
}

impl Job {
    fn abort_reads(&mut self) {
        for (_, read) in self.reads.drain(..) {
            read.abort();
        }
    }

    /// The session ends (closed or dropped): a recording running is finished on disk, its result
    /// replied to `Close`, and a conference seat left.
    fn end(&mut self, reply: Option<oneshot::Sender<Option<RecordResult>>>) {
        self.session.stop_recording(RecordStop::Hangup);
        let file = self.drain();
        if let Some(seat) = self.seat.take() {
            seat.leave(false);
        }
        // Events still held behind a file being synced go out once it is (in order).
        let mut ordered = std::mem::take(&mut self.ordered);
        let events = std::mem::replace(&mut self.events, Box::new(|_| {}));
        let back = std::mem::replace(&mut self.back, mpsc::channel().1);
        self.runtime.spawn_blocking(move || {
            while ordered.waiting() {
                match back.recv() {
                    Ok(Back::Finished(n)) => ordered.synced(n, &events),
                    Ok(Back::Supply(..)) => {}
                    Err(_) => break,
                }
            }
            let result = file.map(|(f, r)| {
                finish_file(f);
                r
            });
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        });
    }

    fn count(&self) {
        let c = self.session.counters();
        self.stats.show(c.received, c.sent, c.lost, c.strangers);
    }

    /// Report the session's events; a recording that ended has its file finished off the loop and
    /// is reported once synced. Returns the file and result of a recording the caller's hang-up ended
    /// (for `Close`), still to be finished.
    fn drain(&mut self) -> Option<(Option<Finishing>, RecordResult)> {
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
                    let (file, r) = self.finish_recording(stop, keep);
                    if stop == RecordStop::Hangup {
                        ended = Some((file, r));
                    } else {
                        // Its report waits for the file; what happens meanwhile waits behind it.
                        let n = self.ordered.report(r);
                        let back = self.back_tx.clone();
                        self.runtime.spawn_blocking(move || {
                            // Reported even if finishing panicked: nothing waits forever.
                            let _ = std::panic::catch_unwind(move || finish_file(file));
                            let _ = back.send(Back::Finished(n));
                        });
                    }
                }
            }
        }
        ended
    }

    /// Read a streamed clip's part off the loop; the samples come back as [`Back::Supply`].
    fn read(&mut self, generation: u64, clip: usize, from: u64, len: u64) {
        let source = match &self.sources {
            (g, sources) if *g == generation => sources.get(clip).cloned().flatten(),
            _ => None,
        };
        let Some(source) = source else {
            self.session.supply(generation, clip, from, &[]);
            return;
        };
        let back = self.back_tx.clone();
        let read = self.runtime.spawn(async move {
            let samples = source.read(from, len).await;
            let _ = back.send(Back::Supply(generation, clip, from, samples));
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

    fn emit(&mut self, e: MediaEvent) {
        self.ordered.emit(e, &self.events);
    }

    /// Into a conference room: the room reads the socket and sends from it from now on.
    fn join(&mut self, rooms: &crate::conference::Rooms, room: &str, chime: bool) {
        let (remote, signalling, audio_pt, event_pt) = self.remote;
        let attendee = crate::conference::Attendee {
            socket: self.socket.clone(),
            stats: Some(self.stats.clone()),
            remote,
            signalling,
            audio_pt,
            event_pt,
        };
        self.seat = Some(rooms.join(room, attendee, chime));
    }

    /// Out of the conference room: this job reads the socket again.
    fn leave(&mut self, chime: bool) {
        if let Some(seat) = self.seat.take() {
            seat.leave(chime);
        }
        self.stats
            .talking
            .store(false, std::sync::atomic::Ordering::Relaxed);
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
                self.join(&rooms, &room, chime);
            }
            Cmd::Leave(chime) => self.leave(chime),
            Cmd::Play(generation, clips) => {
                let (clips, sources) = clips.into_iter().map(|c| (c.clip, c.source)).unzip();
                self.abort_reads();
                self.sources = (generation, sources);
                self.session.play(generation, clips);
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
                    let (file, _) = self.finish_recording(RecordStop::Stopped, u64::MAX);
                    self.runtime.spawn_blocking(move || finish_file(file));
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

    /// Close the recording's header (its samples are all written), keeping `keep` samples; what is
    /// left to do on the file (cutting trailing silence, syncing it to disk) is returned, to be done
    /// off the loop by [`finish_file`].
    fn finish_recording(
        &mut self,
        stop: RecordStop,
        keep: u64,
    ) -> (Option<Finishing>, RecordResult) {
        let end = match stop {
            RecordStop::Stopped => RecordEnd::Stopped,
            RecordStop::Silence => RecordEnd::Silence,
            RecordStop::MaxLength => RecordEnd::MaxLength,
            RecordStop::Hangup => RecordEnd::Hangup,
        };
        let Some(rec) = self.recording.take() else {
            return (
                None,
                RecordResult {
                    duration_ms: keep / 8,
                    end,
                },
            );
        };
        let written = rec.recorder.samples_written();
        let keep = keep.min(written);
        let file = match rec.recorder.finish() {
            Ok(file) => Some(Finishing {
                file,
                cut_to: (keep < written).then_some(keep),
            }),
            Err(e) => {
                warn!(error = %e, "recording could not be finished");
                None
            }
        };
        (
            file,
            RecordResult {
                duration_ms: keep / 8,
                end,
            },
        )
    }
}

/// A recording's file with its header written, and where to cut it (trailing silence).
struct Finishing {
    file: File,
    cut_to: Option<u64>,
}

/// Cut the file's trailing silence and sync it to disk (blocking: never on the loop).
fn finish_file(f: Option<Finishing>) {
    let Some(Finishing { mut file, cut_to }) = f else {
        return;
    };
    if let Some(keep) = cut_to {
        let _ = file
            .set_len(44 + keep * 2)
            .and_then(|_| file.seek(SeekFrom::Start(0)).map(|_| ()));
        let _ = recover(&mut file);
    }
    let _ = file.sync_all();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn sink() -> (EventSink, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let sink: EventSink = Box::new(move |e| {
            let name = match e {
                MediaEvent::PlayDone(g) => format!("play {g}"),
                MediaEvent::Digit(d) => format!("digit {d}"),
                MediaEvent::RecordDone(r) => format!("record {}", r.duration_ms),
            };
            s.lock().unwrap().push(name);
        });
        (sink, seen)
    }

    fn result(ms: u64) -> RecordResult {
        RecordResult {
            duration_ms: ms,
            end: RecordEnd::Stopped,
        }
    }

    #[test]
    fn reports_wait_for_their_files_and_everything_after_them_waits_in_order() {
        let (sink, seen) = sink();
        let mut o = Ordered::default();
        o.emit(MediaEvent::Digit('1'), &sink);
        let first = o.report(result(1000));
        o.emit(MediaEvent::Digit('2'), &sink);
        let second = o.report(result(2000));
        o.emit(MediaEvent::PlayDone(7), &sink);
        assert_eq!(*seen.lock().unwrap(), ["digit 1"]);
        // The second file is synced first: nothing may overtake the first report.
        o.synced(second, &sink);
        assert_eq!(*seen.lock().unwrap(), ["digit 1"]);
        assert!(o.waiting());
        o.synced(first, &sink);
        assert_eq!(
            *seen.lock().unwrap(),
            ["digit 1", "record 1000", "digit 2", "record 2000", "play 7"]
        );
        assert!(!o.waiting());
        o.emit(MediaEvent::Digit('3'), &sink);
        assert_eq!(seen.lock().unwrap().last().unwrap(), "digit 3");
    }
}
