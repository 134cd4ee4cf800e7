//! Conference rooms, the IO side: each room in session is a clocked job on one of the relay's event
//! loops ([`Engine`]), ticking every 20 ms over `parley_media`'s sans-IO [`Mixer`]: each tick it takes
//! what waits on every participant's own socket (one `recvmmsg` each; no epoll set watches those
//! sockets, so an arriving packet wakes no thread), mixes, and sends each participant its packet from
//! that participant's socket. While in a room, the participant's media session does not read it. A room exists only while somebody is in it: the first to
//! join starts its job, the last to leave ends it, so a conference nobody is in costs nothing. Which
//! room a caller joins, and whether the others hear a chime, is the switch's decision; this module only
//! carries it out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use parley_media::mixer::{Mixer, MixerEvent, ParticipantId};
use tracing::debug;

use crate::relay::sys::Batch;
use crate::relay::{Clocked, Engine};

/// The ding of an arrival: 880 Hz, fading over 400 ms.
pub const DING_HZ: f64 = 880.0;
/// The dong of a departure: 660 Hz, fading over 400 ms.
pub const DONG_HZ: f64 = 660.0;
const CHIME_MS: u32 = 400;
const CHIME_AMPLITUDE: f64 = 8000.0;

/// The conference rooms in session, by Conference ID (cloned handles share them).
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
    engine: Arc<Engine>,
    ding: Arc<[i16]>,
    dong: Arc<[i16]>,
}

/// A room in session as the registry knows it: where its messages go and how many are in it.
struct Entry {
    tx: mpsc::Sender<Msg>,
    members: usize,
    /// Which room of that name (a room ended and started again is another).
    serial: u64,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms")
            .field("in_session", &self.in_session())
            .finish()
    }
}

/// What a room's job is told; it reads these at its next tick.
enum Msg {
    Join(ParticipantId, Attendee, bool),
    Update(
        ParticipantId,
        Option<SocketAddr>,
        Option<IpAddr>,
        u8,
        Option<u8>,
    ),
    Leave(ParticipantId, bool),
}

/// How a participant's media is reached: its socket, where it receives RTP (its SDP), the IP its
/// signalling comes from, and the payload types agreed.
#[derive(Debug)]
pub struct Attendee {
    /// The participant's own media socket, non-blocking (the room reads it and sends from it; its
    /// media session does not while it is in the room).
    pub socket: Arc<UdpSocket>,
    /// Its media session's counters, where the room shows whether it is talking.
    pub stats: Option<Arc<crate::media::MediaStats>>,
    /// Its SDP address.
    pub remote: Option<SocketAddr>,
    /// Its signalling IP.
    pub signalling: Option<IpAddr>,
    /// Audio payload type (0 or 8).
    pub audio_pt: u8,
    /// Telephone-event payload type.
    pub event_pt: Option<u8>,
}

/// A participant's place in a room, held by its media task; dropping it leaves the room (silently).
pub struct Seat {
    left: bool,
    rooms: Rooms,
    name: String,
    serial: u64,
    id: ParticipantId,
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat").field("id", &self.id).finish()
    }
}

static NEXT_PARTICIPANT: AtomicU64 = AtomicU64::new(1);
static NEXT_ROOM: AtomicU64 = AtomicU64::new(1);

impl Rooms {
    /// No room in session; rooms will run on `engine`'s loops.
    pub fn new(engine: Arc<Engine>) -> Rooms {
        Rooms {
            inner: Arc::default(),
            engine,
            ding: parley_media::tone::chime(DING_HZ, CHIME_AMPLITUDE, CHIME_MS).into(),
            dong: parley_media::tone::chime(DONG_HZ, CHIME_AMPLITUDE, CHIME_MS).into(),
        }
    }

    /// How many rooms are in session.
    pub fn in_session(&self) -> usize {
        self.inner.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Put a participant into room `name` (starting the room if nobody is there); `chime`: the others
    /// hear the ding.
    pub fn join(&self, name: &str, attendee: Attendee, chime: bool) -> Seat {
        let id = ParticipantId(NEXT_PARTICIPANT.fetch_add(1, Ordering::Relaxed));
        // A lock poisoned by a panic elsewhere still guards consistent maps: take it.
        let mut rooms = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = rooms.entry(name.to_string()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel();
            let serial = NEXT_ROOM.fetch_add(1, Ordering::Relaxed);
            debug!(conference = %name, "room in session");
            self.engine.clock(Box::new(Room {
                registry: Arc::downgrade(&self.inner),
                serial,
                name: name.to_string(),
                rx,
                mixer: Mixer::new(rand::random()),
                members: HashMap::new(),
                ding: self.ding.clone(),
                dong: self.dong.clone(),
            }));
            Entry {
                tx,
                members: 0,
                serial,
            }
        });
        entry.members += 1;
        let _ = entry.tx.send(Msg::Join(id, attendee, chime));
        Seat {
            left: false,
            rooms: self.clone(),
            name: name.to_string(),
            serial: entry.serial,
            id,
            tx: entry.tx.clone(),
        }
    }
}

