//! Outside lines: SIP trunks to carriers. A trunk is another kind of leg for the switch, not a special
//! case in the shell. So far: what a trunk is ([`TrunkConfig`], named by a [`TrunkName`]), and
//! [`registration`], Parley registering to a carrier with digest, without IO, which the switch drives
//! for every registering trunk. Routing calls through trunks, inbound numbers and the toll-fraud
//! guards build on it.

pub mod dialplan;
pub mod keepalive;
pub mod limits;
pub mod registration;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

pub use registration::{RegState, Registration, RegistrationConfig};

use crate::sip::digest::ClientSecret;
use crate::target::Target;

/// The longest trunk name.
pub const MAX_NAME: usize = 32;

/// Why a trunk's setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrunkError {
    /// The name is empty, too long or has other characters than letters, digits, `-`, `_`, `.`.
    #[error("a trunk name is 1-{MAX_NAME} letters, digits, '-', '_' or '.'")]
    Name,
    /// The host is not a host name or an IP address.
    #[error("'{0}' is not a host name or an IP address")]
    Host(String),
    /// A username for the carrier that could not be written into a SIP URI.
    #[error("a username is 1-64 characters of letters, digits and - _ . ! ~ * ' ( ) + ; = $ ,")]
    Username,
    /// A codec Parley does not relay.
    #[error("{0:?} is not a codec Parley relays: pcmu or pcma")]
    Codec(String),
    /// A number pattern that is not `+` and digits.
    #[error("'{0}' is not a number pattern: + and 1-15 digits, a prefix of the numbers in E.164")]
    Pattern(String),
}

/// A trunk's name, as the administrator chose it (`carrier`, `backup-1`): the key of its row and of
/// its registration, shown in `parley trunk status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrunkName(String);

impl TrunkName {
    /// A name, if it is 1-32 ASCII letters, digits, `-`, `_` or `.`.
    pub fn new(name: &str) -> Result<TrunkName, TrunkError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(TrunkName(name.to_string()))
        } else {
            Err(TrunkError::Name)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrunkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Check a carrier's host as written into URIs: a DNS name (letters, digits, `-`, `.`) or an IP
/// address (an IPv6 one is written in brackets by [`uri_host`]).
pub fn check_host(host: &str) -> Result<(), TrunkError> {
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if name_ok || host.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(TrunkError::Host(crate::text::printable(host)))
    }
}

/// Split `host`, `host:port` or `[v6]:port` (an outbound proxy as written) into a checked host and
/// its port, if one is given.
pub fn parse_host_port(s: &str) -> Result<(String, Option<u16>), TrunkError> {
    let bad = || TrunkError::Host(crate::text::printable(s));
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').ok_or_else(bad)?;
        (h, Some(p))
    } else {
        (s, None)
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?),
        None => None,
    };
    check_host(host).map_err(|_| bad())?;
    Ok((host.to_string(), port))
}

/// The Via of a request Parley sends to a carrier out of any dialog (a REGISTER, an OPTIONS):
/// `via_host` is Parley's `host:port`.
pub(crate) fn via(transport: crate::target::Transport, via_host: &str, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {via_host};branch={branch};rport",
        transport.token()
    )
}

/// A checked host as it goes into a SIP URI (`[2001:db8::1]` for IPv6).
pub fn uri_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_string(),
    }
}

/// Check the user part Parley writes for a carrier account (RFC 3261 unreserved and user-unreserved
/// characters, no escapes).
pub fn check_username(user: &str) -> Result<(), TrunkError> {
    let ok = !user.is_empty()
        && user.len() <= 64
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()+;=$,&".contains(c));
    if ok {
        Ok(())
    } else {
        Err(TrunkError::Username)
    }
}

/// How Parley logs in to a carrier that wants registrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkLogin {
    /// The account at the carrier (the user of the REGISTER's To and From).
    pub username: String,
    /// The digest username when it differs from the account.
    pub auth_username: Option<String>,
    /// The digest password (never shown by `Debug`).
    pub secret: ClientSecret,
    /// The expiry asked for.
    pub expires: Duration,
}

/// Where calls to one of the company's numbers (a DID) go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DidTarget {
    /// Ring an extension (its phones, then its voicemail as for any call).
    Extension(String),
    /// Straight to a mailbox's greeting.
    Mailbox(String),
}

