//! Any text as a SIP URI: parsing never panics, and a parsed URI prints to text that parses again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::sip::SipUri;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = SipUri::parse(text) {
        let _ = (u.param("transport"), u.user_base());
        let again = u.to_string();
        assert!(
            SipUri::parse(&again).is_ok(),
            "{text:?} printed as {again:?}"
        );
    }
    let _ = parley_core::sip::header::split_host_port(text);
    let _ = parley_core::sip::header::param(text, "tag");
});
