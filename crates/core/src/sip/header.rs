//! SIP headers: an ordered list with case-insensitive lookup, compact-form expansion, and typed views
//! of the headers the core reads (name-addr, Via, CSeq). Never interprets dialogs or transactions.

use super::message::Method;
use super::uri::SipUri;

/// Ordered headers. Names are stored in canonical form (see [`canonical_name`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

/// Expand compact forms and normalise the case of well-known header names.
pub fn canonical_name(name: &str) -> &str {
    const KNOWN: &[&str] = &[
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Content-Length",
        "Content-Type",
        "Max-Forwards",
        "Expires",
        "Authorization",
        "Proxy-Authorization",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Record-Route",
        "Route",
        "User-Agent",
        "Allow",
        "Supported",
        "Event",
        "Subject",
        "Diversion",
        "History-Info",
        "Min-Expires",
        "Server",
        "Accept",
        "Subscription-State",
        "Require",
        "Unsupported",
        "Reason",
        "Retry-After",
        "Allow-Events",
    ];
    match name {
        "v" | "V" => "Via",
        "f" | "F" => "From",
        "t" | "T" => "To",
        "i" | "I" => "Call-ID",
        "m" | "M" => "Contact",
        "l" | "L" => "Content-Length",
        "c" | "C" => "Content-Type",
        "k" | "K" => "Supported",
        "s" | "S" => "Subject",
        "o" | "O" => "Event",
        "u" | "U" => "Allow-Events",
        _ => KNOWN
            .iter()
            .find(|k| k.eq_ignore_ascii_case(name))
            .copied()
            .unwrap_or(name),
    }
}

impl Headers {
    /// Append a header.
    pub fn push(&mut self, name: &str, value: &str) {
        self.0
            .push((canonical_name(name).to_string(), value.to_string()));
    }

    /// The first value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, splitting comma-separated lists for headers that allow them
    /// (Via, Contact, Route, Record-Route); commas inside `<>` or quotes are respected.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let name = canonical_name(name);
        let splittable = matches!(
            name,
            "Via" | "Contact" | "Route" | "Record-Route" | "History-Info" | "Diversion"
        );
        let mut out = Vec::new();
        for (n, v) in &self.0 {
            if n.eq_ignore_ascii_case(name) {
                if splittable {
                    out.extend(split_list(v));
                } else {
                    out.push(v.as_str());
                }
            }
        }
        out
    }

    /// Replace all values of a header with one value (appending when absent).
    pub fn set(&mut self, name: &str, value: &str) {
        let name = canonical_name(name);
        if let Some(pos) = self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            self.0[pos].1 = value.to_string();
            let mut i = pos + 1;
            while i < self.0.len() {
                if self.0[i].0.eq_ignore_ascii_case(name) {
                    self.0.remove(i);
                } else {
                    i += 1;
                }
            }
        } else {
            self.push(name, value);
        }
    }

    /// Rewrite every line of a header in place.
    pub fn map(&mut self, name: &str, mut f: impl FnMut(&str) -> String) {
        let name = canonical_name(name);
        for (n, v) in &mut self.0 {
            if n.eq_ignore_ascii_case(name) {
                *v = f(v);
            }
        }
    }

    /// Remove every value of a header.
    pub fn remove(&mut self, name: &str) {
        let name = canonical_name(name);
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Iterate over (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let v = self.get("CSeq")?;
        let (n, m) = v.split_once(char::is_whitespace)?;
        Some((n.trim().parse().ok()?, Method::parse(m.trim())))
    }

    /// The parsed From header.
    pub fn from(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get("From")?)
    }

    /// The parsed To header.
    pub fn to(&self) -> Option<NameAddr> {
        NameAddr::parse(self.get("To")?)
    }

    /// The first (topmost) Via.
    pub fn top_via(&self) -> Option<Via> {
        Via::parse(self.get_all("Via").first()?)
    }

    /// Write where a request really came from into its top Via (`received` and `rport`, RFC 3261
    /// §18.2.1 and RFC 3581), replacing whatever the sender wrote there itself: responses then go back
    /// to the datagram's source, never to an address the sender claimed.
    pub fn stamp_top_via(&mut self, source: std::net::SocketAddr) {
        let Some(entry) = self.0.iter_mut().find(|(n, _)| n == "Via") else {
            return;
        };
        let list = split_list(&entry.1);
        let Some((top, rest)) = list.split_first() else {
            return;
        };
        let mut stamped: String = top
            .split(';')
            .filter(|p| {
                let name = p.split('=').next().unwrap_or("").trim();
                !name.eq_ignore_ascii_case("received") && !name.eq_ignore_ascii_case("rport")
            })
            .collect::<Vec<_>>()
            .join(";");
        stamped.push_str(&format!(
            ";received={};rport={}",
            source.ip(),
            source.port()
        ));
        for r in rest {
            stamped.push_str(", ");
            stamped.push_str(r);
        }
        entry.1 = stamped;
    }
}

