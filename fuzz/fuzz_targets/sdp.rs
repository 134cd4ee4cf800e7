//! Any bytes as an SDP body: parsing never panics; an offer that parses can be answered (formats
//! intersected with a typical phone's) and the answer Parley renders parses again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::sdp::{AudioSession, LocalSdp};

const PHONE: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = AudioSession::parse(data) else {
        return;
    };
    let phone = AudioSession::parse(PHONE).expect("the reference SDP parses");
    let _ = (offer.audio_format(), offer.event_format());
    // Parley's answer: the formats both sides have, at Parley's address.
    let formats = offer.intersect(&phone);
    if formats.is_empty() {
        return;
    }
    let answer = LocalSdp {
        session_id: 1,
        version: 2,
        addr: "192.0.2.1:30000".parse().unwrap(),
        formats,
        direction: offer.direction,
        ptime: Some(20),
    };
    assert!(AudioSession::parse(&answer.render()).is_ok());
});
