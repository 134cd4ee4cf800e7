//! SDES key exchange for SRTP (RFC 4568): the `a=crypto` attribute of an SDP media section, parsed
//! from untrusted text into a checked offer and written back. No IO and no crypto: the keys are
//! only carried here; the relay's SRTP contexts use them.
//!
//! Parley takes the two suites RFC 4568 defines for AES counter mode with HMAC-SHA1,
//! `AES_CM_128_HMAC_SHA1_80` and `AES_CM_128_HMAC_SHA1_32`, with `inline:` keys (a 16-byte master
//! key and a 14-byte master salt, base64), an optional key lifetime and MKI. An attribute whose
//! session parameters would weaken the protection (`UNENCRYPTED_SRTP`, `UNENCRYPTED_SRTCP`,
//! `UNAUTHENTICATED_SRTP`), ask for what Parley does not do (`KDR` other than 0, `FEC_ORDER`,
//! `FEC_KEY`) or carry a suite Parley does not know is not taken: the answerer then picks another
//! line of the offer, or refuses the call.

use base64::Engine;

/// Master key and salt lengths of the AES-CM-128 suites (RFC 3711 §8.2).
pub const MASTER_KEY_LEN: usize = 16;
/// See [`MASTER_KEY_LEN`].
pub const MASTER_SALT_LEN: usize = 14;
/// The longest attribute value taken (an offer's line is a few dozen characters).
const MAX_LEN: usize = 1024;

/// An SRTP crypto suite Parley takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 tag of 80 bits.
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 tag of 32 bits (RTCP keeps 80).
    AesCm128HmacSha1_32,
}

impl Suite {
    /// The suite's name in SDP.
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn from_name(s: &str) -> Option<Suite> {
        match s {
            "AES_CM_128_HMAC_SHA1_80" => Some(Suite::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(Suite::AesCm128HmacSha1_32),
            _ => None,
        }
    }

    /// Bytes of the authentication tag on an SRTP packet.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }
}

/// The master key and salt, concatenated as on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey(pub [u8; MASTER_KEY_LEN + MASTER_SALT_LEN]);

impl std::fmt::Debug for MasterKey {
    /// Never the key itself: keys are not logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// The key's Master Key Identifier: its value and how many bytes it takes in each packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mki {
    /// The identifier.
    pub value: u64,
    /// Its length on the wire, 1 to 128 bytes (Parley takes up to 8).
    pub len: u8,
}

/// One `a=crypto` line Parley can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The line's tag (the answer repeats the tag of the line it accepts).
    pub tag: u32,
    /// The suite.
    pub suite: Suite,
    /// The master key and salt.
    pub key: MasterKey,
    /// How many packets the key may protect, when the offerer limits it (a power of two at most
    /// 2^48 for SRTP).
    pub lifetime: Option<u64>,
    /// The MKI, when the packets carry one.
    pub mki: Option<Mki>,
}

/// Why an `a=crypto` line is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Not `tag suite key-params [session-params]` as RFC 4568 §9.1 writes it.
    #[error("malformed crypto attribute: {0}")]
    Malformed(&'static str),
    /// A suite Parley does not take.
    #[error("crypto suite not supported")]
    Suite,
    /// A session parameter Parley refuses (it weakens the protection or is not implemented).
    #[error("session parameter not accepted: {0}")]
    SessionParam(&'static str),
}

impl Crypto {
    /// Parse the value of an `a=crypto:` attribute (what follows the colon).
    pub fn parse(value: &str) -> Result<Crypto, CryptoError> {
        use CryptoError::Malformed;
        if value.len() > MAX_LEN {
            return Err(Malformed("too long"));
        }
        let mut fields = value.split([' ', '\t']).filter(|f| !f.is_empty());
        let tag = fields.next().ok_or(Malformed("no tag"))?;
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformed("tag"));
        }
        let tag: u32 = tag.parse().map_err(|_| Malformed("tag"))?;
        let suite = fields.next().ok_or(Malformed("no suite"))?;
        let suite = Suite::from_name(suite).ok_or(CryptoError::Suite)?;
        let key_params = fields.next().ok_or(Malformed("no key"))?;
        // Several keys (each with its MKI) are allowed by RFC 4568; Parley takes a line with one.
        if key_params.contains(';') {
            return Err(Malformed("more than one key"));
        }
        let info = key_params
            .strip_prefix("inline:")
            .ok_or(Malformed("key method other than inline"))?;
        let mut parts = info.split('|');
        let encoded = parts.next().unwrap_or("");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| Malformed("key is not base64"))?;
        let key: [u8; MASTER_KEY_LEN + MASTER_SALT_LEN] = raw
            .try_into()
            .map_err(|_| Malformed("key and salt are not 30 bytes"))?;
        let (mut lifetime, mut mki) = (None, None);
        for part in parts {
            if let Some((value, len)) = part.split_once(':') {
                if mki.is_some() {
                    return Err(Malformed("two MKIs"));
                }
                mki = Some(parse_mki(value, len)?);
            } else {
                if lifetime.is_some() || mki.is_some() {
                    return Err(Malformed("lifetime out of place"));
                }
                lifetime = Some(parse_lifetime(part)?);
            }
        }
        for param in fields {
            let name = param.split('=').next().unwrap_or("");
            match name {
                "UNENCRYPTED_SRTP" => return Err(CryptoError::SessionParam("UNENCRYPTED_SRTP")),
                "UNENCRYPTED_SRTCP" => return Err(CryptoError::SessionParam("UNENCRYPTED_SRTCP")),
                "UNAUTHENTICATED_SRTP" => {
                    return Err(CryptoError::SessionParam("UNAUTHENTICATED_SRTP"))
                }
                "KDR" if param != "KDR=0" => return Err(CryptoError::SessionParam("KDR")),
                "FEC_ORDER" | "FEC_KEY" => return Err(CryptoError::SessionParam("FEC")),
                // The replay window a sender suggests (RFC 4568 §6.3.7): the receiver keeps its
                // own (at least 64), so the suggestion only has to be well formed.
                "WSH" => {
                    let ok = param.strip_prefix("WSH=").is_some_and(|v| {
                        !v.is_empty() && v.len() < 10 && v.bytes().all(|b| b.is_ascii_digit())
                    });
                    if !ok {
                        return Err(Malformed("WSH"));
                    }
                }
                "KDR" => {}
                // Unknown session parameters are refused (RFC 4568 §6.3: they cannot be ignored).
                _ => return Err(CryptoError::SessionParam("unknown")),
            }
        }
        Ok(Crypto {
            tag,
            suite,
            key: MasterKey(key),
            lifetime,
            mki,
        })
    }

    /// The attribute's value as Parley writes it (`a=crypto:` + this).
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} {} inline:{}",
            self.tag,
            self.suite.name(),
            base64::engine::general_purpose::STANDARD.encode(self.key.0)
        );
        if let Some(l) = self.lifetime {
            if l.is_power_of_two() {
                out.push_str(&format!("|2^{}", l.trailing_zeros()));
            } else {
                out.push_str(&format!("|{l}"));
            }
        }
        if let Some(m) = self.mki {
            out.push_str(&format!("|{}:{}", m.value, m.len));
        }
        out
    }
}

