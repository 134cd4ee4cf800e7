//! The relay's event loops: one OS thread per core (by default), each owning the sockets of the calls
//! given to it, waiting on one epoll set over all of them, and moving each socket's waiting datagrams
//! with one `recvmmsg` and the accepted ones on with one `sendmmsg`. No task, future or waker per
//! call or per packet: a packet costs a source comparison, a counter and its share of two system
//! calls. Calls come and go, and are steered, by commands over a channel with an eventfd to wake the
//! loop. A call's handling that panics ends that call's media, never the loop.
//!
//! The loops also run clocked jobs ([`Clocked`]: the conference rooms and Parley's own media ends),
//! all of a loop's together on its 20 ms grid with the loop's batch buffers, so that a loop wakes once
//! a frame however many jobs it has; a job polls its own sockets, which no epoll set watches, so
//! packets arriving for it wake nobody.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parley_core::call::MediaUpdate;
use parley_media::session::Event;
use tracing::{debug, warn};

use super::sys::{Batch, Epoll, Waker, BATCH};
use super::{admit, now, Party, RelayStats, Screen, Screening};

/// A screened leg's prompt is paced at one packet per 20 ms.
const FRAME: Duration = Duration::from_millis(20);
/// The epoll token of the loop's own waker (call sockets use `slot << 2 | socket`).
const WAKE: u64 = u64::MAX;

/// What the handles send to a loop.
pub(super) enum Cmd {
    Add(u64, Box<Call>),
    Clock(Box<dyn Clocked>),
    Update(u64, MediaUpdate),
    Screen(u64, Option<Screen>),
    Remove(u64),
    Stop,
}

/// Work a loop does on its clock rather than on readiness (a conference room, a media end).
pub(crate) trait Clocked: Send {
    /// Every 20 ms, on the loop's grid: do the frame's work with the loop's buffers; false when
    /// finished (the job is then dropped).
    fn tick(&mut self, now: Instant, batch: &mut Batch) -> bool;
}

/// The relay's loops, shared by every call's [`super::Relay`] and every conference room.
#[derive(Debug)]
pub struct Engine {
    loops: Vec<LoopHandle>,
    next: AtomicUsize,
    ids: AtomicU64,
}

/// How a handle reaches its loop.
#[derive(Debug, Clone)]
pub(super) struct LoopHandle {
    tx: mpsc::Sender<Cmd>,
    waker: Arc<Waker>,
}

impl LoopHandle {
    pub(super) fn send(&self, cmd: Cmd) {
        if self.tx.send(cmd).is_ok() {
            self.waker.wake();
        }
    }
}

impl Engine {
    /// Start `threads` loops (0: one per core).
    pub fn start(threads: usize) -> std::io::Result<Engine> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut loops = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = mpsc::channel();
            let waker = Arc::new(Waker::new()?);
            let epoll = Epoll::new()?;
            epoll.add(waker.fd(), WAKE)?;
            let w = waker.clone();
            std::thread::Builder::new()
                .name(format!("parley-relay-{i}"))
                .spawn(move || Loop::new(epoll, w, rx).run())?;
            loops.push(LoopHandle { tx, waker });
        }
        Ok(Engine {
            loops,
            next: AtomicUsize::new(0),
            ids: AtomicU64::new(1),
        })
    }

    /// The loop whose turn it is.
    fn next_loop(&self) -> &LoopHandle {
        &self.loops[self.next.fetch_add(1, Ordering::Relaxed) % self.loops.len()]
    }

    /// Hand a call to the next loop in turn; returns the call's id and its loop.
    pub(super) fn add(&self, call: Call) -> (u64, LoopHandle) {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let handle = self.next_loop().clone();
        handle.send(Cmd::Add(id, Box::new(call)));
        (id, handle)
    }

    /// Run `job` on the next loop in turn, until it says it is finished.
    pub(crate) fn clock(&self, job: Box<dyn Clocked>) {
        self.next_loop().send(Cmd::Clock(job));
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for l in &self.loops {
            l.send(Cmd::Stop);
        }
    }
}

/// One call's sockets and state, owned by its loop.
pub(super) struct Call {
    /// Caller RTP, callee RTP, caller RTCP, callee RTCP.
    pub(super) sockets: [UdpSocket; 4],
    pub(super) stats: Arc<RelayStats>,
    pub(super) a: Party,
    pub(super) b: Party,
    pub(super) screening: Option<Screening>,
}

const A_RTP: usize = 0;
const B_RTP: usize = 1;
const A_RTCP: usize = 2;
const B_RTCP: usize = 3;