/// The characters of a header value that lie outside its quoted strings, with their byte offsets
/// (inside quotes a backslash escapes the next character, RFC 3261 §25.1's `quoted-pair`).
pub(crate) struct Unquoted<'a> {
    chars: std::str::CharIndices<'a>,
    quoted: bool,
    escaped: bool,
}

impl<'a> Unquoted<'a> {
    pub(crate) fn new(v: &'a str) -> Unquoted<'a> {
        Unquoted {
            chars: v.char_indices(),
            quoted: false,
            escaped: false,
        }
    }

    /// Whether the walk so far ended inside a quoted string (at the end: one left open).
    pub(crate) fn in_quotes(&self) -> bool {
        self.quoted
    }
}

impl Iterator for Unquoted<'_> {
    type Item = (usize, char);

    fn next(&mut self) -> Option<(usize, char)> {
        loop {
            let (i, c) = self.chars.next()?;
            if self.quoted {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, '\\') => self.escaped = true,
                    (false, '"') => self.quoted = false,
                    _ => {}
                }
            } else if c == '"' {
                self.quoted = true;
            } else {
                return Some((i, c));
            }
        }
    }
}

/// One Via value's pieces as written (RFC 3261 §20.42 allows whitespace around each `/`): the
/// protocol's name and version, the transport, the sent-by (trimmed) and the parameters with their
/// leading `;`.
pub(crate) struct ViaParts<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) transport: &'a str,
    pub(crate) sent_by: &'a str,
    pub(crate) params: &'a str,
}

/// Split one Via value (not a list) into its [`ViaParts`]; None without the three `/`-parts.
pub(crate) fn via_parts(v: &str) -> Option<ViaParts<'_>> {
    let mut parts = v.splitn(3, '/');
    let (name, version, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let rest = rest.trim_start();
    let (transport, rest) = rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len()));
    let (sent_by, params) = rest.split_at(rest.find(';').unwrap_or(rest.len()));
    Some(ViaParts {
        name: name.trim(),
        version: version.trim(),
        transport,
        sent_by: sent_by.trim(),
        params,
    })
}

/// Split a comma-separated header value, ignoring commas inside quotes or angle brackets.
pub fn split_list(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = v[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// The value of a `;name=value` parameter in a header value (after the URI's `<...>`, if any), if present.
/// A parameter without value yields `Some("")`. Quoted values (which may hold `;` or `>`) are respected.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let tail = match value.find('<') {
        Some(lt) => &value[lt + value[lt..].find('>')? + 1..],
        None => value,
    };
    param_in(tail, name)
}