/// `2^n` or a decimal count: at most 2^48 packets (RFC 3711 §9.2's limit for SRTP).
fn parse_lifetime(s: &str) -> Result<u64, CryptoError> {
    let bad = CryptoError::Malformed("lifetime");
    let n = match s.strip_prefix("2^") {
        Some(exp) => {
            if exp.is_empty() || exp.len() > 2 || !exp.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            let e: u32 = exp.parse().map_err(|_| bad.clone())?;
            if e > 48 {
                return Err(bad);
            }
            1u64 << e
        }
        None => {
            if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            s.parse().map_err(|_| bad.clone())?
        }
    };
    if n == 0 || n > 1 << 48 {
        return Err(bad);
    }
    Ok(n)
}

/// `value:length`, the length 1 to 128 bytes by the grammar; Parley takes MKIs of up to 8 bytes
/// whose value fits them.
fn parse_mki(value: &str, len: &str) -> Result<Mki, CryptoError> {
    let bad = CryptoError::Malformed("MKI");
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(value, 19) || !digits(len, 3) {
        return Err(bad);
    }
    let len: u8 = len.parse().map_err(|_| bad.clone())?;
    let value: u64 = value.parse().map_err(|_| bad.clone())?;
    if !(1..=8).contains(&len) || (len < 8 && value >> (8 * u32::from(len)) != 0) {
        return Err(bad);
    }
    Ok(Mki { value, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4568 §4's example key.
    const EXAMPLE: &str =
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4";

    #[test]
    fn the_rfcs_example_parses_and_renders_back() {
        let c = Crypto::parse(EXAMPLE).unwrap();
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, Suite::AesCm128HmacSha1_80);
        assert_eq!(c.lifetime, Some(1 << 20));
        assert_eq!(c.mki, Some(Mki { value: 1, len: 4 }));
        assert_eq!(&c.key.0[..4], b"=-n@");
        assert_eq!(c.render(), EXAMPLE);
        assert_eq!(
            format!("{:?}", c.key),
            "MasterKey(..)",
            "keys are never printed"
        );
        let short = Crypto::parse(
            "7 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR WSH=128",
        )
        .unwrap();
        assert_eq!((short.tag, short.suite.rtp_tag_len()), (7, 4));
        assert_eq!(Crypto::parse(&short.render()).unwrap(), short);
    }

    #[test]
    fn weakening_unknown_or_malformed_lines_are_not_taken() {
        let key = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        for (line, want) in [
            (format!("1 F8_128_HMAC_SHA1_80 {key}"), CryptoError::Suite),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {key} UNENCRYPTED_SRTP"),
                CryptoError::SessionParam("UNENCRYPTED_SRTP"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {key} UNAUTHENTICATED_SRTP"),
                CryptoError::SessionParam("UNAUTHENTICATED_SRTP"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {key} KDR=3"),
                CryptoError::SessionParam("KDR"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {key} FEC_ORDER=FEC_SRTP"),
                CryptoError::SessionParam("FEC"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {key} NEW_PARAM"),
                CryptoError::SessionParam("unknown"),
            ),
        ] {
            assert_eq!(Crypto::parse(&line), Err(want), "{line}");
        }
        for line in [
            "",
            "x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1234567890 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1 AES_CM_128_HMAC_SHA1_80",
            "1 AES_CM_128_HMAC_SHA1_80 uri:http://example.com/key",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtx",
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!QCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^49",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|0",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:0",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|256:1",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:4|2^20",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR;inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR WSH=",
        ] {
            assert!(
                matches!(Crypto::parse(line), Err(CryptoError::Malformed(_))),
                "{line}: {:?}",
                Crypto::parse(line)
            );
        }
    }
}