struct Loop {
    epoll: Epoll,
    waker: Arc<Waker>,
    rx: mpsc::Receiver<Cmd>,
    slots: Vec<Option<Call>>,
    free: Vec<usize>,
    by_id: HashMap<u64, usize>,
    /// Slots whose callee leg is being screened (their prompt is paced by the loop's frames).
    screened: Vec<usize>,
    clocked: Vec<Box<dyn Clocked>>,
    /// When the next 20 ms frame is due (`None` while nothing is clocked or screened).
    grid: Option<Instant>,
    batch: Box<Batch>,
    accepted: Vec<usize>,
}

impl Loop {
    fn new(epoll: Epoll, waker: Arc<Waker>, rx: mpsc::Receiver<Cmd>) -> Loop {
        Loop {
            epoll,
            waker,
            rx,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            screened: Vec::new(),
            clocked: Vec::new(),
            grid: None,
            batch: Batch::new(),
            accepted: Vec::with_capacity(BATCH),
        }
    }

    fn run(mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let timeout = self.timeout();
            let n = self.epoll.wait(&mut events, timeout);
            let now = now();
            let mut woken = false;
            for ev in &events[..n] {
                let token = ev.u64;
                if token == WAKE {
                    woken = true;
                    continue;
                }
                let (slot, socket) = ((token >> 2) as usize, (token & 3) as usize);
                self.readable(now, slot, socket);
            }
            self.frame();
            // Commands last: a slot freed here is never one an event of this batch named.
            if woken {
                self.waker.clear();
                if !self.commands() {
                    return;
                }
            }
        }
    }

    /// Milliseconds until the next frame is due (-1: nothing timed).
    fn timeout(&self) -> i32 {
        match self.grid {
            None => -1,
            Some(t) => {
                let wait = t.saturating_duration_since(now());
                wait.as_micros().div_ceil(1000).min(1000) as i32
            }
        }
    }

    /// Carry out every waiting command; false when told to stop. A command whose handling panics is
    /// lost, not the loop.
    fn commands(&mut self) -> bool {
        while let Ok(cmd) = self.rx.try_recv() {
            if matches!(cmd, Cmd::Stop) {
                return false;
            }
            if catch_unwind(AssertUnwindSafe(|| self.command(cmd))).is_err() {
                warn!("a relay command panicked; it is dropped");
            }
        }
        true
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Add(id, call) => self.add(id, *call),
            Cmd::Clock(job) => {
                self.grid.get_or_insert_with(now);
                self.clocked.push(job);
            }
            Cmd::Update(id, u) => {
                if let Some(c) = self.call(id) {
                    c.a.expect(u.a_remote, u.a_signalling);
                    c.b.expect(u.b_remote, u.b_signalling);
                }
            }
            Cmd::Screen(id, s) => {
                let Some(&slot) = self.by_id.get(&id) else {
                    return;
                };
                if let Some(c) = self.slots[slot].as_mut() {
                    c.screening = s.map(Screening::start);
                }
                self.screened.retain(|&x| x != slot);
                if self.slots[slot]
                    .as_ref()
                    .is_some_and(|c| c.screening.is_some())
                {
                    self.screened.push(slot);
                    self.grid.get_or_insert_with(|| now() + FRAME);
                }
            }
            Cmd::Remove(id) => self.remove(id),
            Cmd::Stop => {}
        }
    }

    fn call(&mut self, id: u64) -> Option<&mut Call> {
        let slot = *self.by_id.get(&id)?;
        self.slots[slot].as_mut()
    }

    fn add(&mut self, id: u64, call: Call) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        for (i, s) in call.sockets.iter().enumerate() {
            if let Err(e) = self.epoll.add(s.as_raw_fd(), (slot as u64) << 2 | i as u64) {
                warn!(error = %e, "relay socket not watched");
            }
        }
        self.slots[slot] = Some(call);
        self.by_id.insert(id, slot);
    }

    fn remove(&mut self, id: u64) {
        if let Some(slot) = self.by_id.remove(&id) {
            self.drop_slot(slot);
        }
    }

    fn drop_slot(&mut self, slot: usize) {
        if let Some(call) = self.slots[slot].take() {
            for s in &call.sockets {
                self.epoll.remove(s.as_raw_fd());
            }
            self.screened.retain(|&x| x != slot);
            self.free.push(slot);
        }
    }

    /// One socket of `slot` has datagrams: relay them (or hand them to the screening media end).
    fn readable(&mut self, now: Instant, slot: usize, socket: usize) {
        let Some(call) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let (batch, accepted) = (&mut self.batch, &mut self.accepted);
        let ok = catch_unwind(AssertUnwindSafe(|| {
            relay(now, call, socket, batch, accepted);
        }));
        if ok.is_err() {
            warn!("the relay's handling of a call panicked; its media ends");
            self.by_id.retain(|_, s| *s != slot);
            self.drop_slot(slot);
        }
    }

    /// When the frame is due: the next packet of every screened leg's prompt, and every clocked job.
    fn frame(&mut self) {
        let now = now();
        let Some(due) = self.grid.filter(|&due| due <= now) else {
            return;
        };
        self.screen_frames();
        self.run_clocked(now);
        // The grid holds whatever the lateness; far behind (a stalled machine), it starts again.
        self.grid = if self.clocked.is_empty() && self.screened.is_empty() {
            None
        } else if now.saturating_duration_since(due) > 5 * FRAME {
            Some(now + FRAME)
        } else {
            Some(due + FRAME)
        };
    }

    /// Run every clocked job; a job that is finished, or panics, is dropped.
    fn run_clocked(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.clocked.len() {
            let (job, batch) = (&mut self.clocked[i], &mut self.batch);
            match catch_unwind(AssertUnwindSafe(|| job.tick(now, batch))) {
                Ok(true) => i += 1,
                done => {
                    if done.is_err() {
                        warn!("a clocked job (a conference room or media end) panicked; it ends");
                    }
                    // Its drop (closing sockets, leaving a room) is guarded too.
                    let job = self.clocked.swap_remove(i);
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(job)));
                }
            }
        }
    }

    /// Send the next frame of every screened leg's prompt; a screening whose handling panics stops
    /// (the leg hears nothing more of it and presses nothing).
    fn screen_frames(&mut self) {
        let mut failed = Vec::new();
        for &slot in &self.screened {
            let Some(call) = self.slots[slot].as_mut() else {
                continue;
            };
            let Some(sc) = call.screening.as_mut() else {
                continue;
            };
            let sock = &call.sockets[B_RTP];
            let ok = catch_unwind(AssertUnwindSafe(|| {
                if let Some((to, pkt)) = sc.session.handle_tick() {
                    let _ = sock.send_to(pkt, to);
                }
            }));
            if ok.is_err() {
                warn!("a screened leg's prompt panicked; its screening stops");
                call.screening = None;
                failed.push(slot);
            }
        }
        self.screened.retain(|s| !failed.contains(s));
    }
}

