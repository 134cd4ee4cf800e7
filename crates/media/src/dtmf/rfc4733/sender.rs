//! The RFC 4733 sender: the packets of one DTMF event, with the marker on the first, growing
//! durations, and the final packet sent three times with the E bit (RFC 4733 §2.5.1.4).
//! It yields payloads and send offsets only; the RTP stream adds sequence numbers and the SSRC,
//! and the caller's timer sends each packet at its offset.

use super::{DtmfError, TelephoneEvent};
use crate::dtmf::digit_to_event;
use crate::SAMPLES_PER_MS;

/// Default volume: 10, i.e. -10 dBm0.
pub const DEFAULT_VOLUME: u8 = 10;

/// How many times the final (E-bit) packet is sent.
const END_REPEATS: u32 = 3;

/// One telephone-event packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// The RTP marker bit: set on the event's first packet only.
    pub marker: bool,
    /// The RTP timestamp: the event's start, the same for every packet of the event.
    pub timestamp: u32,
    /// The 4-byte telephone-event payload.
    pub payload: [u8; 4],
    /// When to send it, in ms after the event started.
    pub send_at_ms: u32,
}

/// Iterator over the packets of one DTMF event (timestamps at 8 kHz).
///
/// Packets go out every `interval_ms` with durations of 1, 2, 3... intervals while shorter than
/// the event; then the final duration three times with the E bit, one interval apart.
#[derive(Debug, Clone)]
pub struct Rfc4733Sender {
    event: u8,
    volume: u8,
    timestamp: u32,
    interval_ms: u32,
    duration_ms: u32,
    /// Packets produced so far.
    sent: u32,
}

impl Rfc4733Sender {
    /// The packets for `digit` starting at RTP timestamp `start_timestamp`, lasting `duration_ms`
    /// (1..=8191 ms, so the duration fits 16 bits at 8 kHz), one packet per `interval_ms`.
    pub fn new(
        digit: char,
        start_timestamp: u32,
        duration_ms: u32,
        interval_ms: u32,
    ) -> Result<Self, DtmfError> {
        let event = digit_to_event(digit).ok_or(DtmfError::NotADigit(digit))?;
        if duration_ms == 0
            || duration_ms
                .checked_mul(SAMPLES_PER_MS)
                .is_none_or(|u| u > u32::from(u16::MAX))
        {
            return Err(DtmfError::BadDuration(duration_ms));
        }
        if interval_ms == 0 {
            return Err(DtmfError::BadInterval(interval_ms));
        }
        Ok(Self {
            event,
            volume: DEFAULT_VOLUME,
            timestamp: start_timestamp,
            interval_ms,
            duration_ms,
            sent: 0,
        })
    }

    /// Use `volume` (-dBm0, 0..=63) instead of [`DEFAULT_VOLUME`].
    pub fn with_volume(mut self, volume: u8) -> Self {
        self.volume = volume.min(63);
        self
    }

    /// Number of packets before the end packets: intervals that end strictly before the event.
    fn progress_packets(&self) -> u32 {
        (self.duration_ms - 1) / self.interval_ms
    }
}

impl Iterator for Rfc4733Sender {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        let progress = self.progress_packets();
        let k = self.sent;
        if k >= progress + END_REPEATS {
            return None;
        }
        self.sent += 1;
        let (end, elapsed_ms) = if k < progress {
            (false, (k + 1) * self.interval_ms)
        } else {
            (true, self.duration_ms)
        };
        let repeat = k.saturating_sub(progress);
        let event = TelephoneEvent {
            event: self.event,
            end,
            volume: self.volume,
            duration: (elapsed_ms * SAMPLES_PER_MS) as u16,
        };
        Some(DtmfPacket {
            marker: k == 0,
            timestamp: self.timestamp,
            payload: event.to_bytes(),
            send_at_ms: elapsed_ms + repeat * self.interval_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(sender: Rfc4733Sender) -> Vec<(bool, TelephoneEvent, u32)> {
        sender
            .map(|p| {
                (
                    p.marker,
                    TelephoneEvent::parse(&p.payload).unwrap(),
                    p.send_at_ms,
                )
            })
            .collect()
    }

    #[test]
    fn hundred_ms_digit_at_20_ms_gives_four_updates_and_three_end_packets() {
        let got = events(Rfc4733Sender::new('5', 1000, 100, 20).unwrap());
        let durations: Vec<u16> = got.iter().map(|(_, e, _)| e.duration).collect();
        assert_eq!(durations, vec![160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<bool> = got.iter().map(|(_, e, _)| e.end).collect();
        assert_eq!(ends, vec![false, false, false, false, true, true, true]);
        let markers: Vec<bool> = got.iter().map(|(m, _, _)| *m).collect();
        assert_eq!(
            markers,
            vec![true, false, false, false, false, false, false]
        );
        let offsets: Vec<u32> = got.iter().map(|(_, _, t)| *t).collect();
        assert_eq!(offsets, vec![20, 40, 60, 80, 100, 120, 140]);
        assert!(got
            .iter()
            .all(|(_, e, _)| e.event == 5 && e.volume == DEFAULT_VOLUME));
    }

    #[test]
    fn every_packet_carries_the_start_timestamp() {
        let s = Rfc4733Sender::new('#', u32::MAX - 10, 60, 20).unwrap();
        assert!(s.map(|p| p.timestamp).all(|ts| ts == u32::MAX - 10));
    }

    #[test]
    fn duration_not_a_multiple_of_the_interval_ends_on_the_exact_duration() {
        let got = events(Rfc4733Sender::new('*', 0, 90, 20).unwrap());
        let durations: Vec<u16> = got.iter().map(|(_, e, _)| e.duration).collect();
        assert_eq!(durations, vec![160, 320, 480, 640, 720, 720, 720]);
    }

    #[test]
    fn event_shorter_than_an_interval_is_three_end_packets_with_the_marker_on_the_first() {
        let got = events(Rfc4733Sender::new('D', 0, 10, 20).unwrap().with_volume(99));
        assert_eq!(got.len(), 3);
        assert!(got[0].0 && !got[1].0);
        assert!(got
            .iter()
            .all(|(_, e, _)| e.end && e.duration == 80 && e.event == 15 && e.volume == 63));
    }

    #[test]
    fn invalid_digit_duration_or_interval_is_an_error() {
        assert_eq!(
            Rfc4733Sender::new('x', 0, 100, 20).unwrap_err(),
            DtmfError::NotADigit('x')
        );
        assert_eq!(
            Rfc4733Sender::new('1', 0, 0, 20).unwrap_err(),
            DtmfError::BadDuration(0)
        );
        assert_eq!(
            Rfc4733Sender::new('1', 0, 8192, 20).unwrap_err(),
            DtmfError::BadDuration(8192)
        );
        assert!(Rfc4733Sender::new('1', 0, 8191, 20).is_ok());
        assert_eq!(
            Rfc4733Sender::new('1', 0, 100, 0).unwrap_err(),
            DtmfError::BadInterval(0)
        );
    }
}
