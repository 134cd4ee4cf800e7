//! The RTP relay that anchors every call's media: two socket pairs (RTP and RTCP) per call, one facing
//! each leg, forwarding packets across. Each socket accepts only its own party (a
//! [`StrictSource`]: learned once from the addresses the signalling named, then strangers are dropped
//! and counted), and sends back to where the party really sends from (symmetric RTP, which is what
//! works behind NAT). Ports are drawn at random from the range. Owns sockets; no call logic.
//!
//! While a Follow-Me leg is screened ([`Relay::screen`]), the callee side is Parley's own media end
//! instead: a [`MediaSession`] plays the prompt to that leg and listens for its keys (RFC 4733 or
//! in-band), the caller's audio is held back and the leg's audio reaches nobody, until the switch
//! accepts or drops the leg.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parley_core::call::MediaUpdate;
use parley_media::rtp::{SourceCheck, StrictSource};
use parley_media::session::{Clip, Event, MediaSession};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::debug;

/// Packet counters of one relayed call.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// RTP packets from the caller forwarded to the callee.
    pub a_to_b: AtomicU64,
    /// RTP packets from the callee forwarded to the caller.
    pub b_to_a: AtomicU64,
    /// Packets dropped because the other side's address was not known yet.
    pub dropped: AtomicU64,
    /// Packets (RTP and RTCP) dropped because they came from neither of the call's parties.
    pub strangers: AtomicU64,
}

/// Hands out even RTP ports (RTCP on the odd port above) from a range, at random: the next call's
/// ports cannot be guessed from this one's.
#[derive(Debug)]
pub struct PortRange {
    ip: IpAddr,
    low: u16,
    high: u16,
}

impl PortRange {
    /// A range `low..=high` on `ip` (bind address).
    pub fn new(ip: IpAddr, low: u16, high: u16) -> PortRange {
        let low = low + (low % 2);
        PortRange { ip, low, high }
    }

    /// Bind an RTP/RTCP socket pair on a free even port drawn at random.
    pub fn allocate(&mut self) -> std::io::Result<(UdpSocket, UdpSocket)> {
        let pairs = (self.high.saturating_sub(self.low).saturating_sub(1) / 2 + 1) as u32;
        // Random draws first; then a walk over the whole range from a random start, so that a nearly
        // full range still finds its last free pair.
        let start = rand::random::<u32>() % pairs;
        let draws = (0..16).map(|_| rand::random::<u32>() % pairs);
        let walk = (0..pairs).map(|i| (start + i) % pairs);
        for n in draws.chain(walk) {
            let port = self.low + 2 * n as u16;
            let Ok(rtp) = bind(SocketAddr::new(self.ip, port)) else {
                continue;
            };
            let Ok(rtcp) = bind(SocketAddr::new(self.ip, port + 1)) else {
                continue;
            };
            set_buffers(&rtp);
            return Ok((rtp, rtcp));
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free RTP port in the configured range",
        ))
    }
}

/// Bind a UDP socket at once (binding never waits) and hand it to the runtime.
fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = std::net::UdpSocket::bind(addr)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s)
}

/// Relay sockets get large kernel buffers: a burst from many calls must queue, not drop.
fn set_buffers(s: &UdpSocket) {
    let sock = socket2::SockRef::from(s);
    let _ = sock.set_recv_buffer_size(RELAY_SOCKET_BUFFER);
    let _ = sock.set_send_buffer_size(RELAY_SOCKET_BUFFER);
}

/// Requested socket buffer size (the kernel caps it at net.core.rmem_max / wmem_max).
const RELAY_SOCKET_BUFFER: usize = 1 << 20;

/// A running relay for one call.
#[derive(Debug)]
pub struct Relay {
    /// Port facing the caller.
    pub a_port: u16,
    /// Port facing the callee.
    pub b_port: u16,
    /// Counters.
    pub stats: Arc<RelayStats>,
    update: watch::Sender<MediaUpdate>,
    screen: mpsc::UnboundedSender<Option<Screen>>,
    task: tokio::task::JoinHandle<()>,
}

/// Screening a Follow-Me leg on the callee side: whom to talk to, in which payload types, what to
/// play, and where its keys go.
pub struct Screen {
    /// The leg's RTP address (its SDP).
    pub remote: SocketAddr,
    /// Where its signalling comes from.
    pub signalling: IpAddr,
    /// Its audio payload type (0 PCMU, 8 PCMA).
    pub pt: u8,
    /// Its telephone-event payload type (none: keys are heard in-band).
    pub te: Option<u8>,
    /// The prompt, in 8 kHz samples, clip by clip.
    pub prompt: Vec<Arc<[i16]>>,
    /// Called with each key the leg presses.
    pub keys: Box<dyn Fn(char) + Send>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen")
            .field("remote", &self.remote)
            .field("pt", &self.pt)
            .field("te", &self.te)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Start relaying between two socket pairs.
    pub fn start(a: (UdpSocket, UdpSocket), b: (UdpSocket, UdpSocket)) -> std::io::Result<Relay> {
        let a_port = a.0.local_addr()?.port();
        let b_port = b.0.local_addr()?.port();
        let stats = Arc::new(RelayStats::default());
        let (update, rx) = watch::channel(MediaUpdate::default());
        let (screen, screen_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(a, b, rx, screen_rx, stats.clone()));
        Ok(Relay {
            a_port,
            b_port,
            stats,
            update,
            screen,
            task,
        })
    }