/// Move what waits on `socket` of `call` to where it goes.
fn relay(
    now: Instant,
    call: &mut Call,
    socket: usize,
    batch: &mut Batch,
    accepted: &mut Vec<usize>,
) {
    let fd = call.sockets[socket].as_raw_fd();
    // Level-triggered: a full batch leaves the rest for the next wait, after the other sockets.
    let n = batch.recv(fd);
    if n == 0 {
        return;
    }
    accepted.clear();
    let stats = &*call.stats;
    if socket == B_RTP {
        if let Some(sc) = call.screening.as_mut() {
            // The screened leg talks to Parley only: its keys, never to the caller.
            for i in 0..n {
                if let Some((src, pkt)) = batch.packet(i) {
                    let _ = sc.session.handle_packet(now, src, pkt);
                }
            }
            while let Some(ev) = sc.session.poll_event() {
                if let Event::Digit(d) = ev {
                    (sc.keys)(d);
                }
            }
            return;
        }
    }
    // While a leg is screened, the caller's audio is held back (its source is still learned).
    let held = socket == A_RTP && call.screening.is_some();
    let (a, b) = (&mut call.a, &mut call.b);
    let (policy, side, out, to, sent) = match socket {
        A_RTP => (
            &mut a.rtp,
            "caller",
            B_RTP,
            b.rtp.destination(),
            Some(&stats.a_to_b),
        ),
        B_RTP => (
            &mut b.rtp,
            "callee",
            A_RTP,
            a.rtp.destination(),
            Some(&stats.b_to_a),
        ),
        A_RTCP => (&mut a.rtcp, "caller rtcp", B_RTCP, b.rtcp_dest(), None),
        _ => (&mut b.rtcp, "callee rtcp", A_RTCP, a.rtcp_dest(), None),
    };
    for i in 0..n {
        if let Some((src, _)) = batch.packet(i) {
            if admit(policy, now, src, stats, side) && !held {
                accepted.push(i);
            }
        }
    }
    let out = call.sockets[out].as_raw_fd();
    match sent {
        Some(sent) => forward(batch, out, accepted, to, sent, &stats.dropped),
        // RTCP goes where it can, uncounted.
        None => {
            if let Some(to) = to {
                batch.send(out, accepted, to);
            }
        }
    }
}

/// Send the accepted datagrams on, counting what went and what could not.
fn forward(
    batch: &mut Batch,
    fd: std::os::fd::RawFd,
    accepted: &[usize],
    to: Option<SocketAddr>,
    sent: &AtomicU64,
    dropped: &AtomicU64,
) {
    if accepted.is_empty() {
        return;
    }
    let went = match to {
        Some(to) => batch.send(fd, accepted, to),
        None => 0,
    };
    if went > 0 {
        sent.fetch_add(went as u64, Ordering::Relaxed);
    }
    if went < accepted.len() {
        if to.is_some() {
            debug!("relay send failed");
        }
        dropped.fetch_add((accepted.len() - went) as u64, Ordering::Relaxed);
    }
}
