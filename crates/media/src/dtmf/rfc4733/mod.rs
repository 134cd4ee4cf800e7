//! RFC 4733 telephone-event payloads: the checked 4-byte event ([`TelephoneEvent`]), a receiver
//! that turns event packets into digits exactly once ([`Rfc4733Receiver`]) and a sender that
//! produces an event's packets ([`Rfc4733Sender`]). Timestamps are in 8 kHz units. It never assigns
//! sequence numbers or SSRCs (the RTP stream does) and never reads a clock.

mod receiver;
mod sender;

pub use receiver::{DtmfDigit, Rfc4733Receiver, DEFAULT_STALE_AFTER};
pub use sender::{DtmfPacket, Rfc4733Sender, DEFAULT_VOLUME};

/// Length of one telephone-event block.
pub const EVENT_LEN: usize = 4;

/// Why a telephone-event payload or a request to send one is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// The payload is shorter than the 4-byte event block.
    #[error("telephone-event payload truncated: {0} bytes, need 4")]
    Truncated(usize),
    /// The character is not a DTMF digit.
    #[error("not a DTMF digit: {0:?}")]
    NotADigit(char),
    /// The duration is zero or does not fit the 16-bit duration field (8.19 s at 8 kHz).
    #[error("event duration {0} ms out of range (1..=8191)")]
    BadDuration(u32),
    /// The packet interval is zero or longer than the event.
    #[error("packet interval {0} ms out of range")]
    BadInterval(u32),
}

/// One telephone-event block (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-15 are DTMF digits; see [`crate::dtmf::event_to_digit`]).
    pub event: u8,
    /// The E bit: this is (a retransmission of) the event's final packet.
    pub end: bool,
    /// Volume as -dBm0 (0..=63; higher is quieter). Bits beyond 6 are dropped when writing.
    pub volume: u8,
    /// Duration so far, in timestamp units, counted from the packet's RTP timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parse the first event block of a payload. Extra bytes (redundant blocks, RFC 4733 §2.5.1.5)
    /// are ignored; the reserved bit is ignored as the RFC requires.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let b: &[u8; EVENT_LEN] = payload
            .get(..EVENT_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(DtmfError::Truncated(payload.len()))?;
        Ok(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4-byte wire form.
    pub fn to_bytes(&self) -> [u8; EVENT_LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_block_parses_end_bit_volume_and_duration() {
        let e = TelephoneEvent::parse(&[11, 0x8A, 0x03, 0x20]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.to_bytes(), [11, 0x8A, 0x03, 0x20]);
    }

    #[test]
    fn reserved_bit_is_ignored_and_extra_blocks_are_skipped() {
        let e = TelephoneEvent::parse(&[5, 0x4A, 0, 160, 9, 9, 9, 9]).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: 5,
                end: false,
                volume: 10,
                duration: 160
            }
        );
    }

    #[test]
    fn short_payloads_are_rejected() {
        for len in 0..4 {
            assert_eq!(
                TelephoneEvent::parse(&[0u8; 4][..len]),
                Err(DtmfError::Truncated(len))
            );
        }
    }
}
