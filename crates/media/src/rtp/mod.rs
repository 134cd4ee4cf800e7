//! RTP (RFC 3550) on the wire: a checked parse of untrusted bytes into [`RtpPacket`], writing a
//! 12-byte header, an in-place header rewrite for the relay's hot path, and RTP/RTCP
//! demultiplexing (RFC 5761). Statistics live in [`sequence`], RTCP in [`rtcp`].
//! It never allocates on the rewrite path, never panics on input, and never touches a socket.

pub mod rtcp;
pub mod sequence;
pub mod strict;

pub use sequence::{Jitter, LossReport, SeqOutcome, SequenceTracker};
pub use strict::{SourceCheck, StrictSource};

/// Length of the fixed RTP header (no CSRCs, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// Why bytes are not a valid RTP (or RTCP) packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// The buffer ends before the structure it announces.
    #[error("packet truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes required by the header fields read so far.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The version field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// The padding count is zero or larger than the space after the header.
    #[error("invalid padding length {0}")]
    BadPadding(u8),
    /// An RTCP packet's length field does not match the data.
    #[error("invalid RTCP length")]
    BadRtcpLength,
    /// A receiver report can carry at most 31 report blocks.
    #[error("too many report blocks: {0} (max 31)")]
    TooManyReportBlocks(usize),
}

/// The fields of the fixed RTP header that Parley uses (version is always 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// The marker bit (start of talkspurt, or first packet of a DTMF event).
    pub marker: bool,
    /// Payload type, 7 bits (higher bits are masked off when writing).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp in clock-rate units.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Append the 12-byte header (version 2, no padding, no extension, no CSRCs) to `out`.
    /// Follow with `out.extend_from_slice(payload)` to build a packet.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// The 12-byte header as an array.
    pub fn to_bytes(&self) -> [u8; RTP_HEADER_LEN] {
        let mut b = [0u8; RTP_HEADER_LEN];
        b[0] = 0x80;
        b[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        b[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        b[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        b
    }
}

/// A parsed RTP packet borrowing its payload from the received buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The fixed-header fields.
    pub header: RtpHeader,
    /// The payload, after CSRCs and header extension, without padding.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parse and check `buf`: version 2, CSRC list, header extension and padding all within bounds.
    /// Call [`is_rtcp`] first on a muxed port: this does not reject RTCP-looking payload types.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        need(buf, RTP_HEADER_LEN)?;
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = buf[0] & 0x20 != 0;
        let has_extension = buf[0] & 0x10 != 0;
        let csrc_count = usize::from(buf[0] & 0x0F);
        let mut offset = RTP_HEADER_LEN + 4 * csrc_count;
        need(buf, offset)?;
        if has_extension {
            need(buf, offset + 4)?;
            let words = usize::from(u16::from_be_bytes([buf[offset + 2], buf[offset + 3]]));
            offset += 4 + 4 * words;
            need(buf, offset)?;
        }
        let mut end = buf.len();
        if has_padding {
            let pad = buf[end - 1];
            if pad == 0 || usize::from(pad) > end - offset {
                return Err(RtpError::BadPadding(pad));
            }
            end -= usize::from(pad);
        }
        let header = RtpHeader {
            marker: buf[1] & 0x80 != 0,
            payload_type: buf[1] & 0x7F,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        };
        Ok(RtpPacket {
            header,
            payload: &buf[offset..end],
        })
    }

    /// Append this packet in canonical form (12-byte header, payload, no padding) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        self.header.write(out);
        out.extend_from_slice(self.payload);
    }
}

