//! The relay's event loops under bursts: many calls at once, every socket with several datagrams
//! waiting, each relayed to its own call's other leg, none lost or reordered; strangers dropped and
//! counted; a call's sockets closed when its relay is dropped.
//! Real sockets and real time: the clock is read here to bound the waits.
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use parley_core::call::MediaUpdate;
use parley_rtp::relay::{Engine, PortRange, Relay};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Call {
    relay: Relay,
    a: UdpSocket,
    b: UdpSocket,
}

fn peer() -> UdpSocket {
    let s = UdpSocket::bind((LOCAL, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

fn call(engine: &Engine, ports: &mut PortRange) -> Call {
    let relay = Relay::start(engine, ports.allocate().unwrap(), ports.allocate().unwrap()).unwrap();
    let (a, b) = (peer(), peer());
    relay.update(MediaUpdate {
        a_remote: Some(a.local_addr().unwrap()),
        b_remote: Some(b.local_addr().unwrap()),
        a_signalling: Some(LOCAL),
        b_signalling: Some(LOCAL),
    });
    Call { relay, a, b }
}

/// A packet that says which call, which way and which one it is.
fn packet(call: u16, way: u8, seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    p[1..3].copy_from_slice(&call.to_be_bytes());
    p[3] = way;
    p[4..6].copy_from_slice(&seq.to_be_bytes());
    p
}

fn receive_all(s: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while got.len() < n {
        match s.recv_from(&mut buf) {
            Ok((len, _)) => got.push(buf[..len].to_vec()),
            Err(_) => break,
        }
    }
    got
}

#[test]
fn bursts_on_many_sockets_at_once_arrive_whole_in_order_at_their_own_call() {
    let engine = Engine::start(2).unwrap();
    let mut ports = PortRange::new(LOCAL, 41000, 42999);
    let calls: Vec<Call> = (0..64).map(|_| call(&engine, &mut ports)).collect();
    const BURST: u16 = 24;
    // Every leg of every call sends its burst interleaved with all the others, as fast as it can.
    for seq in 0..BURST {
        for (i, c) in calls.iter().enumerate() {
            c.a.send_to(
                &packet(i as u16, 0, seq),
                SocketAddr::new(LOCAL, c.relay.a_port),
            )
            .unwrap();
            c.b.send_to(
                &packet(i as u16, 1, seq),
                SocketAddr::new(LOCAL, c.relay.b_port),
            )
            .unwrap();
        }
    }
    for (i, c) in calls.iter().enumerate() {
        for (sock, way) in [(&c.b, 0u8), (&c.a, 1u8)] {
            let got = receive_all(sock, BURST as usize);
            let want: Vec<Vec<u8>> = (0..BURST).map(|s| packet(i as u16, way, s)).collect();
            assert_eq!(got.len(), want.len(), "call {i} way {way}: packets lost");
            assert!(
                got == want,
                "call {i} way {way}: reordered or another call's packets"
            );
        }
        assert_eq!(c.relay.stats.a_to_b.load(Relaxed), BURST as u64);
        assert_eq!(c.relay.stats.b_to_a.load(Relaxed), BURST as u64);
        assert_eq!(c.relay.stats.strangers.load(Relaxed), 0);
    }
}

#[test]
fn a_stranger_is_dropped_and_counted_and_a_dropped_relay_frees_its_ports() {
    let engine = Engine::start(1).unwrap();
    let mut ports = PortRange::new(LOCAL, 43000, 43099);
    let c = call(&engine, &mut ports);
    // From another address than the one the signalling named (one on the party's own IP, sending
    // first, would be learned: that is the NAT rule).
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for seq in 0..10 {
        stranger
            .send_to(&packet(9, 9, seq), SocketAddr::new(LOCAL, c.relay.a_port))
            .unwrap();
    }
    c.a.send_to(&packet(0, 0, 0), SocketAddr::new(LOCAL, c.relay.a_port))
        .unwrap();
    // The party's packet arrives; the stranger's never do, on either side.
    assert_eq!(receive_all(&c.b, 1), vec![packet(0, 0, 0)]);
    assert!(receive_all(&c.b, 1).is_empty());
    assert!(receive_all(&stranger, 1).is_empty());
    assert_eq!(c.relay.stats.strangers.load(Relaxed), 10);
    assert_eq!(c.relay.stats.a_to_b.load(Relaxed), 1);

    let port = c.relay.a_port;
    drop(c.relay);
    let deadline = Instant::now() + Duration::from_secs(5);
    while UdpSocket::bind((LOCAL, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the dropped call's socket stayed open"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
