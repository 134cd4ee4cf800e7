//! Any form body as Callisto ManagerAssistant API parameters: decoding the form and applying it as
//! group, member, VIP and announcement settings never panics; a refusal names the parameter.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_core::ma::{AnnouncementSettings, GroupSettings, MemberSettings, Params, VipSettings};

fuzz_target!(|data: &[u8]| {
    let pairs = form_urlencoded::parse(data).map(|(k, v)| (k.into_owned(), v.into_owned()));
    let p = Params::new(pairs);
    let _ = (p.id("gr_id"), p.required("gr_name"), p.get("me_number"));
    if let Ok(g) = GroupSettings::default().apply(&p) {
        for name in ["gr_name", "gr_ringParallel", "gr_overflow", "gr_callerName"] {
            let _ = g.api_value(name);
        }
    }
    if let Ok(m) = MemberSettings::apply(None, &p) {
        let _ = MemberSettings::apply(Some(&m), &p);
    }
    let _ = VipSettings::apply(None, &p);
    let _ = AnnouncementSettings::apply(None, &p);
});