/// One inbound number: calls from a trunk to it go to its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Did {
    /// The number, in E.164.
    pub number: String,
    /// Where its calls go.
    pub target: DidTarget,
}

/// One trunk as the switch uses it: its name, where its requests go, how it logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkConfig {
    /// Its name.
    pub name: TrunkName,
    /// The carrier's host (a checked DNS name or IP), the host of the URIs written towards it.
    pub host: String,
    /// The carrier's port (written into the registrar URI when it is not 5060).
    pub port: u16,
    /// Where its requests are sent: the host's (or the outbound proxy's) address, resolved by the
    /// shell; `Err` says why it could not be.
    pub target: Result<Target, String>,
    /// Registering trunks log in; an IP peer does not.
    pub login: Option<TrunkLogin>,
    /// The digest credentials (username, password) calls through it answer the carrier's 401/407
    /// with: a registering trunk's, or an IP peer's that has them.
    pub auth: Option<(String, ClientSecret)>,
    /// Addresses its calls may come from (an IP peer's; the target's address always counts).
    pub peers: Vec<IpAddr>,
    /// How calls through it are written and how many it carries.
    pub options: TrunkOptions,
}

/// How a carrier wants the numbers of a call written (the Request-URI's, To's and the caller ID's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumberFormat {
    /// E.164 with `+` (`+15855550123`): the default.
    #[default]
    E164,
    /// E.164 without the `+` (`15855550123`).
    Digits,
    /// As dialled in the home country: national numbers in their national form (`5855550123` in
    /// the US, `030123456` in Germany), others with the home country's international prefix
    /// (`011442079460123`, `00442079460123`).
    National,
}

impl NumberFormat {
    /// `e164`, `digits`, `national`.
    pub fn parse(s: &str) -> Option<NumberFormat> {
        match s {
            "e164" => Some(NumberFormat::E164),
            "digits" => Some(NumberFormat::Digits),
            "national" => Some(NumberFormat::National),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberFormat::E164 => "e164",
            NumberFormat::Digits => "digits",
            NumberFormat::National => "national",
        }
    }
}

/// Where the caller ID goes in a call to the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallerIdHeader {
    /// The From header's user (the default; most carriers read it).
    #[default]
    From,
    /// `P-Asserted-Identity` (RFC 3325), beside the same number in From: carriers that trust the
    /// PBX's assertion.
    Pai,
    /// `Remote-Party-ID` (the draft older carriers and PBXs still read), beside From.
    Rpid,
}

impl CallerIdHeader {
    /// `from`, `pai`, `rpid`.
    pub fn parse(s: &str) -> Option<CallerIdHeader> {
        match s {
            "from" => Some(CallerIdHeader::From),
            "pai" => Some(CallerIdHeader::Pai),
            "rpid" => Some(CallerIdHeader::Rpid),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallerIdHeader::From => "from",
            CallerIdHeader::Pai => "pai",
            CallerIdHeader::Rpid => "rpid",
        }
    }
}

/// The codecs a trunk may be offered (Parley relays G.711 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

