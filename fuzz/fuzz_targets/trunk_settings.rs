//! A trunk's settings as an administrator types them into the command line, a portal form or the
//! JSON API (name, host, `host:port` of a proxy, username, codecs, number patterns): each parser
//! answers without panicking, and what it accepts is what it claims (patterns are `+` and digits,
//! codecs are PCMU or PCMA, hosts have no characters that could break a SIP header).
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::trunk::{
    check_host, check_username, parse_codecs, parse_host_port, parse_patterns, uri_host, TrunkName,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(patterns) = parse_patterns(text) {
        for p in &patterns {
            let digits = p.as_str().strip_prefix('+').expect("a pattern starts with +");
            assert!(!digits.is_empty() && digits.len() <= 15);
            assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(p.matches(p.as_str()), Some(p.as_str().len()));
        }
        let unique: std::collections::HashSet<_> = patterns.iter().collect();
        assert_eq!(unique.len(), patterns.len(), "each pattern once");
    }
    if let Ok(codecs) = parse_codecs(text) {
        assert!(codecs.len() <= 2);
    }
    let header_safe = |s: &str| !s.chars().any(|c| c.is_control() || "<>;,\"\\ ".contains(c));
    if check_host(text).is_ok() {
        assert!(header_safe(&uri_host(text)) || text.contains(':'), "{text:?}");
        assert!(header_safe(text.trim_matches(|c| c == '[' || c == ']')));
    }
    if let Ok((host, _port)) = parse_host_port(text) {
        assert!(check_host(&host).is_ok());
    }
    if check_username(text).is_ok() {
        assert!(!text.contains(['@', ':', '<', '>', ' ', '\r', '\n']));
    }
    if let Ok(name) = TrunkName::new(text) {
        assert!(header_safe(name.as_str()) && !name.as_str().is_empty());
    }
});
