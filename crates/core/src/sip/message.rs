//! SIP message model: parse untrusted bytes into a checked `Request`/`Response` and serialize them back.
//! Owns framing rules (start line, headers, Content-Length); never does IO or interprets call state.

use std::fmt;

use super::header::{canonical_name, Headers};
use super::status::StatusCode;
use super::uri::SipUri;

/// Largest SIP message Parley accepts (bytes). Anything larger is refused.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Why a message could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes are not UTF-8 text in the header part.
    #[error("message head is not valid UTF-8")]
    NotUtf8,
    /// No blank line terminates the header section.
    #[error("header section is not terminated")]
    Unterminated,
    /// The start line is not a request or status line.
    #[error("bad start line: {0}")]
    StartLine(String),
    /// A header line has no colon.
    #[error("malformed header line: {0}")]
    HeaderLine(String),
    /// A header required by RFC 3261 §8.1.1 is missing.
    #[error("missing mandatory header {0}")]
    Missing(&'static str),
    /// Content-Length is not a number or disagrees with the body.
    #[error("bad Content-Length: {0}")]
    ContentLength(String),
    /// CSeq is malformed or its method disagrees with the request method.
    #[error("bad CSeq: {0}")]
    CSeq(String),
    /// The message is larger than [`MAX_MESSAGE_LEN`].
    #[error("message too large")]
    TooLarge,
    /// A URI could not be parsed.
    #[error("bad URI: {0}")]
    Uri(String),
    /// The request is of a SIP version other than 2.0.
    #[error("SIP version not supported")]
    Version,
    /// The Request-URI's scheme is not `sip`, `sips` or `tel`.
    #[error("URI scheme not supported")]
    Scheme,
    /// A header every element reads (From, To, Via, Contact, Max-Forwards, Expires) is malformed,
    /// or one that may appear once appears twice.
    #[error("bad {0} header")]
    Header(&'static str),
}

/// A SIP method. Unknown methods are kept by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// REGISTER
    Register,
    /// OPTIONS
    Options,
    /// SUBSCRIBE
    Subscribe,
    /// NOTIFY
    Notify,
    /// MESSAGE
    Message,
    /// INFO
    Info,
    /// UPDATE
    Update,
    /// PRACK
    Prack,
    /// REFER
    Refer,
    /// PUBLISH
    Publish,
    /// Any other token.
    Other(String),
}

