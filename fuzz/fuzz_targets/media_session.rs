//! Parley's own media end fed any datagrams, from its caller or a stranger, between clock ticks,
//! playback, seeks and recordings: it never panics, and never hands more samples to record than a
//! packet decodes to; streamed clips answered with any samples, late, short or for the wrong place,
//! never hold more than the window.
#![no_main]
use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use parley_media::session::{
    Clip, Event, MediaSession, RecordStop, STREAM_CHUNK, STREAM_WINDOW_MAX,
};

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let caller = "127.0.0.1:4000".parse().unwrap();
    let stranger = "127.0.0.2:4000".parse().unwrap();
    let mut s = MediaSession::new(7);
    s.set_remote(Some(caller), None, 0, Some(101));
    let mut asked: Vec<(u64, usize, u64, u64)> = Vec::new();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 11 {
            0 | 1 => {
                let n = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len());
                let (packet, tail) = rest.split_at(n);
                rest = tail;
                let from = if op % 11 == 0 { caller } else { stranger };
                if let Some(samples) = s.handle_packet(now, from, packet) {
                    assert!(samples.len() <= 2 * packet.len());
                }
            }
            2 => {
                let _ = s.handle_tick();
            }
            3 => s.play(
                u64::from(op),
                vec![Clip::whole(Arc::from(vec![100i16; 500]), op & 16 != 0)],
            ),
            4 => s.seek(i64::from(op as i8) * 1000),
            5 => s.start_recording(
                Duration::from_millis(u64::from(op) * 10),
                Some(Duration::from_millis(200)),
            ),
            6 => s.stop_recording(RecordStop::Stopped),
            8 => s.play(
                u64::from(op),
                vec![
                    Clip::whole(Arc::from(vec![7i16; 200]), false),
                    Clip::streamed(u64::from(op) * 1000, true),
                ],
            ),
            9 => {
                // Answer an outstanding request, whole, short or shifted.
                let pick = usize::from(rest.first().copied().unwrap_or(0));
                if !asked.is_empty() {
                    let (g, clip, from, len) = asked.swap_remove(pick % asked.len());
                    let n = match op & 0x30 {
                        0 => len as usize,
                        0x10 => len as usize / 2,
                        0x20 => STREAM_CHUNK * 2,
                        _ => 0,
                    };
                    let from = if op & 0x40 != 0 { from + 160 } else { from };
                    s.supply(g, clip, from, &vec![9i16; n]);
                }
            }
            10 => s.supply(u64::from(op), 1, 0, &[1i16; 320]),
            _ => s.stop_play(),
        }
        while let Some(e) = s.poll_event() {
            match e {
                Event::RecordDone { keep, .. } => assert!(keep < 1 << 40),
                Event::NeedAudio {
                    generation,
                    clip,
                    from,
                    len,
                } => {
                    assert!(len as usize <= STREAM_CHUNK);
                    if asked.len() < 64 {
                        asked.push((generation, clip, from, len));
                    }
                }
                _ => {}
            }
        }
        assert!(s.streamed_held() <= STREAM_WINDOW_MAX + STREAM_CHUNK);
    }
    let _ = s.counters();
});
