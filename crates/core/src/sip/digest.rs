//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616): challenges, signed time-stamped nonces,
//! and response verification for MD5 and SHA-256 with qop=auth. Replay-proof: the nonce count of every
//! nonce in use is remembered (a small bounded table, each entry for its nonce's lifetime), so a captured
//! `Authorization` never works a second time; the digest `uri` must name the request's own URI.
//! Never sees a clear-text password: accounts are looked up as HA1 values by the caller.

use std::collections::{HashMap, VecDeque};

use super::uri::SipUri;

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
        let rest = digest_params(value)?;
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

/// What follows the `Digest` scheme of a header value.
fn digest_params(value: &str) -> Result<&str, DigestError> {
    let value = value.trim();
    value
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("digest"))
        .map(|_| &value[6..])
        // `DigestX realm=...` is another scheme.
        .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        .ok_or(DigestError::Malformed("not a Digest scheme"))
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
    /// The response is correct, the nonce fresh and its count new.
    Accepted,
    /// The response is correct but the nonce expired: re-challenge with `stale=true`.
    Stale,
    /// The response is correct but was seen before (a nonce count that does not grow): a replay, or a
    /// nonce this server no longer remembers. Re-challenge with `stale=true`; not a wrong password.
    Replayed,
    /// The nonce is not one of ours (made up, or from before a restart): challenge again with
    /// `stale=true`. Nothing about the password was learned, so it is not a failure.
    UnknownNonce,
    /// A digest Parley does not take, whatever the password: no `qop` where one is required, or a
    /// digest `uri` that is not the request's. Refused, but not a wrong password (a SIP ALG rewriting
    /// the Request-URI must not lock an office out).
    Unusable,
    /// Wrong password, unknown user, realm mismatch or an unknown algorithm.
    Rejected,
}

/// The request the credentials came with.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    /// Its method.
    pub method: &'a str,
    /// Its Request-URI.
    pub uri: &'a SipUri,
}

/// How many nonces in use are remembered at most (each entry lives for its nonce's lifetime).
pub const NONCE_TABLE_LIMIT: usize = 65_536;

/// The highest nonce count seen for each nonce in use. Bounded: when full, the oldest nonces are
/// forgotten and every nonce issued up to the newest forgotten one counts as used (its holder is simply
/// challenged again), so forgetting never lets a replay through.
#[derive(Debug, Default, Clone)]
struct NonceCounts {
    counts: HashMap<String, u32>,
    /// Nonces in the order they were first used, with their issue time.
    order: VecDeque<(u64, String)>,
    /// Nonces issued at or before this time and not in `counts` are refused.
    forgotten_up_to: Option<u64>,
    limit: usize,
}

impl NonceCounts {
    /// Record a use of `nonce` (issued at `issued`) with count `nc`; false if it is not new.
    fn record(&mut self, nonce: &str, issued: u64, nc: u32, now: u64, ttl: u64) -> bool {
        self.expire(now, ttl);
        if let Some(last) = self.counts.get_mut(nonce) {
            if nc <= *last {
                return false;
            }
            *last = nc;
            return true;
        }
        if self.forgotten_up_to.is_some_and(|t| issued <= t) {
            return false;
        }
        while self.counts.len() >= self.limit.max(1) {
            let Some((t, old)) = self.order.pop_front() else {
                break;
            };
            self.counts.remove(&old);
            self.forgotten_up_to = Some(self.forgotten_up_to.map_or(t, |f| f.max(t)));
            if issued <= t {
                return false;
            }
        }
        self.counts.insert(nonce.to_string(), nc);
        self.order.push_back((issued, nonce.to_string()));
        true
    }

    /// Drop nonces that have expired anyway (they verify as stale from now on).
    fn expire(&mut self, now: u64, ttl: u64) {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_sub(*t) <= ttl {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.counts.remove(&n);
            }
        }
    }
}

