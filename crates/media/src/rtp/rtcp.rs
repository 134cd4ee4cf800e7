//! Minimal RTCP (RFC 3550 §6): walk a compound packet, read each packet's type and sender SSRC,
//! sender info and report blocks of SR/RR; build Sender and Receiver Reports. SDES, BYE and APP are
//! recognised by type only. It never decides when to send a report (the caller's timer does).

use super::RtpError;

/// RTCP packet type of a Sender Report.
pub const PT_SR: u8 = 200;
/// RTCP packet type of a Receiver Report.
pub const PT_RR: u8 = 201;
/// RTCP packet type of Source Description.
pub const PT_SDES: u8 = 202;
/// RTCP packet type of Goodbye.
pub const PT_BYE: u8 = 203;

const BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// The sender-info section of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP wall-clock timestamp (32.32 fixed point), supplied by the caller.
    pub ntp_timestamp: u64,
    /// RTP timestamp corresponding to the NTP timestamp.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
}

impl SenderInfo {
    /// The middle 32 bits of the NTP timestamp: the LSR value a receiver echoes back.
    pub fn compact_ntp(&self) -> u32 {
        (self.ntp_timestamp >> 16) as u32
    }
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Compact NTP time of the last SR received from the source (0 if none).
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s (0 if none).
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    fn parse(b: &[u8]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        ReportBlock {
            ssrc: word(0),
            fraction_lost: b[4],
            cumulative_lost: i32::from_be_bytes([b[5], b[6], b[7], 0]) >> 8,
            extended_highest: word(8),
            jitter: word(12),
            last_sr: word(16),
            delay_since_last_sr: word(20),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        let lost = self
            .cumulative_lost
            .clamp(-0x80_0000, 0x7F_FFFF)
            .to_be_bytes();
        out.extend_from_slice(&[self.fraction_lost, lost[1], lost[2], lost[3]]);
        for word in [
            self.extended_highest,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }
}

/// What kind of RTCP packet this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpKind {
    /// A Sender Report with its sender info.
    SenderReport(SenderInfo),
    /// A Receiver Report.
    ReceiverReport,
    /// Any other type (SDES, BYE, APP, feedback...), by packet type number.
    Other(u8),
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    /// The packet kind.
    pub kind: RtcpKind,
    /// SSRC of the sender of SR/RR/APP (first SSRC/CSRC for SDES and BYE); `None` if absent.
    pub ssrc: Option<u32>,
    blocks: &'a [u8],
}

impl<'a> RtcpPacket<'a> {
    /// The report blocks of an SR or RR (empty for other kinds).
    pub fn report_blocks(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        self.blocks.chunks_exact(BLOCK_LEN).map(ReportBlock::parse)
    }
}

/// Iterate over the packets of a compound RTCP datagram. Each item is checked; after the first
/// error the iterator ends.
pub fn parse_compound(buf: &[u8]) -> RtcpIter<'_> {
    RtcpIter { rest: buf }
}

/// Iterator returned by [`parse_compound`].
#[derive(Debug, Clone)]
pub struct RtcpIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RtcpIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = parse_one(self.rest);
        match &result {
            Ok((_, used)) => self.rest = &self.rest[*used..],
            Err(_) => self.rest = &[],
        }
        Some(result.map(|(p, _)| p))
    }
}

