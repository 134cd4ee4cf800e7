//! Any datagrams as RFC 4733 telephone-events: the receiver turns them into digits without panicking,
//! whatever the order, durations, end bits and timestamps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_media::dtmf::rfc4733::Rfc4733Receiver;
use parley_media::rtp::RtpPacket;

fuzz_target!(|data: &[u8]| {
    let mut rx = Rfc4733Receiver::new();
    for chunk in data.chunks(16) {
        let Ok(p) = RtpPacket::parse(chunk) else {
            continue;
        };
        let _ = rx.handle_packet(&p);
        rx.finish_stale(p.header.timestamp);
        while rx.poll_digit().is_some() {}
    }
});
