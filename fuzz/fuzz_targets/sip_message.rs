//! Any bytes as a SIP message: parsing never panics, and every view the server takes of a parsed
//! request (From, To, Via, CSeq, Contact, URI parameters, digest credentials, diversion headers) holds
//! up, as does printing it and parsing the print again. The edge's screen takes the same bytes: it
//! never panics, what it passes parses again to the same kind of message, and what it answers is a
//! refusal carrying the Via and CSeq it is matched by, whose header section ends once, and never
//! more than twice the request's size (little amplification towards a forged source).
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::sip::digest::Credentials;
use parley_core::sip::screen::{screen, strip_compat_tags, Verdict};
use parley_core::sip::{Message, NameAddr};

fuzz_target!(|data: &[u8]| {
    match screen(data) {
        Verdict::Pass(bytes) => {
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                let again = Message::parse(&bytes).expect("what the screen passes parses");
                assert_eq!(
                    matches!(again, Message::Request(_)),
                    matches!(Message::parse(data), Ok(Message::Request(_)))
                );
            }
            let _ = strip_compat_tags(&bytes);
        }
        Verdict::Answer(r) => {
            // A refusal, with at least what the client matches it by.
            assert!((400..600).contains(&r.status.as_u16()));
            assert!(r.headers.get("Via").is_some() && r.headers.get("CSeq").is_some());
            let text = r.to_bytes();
            assert!(text.len() <= 2 * data.len(), "an answer over twice its request");
            assert!(text.starts_with(b"SIP/2.0 ") && !text[..text.len() - 4].windows(4).any(|w| w == b"\r\n\r\n"));
        }
        Verdict::Drop(_) => {}
    }
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    match msg {
        Message::Request(mut r) => {
            let h = &r.headers;
            let _ = (h.from(), h.to(), h.top_via(), h.cseq());
            for c in h.get_all("Contact").into_iter().chain(h.get_all("Route")) {
                if let Some(na) = NameAddr::parse(c) {
                    let _ = (na.tag(), na.param("expires"), na.uri.user_base());
                }
            }
            for a in h
                .get_all("Authorization")
                .into_iter()
                .chain(h.get_all("Proxy-Authorization"))
            {
                if let Ok(c) = Credentials::parse(a) {
                    let _ = c.nonce_count();
                }
            }
            let _ = (
                r.uri.param("target"),
                r.uri.user_base(),
                r.call_id(),
                r.cseq(),
            );
            let _ = parley_core::vm::divert::diverted_to(&r);
            r.headers.stamp_top_via("192.0.2.1:5060".parse().unwrap());
            let _ = Message::parse(&r.to_bytes());
        }
        Message::Response(r) => {
            let _ = (r.cseq(), r.headers.get("Call-ID"));
            let _ = Message::parse(&r.to_bytes());
        }
    }
});
