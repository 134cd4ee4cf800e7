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
//!
//! The sockets are not the async runtime's: every call's are served by the [`Engine`]'s event loops
//! (`engine.rs`, over the system calls in `sys.rs`), which batch the datagram IO.

mod engine;
pub(crate) mod sys;

pub(crate) use engine::Clocked;
pub use engine::Engine;

use std::net::UdpSocket;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parley_core::call::MediaUpdate;
use parley_media::rtp::{SourceCheck, StrictSource};
use parley_media::session::{Clip, MediaSession};
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

    /// Bind an RTP/RTCP socket pair on a free even port drawn at random (non-blocking).
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

/// Bind a non-blocking UDP socket (the relay's loops and the media tasks never wait on one).
fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind(addr)?;
    s.set_nonblocking(true)?;
    Ok(s)
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
    id: u64,
    engine: engine::LoopHandle,
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
    /// Start relaying between two socket pairs (caller side `a`, callee side `b`), on one of the
    /// engine's loops.
    pub fn start(
        engine: &Engine,
        a: (UdpSocket, UdpSocket),
        b: (UdpSocket, UdpSocket),
    ) -> std::io::Result<Relay> {
        let a_port = a.0.local_addr()?.port();
        let b_port = b.0.local_addr()?.port();
        let stats = Arc::new(RelayStats::default());
        let call = engine::Call {
            sockets: [a.0, b.0, a.1, b.1],
            stats: stats.clone(),
            a: Party::default(),
            b: Party::default(),
            screening: None,
        };
        let (id, engine) = engine.add(call);
        Ok(Relay {
            a_port,
            b_port,
            stats,
            id,
            engine,
        })
    }

    /// Tell the relay who each side is (its SDP address and signalling IP); each socket then learns its
    /// party's real source from that.
    pub fn update(&self, u: MediaUpdate) {
        self.engine.send(engine::Cmd::Update(self.id, u));
    }

    /// Screen a Follow-Me leg on the callee side (`None`: stop, back to relaying).
    pub fn screen(&self, s: Option<Screen>) {
        self.engine.send(engine::Cmd::Screen(self.id, s));
    }
}

impl Drop for Relay {
    /// The call's sockets close on its loop.
    fn drop(&mut self) {
        self.engine.send(engine::Cmd::Remove(self.id));
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
fn admit(
    policy: &mut StrictSource,
    now: std::time::Instant,
    src: SocketAddr,
    stats: &RelayStats,
    side: &str,
) -> bool {
    match policy.check(now, src) {
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
