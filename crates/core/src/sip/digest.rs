//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616): challenges, signed time-stamped nonces
//! that verify without server state, and response verification for MD5 and SHA-256 with qop=auth.
//! Never sees a clear-text password: accounts are looked up as HA1 values by the caller.

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// MD5 (RFC 2617).
    Md5,
    /// SHA-256 (RFC 7616).
    Sha256,
}

impl Algorithm {
    /// The token used in headers.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parse a token (case-insensitive); absent means MD5.
    pub fn parse(s: Option<&str>) -> Option<Algorithm> {
        match s {
            None => Some(Algorithm::Md5),
            Some(t) if t.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(t) if t.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Hex digest of `data`.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }
}

/// HA1 = H(username:realm:password), the only form in which Parley keeps a SIP secret.
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> String {
    alg.hash_hex(format!("{user}:{realm}:{password}").as_bytes())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Credentials from an Authorization or Proxy-Authorization header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// username
    pub username: String,
    /// realm
    pub realm: String,
    /// nonce
    pub nonce: String,
    /// digest-uri
    pub uri: String,
    /// response
    pub response: String,
    /// algorithm token, if sent
    pub algorithm: Option<String>,
    /// qop, if sent
    pub qop: Option<String>,
    /// nonce count (hex), if sent
    pub nc: Option<String>,
    /// client nonce, if sent
    pub cnonce: Option<String>,
}

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The header is not a Digest header or lacks a mandatory field.
    #[error("malformed credentials: {0}")]
    Malformed(&'static str),
}

impl Credentials {
    /// Parse `Digest username="...", realm="...", ...`.
    pub fn parse(value: &str) -> Result<Credentials, DigestError> {
        let value = value.trim();
        let rest = value
            .get(..6)
            .filter(|s| s.eq_ignore_ascii_case("digest"))
            .map(|_| &value[6..])
            .ok_or(DigestError::Malformed("not a Digest scheme"))?;
        let mut c = Credentials::default();
        for (k, v) in parse_params(rest) {
            match k.to_ascii_lowercase().as_str() {
                "username" => c.username = v,
                "realm" => c.realm = v,
                "nonce" => c.nonce = v,
                "uri" => c.uri = v,
                "response" => c.response = v.to_ascii_lowercase(),
                "algorithm" => c.algorithm = Some(v),
                "qop" => c.qop = Some(v),
                "nc" => c.nc = Some(v),
                "cnonce" => c.cnonce = Some(v),
                _ => {}
            }
        }
        if c.username.is_empty() {
            return Err(DigestError::Malformed("username"));
        }
        if c.nonce.is_empty() {
            return Err(DigestError::Malformed("nonce"));
        }
        if c.response.is_empty() {
            return Err(DigestError::Malformed("response"));
        }
        Ok(c)
    }

    /// The nonce count as a number (RFC 7616: eight hex digits).
    pub fn nonce_count(&self) -> Option<u32> {
        let nc = self.nc.as_deref()?;
        (nc.len() == 8)
            .then(|| u32::from_str_radix(nc, 16).ok())
            .flatten()
    }
}

/// Split `a="b", c=d` into pairs, honouring quotes and backslash escapes.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                val.push(n)
                            }
                        }
                        '"' => break,
                        _ => val.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    val.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_string(), val.trim().to_string()));
    }
    out
}

/// The outcome of checking a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// Issued by us and still fresh.
    Fresh,
    /// Issued by us but expired: challenge again with `stale=true`.
    Stale,
    /// Not issued by us (forged or from before a key change).
    Invalid,
}

/// The outcome of verifying credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The response is correct and the nonce fresh.
    Accepted,
    /// The response is correct but the nonce expired: re-challenge with `stale=true`.
    Stale,
    /// Wrong password, unknown user, forged nonce, or realm mismatch.
    Rejected,
}