/// Look up a parameter in a `;a=b;c` list (the text after any URI).
fn param_in<'a>(tail: &'a str, name: &str) -> Option<&'a str> {
    let mut quoted = false;
    let mut start = None;
    let mut parts = Vec::new();
    for (i, c) in tail.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                if let Some(s) = start {
                    parts.push(&tail[s..i]);
                }
                start = Some(i + 1);
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        parts.push(&tail[s..]);
    }
    parts.into_iter().find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// A name-addr or addr-spec with header parameters: `"Name" <sip:u@h>;tag=x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name without quotes, if any.
    pub display: Option<String>,
    /// The URI.
    pub uri: SipUri,
    /// Header parameters after the URI, raw (e.g. `;tag=x;expires=60`), possibly empty.
    pub params: String,
}

/// Where the `<` of a name-addr is: the first one outside the display name's quoted string (whose
/// `\"` does not end it, RFC 3261 §25.1); `None` for an addr-spec, or an unterminated quote.
fn angle_outside_quotes(v: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in v.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (false, _, '<') => return Some(i),
            _ => {}
        }
    }
    None
}

/// A display name as written (`"Bob \"B\""` or a token) as text: the quotes off, escapes undone.
fn unquote(d: &str) -> String {
    let Some(inner) = d.strip_prefix('"').and_then(|d| d.strip_suffix('"')) else {
        return d.trim_matches('"').trim().to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out.trim().to_string()
}

impl NameAddr {
    /// Parse a name-addr or addr-spec.
    pub fn parse(v: &str) -> Option<NameAddr> {
        let v = v.trim();
        if let Some(lt) = angle_outside_quotes(v) {
            let gt = lt + v[lt..].find('>')?;
            let display = unquote(v[..lt].trim());
            let uri = SipUri::parse(&v[lt + 1..gt]).ok()?;
            Some(NameAddr {
                display: (!display.is_empty()).then_some(display),
                uri,
                params: v[gt + 1..].trim().to_string(),
            })
        } else {
            // addr-spec: parameters after the URI belong to the header (RFC 3261 §20.10).
            let (u, params) = match v.find(';') {
                Some(p) => (&v[..p], &v[p..]),
                None => (v, ""),
            };
            Some(NameAddr {
                display: None,
                uri: SipUri::parse(u).ok()?,
                params: params.to_string(),
            })
        }
    }

    /// A header parameter (e.g. `tag`).
    pub fn param(&self, name: &str) -> Option<&str> {
        param_in(&self.params, name)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }
}

impl std::fmt::Display for NameAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(d) = &self.display {
            let quoted: String = d
                .chars()
                .filter(|c| !c.is_control())
                .flat_map(|c| match c {
                    '"' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            write!(f, "\"{quoted}\" ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

/// A parsed Via header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token (UDP, TCP, TLS, WS...).
    pub transport: String,
    /// sent-by host.
    pub host: String,
    /// sent-by port, if given.
    pub port: Option<u16>,
    /// The branch parameter.
    pub branch: Option<String>,
    /// The received parameter.
    pub received: Option<String>,
    /// The rport parameter value, if it carries one.
    pub rport: Option<u16>,
}

impl Via {
    /// Parse one Via value (`SIP/2.0/UDP host:port;branch=...`).
    pub fn parse(v: &str) -> Option<Via> {
        let v = v.trim();
        let (proto, rest) = v.split_once(char::is_whitespace)?;
        let transport = proto.rsplit('/').next()?.to_ascii_uppercase();
        let rest = rest.trim();
        let (sent_by, _) = rest.split_once(';').unwrap_or((rest, ""));
        let (host, port) = split_host_port(sent_by.trim());
        Some(Via {
            transport,
            host: host.to_string(),
            port,
            branch: param(rest, "branch").map(str::to_string),
            received: param(rest, "received").map(str::to_string),
            rport: param(rest, "rport").and_then(|p| p.parse().ok()),
        })
    }
}

/// Split `host:port` (IPv6 in brackets allowed).
pub fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(stripped) = s.strip_prefix('[') {
        if let Some(end) = stripped.find(']') {
            let host = &s[..end + 2];
            let port = stripped[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (host, port);
        }
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_display_name_may_hold_angle_brackets_and_escaped_quotes() {
        let n = NameAddr::parse(r#""x\" <sip:evil@x>" <sip:100@pbx>;tag=t"#).unwrap();
        assert_eq!(
            n.uri.to_string(),
            "sip:100@pbx",
            "the < inside the quotes is the name's"
        );
        assert_eq!(n.display.as_deref(), Some(r#"x" <sip:evil@x>"#));
        assert_eq!(n.tag(), Some("t"));
        // Written back, it reads the same.
        let again = NameAddr::parse(&n.to_string()).unwrap();
        assert_eq!(
            (again.display, again.uri),
            (n.display.clone(), n.uri.clone())
        );
        // An unterminated quote is no name-addr.
        assert!(NameAddr::parse(r#""Bob <sip:100@pbx>"#).is_none());
        assert_eq!(
            NameAddr::parse("Bob <sip:100@pbx>")
                .unwrap()
                .display
                .as_deref(),
            Some("Bob")
        );
    }

    #[test]
    fn name_addr_with_display_and_tag_parses() {
        let n = NameAddr::parse("\"Alice A\" <sip:100@pbx;transport=tcp>;tag=abc").unwrap();
        assert_eq!(n.display.as_deref(), Some("Alice A"));
        assert_eq!(n.uri.user.as_deref(), Some("100"));
        assert_eq!(n.tag(), Some("abc"));
        assert_eq!(n.uri.param("transport"), Some("tcp"));
    }

    #[test]
    fn contact_params_after_a_quoted_instance_id_are_found() {
        let c = "<sip:100-0x56@127.0.0.1:21006>;+sip.instance=\"<urn:uuid:c671>\";expires=6";
        assert_eq!(param(c, "expires"), Some("6"));
        let n = NameAddr::parse("<sip:1@h>;expires=6;+sip.instance=\"<urn:uuid:c6;71>\"").unwrap();
        assert_eq!(n.param("expires"), Some("6"));
        assert_eq!(n.param("+sip.instance"), Some("<urn:uuid:c6;71>"));
    }

    #[test]
    fn addr_spec_parameters_belong_to_the_header() {
        let n = NameAddr::parse("sip:100@pbx;tag=1").unwrap();
        assert_eq!(n.tag(), Some("1"));
        assert_eq!(n.uri.to_string(), "sip:100@pbx");
    }

    #[test]
    fn contact_lists_split_outside_brackets_and_quotes() {
        let mut h = Headers::default();
        h.push("m", "\"a,b\" <sip:1@h;x=1,2>, <sip:2@h>");
        h.push("Contact", "*");
        assert_eq!(h.get_all("Contact").len(), 3);
    }

    #[test]
    fn top_via_is_stamped_with_the_real_source_replacing_a_claimed_one() {
        let mut h = Headers::default();
        h.push(
            "v",
            "SIP/2.0/UDP 10.0.0.1:5062;received=10.66.66.66;branch=z9hG4bKx;rport=1, SIP/2.0/UDP p2",
        );
        h.stamp_top_via("127.0.0.1:4000".parse().unwrap());
        let top = h.top_via().unwrap();
        assert_eq!(top.received.as_deref(), Some("127.0.0.1"));
        assert_eq!(top.rport, Some(4000));
        assert_eq!(top.branch.as_deref(), Some("z9hG4bKx"));
        assert_eq!(h.get_all("Via").len(), 2);
    }

    #[test]
    fn via_parses_branch_received_and_rport() {
        let v = Via::parse("SIP/2.0/tcp 10.0.0.1:5062;branch=z9hG4bKx;rport=4000;received=1.2.3.4")
            .unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!((v.host.as_str(), v.port), ("10.0.0.1", Some(5062)));
        assert_eq!(v.branch.as_deref(), Some("z9hG4bKx"));
        assert_eq!(v.rport, Some(4000));
        assert_eq!(v.received.as_deref(), Some("1.2.3.4"));
    }
}
