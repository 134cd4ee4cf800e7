//! Any text in the headers another PBX sends to the voicemail pilot (Diversion, History-Info, and
//! RFC 4458 parameters on the Request-URI): naming the mailbox never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::sip::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (uri_params, headers) = text.split_once('\n').unwrap_or(("", text));
    let uri_params: String = uri_params.chars().filter(|c| !c.is_whitespace()).collect();
    let mut msg = format!(
        "INVITE sip:*86@parley{uri_params} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n\
         From: <sip:5551234@pbx>;tag=1\r\nTo: <sip:*86@parley>\r\nCall-ID: f\r\nCSeq: 1 INVITE\r\n"
    );
    for (i, line) in headers.lines().enumerate() {
        let name = if i % 2 == 0 {
            "History-Info"
        } else {
            "Diversion"
        };
        msg.push_str(&format!("{name}: {}\r\n", line.trim()));
    }
    msg.push_str("Content-Length: 0\r\n\r\n");
    if let Ok(Message::Request(r)) = Message::parse(msg.as_bytes()) {
        let _ = parley_core::vm::divert::diverted_to(&r);
    }
});
