//! Any text as a digest Authorization header: parsing never panics, and verifying whatever parsed
//! (against a fixed account) never panics and never accepts a response that was not computed with the
//! password.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::sip::digest::{ha1, Algorithm, Credentials, DigestAuth, RequestLine, Verdict};
use parley_core::sip::SipUri;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Credentials::parse(text) else {
        return;
    };
    let _ = c.nonce_count();
    let mut auth = DigestAuth::new("parley", b"fuzz-key", 300, vec![Algorithm::Md5]);
    let uri = SipUri::parse("sip:parley").unwrap();
    let line = RequestLine {
        method: "REGISTER",
        uri: &uri,
    };
    let v = auth.verify(&c, line, 1_000, |u, alg| {
        Some(ha1(alg, u, "parley", "secret"))
    });
    // A nonce the fuzzer made up is never ours, so nothing it writes can be accepted.
    assert_ne!(v, Verdict::Accepted, "{text:?}");
});
