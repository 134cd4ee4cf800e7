//! Conference rooms, the IO side: one task per room in session ticking every 20 ms over
//! `parley_media`'s sans-IO [`Mixer`]: each tick it reads what waits on every participant's own socket
//! (without waking any task per packet: the participant's media task stops reading while it is in the
//! room), mixes, and sends each participant its packet from that participant's socket. A room exists
//! only while somebody is in it: the
//! first to join starts its task, the last to leave ends it, so a conference nobody is in costs
//! nothing. Which room a caller joins, and whether the others hear a chime, is the switch's decision;
//! this module only carries it out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_media::mixer::{Counters, Mixer, MixerEvent, ParticipantId};
use tokio::net::UdpSocket;
use tracing::debug;

/// The ding of an arrival: 880 Hz, fading over 400 ms.
pub const DING_HZ: f64 = 880.0;
/// The dong of a departure: 660 Hz, fading over 400 ms.
pub const DONG_HZ: f64 = 660.0;
const CHIME_MS: u32 = 400;
const CHIME_AMPLITUDE: f64 = 8000.0;

/// The conference rooms in session, by Conference ID (cloned handles share them).
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Mutex<HashMap<String, Arc<Room>>>>,
    ding: Arc<[i16]>,
    dong: Arc<[i16]>,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.inner.lock().map(|r| r.len()).unwrap_or(0);
        f.debug_struct("Rooms").field("in_session", &n).finish()
    }
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms::new()
    }
}

/// One room in session: its mixer and the participants' sockets, under one lock.
pub struct Room {
    state: Mutex<RoomState>,
}

struct RoomState {
    mixer: Mixer,
    sockets: HashMap<ParticipantId, Arc<UdpSocket>>,
    /// Where each participant's "talking" is shown (its media session's counters).
    stats: HashMap<ParticipantId, Arc<crate::media::MediaStats>>,
}

/// How a participant's media is reached: its socket, where it receives RTP (its SDP), the IP its
/// signalling comes from, and the payload types agreed.
#[derive(Debug, Clone)]
pub struct Attendee {
    /// The participant's own media socket (the room sends from it).
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

/// A participant's place in a room, held by its media task.
#[derive(Clone)]
pub struct Seat {
    room: Arc<Room>,
    id: ParticipantId,
    rooms: Rooms,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat").field("id", &self.id).finish()
    }
}

static NEXT_PARTICIPANT: AtomicU64 = AtomicU64::new(1);

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

