//! Any bytes as an authenticated REGISTER: the registrar answers without panicking, never holds more
//! contacts for an extension than its bound, and its answer prints as a SIP message that parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::registrar::{Registrar, RegistrarConfig};
use parley_core::sip::Message;
use parley_core::target::{Target, Transport};

fuzz_target!(|data: &[u8]| {
    let Ok(Message::Request(r)) = Message::parse(data) else {
        return;
    };
    #[allow(clippy::disallowed_methods)]
    let now = std::time::Instant::now();
    let config = RegistrarConfig::default();
    let max = config.max_contacts;
    let mut reg = Registrar::new(config);
    let source = Target {
        transport: Transport::Udp,
        addr: "192.0.2.9:5060".parse().unwrap(),
    };
    for _ in 0..3 {
        let out = reg.handle_register(now, &r, "100", source, "tag");
        assert!(Message::parse(&out.response.to_bytes()).is_ok());
    }
    assert!(reg.lookup(now, "100").len() <= max);
});
