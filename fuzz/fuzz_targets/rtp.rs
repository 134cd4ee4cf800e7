//! Any datagram as RTP: parsing never panics, sequence statistics hold up, and the media end's
//! decoding of what parsed (G.711 and in-band DTMF detection) never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_media::dtmf::inband::InbandDetector;
use parley_media::g711::Codec;
use parley_media::rtp::{is_rtcp, RtpPacket, SequenceTracker};

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);
    let mut seq = SequenceTracker::new();
    let mut inband = InbandDetector::new();
    let mut decoded = Vec::new();
    for chunk in data.chunks(172) {
        let Ok(p) = RtpPacket::parse(chunk) else {
            continue;
        };
        seq.record(p.header.sequence);
        let _ = seq.lost();
        if let Some(codec) = Codec::from_payload_type(p.header.payload_type) {
            decoded.clear();
            codec.decode(p.payload, &mut decoded);
            inband.push(&decoded);
            while inband.poll_digit().is_some() {}
        }
    }
});