impl Seat {
    /// New media settings of the participant (a re-INVITE).
    pub fn update(
        &self,
        remote: Option<SocketAddr>,
        signalling: Option<IpAddr>,
        audio_pt: u8,
        event_pt: Option<u8>,
    ) {
        let _ = self
            .tx
            .send(Msg::Update(self.id, remote, signalling, audio_pt, event_pt));
    }

    /// Leave the room; `chime`: the others hear the dong. The room ends with its last; the room stops
    /// using the participant's socket at its next tick.
    pub fn leave(mut self, chime: bool) {
        self.leave_room(chime);
    }

    fn leave_room(&mut self, chime: bool) {
        if std::mem::replace(&mut self.left, true) {
            return;
        }
        let _ = self.tx.send(Msg::Leave(self.id, chime));
        let mut rooms = self.rooms.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = rooms.get_mut(&self.name) {
            if entry.serial == self.serial {
                entry.members = entry.members.saturating_sub(1);
                if entry.members == 0 {
                    // Its job ends at its next tick, having seen every leave; whoever joins now
                    // starts a new room.
                    rooms.remove(&self.name);
                }
            }
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.leave_room(false);
    }
}

/// One participant's socket and counters, owned by its room.
struct Member {
    socket: Arc<UdpSocket>,
    stats: Option<Arc<crate::media::MediaStats>>,
}

/// One room in session, a clocked job: its mixer and its participants' sockets.
struct Room {
    /// Where it is listed, to be taken out when it ends however it ends (a panic included).
    registry: std::sync::Weak<Mutex<HashMap<String, Entry>>>,
    serial: u64,
    name: String,
    rx: mpsc::Receiver<Msg>,
    mixer: Mixer,
    members: HashMap<ParticipantId, Member>,
    ding: Arc<[i16]>,
    dong: Arc<[i16]>,
}

impl Drop for Room {
    fn drop(&mut self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let mut rooms = registry.lock().unwrap_or_else(|e| e.into_inner());
        if rooms
            .get(&self.name)
            .is_some_and(|e| e.serial == self.serial)
        {
            rooms.remove(&self.name);
        }
    }
}

impl Room {
    /// Who joined, moved or left since the last tick; false once everybody has left.
    fn messages(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Msg::Join(id, a, chime)) => {
                    self.mixer
                        .add(id, a.remote, a.signalling, a.audio_pt, a.event_pt);
                    self.members.insert(
                        id,
                        Member {
                            socket: a.socket,
                            stats: a.stats,
                        },
                    );
                    if chime && self.mixer.len() > 1 {
                        self.mixer.chime(self.ding.clone(), Some(id));
                    }
                }
                Ok(Msg::Update(id, remote, signalling, pt, ept)) => {
                    self.mixer.add(id, remote, signalling, pt, ept);
                }
                Ok(Msg::Leave(id, chime)) => {
                    if self.mixer.remove(id) && chime && !self.mixer.is_empty() {
                        self.mixer.chime(self.dong.clone(), None);
                    }
                    self.members.remove(&id);
                }
                // Every seat gone (the registry dropped its sender when the last left).
                Err(mpsc::TryRecvError::Disconnected) => return !self.members.is_empty(),
                Err(mpsc::TryRecvError::Empty) => return true,
            }
        }
    }
}

impl Clocked for Room {
    /// Every 20 ms: what arrived from every participant (a bounded number a tick, so a flood on one
    /// socket cannot stall the room), the mix, each participant's packet sent from its own socket (a
    /// send that would block is dropped: a packet late is worse than a packet lost).
    fn tick(&mut self, now: Instant, batch: &mut Batch) -> bool {
        if !self.messages() {
            debug!(conference = %self.name, "room closed");
            return false;
        }
        for (id, m) in &self.members {
            let mixer = &mut self.mixer;
            batch.drain(m.socket.as_raw_fd(), |from, bytes| {
                mixer.handle_packet(now, *id, from, bytes)
            });
        }
        for (id, c) in self.mixer.all_counters() {
            if let Some(stats) = self.members.get(&id).and_then(|m| m.stats.as_ref()) {
                stats.show(c.received, c.sent, c.lost, c.strangers);
            }
        }
        self.mixer.handle_tick();
        while let Some(MixerEvent::Talking(id, talking)) = self.mixer.poll_event() {
            if let Some(stats) = self.members.get(&id).and_then(|m| m.stats.as_ref()) {
                stats.talking.store(talking, Ordering::Relaxed);
            }
        }
        for (id, to, bytes) in self.mixer.transmits() {
            if let Some(m) = self.members.get(&id) {
                let _ = m.socket.send_to(bytes, to);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_media::g711::Codec;
    use parley_media::rtp::{RtpHeader, RtpPacket};
    use std::time::Duration;

    fn socket() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        s
    }

    fn frame(seq: u16, value: i16) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 5,
        }
        .write(&mut out);
        Codec::Pcmu.encode(&[value; 160], &mut out);
        out
    }

