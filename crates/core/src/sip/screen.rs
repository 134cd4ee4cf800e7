//! The first look at every SIP message that arrives, before any transaction, authentication or call
//! state (sans-IO: bytes in, a verdict out). RFC 3261's refusals that depend on the message alone
//! are decided here and answered statelessly: a malformed request gets 400 (§8.2, RFC 4475), an
//! unsupported SIP version 505 (§8.2.2... §21.5.6), a Request-URI scheme other than `sip:`, `sips:`
//! or `tel:` 416 (§8.2.2.1), an option in `Require` that Parley does not implement 420 with
//! `Unsupported` (§8.2.2.3), a method nobody defined 501 with `Allow` (§8.2.1), an INVITE body that
//! is not SDP 415 with `Accept` (§8.2.3), an INVITE whose `Accept` excludes SDP 406, and a request
//! too large 513. A message that passes is handed on in its canonical text (folded lines joined,
//! compact header names spelt out, `Content-Length` from the body), which is what the transaction
//! layer parses; it never sees the original bytes. A response that cannot be parsed, and an ACK that
//! would be refused, are dropped: neither is ever answered.

use super::header::{canonical_name, param, split_list, Headers};
use super::message::{find_head_end, unfold_lines, Message, Method, ParseError, Request, Response};
use super::status::StatusCode;

/// The largest request accepted, in bytes; a larger one is answered 513.
pub const MAX_REQUEST: usize = 32 * 1024;

/// The option tags Parley implements: a `Require` naming any other is answered 420.
pub const SUPPORTED: &[&str] = &[];

/// What to do with one arriving message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand these bytes (the message in canonical form, or a keep-alive as it came) to the
    /// transaction layer.
    Pass(Vec<u8>),
    /// Send this response back to where the request came from, and forget the request.
    Answer(Response),
    /// Nothing to do; the reason is for the log.
    Drop(&'static str),
}

/// Look at one message (a UDP datagram, or a message framed off a stream).
pub fn screen(bytes: &[u8]) -> Verdict {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Pass(bytes.to_vec());
    }
    if bytes.len() > MAX_REQUEST {
        return malformed(bytes, StatusCode::MESSAGE_TOO_LARGE, "Message Too Large");
    }
    match Message::parse(bytes) {
        Ok(Message::Response(mut r)) => {
            tidy(&mut r.headers);
            Verdict::Pass(r.to_bytes())
        }
        Ok(Message::Request(r)) => match refusal(&r) {
            None => Verdict::Pass(canonical(r).to_bytes()),
            Some(_) if r.method == Method::Ack => Verdict::Drop("an ACK that would be refused"),
            Some(resp) => no_amplification(resp, bytes.len()),
        },
        Err(e) => {
            let (status, reason) = match e {
                ParseError::Version => (StatusCode::VERSION_NOT_SUPPORTED, "Version Not Supported"),
                ParseError::Scheme => {
                    (StatusCode::UNSUPPORTED_URI_SCHEME, "Unsupported URI Scheme")
                }
                ParseError::TooLarge => (StatusCode::MESSAGE_TOO_LARGE, "Message Too Large"),
                ParseError::NotUtf8 => (StatusCode::BAD_REQUEST, "Bad Request (not UTF-8)"),
                ParseError::Unterminated => (
                    StatusCode::BAD_REQUEST,
                    "Bad Request (unterminated header section)",
                ),
                ParseError::StartLine(_) => (
                    StatusCode::BAD_REQUEST,
                    "Bad Request (malformed request line)",
                ),
                ParseError::HeaderLine(_) => {
                    (StatusCode::BAD_REQUEST, "Bad Request (malformed header)")
                }
                ParseError::Missing(_) => (StatusCode::BAD_REQUEST, "Bad Request (missing header)"),
                ParseError::ContentLength(_) => {
                    (StatusCode::BAD_REQUEST, "Bad Request (bad Content-Length)")
                }
                ParseError::CSeq(_) => (StatusCode::BAD_REQUEST, "Bad Request (bad CSeq)"),
                ParseError::Uri(_) => (StatusCode::BAD_REQUEST, "Bad Request (bad URI)"),
                ParseError::Header(_) => {
                    (StatusCode::BAD_REQUEST, "Bad Request (bad header value)")
                }
            };
            malformed(bytes, status, reason)
        }
    }
}