impl Method {
    /// Parse a method token.
    pub fn parse(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "MESSAGE" => Method::Message,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "REFER" => Method::Refer,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_string()),
        }
    }

    /// The method's token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Message => "MESSAGE",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Refer => "REFER",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: SipUri,
    /// Headers in order.
    pub headers: Headers,
    /// The body (Content-Length bytes).
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// Either a request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parse one complete message (a UDP datagram or a framed stream message).
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(ParseError::TooLarge);
        }
        let head_end = find_head_end(bytes).ok_or(ParseError::Unterminated)?;
        let head = std::str::from_utf8(&bytes[..head_end.0]).map_err(|_| ParseError::NotUtf8)?;
        let rest = &bytes[head_end.1..];
        let mut lines = unfold_lines(head).into_iter();
        let start = lines
            .next()
            .ok_or_else(|| ParseError::StartLine(String::new()))?;
        let mut headers = Headers::default();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| ParseError::HeaderLine(truncate(&line)))?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(ParseError::HeaderLine(truncate(&line)));
            }
            headers.push(canonical_name(name), value.trim());
        }
        let body = match headers.get("Content-Length") {
            Some(v) => {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| ParseError::ContentLength(truncate(v)))?;
                if n > rest.len() {
                    return Err(ParseError::ContentLength(format!(
                        "{n} declared, {} present",
                        rest.len()
                    )));
                }
                rest[..n].to_vec()
            }
            None => rest.to_vec(),
        };
        for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if headers.get(required).is_none() {
                return Err(ParseError::Missing(required));
            }
        }
        let cseq = headers.get("CSeq").unwrap_or_default();
        let (num, cmethod) = cseq
            .split_once(char::is_whitespace)
            .ok_or_else(|| ParseError::CSeq(truncate(cseq)))?;
        // A sequence number is less than 2**31 (RFC 3261 §8.1.1.5).
        let n: u32 = num
            .trim()
            .parse()
            .map_err(|_| ParseError::CSeq(truncate(cseq)))?;
        if n >= 1 << 31 {
            return Err(ParseError::CSeq(truncate(cseq)));
        }
        let cmethod = cmethod.trim().to_string();
        if let Some(rest) = start.strip_prefix("SIP/2.0 ") {
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            let status = code
                .parse()
                .ok()
                .and_then(StatusCode::new)
                .ok_or_else(|| ParseError::StartLine(truncate(&start)))?;
            Ok(Message::Response(Response {
                status,
                reason: reason.to_string(),
                headers,
                body,
            }))
        } else {
            let mut parts = start.split(' ');
            let (Some(m), Some(u), Some(v), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(ParseError::StartLine(truncate(&start)));
            };
            if v != "SIP/2.0" {
                return Err(if is_sip_version(v) {
                    ParseError::Version
                } else {
                    ParseError::StartLine(truncate(&start))
                });
            }
            if m.is_empty() || !m.bytes().all(is_token_byte) {
                return Err(ParseError::StartLine(truncate(&start)));
            }
            if let Some((scheme, _)) = u.split_once(':') {
                let known = ["sip", "sips", "tel"]
                    .iter()
                    .any(|k| scheme.eq_ignore_ascii_case(k));
                if !known && is_scheme(scheme) {
                    return Err(ParseError::Scheme);
                }
            }
            let uri = SipUri::parse(u).map_err(|e| ParseError::Uri(e.to_string()))?;
            // Headers have no place in a Request-URI (RFC 3261 §19.1.1).
            if !uri.headers.is_empty() {
                return Err(ParseError::Uri(truncate(u)));
            }
            let method = Method::parse(m);
            // (A method nobody defined is answered 501 whatever its CSeq says.)
            if cmethod != method.as_str()
                && !matches!(method, Method::Ack | Method::Cancel | Method::Other(_))
            {
                return Err(ParseError::CSeq(truncate(cseq)));
            }
            check_headers(&headers)?;
            Ok(Message::Request(Request {
                method,
                uri,
                headers,
                body,
            }))
        }
    }

    /// Serialize to wire bytes (Content-Length is always written from the body).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

/// `SIP/<digits>.<digits>`.
fn is_sip_version(v: &str) -> bool {
    v.strip_prefix("SIP/")
        .and_then(|n| n.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        })
}

/// RFC 3261's `token` characters (methods, option tags, header names).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// RFC 3986's scheme: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
}

/// The headers every element reads, checked before anything acts on the request: From and To
/// (one each, a name-addr or addr-spec whose quotes and brackets close), Call-ID and CSeq (one
/// each), every Via, every Contact (or `*`), Max-Forwards (0 to 255) and Expires (a number).
fn check_headers(h: &Headers) -> Result<(), ParseError> {
    for (name, what) in [
        ("From", "From"),
        ("To", "To"),
        ("Call-ID", "Call-ID"),
        ("CSeq", "CSeq"),
        ("Max-Forwards", "Max-Forwards"),
        ("Expires", "Expires"),
        ("Content-Length", "Content-Length"),
    ] {
        if h.get_all(name).len() > 1 {
            return Err(ParseError::Header(what));
        }
    }
    for (name, what) in [("From", "From"), ("To", "To")] {
        let v = h.get(name).unwrap_or_default();
        if !balanced(v) || super::header::NameAddr::parse(v).is_none() {
            return Err(ParseError::Header(what));
        }
    }
    if h.get("Call-ID").unwrap_or_default().trim().is_empty() {
        return Err(ParseError::Header("Call-ID"));
    }
    for v in h.get_all("Via") {
        for via in super::header::split_list(v) {
            if !via_ok(via) || super::header::Via::parse(via).is_none() {
                return Err(ParseError::Header("Via"));
            }
        }
    }
    for v in h.get_all("Contact") {
        if !balanced(v) {
            return Err(ParseError::Header("Contact"));
        }
        for c in super::header::split_list(v) {
            if c != "*" && super::header::NameAddr::parse(c).is_none() {
                return Err(ParseError::Header("Contact"));
            }
        }
    }
    if let Some(v) = h.get("Max-Forwards") {
        if v.trim().parse::<u8>().is_err() {
            return Err(ParseError::Header("Max-Forwards"));
        }
    }
    if let Some(v) = h.get("Expires") {
        if v.trim().parse::<u32>().is_err() {
            return Err(ParseError::Header("Expires"));
        }
    }
    Ok(())
}

