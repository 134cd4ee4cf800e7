//! G.711 µ-law and A-law (ITU-T G.711): sample and slice conversions and the [`Codec`] dispatch by
//! RTP payload type. Decoding uses 256-entry tables built at compile time; encoding is branch-light
//! arithmetic. It never resamples, mixes or touches packets.

/// A G.711 codec as negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, static RTP payload type 0 ("PCMU/8000").
    Pcmu,
    /// A-law, static RTP payload type 8 ("PCMA/8000").
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static payload type, if it is 0 or 8.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The SDP encoding name ("PCMU" or "PCMA").
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Encode one linear sample.
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(sample),
            Codec::Pcma => linear_to_alaw(sample),
        }
    }

    /// Decode one code.
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(code),
            Codec::Pcma => alaw_to_linear(code),
        }
    }

    /// Append the encoding of `samples` to `out` (no allocation if `out` has capacity).
    pub fn encode(self, samples: &[i16], out: &mut Vec<u8>) {
        match self {
            Codec::Pcmu => encode_ulaw(samples, out),
            Codec::Pcma => encode_alaw(samples, out),
        }
    }

    /// Append the decoding of `codes` to `out` (no allocation if `out` has capacity).
    pub fn decode(self, codes: &[u8], out: &mut Vec<i16>) {
        match self {
            Codec::Pcmu => decode_ulaw(codes, out),
            Codec::Pcma => decode_alaw(codes, out),
        }
    }

    /// The code for digital silence (linear 0): 0xFF for µ-law, 0xD5 for A-law.
    pub fn silence(self) -> u8 {
        self.encode_sample(0)
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

static ULAW_TABLE: [i16; 256] = build_ulaw_table();
static ALAW_TABLE: [i16; 256] = build_alaw_table();

const fn ulaw_formula(code: u8) -> i16 {
    let u = !code;
    let t = ((((u & 0x0F) as i32) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

const fn alaw_formula(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_formula(i as u8);
        i += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_formula(i as u8);
        i += 1;
    }
    table
}

/// Decode a µ-law code to a linear 16-bit sample.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Decode an A-law code to a linear 16-bit sample.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

/// Encode a linear 16-bit sample as µ-law (no zero trap; magnitudes above 32635 clip).
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80u8
    } else {
        0
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS; // 132..=32767
    let exponent = 7 - (((s >> 7) as u8) | 1).leading_zeros() as u8;
    let mantissa = ((s >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Encode a linear 16-bit sample as A-law (13-bit precision, as G.711 specifies).
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let v = i32::from(sample) >> 3; // -4096..=4095
    let (mask, magnitude) = if v >= 0 {
        (0xD5u8, v)
    } else {
        (0x55u8, -v - 1)
    }; // 0..=4095
    let bit_len = 32 - magnitude.leading_zeros();
    let seg = bit_len.saturating_sub(5); // 0..=7
    let quant = if seg < 2 {
        magnitude >> 1
    } else {
        magnitude >> seg
    } & 0x0F;
    (((seg as u8) << 4) | quant as u8) ^ mask
}

/// Append the µ-law encoding of `samples` to `out`.
pub fn encode_ulaw(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&s| linear_to_ulaw(s)));
}

/// Append the A-law encoding of `samples` to `out`.
pub fn encode_alaw(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&s| linear_to_alaw(s)));
}

/// Append the linear decoding of µ-law `codes` to `out`.
pub fn decode_ulaw(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| ulaw_to_linear(c)));
}

/// Append the linear decoding of A-law `codes` to `out`.
pub fn decode_alaw(codes: &[u8], out: &mut Vec<i16>) {
    out.extend(codes.iter().map(|&c| alaw_to_linear(c)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (code, linear) pairs from the G.711 tables (µ-law as 16-bit values of the 14-bit decoder).
    const ULAW_REFERENCE: &[(u8, i16)] = &[
        (0x00, -32124),
        (0x0F, -16764),
        (0x10, -15996),
        (0x7E, -8),
        (0x7F, 0),
        (0x80, 32124),
        (0x8F, 16764),
        (0xF0, 120),
        (0xFE, 8),
        (0xFF, 0),
    ];

    /// (code, linear) pairs from the G.711 A-law table (13-bit values scaled to 16 bits).
    const ALAW_REFERENCE: &[(u8, i16)] = &[
        (0xD5, 8),
        (0x55, -8),
        (0xD4, 24),
        (0xAA, 32256),
        (0x2A, -32256),
        (0x80, 5504),
        (0xFF, 848),
        (0x7F, -848),
    ];

    #[test]
    fn ulaw_decodes_reference_codes_to_g711_values() {
        for &(code, linear) in ULAW_REFERENCE {
            assert_eq!(ulaw_to_linear(code), linear, "code {code:#04x}");
        }
    }

    #[test]
    fn alaw_decodes_reference_codes_to_g711_values() {
        for &(code, linear) in ALAW_REFERENCE {
            assert_eq!(alaw_to_linear(code), linear, "code {code:#04x}");
        }
    }

    #[test]
    fn every_ulaw_code_round_trips_except_negative_zero() {
        for code in 0..=255u8 {
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                linear_to_ulaw(ulaw_to_linear(code)),
                expected,
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn every_alaw_code_round_trips() {
        for code in 0..=255u8 {
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn encoding_every_linear_value_picks_a_nearest_level_and_keeps_sign() {
        for s in i16::MIN..=i16::MAX {
            for (enc, dec, step) in [
                (
                    linear_to_ulaw as fn(i16) -> u8,
                    ulaw_to_linear as fn(u8) -> i16,
                    1024,
                ),
                (linear_to_alaw, alaw_to_linear, 1024),
            ] {
                let back = dec(enc(s));
                let err = (i32::from(back) - i32::from(s)).abs();
                assert!(err <= step, "{s} -> {back}");
                assert!(
                    i32::from(back) * i32::from(s) >= 0,
                    "sign flipped: {s} -> {back}"
                );
            }
        }
    }

    #[test]
    fn encoding_is_monotonic_in_the_decoded_domain() {
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= prev_u && a >= prev_a, "at {s}");
            prev_u = u;
            prev_a = a;
        }
    }

    #[test]
    fn codec_dispatches_by_payload_type() {
        assert_eq!(Codec::from_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(18), None);
        for codec in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
            let mut codes = Vec::new();
            codec.encode(&[0, 1000, -1000, 32767, -32768], &mut codes);
            let mut back = Vec::new();
            codec.decode(&codes, &mut back);
            assert_eq!(back.len(), 5);
            assert!(back[0].abs() <= 8, "silence decodes near zero");
            assert!((back[1] - 1000).abs() < 40 && (back[2] + 1000).abs() < 40);
        }
        assert_eq!(Codec::Pcmu.silence(), 0xFF);
        assert_eq!(Codec::Pcma.silence(), 0xD5);
    }
}