/// Whether a digest `uri` names the same resource as the Request-URI (scheme, user, host, port).
fn same_uri(digest_uri: &str, request: &SipUri) -> bool {
    if digest_uri == request.to_string() {
        return true;
    }
    let Ok(d) = SipUri::parse(digest_uri) else {
        return false;
    };
    d.scheme == request.scheme
        && d.user == request.user
        && d.host.eq_ignore_ascii_case(&request.host)
        && d.port == request.port
}

/// Issues and checks nonces, builds challenges and verifies responses for one realm.
/// Nonces are `<timestamp hex>.<random hex>.<hmac>`: verifiable without state, bound to the realm.
#[derive(Clone)]
pub struct DigestAuth {
    realm: String,
    key: Vec<u8>,
    nonce_ttl_secs: u64,
    algorithms: Vec<Algorithm>,
    counts: NonceCounts,
    allow_rfc2069: bool,
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
            counts: NonceCounts {
                limit: NONCE_TABLE_LIMIT,
                ..Default::default()
            },
            allow_rfc2069: false,
        }
    }

    /// Accept responses without `qop` (RFC 2069 clients). Off by default: such a response has no nonce
    /// count, so each nonce is then good for one request only (the client is challenged again after).
    pub fn dangerous_allow_rfc2069(mut self, allow: bool) -> Self {
        self.allow_rfc2069 = allow;
        self
    }

    /// How many nonces in use are remembered now.
    pub fn nonces_remembered(&self) -> usize {
        self.counts.counts.len()
    }

    #[cfg(test)]
    fn with_nonce_limit(mut self, limit: usize) -> Self {
        self.counts.limit = limit;
        self
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
        self.nonce_issued(nonce, now_unix).0
    }

    /// A nonce's state and, when it is ours, the time it was issued.
    fn nonce_issued(&self, nonce: &str, now_unix: u64) -> (NonceState, u64) {
        let Some((body, sig)) = nonce.rsplit_once('.') else {
            return (NonceState::Invalid, 0);
        };
        let expected = self.sign(body);
        if !constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
            return (NonceState::Invalid, 0);
        }
        let Some(ts) = body
            .split('.')
            .next()
            .and_then(|t| u64::from_str_radix(t, 16).ok())
        else {
            return (NonceState::Invalid, 0);
        };
        let state = if ts > now_unix + 5 {
            NonceState::Invalid
        } else if now_unix - ts.min(now_unix) > self.nonce_ttl_secs {
            NonceState::Stale
        } else {
            NonceState::Fresh
        };
        (state, ts)
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

    /// Verify `creds` for `request`, given the account's HA1 for the algorithm the client used
    /// (`lookup_ha1(username, algorithm)`; `None` for an unknown user). A correct response is
    /// remembered: the same nonce count on the same nonce is [`Verdict::Replayed`] from then on.
    pub fn verify(
        &mut self,
        creds: &Credentials,
        request: RequestLine<'_>,
        now_unix: u64,
        lookup_ha1: impl FnOnce(&str, Algorithm) -> Option<String>,
    ) -> Verdict {
        if creds.realm != self.realm {
            return Verdict::Rejected;
        }
        let Some(alg) = Algorithm::parse(creds.algorithm.as_deref()) else {
            return Verdict::Rejected;
        };
        let (nonce_state, issued) = self.nonce_issued(&creds.nonce, now_unix);
        if nonce_state == NonceState::Invalid {
            return Verdict::UnknownNonce;
        }
        let Some(ha1) = lookup_ha1(&creds.username, alg) else {
            return Verdict::Rejected;
        };
        let ha2 = alg.hash_hex(format!("{}:{}", request.method, creds.uri).as_bytes());
        let (expected, nc) = match creds.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce), Some(count)) = (
                    creds.nc.as_deref(),
                    creds.cnonce.as_deref(),
                    creds.nonce_count(),
                ) else {
                    return Verdict::Rejected;
                };
                let r = alg
                    .hash_hex(format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", creds.nonce).as_bytes());
                (r, count)
            }
            Some(_) => return Verdict::Rejected,
            // RFC 2069: no nonce count, so the nonce is good for one request (count 1).
            None if self.allow_rfc2069 => (
                alg.hash_hex(format!("{ha1}:{}:{ha2}", creds.nonce).as_bytes()),
                1,
            ),
            None => return Verdict::Unusable,
        };
        if !constant_time_eq(expected.as_bytes(), creds.response.as_bytes()) {
            return Verdict::Rejected;
        }
        if !same_uri(&creds.uri, request.uri) {
            return Verdict::Unusable;
        }
        if nonce_state != NonceState::Fresh {
            return Verdict::Stale;
        }
        if !self
            .counts
            .record(&creds.nonce, issued, nc, now_unix, self.nonce_ttl_secs)
        {
            return Verdict::Replayed;
        }
        Verdict::Accepted
    }
}

