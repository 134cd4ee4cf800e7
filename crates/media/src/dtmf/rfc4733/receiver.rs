//! The RFC 4733 receiver: turns a stream of telephone-event packets into [`DtmfDigit`]s, exactly
//! once per event, despite redundant end packets, loss, duplicates and reordering. It never looks at
//! audio samples and never reads a clock: staleness is judged from audio timestamps passed in.

use std::collections::VecDeque;

use super::{DtmfError, TelephoneEvent};
use crate::dtmf::event_to_digit;
use crate::rtp::RtpPacket;

/// Default for [`Rfc4733Receiver::with_stale_after`]: 800 timestamp units (100 ms at 8 kHz).
pub const DEFAULT_STALE_AFTER: u32 = 800;

/// A DTMF digit received as a telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// '0'-'9', '*', '#' or 'A'-'D'.
    pub digit: char,
    /// RTP timestamp at which the event started.
    pub timestamp: u32,
    /// Duration in timestamp units: final if an end packet arrived, else the longest seen.
    pub duration: u32,
}

/// The event currently or last tracked. Kept after reporting so that redundant and late packets
/// of the same event are recognised and ignored.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    event: u8,
    start_timestamp: u32,
    /// Timestamp of the current segment (differs from the start only for events over 0xFFFF).
    segment_timestamp: u32,
    /// Duration of earlier segments plus the longest duration seen in this one.
    duration: u32,
    segment_base: u32,
    reported: bool,
}

/// Receives telephone-event packets of one RTP stream (one SSRC) and reports each event once.
///
/// An event is reported when its first end (E-bit) packet arrives; if every end packet is lost,
/// when a newer event starts, when [`Rfc4733Receiver::finish_stale`] sees audio well past the
/// event, or on [`Rfc4733Receiver::flush`]. Drain digits with [`Rfc4733Receiver::poll_digit`].
#[derive(Debug, Clone)]
pub struct Rfc4733Receiver {
    tracked: Option<Tracked>,
    digits: VecDeque<DtmfDigit>,
    stale_after: u32,
}

impl Default for Rfc4733Receiver {
    fn default() -> Self {
        Self::new()
    }
}

impl Rfc4733Receiver {
    /// A receiver with the default staleness margin ([`DEFAULT_STALE_AFTER`]).
    pub fn new() -> Self {
        Self {
            tracked: None,
            digits: VecDeque::new(),
            stale_after: DEFAULT_STALE_AFTER,
        }
    }

    /// Set how far (in timestamp units) audio must run past an event's last known end before
    /// [`Rfc4733Receiver::finish_stale`] reports an event whose end packets were all lost.
    pub fn with_stale_after(mut self, units: u32) -> Self {
        self.stale_after = units;
        self
    }

    /// Feed one packet of the negotiated telephone-event payload type. Only the payload, timestamp
    /// and marker are used; sequence numbers need no tracking because every packet of an event
    /// carries the event's timestamp and a growing duration.
    pub fn handle_packet(&mut self, packet: &RtpPacket<'_>) -> Result<(), DtmfError> {
        let ev = TelephoneEvent::parse(packet.payload)?;
        let ts = packet.header.timestamp;
        if let Some(t) = self.tracked.as_mut() {
            if ts == t.segment_timestamp {
                if !t.reported && ev.event == t.event {
                    t.duration = t.duration.max(t.segment_base + u32::from(ev.duration));
                    if ev.end {
                        self.report();
                    }
                }
                return Ok(());
            }
            if is_before(ts, t.segment_timestamp) {
                return Ok(()); // a late packet of an older event
            }
            // RFC 4733 §2.5.2.3: a long event continues in a new segment at old timestamp + 0xFFFF.
            let next_segment = t.segment_timestamp.wrapping_add(0xFFFF);
            if !t.reported && ev.event == t.event && !packet.header.marker && ts == next_segment {
                t.segment_base += 0xFFFF;
                t.segment_timestamp = ts;
                t.duration = t.duration.max(t.segment_base + u32::from(ev.duration));
                if ev.end {
                    self.report();
                }
                return Ok(());
            }
            if !t.reported {
                self.report(); // its end packets were lost
            }
        }
        self.tracked = Some(Tracked {
            event: ev.event,
            start_timestamp: ts,
            segment_timestamp: ts,
            duration: u32::from(ev.duration),
            segment_base: 0,
            reported: false,
        });
        if ev.end {
            self.report();
        }
        Ok(())
    }

    /// Report the current event if its end packets were lost and audio with timestamp
    /// `audio_timestamp` (a non-event packet of the same stream) is more than the staleness margin
    /// past the event's last known end. Call it for each audio packet, or from a timer with an
    /// estimated timestamp.
    pub fn finish_stale(&mut self, audio_timestamp: u32) {
        if let Some(t) = self.tracked.filter(|t| !t.reported) {
            let end = t.start_timestamp.wrapping_add(t.duration);
            let past_end = audio_timestamp.wrapping_sub(end) as i32;
            if past_end > 0 && past_end.unsigned_abs() > self.stale_after {
                self.report();
            }
        }
    }

    /// Report the current event now if it has not been reported (e.g. the call is ending).
    pub fn flush(&mut self) {
        if self.tracked.is_some_and(|t| !t.reported) {
            self.report();
        }
    }

    /// The next received digit, oldest first.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    fn report(&mut self) {
        if let Some(t) = self.tracked.as_mut() {
            t.reported = true;
            if let Some(digit) = event_to_digit(t.event) {
                self.digits.push_back(DtmfDigit {
                    digit,
                    timestamp: t.start_timestamp,
                    duration: t.duration,
                });
            }
        }
    }
}

/// Whether timestamp `a` is before `b` in RTP serial arithmetic.
fn is_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[cfg(test)]
#[path = "receiver_tests.rs"]
mod tests;
