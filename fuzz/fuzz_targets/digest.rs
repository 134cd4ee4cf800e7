//! Any text as a digest Authorization header: parsing never panics, and verifying whatever parsed
//! (against a fixed account) never panics and never accepts a response that was not computed with the
//! password. The same text as a challenge from a carrier: parsing never panics, and Parley's answer to
//! whatever parsed is one header line that parses back with the challenge's realm and nonce.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::sip::digest::{
    ha1, Algorithm, Challenge, ClientSecret, Credentials, DigestAuth, RequestLine, Verdict,
};
use parley_core::sip::SipUri;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ch) = Challenge::parse(text) {
        let v = ch.answer("100", &ClientSecret::new("secret"), "REGISTER", "sip:parley", 1, "c");
        assert!(!v.contains(['\r', '\n']), "{v:?}");
        let back = Credentials::parse(&v).expect("Parley's own answer parses");
        let flat = |s: &str| s.replace(['\r', '\n'], "");
        assert_eq!((back.realm, back.nonce), (flat(&ch.realm), flat(&ch.nonce)));
    }
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