/// A password Parley itself answers challenges with (a trunk's): never shown by `Debug`, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wrap a password.
    pub fn new(password: impl Into<String>) -> ClientSecret {
        ClientSecret(password.into())
    }

    /// The password itself, for the digest computation and for storing it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

/// A challenge from a `WWW-Authenticate` or `Proxy-Authenticate` header, as Parley answers it when it
/// is the client (registering to a carrier, calling through it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// realm
    pub realm: String,
    /// nonce
    pub nonce: String,
    /// opaque, returned unchanged
    pub opaque: Option<String>,
    /// The algorithm asked for (absent means MD5).
    pub algorithm: Algorithm,
    /// Whether `qop=auth` is offered (else the RFC 2069 computation, without a nonce count).
    pub qop_auth: bool,
    /// `stale=true`: the last answer was right but its nonce had expired.
    pub stale: bool,
}

impl Challenge {
    /// Parse `Digest realm="...", nonce="...", ...`. A challenge Parley cannot answer (another
    /// scheme or algorithm, a `qop` without `auth`, no realm or nonce) is an error.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let rest = digest_params(value)?;
        let (mut realm, mut nonce, mut opaque) = (None, None, None);
        let (mut algorithm, mut qop, mut stale) = (None, None, false);
        for (k, v) in parse_params(rest) {
            match k.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(v),
                "nonce" => nonce = Some(v),
                "opaque" => opaque = Some(v),
                "algorithm" => algorithm = Some(v),
                "qop" => qop = Some(v),
                "stale" => stale = v.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        let algorithm =
            Algorithm::parse(algorithm.as_deref()).ok_or(DigestError::Malformed("algorithm"))?;
        let qop_auth = match qop {
            None => false,
            Some(q) if q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) => true,
            Some(_) => return Err(DigestError::Malformed("qop")),
        };
        Ok(Challenge {
            realm: realm.ok_or(DigestError::Malformed("realm"))?,
            nonce: nonce
                .filter(|n| !n.is_empty())
                .ok_or(DigestError::Malformed("nonce"))?,
            opaque,
            algorithm,
            qop_auth,
            stale,
        })
    }

    /// The one to answer among a response's challenges: SHA-256 before MD5, the first of each.
    pub fn choose<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        let mut usable: Vec<Challenge> = values
            .into_iter()
            .filter_map(|v| Challenge::parse(v).ok())
            .collect();
        usable.sort_by_key(|c| std::cmp::Reverse(c.algorithm));
        usable.into_iter().next()
    }

    /// The `Authorization` / `Proxy-Authorization` value answering this challenge for a request
    /// (`method`, digest `uri` = its Request-URI), with nonce count `nc` (1 for a new nonce, one more
    /// for each further request on it) and client nonce `cnonce`.
    pub fn answer(
        &self,
        username: &str,
        secret: &ClientSecret,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let alg = self.algorithm;
        let h1 = ha1(alg, username, &self.realm, secret.expose());
        let h2 = alg.hash_hex(format!("{method}:{uri}").as_bytes());
        let mut v = format!(
            "Digest username={}, realm={}, nonce={}, uri={}",
            quoted(username),
            quoted(&self.realm),
            quoted(&self.nonce),
            quoted(uri)
        );
        if self.qop_auth {
            let nc = format!("{nc:08x}");
            let r = alg.hash_hex(format!("{h1}:{}:{nc}:{cnonce}:auth:{h2}", self.nonce).as_bytes());
            v.push_str(&format!(
                ", response=\"{r}\", algorithm={}, cnonce={}, qop=auth, nc={nc}",
                alg.token(),
                quoted(cnonce)
            ));
        } else {
            let r = alg.hash_hex(format!("{h1}:{}:{h2}", self.nonce).as_bytes());
            v.push_str(&format!(", response=\"{r}\", algorithm={}", alg.token()));
        }
        if let Some(o) = &self.opaque {
            v.push_str(", opaque=");
            v.push_str(&quoted(o));
        }
        v
    }
}