impl Rooms {
    /// No room in session.
    pub fn new() -> Rooms {
        Rooms {
            inner: Arc::default(),
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
        let room = match rooms.get(name) {
            Some(r) => r.clone(),
            None => {
                let room = Arc::new(Room {
                    state: Mutex::new(RoomState {
                        mixer: Mixer::new(rand::random()),
                        sockets: HashMap::new(),
                        stats: HashMap::new(),
                    }),
                });
                rooms.insert(name.to_string(), room.clone());
                tokio::spawn(run(name.to_string(), room.clone(), self.clone()));
                room
            }
        };
        if let Ok(mut s) = room.state.lock() {
            s.mixer.add(
                id,
                attendee.remote,
                attendee.signalling,
                attendee.audio_pt,
                attendee.event_pt,
            );
            s.sockets.insert(id, attendee.socket);
            if let Some(stats) = attendee.stats {
                s.stats.insert(id, stats);
            }
            if chime && s.mixer.len() > 1 {
                s.mixer.chime(self.ding.clone(), Some(id));
            }
        }
        Seat {
            room,
            id,
            rooms: self.clone(),
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
        if let Ok(mut s) = self.room.state.lock() {
            s.mixer.add(self.id, remote, signalling, audio_pt, event_pt);
        }
    }

    /// Leave the room; `chime`: the others hear the dong. The room's task ends with its last.
    pub fn leave(&self, chime: bool) {
        if let Ok(mut s) = self.room.state.lock() {
            if s.mixer.remove(self.id) && chime && !s.mixer.is_empty() {
                s.mixer.chime(self.rooms.dong.clone(), None);
            }
            s.sockets.remove(&self.id);
            s.stats.remove(&self.id);
        }
    }
}

/// Datagrams read from one participant's socket in a tick at most (a phone sends one or two).
const MAX_READS_PER_TICK: usize = 16;

/// A participant's counters where the status reads them.
fn show(stats: &crate::media::MediaStats, c: Counters) {
    stats.received.store(c.received, Ordering::Relaxed);
    stats.sent.store(c.sent, Ordering::Relaxed);
    stats.lost.store(c.lost, Ordering::Relaxed);
    stats.strangers.store(c.strangers, Ordering::Relaxed);
}

/// A room's clock: every 20 ms the mixer ticks and each participant's packet is sent from its own
/// socket (a send that would block is dropped: a packet late is worse than a packet lost). Ends once
/// nobody is in the room, taking the room out of the registry under the registry's lock, so that a
/// participant joining at that moment starts a new room rather than joining a dead one.
async fn run(name: String, room: Arc<Room>, rooms: Rooms) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    debug!(conference = %name, "room in session");
    let mut buf = vec![0u8; 2048];
    loop {
        tick.tick().await;
        {
            let Ok(mut guard) = room.state.lock() else {
                break;
            };
            let s = &mut *guard;
            if s.mixer.is_empty() {
                drop(guard);
                let Ok(mut registry) = rooms.inner.lock() else {
                    break;
                };
                let empty = room
                    .state
                    .lock()
                    .map(|s| s.mixer.is_empty())
                    .unwrap_or(true);
                if empty {
                    if registry.get(&name).is_some_and(|r| Arc::ptr_eq(r, &room)) {
                        registry.remove(&name);
                    }
                    break;
                }
                continue;
            }
            // What arrived since the last tick, from every participant's socket (a bounded number a
            // tick, so a flood on one socket cannot stall the room), then its counters.
            let at = now();
            for (id, socket) in &s.sockets {
                for _ in 0..MAX_READS_PER_TICK {
                    match socket.try_recv_from(&mut buf) {
                        Ok((n, from)) => s.mixer.handle_packet(at, *id, from, &buf[..n]),
                        Err(_) => break,
                    }
                }
            }
            for (id, c) in s.mixer.all_counters() {
                if let Some(stats) = s.stats.get(&id) {
                    show(stats, c);
                }
            }
            s.mixer.handle_tick();
            while let Some(MixerEvent::Talking(id, talking)) = s.mixer.poll_event() {
                if let Some(stats) = s.stats.get(&id) {
                    stats.talking.store(talking, Ordering::Relaxed);
                }
            }
            for (id, to, bytes) in s.mixer.transmits() {
                if let Some(socket) = s.sockets.get(&id) {
                    let _ = socket.try_send_to(bytes, to);
                }
            }
        }
    }
    debug!(conference = %name, "room closed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_media::g711::Codec;
    use parley_media::rtp::{RtpHeader, RtpPacket};

    async fn socket() -> Arc<UdpSocket> {
        Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap())
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

    #[tokio::test]
    async fn a_room_mixes_between_real_sockets_and_ends_with_its_last_participant() {
        let rooms = Rooms::new();
        // Two phones, each with the participant's socket on Parley's side.
        let (phone_a, phone_b) = (socket().await, socket().await);
        let (side_a, side_b) = (socket().await, socket().await);
        let attendee = |s: &Arc<UdpSocket>, phone: &Arc<UdpSocket>| Attendee {
            socket: s.clone(),
            remote: Some(phone.local_addr().unwrap()),
            signalling: None,
            audio_pt: 0,
            event_pt: None,
            stats: None,
        };
        let a = rooms.join("480", attendee(&side_a, &phone_a), true);
        let b = rooms.join("480", attendee(&side_b, &phone_b), true);
        assert_eq!(rooms.in_session(), 1);
        // A talks (a loud square of 8000): B hears it, A hears silence.
        let to_a = side_a.local_addr().unwrap();
        for seq in 0..20u16 {
            let f = frame(seq, if seq % 2 == 0 { 8000 } else { -8000 });
            phone_a.send_to(&f, to_a).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut buf = [0u8; 2048];
        let mut loud_at_b = 0;
        // The room sends every 20 ms: read what arrived (the sockets buffer it), not forever.
        for _ in 0..30 {
            let Ok(Ok((n, from))) =
                tokio::time::timeout(Duration::from_millis(50), phone_b.recv_from(&mut buf)).await
            else {
                break;
            };
            assert_eq!(
                from,
                side_b.local_addr().unwrap(),
                "sent from B's own socket"
            );
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            if p.payload
                .iter()
                .any(|&c| Codec::Pcmu.decode_sample(c).abs() > 4000)
            {
                loud_at_b += 1;
            }
        }
        assert!(loud_at_b >= 5, "B heard A ({loud_at_b} loud packets)");
        let mut loud_at_a = 0;
        for _ in 0..30 {
            let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(50), phone_a.recv_from(&mut buf)).await
            else {
                break;
            };
            let p = RtpPacket::parse(&buf[..n]).unwrap();
            // A's voice is a frame loud throughout; the ding of B's arrival is a sine.
            let loud = p
                .payload
                .iter()
                .filter(|&&c| Codec::Pcmu.decode_sample(c).abs() > 4000);
            if loud.count() >= 150 {
                loud_at_a += 1;
            }
        }
        assert_eq!(loud_at_a, 0, "A never hears itself");
        a.leave(true);
        b.leave(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            rooms.in_session(),
            0,
            "the room ended with its last participant"
        );
    }
}
