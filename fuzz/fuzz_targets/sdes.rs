//! Any text as an SDES `a=crypto` value: parsing never panics, and a line that is taken renders to
//! text that parses back to the same offer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::sdes::Crypto;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Crypto::parse(text) {
        let again = c.render();
        assert_eq!(Crypto::parse(&again).as_ref(), Ok(&c), "{text:?} rendered as {again:?}");
    }
});