/// Issues and checks nonces, builds challenges and verifies responses for one realm.
/// Nonces are `<timestamp hex>.<random hex>.<hmac>`: verifiable without state, bound to the realm.
#[derive(Clone)]
pub struct DigestAuth {
    realm: String,
    key: Vec<u8>,
    nonce_ttl_secs: u64,
    algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuth")
            .field("realm", &self.realm)
            .field("nonce_ttl_secs", &self.nonce_ttl_secs)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

impl DigestAuth {
    /// A new authenticator. `key` signs nonces (random, from the shell); `algorithms` are offered in order.
    pub fn new(realm: &str, key: &[u8], nonce_ttl_secs: u64, algorithms: Vec<Algorithm>) -> Self {
        DigestAuth {
            realm: realm.to_string(),
            key: key.to_vec(),
            nonce_ttl_secs,
            algorithms,
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The algorithms offered, in order of preference.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    fn sign(&self, body: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(self.realm.as_bytes());
        mac.update(b"|");
        mac.update(body.as_bytes());
        hex(&mac.finalize().into_bytes()[..16])
    }

    /// A new nonce issued at `now_unix` seconds with `random` bits from the shell.
    pub fn make_nonce(&self, now_unix: u64, random: u64) -> String {
        let body = format!("{now_unix:x}.{random:016x}");
        let sig = self.sign(&body);
        format!("{body}.{sig}")
    }

    /// Check a nonce's signature and age.
    pub fn check_nonce(&self, nonce: &str, now_unix: u64) -> NonceState {
        let Some((body, sig)) = nonce.rsplit_once('.') else {
            return NonceState::Invalid;
        };
        let expected = self.sign(body);
        if !constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
            return NonceState::Invalid;
        }
        let Some(ts) = body
            .split('.')
            .next()
            .and_then(|t| u64::from_str_radix(t, 16).ok())
        else {
            return NonceState::Invalid;
        };
        if ts > now_unix + 5 {
            NonceState::Invalid
        } else if now_unix - ts.min(now_unix) > self.nonce_ttl_secs {
            NonceState::Stale
        } else {
            NonceState::Fresh
        }
    }

    /// Challenge header values (one per offered algorithm) for WWW-/Proxy-Authenticate.
    pub fn challenges(&self, now_unix: u64, random: u64, stale: bool) -> Vec<String> {
        let nonce = self.make_nonce(now_unix, random);
        self.algorithms
            .iter()
            .map(|alg| {
                format!(
                    "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"{}",
                    self.realm,
                    nonce,
                    alg.token(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Verify `creds` for a request with `method`, given the account's HA1 for the algorithm the client used
    /// (`lookup_ha1(username, algorithm)`; `None` for an unknown user).
    pub fn verify(
        &self,
        creds: &Credentials,
        method: &str,
        now_unix: u64,
        lookup_ha1: impl FnOnce(&str, Algorithm) -> Option<String>,
    ) -> Verdict {
        if creds.realm != self.realm {
            return Verdict::Rejected;
        }
        let Some(alg) = Algorithm::parse(creds.algorithm.as_deref()) else {
            return Verdict::Rejected;
        };
        let nonce_state = self.check_nonce(&creds.nonce, now_unix);
        if nonce_state == NonceState::Invalid {
            return Verdict::Rejected;
        }
        let Some(ha1) = lookup_ha1(&creds.username, alg) else {
            return Verdict::Rejected;
        };
        let ha2 = alg.hash_hex(format!("{method}:{}", creds.uri).as_bytes());
        let expected = match creds.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (creds.nc.as_deref(), creds.cnonce.as_deref())
                else {
                    return Verdict::Rejected;
                };
                if creds.nonce_count().is_none() {
                    return Verdict::Rejected;
                }
                alg.hash_hex(format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", creds.nonce).as_bytes())
            }
            Some(_) => return Verdict::Rejected,
            // RFC 2069 compatibility: clients that ignore qop (seen in the field) are accepted.
            None => alg.hash_hex(format!("{ha1}:{}:{ha2}", creds.nonce).as_bytes()),
        };
        if !constant_time_eq(expected.as_bytes(), creds.response.as_bytes()) {
            return Verdict::Rejected;
        }
        match nonce_state {
            NonceState::Fresh => Verdict::Accepted,
            _ => Verdict::Stale,
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> DigestAuth {
        DigestAuth::new(
            "parley",
            b"k3y",
            300,
            vec![Algorithm::Sha256, Algorithm::Md5],
        )
    }

    fn respond(alg: Algorithm, nonce: &str, password: &str, nc: &str) -> Credentials {
        let h1 = ha1(alg, "100", "parley", password);
        let h2 = alg.hash_hex(b"REGISTER:sip:parley");
        let response = alg.hash_hex(format!("{h1}:{nonce}:{nc}:abc:auth:{h2}").as_bytes());
        Credentials {
            username: "100".into(),
            realm: "parley".into(),
            nonce: nonce.into(),
            uri: "sip:parley".into(),
            response,
            algorithm: Some(alg.token().into()),
            qop: Some("auth".into()),
            nc: Some(nc.into()),
            cnonce: Some("abc".into()),
        }
    }

    fn lookup(_: &str, alg: Algorithm) -> Option<String> {
        Some(ha1(alg, "100", "parley", "secret"))
    }

    #[test]
    fn rfc2617_md5_example_response_matches() {
        // RFC 2617 §3.5 example (HTTP, but the same computation).
        let h1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let h2 = Algorithm::Md5.hash_hex(b"GET:/dir/index.html");
        let r = Algorithm::Md5.hash_hex(
            format!("{h1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{h2}")
                .as_bytes(),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_sha256_example_response_matches() {
        let h1 = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        let h2 = Algorithm::Sha256.hash_hex(b"GET:/dir/index.html");
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let r = Algorithm::Sha256.hash_hex(
            format!("{h1}:{nonce}:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{h2}")
                .as_bytes(),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn right_password_is_accepted_with_either_algorithm() {
        let a = auth();
        let nonce = a.make_nonce(1000, 42);
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let c = respond(alg, &nonce, "secret", "00000001");
            assert_eq!(a.verify(&c, "REGISTER", 1010, lookup), Verdict::Accepted);
        }
    }

    #[test]
    fn nonce_count_above_nine_is_read_as_hex() {
        let a = auth();
        let nonce = a.make_nonce(1000, 42);
        for nc in ["0000000a", "000000ff", "00000100"] {
            let c = respond(Algorithm::Md5, &nonce, "secret", nc);
            assert_eq!(c.nonce_count(), Some(u32::from_str_radix(nc, 16).unwrap()));
            assert_eq!(a.verify(&c, "REGISTER", 1010, lookup), Verdict::Accepted);
        }
    }

    #[test]
    fn wrong_password_is_rejected() {
        let a = auth();
        let nonce = a.make_nonce(1000, 42);
        let c = respond(Algorithm::Md5, &nonce, "wrong", "00000001");
        assert_eq!(a.verify(&c, "REGISTER", 1010, lookup), Verdict::Rejected);
    }

    #[test]
    fn expired_nonce_with_right_password_is_stale() {
        let a = auth();
        let nonce = a.make_nonce(1000, 42);
        let c = respond(Algorithm::Md5, &nonce, "secret", "00000001");
        assert_eq!(a.verify(&c, "REGISTER", 1301, lookup), Verdict::Stale);
    }

    #[test]
    fn forged_nonce_is_invalid() {
        let a = auth();
        let nonce = a.make_nonce(1000, 42).replace("3e8.", "3e9.");
        assert_eq!(a.check_nonce(&nonce, 1001), NonceState::Invalid);
        let other = DigestAuth::new("parley", b"other", 300, vec![Algorithm::Md5]);
        assert_eq!(
            other.check_nonce(&a.make_nonce(1000, 1), 1001),
            NonceState::Invalid
        );
    }

    #[test]
    fn authorization_header_parses_quoted_and_bare_values() {
        let c = Credentials::parse(
            "Digest username=\"100\",realm=\"parley\", nonce=\"n\", uri=\"sip:p\", response=\"ABC\", algorithm=MD5, qop=auth, nc=0000000a, cnonce=\"x,y\"",
        )
        .unwrap();
        assert_eq!(c.username, "100");
        assert_eq!(c.response, "abc");
        assert_eq!(c.cnonce.as_deref(), Some("x,y"));
        assert_eq!(c.nonce_count(), Some(10));
        assert!(Credentials::parse("Basic abc").is_err());
        assert!(Credentials::parse("Digest realm=\"x\"").is_err());
    }

    #[test]
    fn challenge_offers_each_algorithm_with_qop_and_stale_flag() {
        let ch = auth().challenges(1000, 1, true);
        assert_eq!(ch.len(), 2);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[0].contains("stale=true"));
        assert!(ch[1].contains("algorithm=MD5") && ch[1].contains("qop=\"auth\""));
    }
}
