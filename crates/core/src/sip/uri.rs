//! SIP URIs (`sip:user@host:port;params`): parsing untrusted text into a checked value and printing it.

use std::fmt;

/// A URI could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid SIP URI: {0}")]
pub struct UriError(pub String);

/// A `sip:` or `sips:` URI. Other schemes (tel:) keep their text in `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sip`, `sips` or `tel`.
    pub scheme: String,
    /// The user part, if any.
    pub user: Option<String>,
    /// The host (IPv6 in brackets).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
    /// URI parameters, raw, including the leading `;` (may be empty).
    pub params: String,
    /// Headers (`?a=b`), raw, including the `?` (may be empty).
    pub headers: String,
}

impl SipUri {
    /// Parse a URI.
    pub fn parse(s: &str) -> Result<SipUri, UriError> {
        let s = s.trim();
        let bad = || UriError(s.chars().take(80).collect());
        let (scheme, rest) = s.split_once(':').ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "tel" {
            return Ok(SipUri {
                scheme,
                user: Some(rest.to_string()),
                host: String::new(),
                port: None,
                params: String::new(),
                headers: String::new(),
            });
        }
        if scheme != "sip" && scheme != "sips" {
            return Err(bad());
        }
        // The userinfo ends at the first `@` (a user may hold `?` and `;`, never an `@`); the
        // headers begin at the first `?` after it.
        let user_end = rest.find('@');
        let host_start = user_end.map_or(0, |p| p + 1);
        let (rest, headers) = match rest[host_start..].find('?') {
            Some(p) => (&rest[..host_start + p], &rest[host_start + p..]),
            None => (rest, ""),
        };
        let (user, hostpart) = match user_end {
            Some(p) => (Some(&rest[..p]), &rest[p + 1..]),
            None => (None, rest),
        };
        let (hostport, params) = match hostpart.find(';') {
            Some(p) => (&hostpart[..p], &hostpart[p..]),
            None => (hostpart, ""),
        };
        let (host, port) = super::header::split_host_port(hostport);
        if host.is_empty()
            || host.contains(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
            || user.is_some_and(|u| u.is_empty() || u.contains(char::is_whitespace))
        {
            return Err(bad());
        }
        if hostport.len() > host.len() && port.is_none() {
            return Err(bad());
        }
        // An IPv6 address is written in brackets (RFC 5118 §4.2: without them its colons cannot
        // be told from a port's).
        if !host.starts_with('[') && hostport.matches(':').count() > 1 {
            return Err(bad());
        }
        Ok(SipUri {
            scheme,
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
            params: params.to_string(),
            headers: headers.to_string(),
        })
    }

    /// A URI parameter (`transport`, `lr`, ...). A flag parameter yields `Some("")`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// The user part without any `;` user parameters (e.g. `100` from `100;phone-context=x`).
    pub fn user_base(&self) -> Option<&str> {
        self.user
            .as_deref()
            .map(|u| u.split(';').next().unwrap_or(u))
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scheme == "tel" {
            return write!(f, "tel:{}", self.user.as_deref().unwrap_or_default());
        }
        write!(f, "{}:", self.scheme)?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}{}", self.params, self.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri_round_trips() {
        let s = "sip:alice-0x1@127.0.0.1:5062;transport=tcp;lr?subject=x";
        let u = SipUri::parse(s).unwrap();
        assert_eq!(u.user.as_deref(), Some("alice-0x1"));
        assert_eq!(u.port, Some(5062));
        assert_eq!(u.param("lr"), Some(""));
        assert_eq!(u.to_string(), s);
    }

    #[test]
    fn ipv6_host_keeps_brackets() {
        let u = SipUri::parse("sip:100@[::1]:5060").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", Some(5060)));
    }

    #[test]
    fn bad_uris_are_refused() {
        for s in [
            "http://x",
            "sip:",
            "sip:@host",
            "sip:1@host:notaport",
            "nonsense",
        ] {
            assert!(SipUri::parse(s).is_err(), "{s}");
        }
    }
}