    /// Packets received by `phone` (until 50 ms pass without one, at most 30) with at least `n`
    /// samples louder than 4000, and whether all came from `from`.
    fn loud_packets(phone: &UdpSocket, n: usize, from: SocketAddr) -> usize {
        let mut buf = [0u8; 2048];
        let mut loud = 0;
        for _ in 0..30 {
            let Ok((len, src)) = phone.recv_from(&mut buf) else {
                break;
            };
            assert_eq!(src, from, "sent from the participant's own socket");
            let p = RtpPacket::parse(&buf[..len]).unwrap();
            let count = p
                .payload
                .iter()
                .filter(|&&c| Codec::Pcmu.decode_sample(c).abs() > 4000)
                .count();
            if count >= n {
                loud += 1;
            }
        }
        loud
    }

    /// A participant whose socket on Parley's side is `s` and whose phone is `phone` (its
    /// signalling from the phone's address when `signalling`).
    fn attendee(s: UdpSocket, phone: &UdpSocket, signalling: bool) -> Attendee {
        s.set_nonblocking(true).unwrap();
        let addr = phone.local_addr().unwrap();
        Attendee {
            socket: Arc::new(s),
            remote: Some(addr),
            signalling: signalling.then(|| addr.ip()),
            audio_pt: 0,
            event_pt: None,
            stats: None,
        }
    }

    #[test]
    fn a_strangers_flood_on_a_participants_port_does_not_silence_it() {
        let rooms = Rooms::new(Arc::new(Engine::start(1).unwrap()));
        let (phone_a, phone_b) = (socket(), socket());
        let (side_a, side_b) = (socket(), socket());
        let (addr_a, addr_b) = (side_a.local_addr().unwrap(), side_b.local_addr().unwrap());
        let _a = rooms.join("481", attendee(side_a, &phone_a, true), false);
        let _b = rooms.join("481", attendee(side_b, &phone_b, true), false);
        // A stranger on another address queues a thousand loud packets on A's port, then keeps going
        // while A talks.
        let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
        stranger
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        for seq in 0..1000u16 {
            stranger.send_to(&frame(seq, 8000), addr_a).unwrap();
        }
        for seq in 0..20u16 {
            for _ in 0..50 {
                stranger.send_to(&frame(seq, 8000), addr_a).unwrap();
            }
            let f = frame(seq, if seq % 2 == 0 { 8000 } else { -8000 });
            phone_a.send_to(&f, addr_a).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let heard_by_b = loud_packets(&phone_b, 1, addr_b);
        assert!(
            heard_by_b >= 5,
            "B heard A through the flood ({heard_by_b} loud packets)"
        );
        assert!(
            stranger.recv_from(&mut [0u8; 2048]).is_err(),
            "the stranger hears nothing"
        );
    }

    #[test]
    fn a_room_mixes_between_real_sockets_and_ends_with_its_last_participant() {
        let rooms = Rooms::new(Arc::new(Engine::start(1).unwrap()));
        // Two phones, each with the participant's socket on Parley's side.
        let (phone_a, phone_b) = (socket(), socket());
        let (side_a, side_b) = (socket(), socket());
        let (addr_a, addr_b) = (side_a.local_addr().unwrap(), side_b.local_addr().unwrap());
        let a = rooms.join("480", attendee(side_a, &phone_a, false), true);
        let b = rooms.join("480", attendee(side_b, &phone_b, false), true);
        assert_eq!(rooms.in_session(), 1);
        // A talks (a loud square of 8000): B hears it, A hears silence.
        for seq in 0..20u16 {
            let f = frame(seq, if seq % 2 == 0 { 8000 } else { -8000 });
            phone_a.send_to(&f, addr_a).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let heard_by_b = loud_packets(&phone_b, 1, addr_b);
        assert!(heard_by_b >= 5, "B heard A ({heard_by_b} loud packets)");
        // A's voice is a frame loud throughout; the ding of B's arrival is a sine.
        assert_eq!(
            loud_packets(&phone_a, 150, addr_a),
            0,
            "A never hears itself"
        );
        a.leave(true);
        b.leave(true);
        assert_eq!(
            rooms.in_session(),
            0,
            "the room ended with its last participant"
        );
        // Its job sends nothing more.
        std::thread::sleep(Duration::from_millis(100));
        while phone_a.recv_from(&mut [0u8; 2048]).is_ok() {}
        assert!(phone_a.recv_from(&mut [0u8; 2048]).is_err());
    }
}