    /// Tell the relay who each side is (its SDP address and signalling IP); each socket then learns its
    /// party's real source from that.
    pub fn update(&self, u: MediaUpdate) {
        let _ = self.update.send(u);
    }

    /// Screen a Follow-Me leg on the callee side (`None`: stop, back to relaying).
    pub fn screen(&self, s: Option<Screen>) {
        let _ = self.screen.send(s);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One side of the call: its RTP and RTCP sockets' source policies.
#[derive(Debug, Default)]
struct Party {
    rtp: StrictSource,
    rtcp: StrictSource,
}

impl Party {
    fn expect(&mut self, sdp: Option<SocketAddr>, signalling: Option<IpAddr>) {
        let rtcp = sdp.map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)));
        self.rtp.expect(sdp, signalling);
        self.rtcp.expect(rtcp, signalling);
    }

    /// Where this party's RTCP goes: where it sends RTCP from, else next to its RTP.
    fn rtcp_dest(&self) -> Option<SocketAddr> {
        self.rtcp.learned().or_else(|| {
            self.rtp
                .destination()
                .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
        })
    }
}

#[allow(clippy::disallowed_methods)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Whether a packet from `src` may pass; strangers are counted (and the call's first one logged).
fn admit(policy: &mut StrictSource, src: SocketAddr, stats: &RelayStats, side: &str) -> bool {
    match policy.check(now(), src) {
        SourceCheck::Accept => true,
        SourceCheck::Learned(a) => {
            debug!(side, source = %a, "media source learned");
            true
        }
        SourceCheck::Stranger => {
            if stats.strangers.fetch_add(1, Ordering::Relaxed) == 0 {
                debug!(side, source = %src, "media from a stranger dropped");
            }
            false
        }
    }
}

/// The media end screening a leg, and where its keys go.
struct Screening {
    session: MediaSession,
    keys: Box<dyn Fn(char) + Send>,
}

impl Screening {
    fn start(s: Screen) -> Screening {
        let mut session = MediaSession::new(rand::random());
        session.set_remote(Some(s.remote), Some(s.signalling), s.pt, s.te);
        let clips = s
            .prompt
            .into_iter()
            .map(|samples| Clip::whole(samples, false))
            .collect();
        session.play(1, clips);
        Screening {
            session,
            keys: s.keys,
        }
    }
}

async fn run(
    a: (UdpSocket, UdpSocket),
    b: (UdpSocket, UdpSocket),
    mut updates: watch::Receiver<MediaUpdate>,
    mut screens: mpsc::UnboundedReceiver<Option<Screen>>,
    stats: Arc<RelayStats>,
) {
    let (mut pa, mut pb) = (Party::default(), Party::default());
    let (mut ba, mut bb, mut ca, mut cb) = ([0u8; 2048], [0u8; 2048], [0u8; 1500], [0u8; 1500]);
    let mut screening: Option<Screening> = None;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() { return; }
                let u = updates.borrow_and_update().clone();
                pa.expect(u.a_remote, u.a_signalling);
                pb.expect(u.b_remote, u.b_signalling);
            }
            s = screens.recv() => {
                let Some(s) = s else { return };
                screening = s.map(Screening::start);
                tick.reset();
            }
            _ = tick.tick(), if screening.is_some() => {
                if let Some(sc) = screening.as_mut() {
                    if let Some((to, pkt)) = sc.session.handle_tick() {
                        let _ = b.0.send_to(pkt, to).await;
                    }
                }
            }
            r = a.0.recv_from(&mut ba) => {
                let Ok((n, src)) = r else { continue };
                // While a leg is screened, the caller's audio is held back.
                if admit(&mut pa.rtp, src, &stats, "caller") && screening.is_none() {
                    forward(&b.0, &ba[..n], pb.rtp.destination(), &stats.a_to_b, &stats.dropped).await;
                }
            }
            r = b.0.recv_from(&mut bb) => {
                let Ok((n, src)) = r else { continue };
                if let Some(sc) = screening.as_mut() {
                    // The screened leg talks to Parley only: its keys, never to the caller.
                    let _ = sc.session.handle_packet(now(), src, &bb[..n]);
                    while let Some(ev) = sc.session.poll_event() {
                        if let Event::Digit(d) = ev {
                            (sc.keys)(d);
                        }
                    }
                    continue;
                }
                if admit(&mut pb.rtp, src, &stats, "callee") {
                    forward(&a.0, &bb[..n], pa.rtp.destination(), &stats.b_to_a, &stats.dropped).await;
                }
            }
            r = a.1.recv_from(&mut ca) => {
                let Ok((n, src)) = r else { continue };
                if admit(&mut pa.rtcp, src, &stats, "caller rtcp") {
                    if let Some(d) = pb.rtcp_dest() { let _ = b.1.send_to(&ca[..n], d).await; }
                }
            }
            r = b.1.recv_from(&mut cb) => {
                let Ok((n, src)) = r else { continue };
                if admit(&mut pb.rtcp, src, &stats, "callee rtcp") {
                    if let Some(d) = pa.rtcp_dest() { let _ = a.1.send_to(&cb[..n], d).await; }
                }
            }
        }
    }
}

async fn forward(
    sock: &UdpSocket,
    pkt: &[u8],
    dest: Option<SocketAddr>,
    sent: &AtomicU64,
    dropped: &AtomicU64,
) {
    match dest {
        Some(d) => match sock.send_to(pkt, d).await {
            Ok(_) => {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                debug!(error = %e, "relay send failed");
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        },
        None => {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
