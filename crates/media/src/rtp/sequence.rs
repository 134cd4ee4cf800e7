//! Receive statistics for one RTP source: sequence tracking with wrap-around, loss, duplicates and
//! reordering (RFC 3550 A.1/A.3), and interarrival jitter (A.8). Arrival times are arguments in
//! timestamp units; nothing here reads a clock or decides what to do about loss.

/// Largest forward jump still treated as the same stream (RFC 3550 A.1 `MAX_DROPOUT`).
pub const MAX_DROPOUT: u16 = 3000;
/// Largest backward step treated as a late packet rather than a restart (A.1 `MAX_MISORDER`).
pub const MAX_MISORDER: u16 = 100;

/// What one sequence number meant to the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqOutcome {
    /// The first packet seen.
    First,
    /// Newer than any before (possibly after a gap of lost packets).
    InOrder,
    /// Older than the newest but not seen before (reordered): counted as received.
    Late,
    /// Seen before: not counted again.
    Duplicate,
    /// A jump too large to trust; the packet is not counted. If the next packet follows it, the
    /// tracker restarts there (the sender reset its sequence).
    Jump,
    /// The sequence restarted after a confirmed jump; counting continues from this packet.
    Restarted,
}

/// Loss figures for an RTCP report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossReport {
    /// Fraction lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed range).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub extended_highest: u32,
}

/// Counts received, lost, duplicate and late packets of one source, across sequence wrap-around.
#[derive(Debug, Clone, Default)]
pub struct SequenceTracker {
    run: Option<Run>,
    received_total: u64,
    duplicates: u64,
    lost_before_restart: i64,
}

/// Counters since the first packet or the last restart. Extended sequence numbers start at
/// `65536 + seq` so that late packets from before the first one cannot underflow.
#[derive(Debug, Clone)]
struct Run {
    base_ext: u64,
    max_ext: u64,
    /// Bit `i` set: `max_ext - i` was received (covers more than `MAX_MISORDER`).
    window: u128,
    received: u64,
    pending_jump: Option<u16>,
    expected_prior: u64,
    received_prior: u64,
}

impl Run {
    fn new(seq: u16) -> Self {
        let ext = 65536 + u64::from(seq);
        Run {
            base_ext: ext,
            max_ext: ext,
            window: 1,
            received: 1,
            pending_jump: None,
            expected_prior: 0,
            received_prior: 0,
        }
    }

    fn expected(&self) -> u64 {
        self.max_ext - self.base_ext + 1
    }

    fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }
}

impl SequenceTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Account for one received packet's sequence number.
    pub fn record(&mut self, seq: u16) -> SeqOutcome {
        let Some(run) = self.run.as_mut() else {
            self.run = Some(Run::new(seq));
            self.received_total += 1;
            return SeqOutcome::First;
        };
        let newest = run.max_ext as u16;
        let ahead = seq.wrapping_sub(newest);
        let behind = newest.wrapping_sub(seq);
        if ahead == 0 {
            self.duplicates += 1;
            SeqOutcome::Duplicate
        } else if ahead < MAX_DROPOUT {
            run.max_ext += u64::from(ahead);
            run.window = if ahead >= 128 { 0 } else { run.window << ahead } | 1;
            run.received += 1;
            run.pending_jump = None;
            self.received_total += 1;
            SeqOutcome::InOrder
        } else if behind <= MAX_MISORDER {
            let bit = 1u128 << behind;
            if run.window & bit != 0 {
                self.duplicates += 1;
                return SeqOutcome::Duplicate;
            }
            run.window |= bit;
            run.base_ext = run.base_ext.min(run.max_ext - u64::from(behind));
            run.received += 1;
            self.received_total += 1;
            SeqOutcome::Late
        } else if run.pending_jump == Some(seq) {
            self.lost_before_restart += run.lost();
            self.run = Some(Run::new(seq));
            self.received_total += 1;
            SeqOutcome::Restarted
        } else {
            run.pending_jump = Some(seq.wrapping_add(1));
            SeqOutcome::Jump
        }
    }

    /// Distinct packets counted as received (duplicates and unconfirmed jumps excluded).
    pub fn received(&self) -> u64 {
        self.received_total
    }

    /// Packets lost: expected minus received, summed over restarts. Late arrivals reduce it.
    pub fn lost(&self) -> i64 {
        self.lost_before_restart + self.run.as_ref().map_or(0, Run::lost)
    }

    /// Duplicate packets seen.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Extended highest sequence number (cycles << 16 | seq), or `None` before the first packet.
    pub fn extended_highest(&self) -> Option<u32> {
        self.run.as_ref().map(|r| (r.max_ext - 65536) as u32)
    }

    /// Loss figures for a report block, and start a new reporting interval (RFC 3550 A.3).
    /// `None` before the first packet.
    pub fn take_report(&mut self) -> Option<LossReport> {
        let extended_highest = self.extended_highest()?;
        let cumulative = self.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32;
        let run = self.run.as_mut()?;
        let expected = run.expected();
        let expected_interval = expected - run.expected_prior;
        let received_interval = run.received.saturating_sub(run.received_prior);
        run.expected_prior = expected;
        run.received_prior = run.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        Some(LossReport {
            fraction_lost,
            cumulative_lost: cumulative,
            extended_highest,
        })
    }
}

