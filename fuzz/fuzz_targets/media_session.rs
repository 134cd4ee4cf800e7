//! Parley's own media end fed any datagrams, from its caller or a stranger, between clock ticks,
//! playback, seeks and recordings: it never panics, and never hands more samples to record than a
//! packet decodes to.
#![no_main]
use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use parley_media::session::{Clip, Event, MediaSession, RecordStop};

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let caller = "127.0.0.1:4000".parse().unwrap();
    let stranger = "127.0.0.2:4000".parse().unwrap();
    let mut s = MediaSession::new(7);
    s.set_remote(Some(caller), None, 0, Some(101));
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 8 {
            0 | 1 => {
                let n = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len());
                let (packet, tail) = rest.split_at(n);
                rest = tail;
                let from = if op % 8 == 0 { caller } else { stranger };
                if let Some(samples) = s.handle_packet(now, from, packet) {
                    assert!(samples.len() <= 2 * packet.len());
                }
            }
            2 => {
                let _ = s.handle_tick();
            }
            3 => s.play(
                u64::from(op),
                vec![Clip {
                    samples: Arc::from(vec![100i16; 500]),
                    seekable: op & 16 != 0,
                }],
            ),
            4 => s.seek(i64::from(op as i8) * 1000),
            5 => s.start_recording(
                Duration::from_millis(u64::from(op) * 10),
                Some(Duration::from_millis(200)),
            ),
            6 => s.stop_recording(RecordStop::Stopped),
            _ => s.stop_play(),
        }
        while let Some(e) = s.poll_event() {
            if let Event::RecordDone { keep, .. } = e {
                assert!(keep < 1 << 40);
            }
        }
    }
    let _ = s.counters();
});
