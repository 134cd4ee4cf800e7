//! A user's routes as Parley reads them: the JSON of a stored row (what the API's and the portal's
//! bodies become), a Finally target typed into a form, and callers' numbers matched against
//! Caller-ID patterns. Nothing panics; a routing that passes its check chooses, for any caller, a
//! route that passes it too, and reads back as Callisto's forwarding settings that apply cleanly; a
//! number the check accepts is `+` and digits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::routing::{CallRoute, Caller, CallerMatch, Finally, Routing};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<Routing>(data) {
        if r.check().is_ok() {
            let forms = ["15855550123", "5855550123", "101"];
            for external in [false, true] {
                for busy in [false, true] {
                    let caller = Caller {
                        external,
                        forms: &forms,
                    };
                    let (route, _) = r.route_for(caller, busy);
                    assert!(route.check().is_ok(), "{route:?}");
                }
            }
            let f = r.forwarding();
            let mut again = r.clone();
            again.set_forwarding(&f);
            assert!(again.check().is_ok());
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let finally = Finally::to(text);
    let route = CallRoute {
        attempts: Vec::new(),
        finally: finally.clone(),
    };
    if let (Finally::Number(n), Ok(())) = (&finally, route.check()) {
        let digits = n.strip_prefix('+').expect("a number starts with +");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 15);
    }
    // The text as a caller pattern, and as a caller's number against a few patterns.
    let pattern = CallerMatch::External(text.to_string());
    let _ = pattern.matches(true, &[text, "5855550123"]);
    for p in ["585*", "*", "*0123", "5*5*5"] {
        let _ = CallerMatch::External(p.into()).matches(true, &[text]);
    }
});