fn need(buf: &[u8], needed: usize) -> Result<(), RtpError> {
    if buf.len() < needed {
        Err(RtpError::Truncated {
            needed,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Overwrite marker, payload type, sequence, timestamp and SSRC of the RTP packet in `buf`, in place,
/// leaving version, padding, CSRCs, extension and payload untouched. Allocation-free; the relay
/// parses, adjusts the [`RtpHeader`] and calls this before forwarding the same buffer.
pub fn rewrite_header(buf: &mut [u8], header: &RtpHeader) -> Result<(), RtpError> {
    need(buf, RTP_HEADER_LEN)?;
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    buf[1] = (u8::from(header.marker) << 7) | (header.payload_type & 0x7F);
    buf[2..4].copy_from_slice(&header.sequence.to_be_bytes());
    buf[4..8].copy_from_slice(&header.timestamp.to_be_bytes());
    buf[8..12].copy_from_slice(&header.ssrc.to_be_bytes());
    Ok(())
}

/// Whether a datagram on an RTP/RTCP-muxed port is RTCP (RFC 5761 §4: second byte 192..=223,
/// i.e. RTCP packet types 192-223, which RTP payload types 64-95 with marker would collide with).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 2 && (192..=223).contains(&buf[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASIC: [u8; 16] = [
        0x80, 0x80, 0x12, 0x34, 0x00, 0x00, 0x01, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4,
    ];

    #[test]
    fn basic_packet_parses_into_its_fields_and_payload() {
        let p = RtpPacket::parse(&BASIC).unwrap();
        assert_eq!(
            p.header,
            RtpHeader {
                marker: true,
                payload_type: 0,
                sequence: 0x1234,
                timestamp: 256,
                ssrc: 0xDEAD_BEEF
            }
        );
        assert_eq!(p.payload, &[1, 2, 3, 4]);
    }

    #[test]
    fn header_written_then_parsed_gives_the_same_header() {
        let h = RtpHeader {
            marker: false,
            payload_type: 101,
            sequence: 65535,
            timestamp: u32::MAX,
            ssrc: 7,
        };
        let mut out = Vec::new();
        h.write(&mut out);
        out.extend_from_slice(b"xyz");
        assert_eq!(out.len(), 15);
        let p = RtpPacket::parse(&out).unwrap();
        assert_eq!((p.header, p.payload), (h, &b"xyz"[..]));
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut b = vec![0xB2, 0x08, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]; // P, X, CC=2
        b.extend_from_slice(&[0xAA; 8]); // two CSRCs
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // extension, one word
        b.extend_from_slice(b"pay");
        b.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.header.payload_type, 8);
        assert_eq!(p.payload, b"pay");
    }

    #[test]
    fn truncated_headers_csrcs_and_extensions_are_rejected() {
        for len in 0..12 {
            assert!(matches!(
                RtpPacket::parse(&BASIC[..len]),
                Err(RtpError::Truncated { .. })
            ));
        }
        let cc = [0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2];
        assert_eq!(
            RtpPacket::parse(&cc),
            Err(RtpError::Truncated {
                needed: 16,
                have: 14
            })
        );
        let ext = [
            0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 2, 0, 0, 0, 0,
        ];
        assert_eq!(
            RtpPacket::parse(&ext),
            Err(RtpError::Truncated {
                needed: 24,
                have: 20
            })
        );
    }

    #[test]
    fn wrong_version_and_bad_padding_are_rejected() {
        let mut b = BASIC;
        b[0] = 0x40;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadVersion(1)));
        let mut b = BASIC;
        b[0] = 0xA0;
        b[15] = 5; // more padding than the 4 payload bytes
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadPadding(5)));
        b[15] = 0;
        assert_eq!(RtpPacket::parse(&b), Err(RtpError::BadPadding(0)));
        b[15] = 4; // padding may consume the whole payload
        assert_eq!(RtpPacket::parse(&b).unwrap().payload, &[] as &[u8]);
    }

    #[test]
    fn rewrite_changes_only_the_header_fields_and_keeps_csrcs_and_payload() {
        let mut b = vec![
            0x81, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xCC, 0xCC, 0xCC, 0xCC, 7, 8,
        ];
        let original = b.clone();
        let h = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 999,
            timestamp: 12345,
            ssrc: 42,
        };
        rewrite_header(&mut b, &h).unwrap();
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.header, h);
        assert_eq!(p.payload, &[7, 8]);
        assert_eq!(b[0], original[0]);
        assert_eq!(b[12..], original[12..]);
    }

    #[test]
    fn rewrite_rejects_short_and_non_rtp_buffers() {
        let h = RtpHeader::default();
        assert!(rewrite_header(&mut [0x80; 11], &h).is_err());
        assert_eq!(
            rewrite_header(&mut [0u8; 12], &h),
            Err(RtpError::BadVersion(0))
        );
    }

    #[test]
    fn rtcp_sender_and_receiver_reports_are_told_apart_from_rtp() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(is_rtcp(&[0x81, 201, 0, 7]));
        assert!(!is_rtcp(&BASIC)); // PT 0 with marker: second byte 0x80
        assert!(!is_rtcp(&[0x80, 101 | 0x80])); // telephone-event with marker: 229
        assert!(!is_rtcp(&[0x80]));
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes() {
        let mut rng = crate::TestRng::new(0x1234_5678_9ABC_DEF0u64);
        for len in 0..200usize {
            for _ in 0..50 {
                let mut bytes = rng.bytes(len);
                if let Some(first) = bytes.first_mut() {
                    *first = (*first & 0x3F) | 0x80; // version 2, random P/X/CC
                }
                if let Ok(p) = RtpPacket::parse(&bytes) {
                    assert!(p.payload.len() + RTP_HEADER_LEN <= len);
                }
            }
        }
    }
}
