//! The RTP relay that anchors every call's media: two socket pairs (RTP and RTCP) per call, one facing
//! each leg, forwarding packets across with symmetric-RTP latching (media is sent back to where a phone
//! actually sends from, which is what works behind NAT). Owns sockets and the port range; no call logic.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parley_core::call::MediaUpdate;
use tokio::net::UdpSocket;
use tokio::sync::watch;
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
}

/// Hands out even RTP ports (RTCP on the odd port above) from a range.
#[derive(Debug)]
pub struct PortRange {
    ip: IpAddr,
    low: u16,
    high: u16,
    next: u16,
}

impl PortRange {
    /// A range `low..=high` on `ip` (bind address).
    pub fn new(ip: IpAddr, low: u16, high: u16) -> PortRange {
        let low = low + (low % 2);
        PortRange {
            ip,
            low,
            high,
            next: low,
        }
    }

    /// Bind an RTP/RTCP socket pair on the next free even port.
    pub async fn allocate(&mut self) -> std::io::Result<(UdpSocket, UdpSocket)> {
        let span = (self.high.saturating_sub(self.low) / 2 + 1) as usize;
        for _ in 0..span {
            let port = self.next;
            self.next = if port + 2 > self.high.saturating_sub(1) {
                self.low
            } else {
                port + 2
            };
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(self.ip, port)).await else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(self.ip, port + 1)).await else {
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
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Start relaying between two socket pairs.
    pub fn start(a: (UdpSocket, UdpSocket), b: (UdpSocket, UdpSocket)) -> std::io::Result<Relay> {
        let a_port = a.0.local_addr()?.port();
        let b_port = b.0.local_addr()?.port();
        let stats = Arc::new(RelayStats::default());
        let (update, rx) = watch::channel(MediaUpdate {
            a_remote: None,
            b_remote: None,
        });
        let task = tokio::spawn(run(a, b, rx, stats.clone()));
        Ok(Relay {
            a_port,
            b_port,
            stats,
            update,
            task,
        })
    }

    /// Tell the relay where each side's media is (from SDP); latching then follows the real sources.
    pub fn update(&self, u: MediaUpdate) {
        let _ = self.update.send(u);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where to send one side's packets: from SDP until the first packet arrives, then latched to its source.
#[derive(Debug, Default, Clone, Copy)]
struct Peer {
    sdp: Option<SocketAddr>,
    latched: Option<SocketAddr>,
}

impl Peer {
    fn dest(&self) -> Option<SocketAddr> {
        self.latched.or(self.sdp)
    }
    fn rtcp_dest(&self) -> Option<SocketAddr> {
        self.dest()
            .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
    }
    fn set_sdp(&mut self, sdp: Option<SocketAddr>) {
        if sdp != self.sdp {
            self.sdp = sdp;
            self.latched = None;
        }
    }
}

async fn run(
    a: (UdpSocket, UdpSocket),
    b: (UdpSocket, UdpSocket),
    mut updates: watch::Receiver<MediaUpdate>,
    stats: Arc<RelayStats>,
) {
    let (mut pa, mut pb) = (Peer::default(), Peer::default());
    let (mut ba, mut bb, mut ca, mut cb) = ([0u8; 2048], [0u8; 2048], [0u8; 1500], [0u8; 1500]);
    loop {
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() { return; }
                let u = updates.borrow_and_update().clone();
                pa.set_sdp(u.a_remote);
                pb.set_sdp(u.b_remote);
            }
            r = a.0.recv_from(&mut ba) => {
                let Ok((n, src)) = r else { continue };
                pa.latched.get_or_insert(src);
                forward(&b.0, &ba[..n], pb.dest(), &stats.a_to_b, &stats.dropped).await;
            }
            r = b.0.recv_from(&mut bb) => {
                let Ok((n, src)) = r else { continue };
                pb.latched.get_or_insert(src);
                forward(&a.0, &bb[..n], pa.dest(), &stats.b_to_a, &stats.dropped).await;
            }
            r = a.1.recv_from(&mut ca) => {
                let Ok((n, _)) = r else { continue };
                if let Some(d) = pb.rtcp_dest() { let _ = b.1.send_to(&ca[..n], d).await; }
            }
            r = b.1.recv_from(&mut cb) => {
                let Ok((n, _)) = r else { continue };
                if let Some(d) = pa.rtcp_dest() { let _ = a.1.send_to(&cb[..n], d).await; }
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
