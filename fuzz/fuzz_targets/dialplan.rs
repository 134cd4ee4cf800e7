//! Any number a phone dials (the Request-URI's user part), under the dial plans of a few home
//! countries, with and without an outside-line prefix: classing it never panics, and what goes to a
//! carrier is an emergency number as dialled or E.164 (`+` and at most 15 digits), which every
//! number format a trunk may ask for writes as digits only (a `+` first for E.164).
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::trunk::dialplan::{country, Dialplan, NumberClass};
use parley_core::trunk::NumberFormat;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (home, prefix) in [("US", "9"), ("DE", "0"), ("GB", ""), ("FR", "9")] {
        let plan = Dialplan {
            prefix: prefix.into(),
            home: country(home).expect("a country"),
            emergency: vec!["911".into(), "112".into()],
            anonymous_prefix: "*67".into(),
            home_area: Some("585".into()),
        };
        if let Some(Ok(out)) = plan.outside(text) {
            if out.class == NumberClass::Emergency {
                assert!(plan.emergency.contains(&out.number));
            } else {
                let digits = out.number.strip_prefix('+').expect("E.164 has a +");
                assert!(!digits.is_empty() && digits.len() <= 15, "{}", out.number);
                assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{}", out.number);
            }
            for format in [NumberFormat::E164, NumberFormat::Digits, NumberFormat::National] {
                let written = plan.format(&out.number, format);
                let body = written.strip_prefix('+').unwrap_or(&written);
                assert!(!body.is_empty() && body.len() <= 24, "{written}");
                assert!(body.bytes().all(|b| b.is_ascii_digit()), "{written}");
            }
        }
    }
});