/// `s` as a quoted string, its quotes and backslashes escaped and line breaks dropped (a value from
/// the network must not end the header).
fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            '\r' | '\n' => {}
            _ => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Compare secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri() -> SipUri {
        SipUri::parse("sip:parley").unwrap()
    }

    fn line(uri: &SipUri) -> RequestLine<'_> {
        RequestLine {
            method: "REGISTER",
            uri,
        }
    }

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
        let mut a = auth();
        for (n, alg) in [Algorithm::Md5, Algorithm::Sha256].into_iter().enumerate() {
            let nonce = a.make_nonce(1000, n as u64);
            let c = respond(alg, &nonce, "secret", "00000001");
            assert_eq!(a.verify(&c, line(&uri()), 1010, lookup), Verdict::Accepted);
        }
    }

    #[test]
    fn nonce_count_above_nine_is_read_as_hex() {
        let mut a = auth();
        let nonce = a.make_nonce(1000, 42);
        for nc in ["0000000a", "000000ff", "00000100"] {
            let c = respond(Algorithm::Md5, &nonce, "secret", nc);
            assert_eq!(c.nonce_count(), Some(u32::from_str_radix(nc, 16).unwrap()));
            assert_eq!(a.verify(&c, line(&uri()), 1010, lookup), Verdict::Accepted);
        }
    }

    #[test]
    fn wrong_password_is_rejected() {
        let mut a = auth();
        let nonce = a.make_nonce(1000, 42);
        let c = respond(Algorithm::Md5, &nonce, "wrong", "00000001");
        assert_eq!(a.verify(&c, line(&uri()), 1010, lookup), Verdict::Rejected);
    }

    #[test]
    fn expired_nonce_with_right_password_is_stale() {
        let mut a = auth();
        let nonce = a.make_nonce(1000, 42);
        let c = respond(Algorithm::Md5, &nonce, "secret", "00000001");
        assert_eq!(a.verify(&c, line(&uri()), 1301, lookup), Verdict::Stale);
    }

    #[test]
    fn a_nonce_that_is_not_ours_is_challenged_again_not_counted_as_a_wrong_password() {
        let mut a = auth();
        let mut c = respond(Algorithm::Md5, "1.2.3", "secret", "00000001");
        assert_eq!(
            a.verify(&c, line(&uri()), 1010, lookup),
            Verdict::UnknownNonce
        );
        c.nonce = DigestAuth::new("parley", b"before-restart", 300, vec![]).make_nonce(1000, 1);
        assert_eq!(
            a.verify(&c, line(&uri()), 1010, lookup),
            Verdict::UnknownNonce
        );
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
    fn a_captured_authorization_is_refused_the_second_time() {
        let mut a = auth();
        let nonce = a.make_nonce(1000, 42);
        let c = respond(Algorithm::Md5, &nonce, "secret", "00000001");
        assert_eq!(a.verify(&c, line(&uri()), 1010, lookup), Verdict::Accepted);
        assert_eq!(a.verify(&c, line(&uri()), 1011, lookup), Verdict::Replayed);
        // The client's own next request counts up and is accepted; going back is a replay.
        let c3 = respond(Algorithm::Md5, &nonce, "secret", "00000003");
        assert_eq!(a.verify(&c3, line(&uri()), 1012, lookup), Verdict::Accepted);
        let c2 = respond(Algorithm::Md5, &nonce, "secret", "00000002");
        assert_eq!(a.verify(&c2, line(&uri()), 1013, lookup), Verdict::Replayed);
    }

    #[test]
    fn a_digest_for_another_request_uri_is_rejected() {
        let mut a = auth();
        let nonce = a.make_nonce(1000, 42);
        let c = respond(Algorithm::Md5, &nonce, "secret", "00000001");
        let other = SipUri::parse("sip:101@parley").unwrap();
        assert_eq!(a.verify(&c, line(&other), 1010, lookup), Verdict::Unusable);
        // Case of the host and an explicit equal form still match.
        let same = SipUri::parse("sip:PARLEY").unwrap();
        assert_eq!(a.verify(&c, line(&same), 1010, lookup), Verdict::Accepted);
    }

    #[test]
    fn a_response_without_qop_is_refused_unless_rfc2069_is_allowed() {
        let nonce_for = |a: &DigestAuth| a.make_nonce(1000, 7);
        let rfc2069 = |nonce: &str| {
            let h1 = ha1(Algorithm::Md5, "100", "parley", "secret");
            let h2 = Algorithm::Md5.hash_hex(b"REGISTER:sip:parley");
            Credentials {
                username: "100".into(),
                realm: "parley".into(),
                nonce: nonce.into(),
                uri: "sip:parley".into(),
                response: Algorithm::Md5.hash_hex(format!("{h1}:{nonce}:{h2}").as_bytes()),
                ..Default::default()
            }
        };
        let mut strict = auth();
        let c = rfc2069(&nonce_for(&strict));
        assert_eq!(
            strict.verify(&c, line(&uri()), 1010, lookup),
            Verdict::Unusable
        );
        let mut lax = auth().dangerous_allow_rfc2069(true);
        let c = rfc2069(&nonce_for(&lax));
        assert_eq!(
            lax.verify(&c, line(&uri()), 1010, lookup),
            Verdict::Accepted
        );
        assert_eq!(
            lax.verify(&c, line(&uri()), 1011, lookup),
            Verdict::Replayed
        );
    }

    #[test]
    fn the_nonce_table_stays_bounded_and_forgetting_never_admits_a_replay() {
        let mut a = auth().with_nonce_limit(4);
        let mut used = Vec::new();
        for i in 0..10u64 {
            let nonce = a.make_nonce(1000 + i, i);
            let c = respond(Algorithm::Md5, &nonce, "secret", "00000001");
            assert_eq!(
                a.verify(&c, line(&uri()), 1010 + i, lookup),
                Verdict::Accepted
            );
            used.push(c);
            assert!(a.nonces_remembered() <= 4);
        }
        for c in &used {
            assert_eq!(a.verify(c, line(&uri()), 1020, lookup), Verdict::Replayed);
        }
        // A nonce issued after everything forgotten still works.
        let fresh = a.make_nonce(1021, 99);
        let c = respond(Algorithm::Md5, &fresh, "secret", "00000001");
        assert_eq!(a.verify(&c, line(&uri()), 1021, lookup), Verdict::Accepted);
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

    fn answered(ch: &str, user: &str, password: &str, uri: &str, nc: u32, cnonce: &str) -> String {
        Challenge::parse(ch).unwrap().answer(
            user,
            &ClientSecret::new(password),
            "GET",
            uri,
            nc,
            cnonce,
        )
    }

    #[test]
    fn a_challenge_is_answered_as_rfc_2617_and_rfc_7616_compute_it() {
        let md5 = answered(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
            "Mufasa",
            "Circle Of Life",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        let c = Credentials::parse(&md5).unwrap();
        assert_eq!(c.response, "6629fae49393a05397450978507c4ef1");
        assert_eq!(
            (c.nc.as_deref(), c.qop.as_deref(), c.uri.as_str()),
            (Some("00000001"), Some("auth"), "/dir/index.html")
        );
        assert!(md5.ends_with(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#));
        let sha = answered(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
            "Mufasa",
            "Circle of Life",
            "/dir/index.html",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );
        assert_eq!(
            Credentials::parse(&sha).unwrap().response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn parleys_answer_to_its_own_challenge_is_accepted_once_per_nonce_count() {
        let mut a = auth();
        let ch = a.challenges(1000, 9, false);
        let chosen = Challenge::choose(ch.iter().map(String::as_str)).unwrap();
        assert_eq!(chosen.algorithm, Algorithm::Sha256, "the stronger one");
        let secret = ClientSecret::new("secret");
        let register = |nc| chosen.answer("100", &secret, "REGISTER", "sip:parley", nc, "c0ffee");
        let verify = |a: &mut DigestAuth, v: &str| {
            a.verify(&Credentials::parse(v).unwrap(), line(&uri()), 1001, lookup)
        };
        assert_eq!(verify(&mut a, &register(1)), Verdict::Accepted);
        assert_eq!(verify(&mut a, &register(2)), Verdict::Accepted);
        assert_eq!(verify(&mut a, &register(2)), Verdict::Replayed);
        let wrong = chosen.answer(
            "100",
            &ClientSecret::new("guess"),
            "REGISTER",
            "sip:parley",
            3,
            "x",
        );
        assert_eq!(verify(&mut a, &wrong), Verdict::Rejected);
        // Without qop (RFC 2069): no count, and the server decides whether it takes that.
        let old = Challenge {
            qop_auth: false,
            ..chosen.clone()
        };
        let v = old.answer("100", &secret, "REGISTER", "sip:parley", 1, "x");
        assert!(!v.contains("nc=") && !v.contains("cnonce"));
        assert_eq!(verify(&mut a, &v), Verdict::Unusable);
    }

    #[test]
    fn challenges_parley_cannot_answer_are_refused_and_hostile_values_stay_inside_their_quotes() {
        for bad in [
            r#"Basic realm="x""#,
            r#"Digest realm="x", nonce="n", algorithm=SHA-512-256"#,
            r#"Digest realm="x", nonce="n", qop="auth-int""#,
            r#"Digest realm="x""#,
            r#"Digest nonce="n""#,
            "Dig",
            "Digé",
            r#"DigestX realm="x", nonce="n""#,
            "",
        ] {
            assert!(Challenge::parse(bad).is_err(), "{bad}");
        }
        let c = Challenge::parse(r#"Digest realm="a\"b", nonce="n""#).unwrap();
        assert_eq!((c.realm.as_str(), c.nonce.as_str()), ("a\"b", "n"));
        let v = Challenge {
            realm: "evil\r\nVia: x".into(),
            ..c.clone()
        }
        .answer("u\"s", &ClientSecret::new("p"), "REGISTER", "sip:x", 1, "c");
        assert!(!v.contains('\r') && !v.contains('\n'), "{v}");
        assert_eq!(Credentials::parse(&v).unwrap().username, "u\"s");
        let answer = c.answer("u", &ClientSecret::new("p"), "REGISTER", "sip:x", 1, "c");
        assert_eq!(Credentials::parse(&answer).unwrap().realm, "a\"b");
        assert_eq!(
            format!("{:?}", ClientSecret::new("hunter2")),
            "ClientSecret(***)"
        );
        assert!(Challenge::choose(["Basic x", "Digest realm=\"r\""]).is_none());
    }
}