impl Codec {
    /// `pcmu`/`pcma` (any case; as SDP names them, `PCMU`).
    pub fn parse(s: &str) -> Option<Codec> {
        match s.to_ascii_lowercase().as_str() {
            "pcmu" => Some(Codec::Pcmu),
            "pcma" => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Its SDP name.
    pub fn sdp_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// Codecs as an administrator writes them (`pcmu,pcma`; `any` or nothing: any), each once.
pub fn parse_codecs(s: &str) -> Result<Vec<Codec>, TrunkError> {
    let mut out = Vec::new();
    for c in s.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if c.eq_ignore_ascii_case("any") {
            continue;
        }
        let codec = Codec::parse(c).ok_or_else(|| TrunkError::Codec(crate::text::printable(c)))?;
        if !out.contains(&codec) {
            out.push(codec);
        }
    }
    Ok(out)
}

/// Number patterns as an administrator writes them (`+1585,+44`; `any` or nothing: every
/// number), each once.
pub fn parse_patterns(s: &str) -> Result<Vec<NumberPattern>, TrunkError> {
    let mut out = Vec::new();
    for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if p.eq_ignore_ascii_case("any") {
            continue;
        }
        let pattern = NumberPattern::new(p)?;
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    Ok(out)
}

/// A number pattern of a trunk: a prefix of the numbers it carries, in E.164 (`+1585`, `+44`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberPattern(String);

impl NumberPattern {
    /// `+` and 1-15 digits.
    pub fn new(s: &str) -> Result<NumberPattern, TrunkError> {
        let digits = s.strip_prefix('+').unwrap_or("");
        if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(NumberPattern(s.to_string()))
        } else {
            Err(TrunkError::Pattern(crate::text::printable(s)))
        }
    }

    /// The pattern.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many digits of `number` (E.164) it matches: `None` if it does not.
    pub fn matches(&self, number: &str) -> Option<usize> {
        number.starts_with(&self.0).then_some(self.0.len())
    }
}

/// The most calls a trunk may be set to carry at once.
pub const MAX_CALLS_LIMIT: u32 = 10_000;

/// The options of a trunk beside where it is and how it logs in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrunkOptions {
    /// How often an OPTIONS checks that the carrier is there (none: never).
    pub keepalive: Option<Duration>,
    /// How numbers are written towards the carrier.
    pub number_format: NumberFormat,
    /// Where the caller ID goes.
    pub caller_id: CallerIdHeader,
    /// The most calls it carries at once, both ways (none: no limit of its own).
    pub max_calls: Option<u32>,
    /// The codecs it may be offered, in no order (empty: whatever the phone offers).
    pub codecs: Vec<Codec>,
    /// The numbers it carries (empty: every number); the trunk whose pattern matches the most digits
    /// is tried first.
    pub patterns: Vec<NumberPattern>,
}

impl TrunkOptions {
    /// How well the trunk fits `number` (E.164, or an emergency number as dialled): `None` if it
    /// does not carry it, else the digits its best pattern matched (0 for a trunk without patterns,
    /// which carries every number, and for emergency numbers, which every trunk carries).
    pub fn fits(&self, number: &str, emergency: bool) -> Option<usize> {
        if emergency || self.patterns.is_empty() {
            return Some(0);
        }
        self.patterns.iter().filter_map(|p| p.matches(number)).max()
    }
}

impl TrunkConfig {
    /// `registering` or `peer`.
    pub fn kind(&self) -> &'static str {
        if self.login.is_some() {
            "registering"
        } else {
            "peer"
        }
    }

    /// The registrar URI (`sip:host` or `sip:host:port`).
    pub fn registrar_uri(&self) -> String {
        if self.port == 5060 {
            format!("sip:{}", uri_host(&self.host))
        } else {
            format!("sip:{}:{}", uri_host(&self.host), self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hosts_and_usernames_are_checked() {
        assert!(TrunkName::new("carrier-1.main_b").is_ok());
        for bad in ["", "a b", "x/y", "é", &"a".repeat(33)] {
            assert_eq!(TrunkName::new(bad), Err(TrunkError::Name), "{bad:?}");
        }
        for good in [
            "sip.carrier.example",
            "127.0.0.1",
            "2001:db8::1",
            "localhost",
        ] {
            assert!(check_host(good).is_ok(), "{good}");
        }
        for bad in ["", "a..b", "a b", "host:5060", "<x>", "a;b"] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
        assert_eq!(uri_host("2001:db8::1"), "[2001:db8::1]");
        assert_eq!(
            parse_host_port("proxy.example"),
            Ok(("proxy.example".into(), None))
        );
        assert_eq!(
            parse_host_port("10.0.0.1:5080"),
            Ok(("10.0.0.1".into(), Some(5080)))
        );
        assert_eq!(
            parse_host_port("[2001:db8::1]:5062"),
            Ok(("2001:db8::1".into(), Some(5062)))
        );
        assert_eq!(
            parse_host_port("2001:db8::1"),
            Ok(("2001:db8::1".into(), None))
        );
        for bad in [
            "", "x:", "x:0", "x:70000", "[::1", "[::1]x", "a b:5060", ":5060",
        ] {
            assert!(parse_host_port(bad).is_err(), "{bad:?}");
        }
        assert!(check_username("+4930123456").is_ok());
        for bad in ["", "a@b", "a b", "a:b", "a>b"] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }
}