/// `SIP / 2.0 / transport sent-by [;params]` (whitespace allowed around the `/`s and the `:`).
fn via_ok(v: &str) -> bool {
    let Some(p) = super::header::via_parts(v) else {
        return false;
    };
    p.name.eq_ignore_ascii_case("SIP")
        && p.version == "2.0"
        && !p.transport.is_empty()
        && p.transport.bytes().all(is_token_byte)
        && !p.sent_by.is_empty()
        && (p.sent_by.starts_with('[')
            || p.sent_by
                .split(':')
                .all(|x| !x.trim().is_empty() && !x.trim().contains(char::is_whitespace)))
}

/// Whether every quoted string closes (a backslash escapes the next character inside quotes) and
/// every `<` outside quotes is closed by a `>`.
fn balanced(v: &str) -> bool {
    let mut walk = super::header::Unquoted::new(v);
    let mut depth = 0i32;
    for (_, c) in &mut walk {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    !walk.in_quotes() && depth == 0
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Where the header section ends: its last byte and the body's first.
pub(super) fn find_head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    if let Some(p) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((p, p + 4));
    }
    bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| (p, p + 2))
}

/// Split the head into lines, joining folded continuation lines (RFC 3261 §7.3.1).
pub(super) fn unfold_lines(head: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
                continue;
            }
        }
        out.push(line.to_string());
    }
    out
}

fn write_headers(out: &mut Vec<u8>, headers: &Headers, body: &[u8]) {
    for (name, value) in headers.iter() {
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
}

impl Request {
    /// Serialize to wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} SIP/2.0\r\n", self.method, self.uri).into_bytes();
        write_headers(&mut out, &self.headers, &self.body);
        out
    }

    /// The CSeq number.
    pub fn cseq(&self) -> u32 {
        self.headers.cseq().map(|c| c.0).unwrap_or(0)
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        self.headers.get("Call-ID").unwrap_or_default()
    }
}