/// The 513 of a request too large to be taken (in canonical form, where the stack's buffer is
/// smaller than [`MAX_REQUEST`]).
pub fn too_large(bytes: &[u8]) -> Verdict {
    malformed(bytes, StatusCode::MESSAGE_TOO_LARGE, "Message Too Large")
}

/// A refusal goes back to the request's source address, which a forger chooses: it is never more
/// than twice the request's size (a challenge for a REGISTER is about that too), so that nobody can
/// use Parley to flood a third party with more than it sends.
fn no_amplification(resp: Response, request_len: usize) -> Verdict {
    if resp.to_bytes().len() > 2 * request_len {
        Verdict::Drop("an answer larger than its request")
    } else {
        Verdict::Answer(resp)
    }
}

/// Why a well-formed request is refused, as its response (None: it goes on).
fn refusal(r: &Request) -> Option<Response> {
    let answer = |status: StatusCode, extra: &[(&str, &str)]| {
        let mut resp = Response::to_request(r, status, Some(&stateless_tag(&r.headers)));
        for (name, value) in extra {
            resp.headers.push(name, value);
        }
        Some(resp)
    };
    if matches!(r.method, Method::Other(_)) {
        return answer(
            StatusCode::NOT_IMPLEMENTED,
            &[("Allow", crate::switch::ALLOW)],
        );
    }
    if !matches!(r.method, Method::Ack | Method::Cancel) {
        let unknown: Vec<&str> = r
            .headers
            .get_all("Require")
            .into_iter()
            .flat_map(split_list)
            .filter(|t| !t.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unknown.is_empty() {
            return answer(
                StatusCode::BAD_EXTENSION,
                &[("Unsupported", &unknown.join(", "))],
            );
        }
    }
    if r.method == Method::Invite {
        if !r.body.is_empty() {
            if let Some(enc) = r.headers.get("Content-Encoding") {
                if split_list(enc)
                    .into_iter()
                    .any(|e| !e.eq_ignore_ascii_case("identity"))
                {
                    return answer(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        &[
                            ("Accept-Encoding", "identity"),
                            ("Accept", "application/sdp"),
                        ],
                    );
                }
            }
            let sdp = r
                .headers
                .get("Content-Type")
                .is_some_and(|t| media_type(t).eq_ignore_ascii_case("application/sdp"));
            if !sdp {
                return answer(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    &[("Accept", "application/sdp")],
                );
            }
        }
        let accept = r.headers.get_all("Accept");
        if !accept.is_empty() {
            let takes_sdp = accept.into_iter().flat_map(split_list).any(|a| {
                let t = media_type(a);
                t.eq_ignore_ascii_case("application/sdp")
                    || t.eq_ignore_ascii_case("application/*")
                    || t == "*/*"
            });
            if !takes_sdp {
                return answer(StatusCode::NOT_ACCEPTABLE, &[("Accept", "application/sdp")]);
            }
        }
    }
    None
}

/// A request as the transaction layer is given it: [`tidy`], and an RFC 2543 request's From given
/// a tag (see [`COMPAT_TAG`]).
fn canonical(mut r: Request) -> Request {
    tidy(&mut r.headers);
    if let Some(fixed) = ipv6_three_colons(&r.uri.host) {
        r.uri.host = fixed;
    }
    let from = r.headers.get("From").unwrap_or_default();
    let tagged = super::NameAddr::parse(from).is_some_and(|f| f.tag().is_some());
    if !tagged {
        let tag = format!(
            "{COMPAT_TAG}{}",
            &hash(&[r.headers.get("Call-ID").unwrap_or(""), from])[..12]
        );
        let from = format!("{from};tag={tag}");
        r.headers.set("From", &from);
    }
    r
}

/// The tag given to the From of an RFC 2543 request, which has none (RFC 3261 §8.2.6.2 and §12
/// need one to tell transactions and dialogs apart): this prefix and a hash of the Call-ID and the
/// From, so that the request's retransmissions, its ACK and the rest of its dialog get the same
/// one. [`strip_compat_tags`] takes it out of everything sent, so the old peer never sees it.
pub const COMPAT_TAG: &str = "p2543-";

/// `bytes` without the `;tag=` [`COMPAT_TAG`] parameters Parley added (exactly its 12 hex
/// digits, then a delimiter), looked for in the header section only (None: there is none).
pub fn strip_compat_tags(bytes: &[u8]) -> Option<Vec<u8>> {
    let needle = format!(";tag={COMPAT_TAG}");
    let needle = needle.as_bytes();
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let ours = |at: usize| {
        let tail = &bytes[at + needle.len()..];
        tail.len() > 12
            && tail[..12].iter().all(u8::is_ascii_hexdigit)
            && !tail[12].is_ascii_alphanumeric()
            && tail[12] != b'-'
    };
    let found: Vec<usize> = bytes[..head_end]
        .windows(needle.len())
        .enumerate()
        .filter(|&(at, w)| w == needle && ours(at))
        .map(|(at, _)| at)
        .collect();
    if found.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut from = 0;
    for at in found {
        out.extend_from_slice(&bytes[from..at]);
        from = at + needle.len() + 12;
    }
    out.extend_from_slice(&bytes[from..]);
    Some(out)
}

/// The headers the transaction layer reads, in one spelling: From and To as `name-addr;p=v`, each
/// Via as `SIP/2.0/UDP host:port;p=v` (RFC 3261 allows whitespace around every `/`, `;` and `=`
/// there, and RFC 4475's first message uses it).
fn tidy(h: &mut Headers) {
    h.map("From", |v| fix_ipv6_references(&tidy_name_addr(v)));
    h.map("To", |v| fix_ipv6_references(&tidy_name_addr(v)));
    h.map("Contact", fix_ipv6_references);
    h.map("Via", |v| {
        split_list(v)
            .into_iter()
            .map(tidy_via)
            .collect::<Vec<_>>()
            .join(", ")
    });
}

/// RFC 3261's grammar lets an IPv6 reference end in `:::` before an IPv4 tail
/// (`[2001:db8:::192.0.2.1]`), RFC 4291's does not; RFC 5118 §4.10 asks that both be taken. The
/// reference with one colon fewer, when that is an IPv6 address.
fn ipv6_three_colons(host: &str) -> Option<String> {
    let inner = host.strip_prefix('[')?.strip_suffix(']')?;
    if !inner.contains(":::") {
        return None;
    }
    let fixed = inner.replacen(":::", "::", 1);
    fixed.parse::<std::net::Ipv6Addr>().ok()?;
    Some(format!("[{fixed}]"))
}

/// `v` with every bracketed IPv6 reference of [`ipv6_three_colons`]'s kind written with two
/// colons.
fn fix_ipv6_references(v: &str) -> String {
    if !v.contains(":::") {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            break;
        };
        out.push_str(&rest[..open]);
        let reference = &rest[open..=close];
        out.push_str(&ipv6_three_colons(reference).unwrap_or_else(|| reference.to_string()));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `display <uri>;p=v` or `uri;p=v`, whitespace around the parameters removed.
fn tidy_name_addr(v: &str) -> String {
    let v = v.trim();
    let (addr, params) = match close_of_name_addr(v) {
        Some(gt) => (&v[..=gt], &v[gt + 1..]),
        None => match v.find(';') {
            Some(p) => (&v[..p], &v[p..]),
            None => (v, ""),
        },
    };
    let mut out = addr.trim().to_string();
    push_params(&mut out, params);
    out
}

/// The `>` closing a name-addr's URI (outside quotes), if the value is a name-addr.
fn close_of_name_addr(v: &str) -> Option<usize> {
    let mut open = false;
    for (i, c) in super::header::Unquoted::new(v) {
        match c {
            '<' => open = true,
            '>' if open => return Some(i),
            ';' if !open => return None,
            _ => {}
        }
    }
    None
}

fn tidy_via(v: &str) -> String {
    let Some(p) = super::header::via_parts(v) else {
        return v.trim().to_string();
    };
    let sent_by: String = p.sent_by.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = format!("{}/{}/{} {sent_by}", p.name, p.version, p.transport);
    push_params(&mut out, p.params);
    out
}

/// Append `;p=v` for each `;`-separated parameter of `params` (quoted values kept whole).
fn push_params(out: &mut String, params: &str) {
    let (mut quoted, mut start) = (false, 0);
    let mut pieces = Vec::new();
    for (i, c) in params.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                pieces.push(&params[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&params[start..]);
    for p in pieces {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        out.push(';');
        match p.split_once('=') {
            Some((n, v)) => {
                out.push_str(n.trim());
                out.push('=');
                out.push_str(v.trim());
            }
            None => out.push_str(p),
        }
    }
}

/// `type/subtype` of a media type with its parameters.
fn media_type(v: &str) -> &str {
    v.split(';').next().unwrap_or("").trim()
}

/// The response to a request that could not be parsed, built from what can be read of it: its
/// Via, From, To, Call-ID and CSeq as they came. Without those (or for an ACK, or a response) it is
/// dropped: there is nowhere to answer, or nothing may be answered.
fn malformed(bytes: &[u8], status: StatusCode, reason: &str) -> Verdict {
    let head_end = find_head_end(bytes).map_or(bytes.len(), |(end, _)| end);
    let lines = unfold_lines(&String::from_utf8_lossy(&bytes[..head_end]));
    let start = lines.first().map_or("", String::as_str);
    if start.starts_with("SIP/") {
        return Verdict::Drop("a response that cannot be parsed");
    }
    if start.split(' ').next() == Some("ACK") {
        return Verdict::Drop("an ACK that cannot be parsed");
    }
    // Only what looks like a request line is answered: `method SP something SP SIP/…`.
    let mut parts = start.split(' ');
    let looks_like_request = parts.next().is_some_and(|m| !m.is_empty())
        && parts.next().is_some()
        && start.contains(" SIP/");
    if !looks_like_request {
        return Verdict::Drop("no request line");
    }
    let mut headers = Headers::default();
    for (name, value) in lines.iter().skip(1).filter_map(|l| l.split_once(':')) {
        let name = canonical_name(name.trim());
        // The first of each only: a request with many copies gets no larger an answer.
        if matches!(name, "Via" | "From" | "To" | "Call-ID" | "CSeq")
            && headers.get(name).is_none()
            && !value.chars().any(char::is_control)
        {
            headers.push(name, value.trim());
        }
    }
    // The client matches a response by its Via's branch and its CSeq (RFC 3261 §17.1.3): those two
    // are enough to answer; From, To and Call-ID are copied when there.
    for required in ["Via", "CSeq"] {
        if headers.get(required).is_none() {
            return Verdict::Drop("a malformed request that cannot be answered");
        }
    }
    let to_tag = stateless_tag(&headers);
    let mut out = Headers::default();
    for (name, value) in headers.iter() {
        if name == "To" && param(value, "tag").is_none() {
            out.push(name, &format!("{value};tag={to_tag}"));
        } else {
            out.push(name, value);
        }
    }
    no_amplification(
        Response {
            status,
            reason: reason.to_string(),
            headers: out,
            body: Vec::new(),
        },
        bytes.len(),
    )
}

/// The To tag of a stateless response: the same for every retransmission of a request (RFC 3261
/// §8.2.7), a hash of what identifies it.
fn stateless_tag(h: &Headers) -> String {
    let parts: Vec<&str> = ["Call-ID", "From", "CSeq", "Via"]
        .iter()
        .map(|n| h.get(n).unwrap_or(""))
        .collect();
    hash(&parts)
}

/// 64-bit FNV-1a of `parts` (each ended by a NUL), in hex.
fn hash(parts: &[&str]) -> String {
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{x:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:100@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa\r\nFrom: <sip:a@pbx>;tag=f\r\nTo: <sip:100@pbx>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    fn answer(v: Verdict) -> Response {
        match v {
            Verdict::Answer(r) => r,
            other => panic!("not answered: {other:?}"),
        }
    }

    #[test]
    fn a_good_request_passes_in_canonical_form() {
        let folded = OPTIONS
            .replace("From: <sip:a@pbx>;tag=f", "f: <sip:a@pbx>\r\n ;tag=f")
            .replace("Call-ID:", "i  :");
        let Verdict::Pass(bytes) = screen(folded.as_bytes()) else {
            panic!("refused")
        };
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\r\nFrom: <sip:a@pbx>;tag=f\r\n"), "{text}");
        assert!(text.contains("\r\nCall-ID: c1\r\n"), "{text}");
    }

    #[test]
    fn refusals_come_with_the_headers_rfc_3261_asks_for() {
        let r = answer(screen(
            OPTIONS
                .replace("OPTIONS sip", "NEWMETHOD sip")
                .replace("1 OPTIONS", "1 NEWMETHOD")
                .as_bytes(),
        ));
        assert_eq!(r.status.as_u16(), 501);
        assert!(r.headers.get("Allow").unwrap().contains("INVITE"));
        let r = answer(screen(
            OPTIONS
                .replace(
                    "Content-Length",
                    "Require: nothingknown, 100rel\r\nContent-Length",
                )
                .as_bytes(),
        ));
        assert_eq!(r.status.as_u16(), 420);
        assert_eq!(r.headers.get("Unsupported"), Some("nothingknown, 100rel"));
        let r = answer(screen(
            OPTIONS
                .replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia")
                .as_bytes(),
        ));
        assert_eq!(r.status.as_u16(), 505);
        let r = answer(screen(
            OPTIONS
                .replace("sip:100@pbx SIP", "isbn:2983792873 SIP")
                .as_bytes(),
        ));
        assert_eq!(r.status.as_u16(), 416);
    }

    #[test]
    fn an_invite_body_that_is_not_sdp_or_an_accept_without_sdp_is_refused() {
        let invite = OPTIONS.replace("OPTIONS", "INVITE");
        let with_body = |ct: &str| {
            invite.replace(
                "Content-Length: 0\r\n\r\n",
                &format!("Content-Type: {ct}\r\nContent-Length: 4\r\n\r\nabcd"),
            )
        };
        let r = answer(screen(with_body("text/plain").as_bytes()));
        assert_eq!(r.status.as_u16(), 415);
        assert_eq!(r.headers.get("Accept"), Some("application/sdp"));
        assert!(matches!(
            screen(with_body("application/SDP; charset=x").as_bytes()),
            Verdict::Pass(_)
        ));
        let r = answer(screen(
            invite
                .replace("Content-Length", "Accept: text/nonsense\r\nContent-Length")
                .as_bytes(),
        ));
        assert_eq!(r.status.as_u16(), 406);
    }

    #[test]
    fn whitespace_in_from_to_and_via_is_tidied_for_the_transaction_layer() {
        let spaced = OPTIONS
            .replace(
                "From: <sip:a@pbx>;tag=f",
                "From: \"J \\\"R\\\"\"   <sip:a@pbx> ; tag = f",
            )
            .replace(
                "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa",
                "Via: SIP  / 2.0 / UDP   10.0.0.1 : 5070 ; branch =  z9hG4bKa , SIP/2.0/TCP h ;rport",
            );
        let Verdict::Pass(bytes) = screen(spaced.as_bytes()) else {
            panic!("refused")
        };
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("\r\nFrom: \"J \\\"R\\\"\"   <sip:a@pbx>;tag=f\r\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa, SIP/2.0/TCP h;rport\r\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn ipv6_references_with_rfc_3261s_three_colons_are_taken_and_bare_ones_refused() {
        let three = OPTIONS
            .replace("sip:100@pbx SIP", "sip:user@[2001:db8:::192.0.2.1] SIP")
            .replace("To: <sip:100@pbx>", "To: sip:user@[2001:db8:::192.0.2.1]");
        let Verdict::Pass(bytes) = screen(three.as_bytes()) else {
            panic!("refused")
        };
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("OPTIONS sip:user@[2001:db8::192.0.2.1] SIP/2.0\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nTo: sip:user@[2001:db8::192.0.2.1]\r\n"),
            "{text}"
        );
        let bare = OPTIONS.replace("sip:100@pbx SIP", "sip:user@2001:db8::10 SIP");
        assert_eq!(answer(screen(bare.as_bytes())).status.as_u16(), 400);
    }

    #[test]
    fn an_rfc_2543_request_gets_a_from_tag_that_never_leaves() {
        let old = OPTIONS
            .replace(";branch=z9hG4bKa", "")
            .replace(";tag=f", "");
        let Verdict::Pass(bytes) = screen(old.as_bytes()) else {
            panic!("refused")
        };
        let text = String::from_utf8(bytes).unwrap();
        let from = text.lines().find(|l| l.starts_with("From:")).unwrap();
        assert!(from.contains(";tag=p2543-"), "{from}");
        // Its retransmission gets the same tag; a response carrying it goes out without it.
        let Verdict::Pass(again) = screen(old.as_bytes()) else {
            panic!()
        };
        assert_eq!(text.as_bytes(), &again[..]);
        let stripped = strip_compat_tags(text.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(stripped)
                .unwrap()
                .lines()
                .find(|l| l.starts_with("From:")),
            Some("From: <sip:a@pbx>")
        );
        assert!(strip_compat_tags(OPTIONS.as_bytes()).is_none());
    }

    #[test]
    fn a_request_missing_from_to_and_call_id_is_still_answered_by_its_via_and_cseq() {
        let insuf = "INVITE sip:u@h SIP/2.0\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n";
        let r = answer(screen(insuf.as_bytes()));
        assert_eq!(r.status.as_u16(), 400);
        assert_eq!(r.headers.get("CSeq"), Some("1 INVITE"));
        let escaped = OPTIONS.replace("sip:100@pbx SIP", "sip:100@pbx?Route=%3Csip:x%3E SIP");
        assert_eq!(answer(screen(escaped.as_bytes())).status.as_u16(), 400);
    }

    #[test]
    fn answers_are_never_larger_than_their_requests() {
        // Many copies of the headers an answer repeats, in a request that cannot be parsed.
        let mut forged = b"X sip:a SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bKq\nCSeq: 1 X\n".to_vec();
        for _ in 0..2400 {
            forged.extend_from_slice(b"t:\n");
        }
        match screen(&forged) {
            Verdict::Answer(r) => assert!(r.to_bytes().len() <= 2 * forged.len()),
            Verdict::Drop(_) => {}
            Verdict::Pass(_) => panic!("passed"),
        }
        assert!(matches!(screen(b"X\nv:\nCSeq:\n"), Verdict::Drop(_)));
        // A short request whose refusal would be more than twice its size is not answered.
        let short =
            "Z sip:a SIP/2.0\r\nv: SIP/2.0/UDP h\r\nf: a\r\nt: b\r\ni: 1\r\nCSeq: 1 Z\r\n\r\n";
        assert!(
            matches!(screen(short.as_bytes()), Verdict::Drop(_)),
            "{:?}",
            screen(short.as_bytes())
        );
    }

    #[test]
    fn only_the_tags_parley_added_are_taken_out_and_only_from_headers() {
        let mine = format!("SIP/2.0 200 OK\r\nFrom: <sip:a@b>;tag={COMPAT_TAG}0123456789ab\r\nTo: <sip:c@d>;tag={COMPAT_TAG}abc\r\n\r\nbody ;tag={COMPAT_TAG}0123456789ab\r\n");
        let out = String::from_utf8(strip_compat_tags(mine.as_bytes()).unwrap()).unwrap();
        assert!(out.contains("\r\nFrom: <sip:a@b>\r\n"), "{out}");
        assert!(
            out.contains(&format!("To: <sip:c@d>;tag={COMPAT_TAG}abc")),
            "a peer's own tag is its own: {out}"
        );
        assert!(
            out.ends_with(&format!("body ;tag={COMPAT_TAG}0123456789ab\r\n")),
            "bodies are untouched"
        );
    }

    #[test]
    fn a_malformed_request_gets_400_with_a_stable_to_tag_and_acks_and_responses_get_nothing() {
        let bad = OPTIONS
            .replace(
                "CSeq: 1 OPTIONS",
                "CSeq: 1 OPTIONS\r\nMax-Forwards: 0\r\nCSeq: 2 OPTIONS",
            )
            .replace("Content-Length: 0", "Content-Length: 99");
        let r = answer(screen(bad.as_bytes()));
        assert_eq!(r.status.as_u16(), 400);
        assert_eq!(r.headers.get("Call-ID"), Some("c1"));
        let again = answer(screen(bad.as_bytes()));
        assert_eq!(r.headers.get("To"), again.headers.get("To"));
        assert!(r.headers.get("To").unwrap().contains(";tag="));
        let ack = bad.replace("OPTIONS", "ACK");
        assert!(matches!(screen(ack.as_bytes()), Verdict::Drop(_)));
        assert!(matches!(
            screen(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n"),
            Verdict::Drop(_)
        ));
        assert!(matches!(screen(b"\r\n\r\n"), Verdict::Pass(_)));
        assert!(matches!(screen(b"garbage"), Verdict::Drop(_)));
    }
}
