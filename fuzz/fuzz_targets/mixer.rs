//! A conference room's mixer fed any datagrams for any participant, from the participant or a
//! stranger, between ticks, joins, departures and chimes: it never panics, sends each participant at
//! most one packet a tick (a header and one 20 ms frame), and never buffers more than its bound.
#![no_main]
use std::sync::Arc;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use parley_media::mixer::{Mixer, ParticipantId, MAX_BUFFERED};

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let addr = |n: u8| std::net::SocketAddr::from(([127, 0, 0, 1], 4000 + u16::from(n % 4)));
    let mut m = Mixer::new(3);
    for n in 0..3u8 {
        m.add(ParticipantId(u64::from(n)), Some(addr(n)), None, if n == 1 { 8 } else { 0 }, Some(101));
    }
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let who = ParticipantId(u64::from(op >> 4 & 3));
        match op % 8 {
            0..=3 => {
                let n = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len());
                let (packet, tail) = rest.split_at(n);
                rest = tail;
                m.handle_packet(now, who, addr(op >> 6), packet);
            }
            4 => {
                m.handle_tick();
                let mut seen = Vec::new();
                for (id, _, bytes) in m.transmits() {
                    assert!(!seen.contains(&id), "two packets to one participant in a tick");
                    seen.push(id);
                    assert_eq!(bytes.len(), 12 + 160);
                }
                while m.poll_event().is_some() {}
            }
            5 => {
                m.remove(who);
            }
            6 => m.add(who, Some(addr(op)), None, op & 8, Some(101)),
            _ => m.chime(Arc::from(vec![1000i16; usize::from(op)]), Some(who)),
        }
        assert!(m.buffered_max() <= MAX_BUFFERED);
    }
});
