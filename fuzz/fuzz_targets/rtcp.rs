//! Any datagram as compound RTCP: iterating its packets and their report blocks never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_media::rtp::rtcp::parse_compound;

fuzz_target!(|data: &[u8]| {
    for p in parse_compound(data).flatten() {
        for b in p.report_blocks() {
            let _ = b;
        }
    }
});
