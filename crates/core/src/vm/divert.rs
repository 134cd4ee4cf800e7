//! Which mailbox a call from another PBX is for, and why it came: the `Diversion` header (RFC 5806),
//! `History-Info` (RFC 7044 with RFC 4458 causes), or RFC 4458 `target`/`cause` parameters on the
//! Request-URI. This is how Parley serves as the voicemail of an existing PBX.

use super::Reason;
use crate::sip::header::NameAddr;
use crate::sip::Request;

/// The mailbox and reason a diverted call names, if any.
pub fn diverted_to(req: &Request) -> Option<(String, Reason)> {
    // RFC 4458 on the Request-URI: sip:voicemail@parley;target=101;cause=486
    if let Some(target) = req.uri.param("target") {
        let reason = cause_reason(req.uri.param("cause"));
        return Some((user_of(&unescape(target))?, reason));
    }
    // Diversion: the top value is the most recent diversion (RFC 5806 §4).
    if let Some(top) = req.headers.get_all("Diversion").first() {
        let na = NameAddr::parse(top)?;
        let reason = match na.param("reason").map(|r| r.to_ascii_lowercase()) {
            Some(r) if r == "user-busy" => Reason::Busy,
            Some(r) if r == "no-answer" => Reason::NoAnswer,
            _ => Reason::Unavailable,
        };
        return Some((na.uri.user_base()?.to_string(), reason));
    }
    // History-Info: the entry retargeted with a cause (RFC 4458 cause on the next entry's URI, or a
    // Reason header escaped in the entry's own URI) names the mailbox.
    let entries: Vec<NameAddr> = req
        .headers
        .get_all("History-Info")
        .into_iter()
        .filter_map(NameAddr::parse)
        .collect();
    for (i, e) in entries.iter().enumerate().rev() {
        if let Some(cause) = e.uri.param("cause") {
            if let Some(t) = e.uri.param("target") {
                return Some((user_of(&unescape(t))?, cause_reason(Some(cause))));
            }
            if i > 0 {
                let user = entries[i - 1].uri.user_base()?.to_string();
                return Some((user, cause_reason(Some(cause))));
            }
        }
        let headers = unescape(&e.uri.headers);
        if let Some(pos) = headers.to_ascii_lowercase().find("cause=") {
            let digits: String = headers
                .get(pos + 6..)
                .unwrap_or_default()
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            return Some((
                e.uri.user_base()?.to_string(),
                cause_reason(Some(digits.as_str())),
            ));
        }
    }
    None
}

fn cause_reason(cause: Option<&str>) -> Reason {
    match cause {
        Some("486") | Some("600") => Reason::Busy,
        Some("408") | Some("487") => Reason::NoAnswer,
        _ => Reason::Unavailable,
    }
}

fn user_of(target: &str) -> Option<String> {
    let t = target.trim_start_matches('<').trim_end_matches('>');
    let t = t
        .strip_prefix("sip:")
        .or_else(|| t.strip_prefix("sips:"))
        .or_else(|| t.strip_prefix("tel:"))
        .unwrap_or(t);
    let user = t.split(['@', ';']).next()?;
    (!user.is_empty()).then(|| user.to_string())
}

/// Percent-decoding of URI parameter and header text (`%3B` to `;`). Works on bytes, never on byte
/// offsets of the `str`: a `%` followed by a multi-byte character (`%€`) is kept as it is.
fn unescape(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let pair = (
                bytes.get(i + 1).and_then(|&h| hex(h)),
                bytes.get(i + 2).and_then(|&l| hex(l)),
            );
            if let (Some(h), Some(l)) = pair {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Message;

    fn req(uri: &str, extra: &str) -> Request {
        let text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1\r\nFrom: <sip:5551234@pbx>;tag=1\r\n\
             To: <sip:800@parley>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match Message::parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn percent_before_a_multibyte_character_is_kept_not_sliced() {
        assert_eq!(unescape("%€"), "%€");
        assert_eq!(unescape("a%3Bb%"), "a;b%");
        assert_eq!(unescape("%4"), "%4");
        assert_eq!(unescape("%e2%82%ac"), "€");
        let r = req(
            "sip:800@parley",
            "History-Info: <sip:101@pbx?Reason=SIP%3Bcause%3D486%€>;index=1\r\n",
        );
        assert_eq!(diverted_to(&r), Some(("101".into(), Reason::Busy)));
        let r = req("sip:800@parley;target=%€;cause=486", "");
        assert_eq!(diverted_to(&r), Some(("%€".into(), Reason::Busy)));
    }

    #[test]
    fn diversion_names_the_mailbox_and_the_reason() {
        let r = req(
            "sip:800@parley",
            "Diversion: <sip:101@pbx>;reason=user-busy;counter=1\r\n",
        );
        assert_eq!(diverted_to(&r), Some(("101".into(), Reason::Busy)));
        let r = req(
            "sip:800@parley",
            "Diversion: <sip:102@pbx>;reason=no-answer, <sip:101@pbx>;reason=unconditional\r\n",
        );
        assert_eq!(diverted_to(&r), Some(("102".into(), Reason::NoAnswer)));
        let r = req("sip:800@parley", "Diversion: <sip:103@pbx>\r\n");
        assert_eq!(diverted_to(&r), Some(("103".into(), Reason::Unavailable)));
    }

    #[test]
    fn history_info_with_rfc4458_causes() {
        let r = req(
            "sip:800@parley",
            "History-Info: <sip:101@pbx>;index=1, <sip:800@parley;cause=486>;index=1.1\r\n",
        );
        assert_eq!(diverted_to(&r), Some(("101".into(), Reason::Busy)));
        let r = req(
            "sip:800@parley",
            "History-Info: <sip:102@pbx?Reason=SIP%3Bcause%3D408>;index=1, <sip:800@parley>;index=1.1\r\n",
        );
        assert_eq!(diverted_to(&r), Some(("102".into(), Reason::NoAnswer)));
    }

    #[test]
    fn request_uri_target_parameter() {
        let r = req("sip:800@parley;target=sip:104%40pbx;cause=480", "");
        assert_eq!(diverted_to(&r), Some(("104".into(), Reason::Unavailable)));
        assert_eq!(diverted_to(&req("sip:800@parley", "")), None);
    }
}