impl Response {
    /// Serialize to wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("SIP/2.0 {} {}\r\n", self.status, self.reason).into_bytes();
        write_headers(&mut out, &self.headers, &self.body);
        out
    }

    /// Build a response to `req` (RFC 3261 §8.2.6): copies Via, From, To, Call-ID, CSeq; adds a To tag
    /// when given and the request had none.
    pub fn to_request(req: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::default();
        for (name, value) in req.headers.iter() {
            match name {
                "Via" | "From" | "Call-ID" | "CSeq" | "Record-Route" => headers.push(name, value),
                "To" => {
                    let has_tag = super::header::param(value, "tag").is_some();
                    match to_tag {
                        Some(tag) if !has_tag && status > 100 => {
                            headers.push(name, &format!("{value};tag={tag}"))
                        }
                        _ => headers.push(name, value),
                    }
                }
                _ => {}
            }
        }
        Response {
            status,
            reason: status.reason().to_string(),
            headers,
            body: Vec::new(),
        }
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> (u32, Method) {
        self.headers
            .cseq()
            .unwrap_or((0, Method::Other(String::new())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nf: <sip:100@127.0.0.1>;tag=a\r\nTo: <sip:100@127.0.0.1>\r\ni: abc\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn register_parses_with_compact_headers_and_round_trips() {
        let Message::Request(r) = Message::parse(REGISTER.as_bytes()).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::Register);
        assert_eq!(r.call_id(), "abc");
        assert_eq!(r.headers.get("From"), Some("<sip:100@127.0.0.1>;tag=a"));
        let again = Message::parse(&r.to_bytes()).unwrap();
        assert_eq!(again, Message::Request(r));
    }

    #[test]
    fn garbage_and_truncated_messages_are_errors_not_panics() {
        for bad in [
            &b"\x00\x01\x02"[..],
            b"INVITE sip:x SIP/2.0\r\nVia: a\r\n",
            b"HELLO\r\n\r\n",
            b"INVITE sip:1@h SIP/2.0\r\nVia x\r\n\r\n",
            b"INVITE sip:1@h SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: x INVITE\r\n\r\n",
            b"INVITE sip:1@h SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n",
            b"SIP/2.0 99 Nope\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n",
        ] {
            assert!(Message::parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn content_length_larger_than_body_is_refused() {
        let msg = REGISTER.replace("Content-Length: 0", "Content-Length: 99999999");
        assert!(matches!(
            Message::parse(msg.as_bytes()),
            Err(ParseError::ContentLength(_))
        ));
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_to_tag() {
        let Message::Request(r) = Message::parse(REGISTER.as_bytes()).unwrap() else {
            panic!()
        };
        let resp = Response::to_request(&r, StatusCode::OK, Some("xyz"));
        assert_eq!(resp.headers.get("To"), Some("<sip:100@127.0.0.1>;tag=xyz"));
        assert_eq!(resp.cseq(), (1, Method::Register));
        assert!(String::from_utf8(resp.to_bytes())
            .unwrap()
            .starts_with("SIP/2.0 200 OK\r\n"));
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use crate::ids::Ids;

    const INVITE: &str = "INVITE sip:101@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa;rport\r\nFrom: \"A\" <sip:100@pbx>;tag=ta\r\nTo: <sip:101@pbx>\r\nCall-ID: a-call\r\nCSeq: 1 INVITE\r\nContact: <sip:100@10.0.0.1:5070>;+sip.instance=\"<urn:x>\"\r\nContent-Type: application/sdp\r\nContent-Length: 80\r\n\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    /// Mutated and truncated messages never panic the parser or the typed views the core uses.
    #[test]
    fn mutated_messages_never_panic() {
        let mut rng = Ids::new(42);
        for _ in 0..20_000 {
            let mut bytes = INVITE.as_bytes().to_vec();
            for _ in 0..(rng.next_u64() % 8 + 1) {
                let i = (rng.next_u64() as usize) % bytes.len();
                match rng.next_u64() % 4 {
                    0 => bytes[i] = rng.next_u64() as u8,
                    1 => bytes.truncate(i),
                    2 => bytes.insert(i, b"<>;\"=,:@ \r\n"[(rng.next_u64() % 11) as usize]),
                    _ => {
                        bytes.remove(i);
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            if let Ok(Message::Request(r)) = Message::parse(&bytes) {
                let _ = r.headers.from().map(|f| f.tag().map(str::len));
                let _ = r.headers.to();
                let _ = r.headers.top_via();
                let _ = r
                    .headers
                    .get_all("Contact")
                    .into_iter()
                    .map(crate::sip::NameAddr::parse)
                    .count();
                let _ = crate::sdp::AudioSession::parse(&r.body);
                let _ = Response::to_request(&r, StatusCode::OK, Some("t")).to_bytes();
            }
        }
    }
}