fn parse_one(buf: &[u8]) -> Result<(RtcpPacket<'_>, usize), RtpError> {
    if buf.len() < 4 {
        return Err(RtpError::Truncated {
            needed: 4,
            have: buf.len(),
        });
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let count = usize::from(buf[0] & 0x1F);
    let packet_type = buf[1];
    let len = (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1) * 4;
    if buf.len() < len {
        return Err(RtpError::Truncated {
            needed: len,
            have: buf.len(),
        });
    }
    let mut body = &buf[4..len];
    if buf[0] & 0x20 != 0 {
        let pad = usize::from(buf[len - 1]);
        if pad == 0 || pad > body.len() {
            return Err(RtpError::BadPadding(buf[len - 1]));
        }
        body = &body[..body.len() - pad];
    }
    let ssrc = body
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let (kind, blocks_at) = match packet_type {
        PT_SR => {
            let b = body
                .get(4..4 + SENDER_INFO_LEN)
                .ok_or(RtpError::BadRtcpLength)?;
            let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let info = SenderInfo {
                ntp_timestamp: (u64::from(word(0)) << 32) | u64::from(word(4)),
                rtp_timestamp: word(8),
                packet_count: word(12),
                octet_count: word(16),
            };
            (RtcpKind::SenderReport(info), 4 + SENDER_INFO_LEN)
        }
        PT_RR => (RtcpKind::ReceiverReport, 4),
        other => (RtcpKind::Other(other), body.len()),
    };
    let blocks = if blocks_at >= body.len() {
        &[][..]
    } else {
        &body[blocks_at..]
    };
    let blocks = match kind {
        RtcpKind::Other(_) => &[][..],
        _ => {
            if ssrc.is_none() || blocks.len() < count * BLOCK_LEN {
                return Err(RtpError::BadRtcpLength);
            }
            &blocks[..count * BLOCK_LEN]
        }
    };
    Ok((RtcpPacket { kind, ssrc, blocks }, len))
}

/// Append a Receiver Report from `ssrc` with up to 31 `blocks` to `out`.
pub fn write_receiver_report(
    ssrc: u32,
    blocks: &[ReportBlock],
    out: &mut Vec<u8>,
) -> Result<(), RtpError> {
    write_report(PT_RR, ssrc, None, blocks, out)
}

/// Append a Sender Report from `ssrc` with `info` and up to 31 `blocks` to `out`.
pub fn write_sender_report(
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
    out: &mut Vec<u8>,
) -> Result<(), RtpError> {
    write_report(PT_SR, ssrc, Some(info), blocks, out)
}

fn write_report(
    packet_type: u8,
    ssrc: u32,
    info: Option<&SenderInfo>,
    blocks: &[ReportBlock],
    out: &mut Vec<u8>,
) -> Result<(), RtpError> {
    if blocks.len() > 31 {
        return Err(RtpError::TooManyReportBlocks(blocks.len()));
    }
    let info_len = if info.is_some() { SENDER_INFO_LEN } else { 0 };
    let words = (4 + info_len + BLOCK_LEN * blocks.len()) / 4; // length field: words minus one
    out.extend_from_slice(&[0x80 | blocks.len() as u8, packet_type]);
    out.extend_from_slice(&(words as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(info) = info {
        out.extend_from_slice(&info.ntp_timestamp.to_be_bytes());
        for word in [info.rtp_timestamp, info.packet_count, info.octet_count] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }
    for block in blocks {
        block.write(out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 0x1111_2222,
            fraction_lost: 25,
            cumulative_lost: -3,
            extended_highest: 0x0001_0005,
            jitter: 40,
            last_sr: 0xAABB_CCDD,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn receiver_report_built_then_parsed_gives_the_same_blocks() {
        let mut out = Vec::new();
        write_receiver_report(0xCAFE, &[block(), ReportBlock::default()], &mut out).unwrap();
        assert_eq!(out.len(), 8 + 2 * 24);
        assert!(super::super::is_rtcp(&out));
        let packets: Vec<_> = parse_compound(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].kind, RtcpKind::ReceiverReport);
        assert_eq!(packets[0].ssrc, Some(0xCAFE));
        let blocks: Vec<_> = packets[0].report_blocks().collect();
        assert_eq!(blocks, vec![block(), ReportBlock::default()]);
    }

    #[test]
    fn compound_sender_report_and_sdes_are_both_read() {
        let info = SenderInfo {
            ntp_timestamp: 0x0102_0304_0506_0708,
            rtp_timestamp: 9,
            packet_count: 10,
            octet_count: 11,
        };
        let mut out = Vec::new();
        write_sender_report(7, &info, &[block()], &mut out).unwrap();
        // SDES: one chunk, SSRC 7, CNAME "ab", end + padding to a word boundary.
        out.extend_from_slice(&[0x81, PT_SDES, 0, 2, 0, 0, 0, 7, 1, 2, b'a', b'b']);
        let packets: Vec<_> = parse_compound(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets[0].kind, RtcpKind::SenderReport(info));
        assert_eq!(
            packets[0].report_blocks().collect::<Vec<_>>(),
            vec![block()]
        );
        assert_eq!(
            (packets[1].kind, packets[1].ssrc),
            (RtcpKind::Other(PT_SDES), Some(7))
        );
        assert_eq!(packets[1].report_blocks().count(), 0);
        assert_eq!(info.compact_ntp(), 0x0304_0506);
    }

    #[test]
    fn report_count_larger_than_the_packet_is_rejected() {
        let mut out = Vec::new();
        write_receiver_report(1, &[block()], &mut out).unwrap();
        out[0] = 0x82; // claims two blocks
        assert_eq!(
            parse_compound(&out).next(),
            Some(Err(RtpError::BadRtcpLength))
        );
    }

    #[test]
    fn truncated_rtcp_ends_the_walk_with_an_error() {
        let mut out = Vec::new();
        write_receiver_report(1, &[block()], &mut out).unwrap();
        let mut it = parse_compound(&out[..20]);
        assert!(matches!(
            it.next(),
            Some(Err(RtpError::Truncated {
                needed: 32,
                have: 20
            }))
        ));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn more_than_31_report_blocks_is_an_error() {
        let blocks = vec![ReportBlock::default(); 32];
        assert_eq!(
            write_receiver_report(1, &blocks, &mut Vec::new()),
            Err(RtpError::TooManyReportBlocks(32))
        );
    }

    #[test]
    fn rtcp_parser_never_panics_on_arbitrary_bytes() {
        let mut rng = crate::TestRng::new(0xDEAD_BEEF_u64);
        for len in 0..120usize {
            for _ in 0..50 {
                let mut bytes = rng.bytes(len);
                if len >= 4 {
                    bytes[0] = (bytes[0] & 0x3F) | 0x80;
                    bytes[1] = 200 + bytes[1] % 5;
                    bytes[2] = 0;
                    bytes[3] %= 32;
                }
                for packet in parse_compound(&bytes).flatten() {
                    let _ = packet.report_blocks().count();
                }
            }
        }
    }
}