/// Interarrival jitter estimate (RFC 3550 A.8), in timestamp units.
#[derive(Debug, Clone, Copy, Default)]
pub struct Jitter {
    last_transit: Option<u32>,
    /// Jitter scaled by 16, as in A.8.
    scaled: u64,
}

impl Jitter {
    /// No packets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Account for a packet that arrived at `arrival` (the receiver's clock converted to the same
    /// timestamp units) carrying RTP timestamp `rtp_timestamp`.
    pub fn update(&mut self, arrival: u32, rtp_timestamp: u32) {
        let transit = arrival.wrapping_sub(rtp_timestamp);
        if let Some(last) = self.last_transit {
            let d = u64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.scaled = (self.scaled + d).saturating_sub((self.scaled + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// The current jitter estimate in timestamp units.
    pub fn value(&self) -> u32 {
        (self.scaled >> 4).min(u64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(seqs: &[u16]) -> SequenceTracker {
        let mut t = SequenceTracker::new();
        for &s in seqs {
            t.record(s);
        }
        t
    }

    #[test]
    fn in_order_stream_has_no_loss() {
        let t = track(&[10, 11, 12, 13]);
        assert_eq!((t.received(), t.lost(), t.duplicates()), (4, 0, 0));
    }

    #[test]
    fn gaps_count_as_lost_until_late_packets_fill_them() {
        let mut t = track(&[1, 2, 5, 6]);
        assert_eq!(t.lost(), 2);
        assert_eq!(t.record(3), SeqOutcome::Late);
        assert_eq!(t.lost(), 1);
        assert_eq!(t.received(), 5);
    }

    #[test]
    fn duplicates_are_counted_separately_and_not_as_received() {
        let mut t = track(&[1, 2, 3]);
        assert_eq!(t.record(3), SeqOutcome::Duplicate);
        assert_eq!(t.record(2), SeqOutcome::Duplicate);
        assert_eq!((t.received(), t.lost(), t.duplicates()), (3, 0, 2));
    }

    #[test]
    fn sequence_wrap_around_continues_the_count() {
        let mut t = track(&[65534, 65535, 1]);
        assert_eq!(t.lost(), 1);
        assert_eq!(t.extended_highest(), Some(65536 + 1));
        assert_eq!(t.record(0), SeqOutcome::Late);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn late_packet_from_before_the_first_one_is_not_negative_loss() {
        let mut t = track(&[100, 101]);
        assert_eq!(t.record(99), SeqOutcome::Late);
        assert_eq!(t.lost(), 0);
        assert_eq!(t.received(), 3);
    }

    #[test]
    fn a_single_wild_jump_is_ignored_but_a_confirmed_one_restarts() {
        let mut t = track(&[1, 2, 3]);
        assert_eq!(t.record(40_000), SeqOutcome::Jump);
        assert_eq!(t.record(4), SeqOutcome::InOrder);
        assert_eq!(t.lost(), 0);
        assert_eq!(t.record(50_000), SeqOutcome::Jump);
        assert_eq!(t.record(50_001), SeqOutcome::Restarted);
        assert_eq!(t.record(50_003), SeqOutcome::InOrder);
        assert_eq!((t.received(), t.lost()), (6, 1));
    }

    #[test]
    fn report_gives_fraction_lost_per_interval() {
        let mut t = SequenceTracker::new();
        assert_eq!(t.take_report(), None);
        for s in (0..100u16).filter(|s| s % 4 != 0 || *s == 0) {
            t.record(s); // 24 of 100 lost
        }
        let r = t.take_report().unwrap();
        assert_eq!(r.cumulative_lost, 24);
        assert_eq!(r.fraction_lost, (24 * 256 / 100) as u8);
        assert_eq!(r.extended_highest, 99);
        for s in 100..200u16 {
            t.record(s);
        }
        let r = t.take_report().unwrap();
        assert_eq!((r.fraction_lost, r.cumulative_lost), (0, 24));
    }

    #[test]
    fn jitter_is_zero_for_evenly_spaced_packets_and_grows_with_variation() {
        let mut j = Jitter::new();
        for i in 0..50u32 {
            j.update(1000 + i * 160, i * 160);
        }
        assert_eq!(j.value(), 0);
        for i in 50..200u32 {
            let wobble = if i % 2 == 0 { 80 } else { 0 };
            j.update(1000 + i * 160 + wobble, i * 160);
        }
        // Alternating ±80 converges to 80 (within A.8's integer rounding).
        assert!((70..=80).contains(&j.value()), "jitter {}", j.value());
    }
}
