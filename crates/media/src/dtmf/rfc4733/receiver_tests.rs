//! Tests of the RFC 4733 receiver against sender-generated streams with loss, duplication and
//! reordering.

use super::*;
use crate::dtmf::rfc4733::{DtmfPacket, Rfc4733Sender};
use crate::rtp::RtpHeader;

const PT: u8 = 101;

/// The packets of one event as (marker, timestamp, payload).
fn event(digit: char, ts: u32, ms: u32) -> Vec<DtmfPacket> {
    Rfc4733Sender::new(digit, ts, ms, 20).unwrap().collect()
}

fn feed(rx: &mut Rfc4733Receiver, packets: &[DtmfPacket]) {
    for (i, p) in packets.iter().enumerate() {
        let header = RtpHeader {
            marker: p.marker,
            payload_type: PT,
            sequence: i as u16,
            timestamp: p.timestamp,
            ssrc: 1,
        };
        rx.handle_packet(&RtpPacket {
            header,
            payload: &p.payload,
        })
        .unwrap();
    }
}

fn drain(rx: &mut Rfc4733Receiver) -> Vec<(char, u32, u32)> {
    std::iter::from_fn(|| rx.poll_digit())
        .map(|d| (d.digit, d.timestamp, d.duration))
        .collect()
}

#[test]
fn end_packet_repeated_three_times_yields_one_digit() {
    let mut rx = Rfc4733Receiver::new();
    feed(&mut rx, &event('5', 1000, 100));
    assert_eq!(drain(&mut rx), vec![('5', 1000, 800)]);
}

#[test]
fn digit_is_reported_on_the_first_end_packet_before_the_repeats() {
    let mut rx = Rfc4733Receiver::new();
    let packets = event('7', 0, 100);
    feed(&mut rx, &packets[..5]);
    assert_eq!(drain(&mut rx), vec![('7', 0, 800)]);
    feed(&mut rx, &packets[5..]);
    assert_eq!(drain(&mut rx), vec![]);
}

#[test]
fn lost_start_packets_still_yield_the_digit_with_its_final_duration() {
    let mut rx = Rfc4733Receiver::new();
    feed(&mut rx, &event('9', 500, 100)[3..]); // first seen packet is mid-event, no marker
    assert_eq!(drain(&mut rx), vec![('9', 500, 800)]);
}

#[test]
fn all_end_packets_lost_reports_the_digit_when_the_next_event_starts() {
    let mut rx = Rfc4733Receiver::new();
    feed(&mut rx, &event('1', 0, 100)[..4]);
    assert_eq!(drain(&mut rx), vec![]);
    feed(&mut rx, &event('2', 2000, 100));
    assert_eq!(drain(&mut rx), vec![('1', 0, 640), ('2', 2000, 800)]);
}

#[test]
fn all_end_packets_lost_reports_the_digit_once_audio_runs_past_the_margin() {
    let mut rx = Rfc4733Receiver::new();
    feed(&mut rx, &event('3', 1000, 100)[..4]); // longest duration seen: 640, so it ends at 1640
    rx.finish_stale(1640);
    rx.finish_stale(1640 + DEFAULT_STALE_AFTER);
    assert_eq!(
        drain(&mut rx),
        vec![],
        "audio within the margin must not end the event"
    );
    rx.finish_stale(1641 + DEFAULT_STALE_AFTER);
    rx.finish_stale(5000);
    assert_eq!(drain(&mut rx), vec![('3', 1000, 640)]);
    feed(&mut rx, &event('3', 1000, 100)[4..]); // the end packets turn up late
    assert_eq!(drain(&mut rx), vec![]);
}

#[test]
fn finish_stale_ignores_audio_from_before_the_event() {
    let mut rx = Rfc4733Receiver::new().with_stale_after(0);
    feed(&mut rx, &event('4', 10_000, 100)[..2]);
    rx.finish_stale(9_000);
    assert_eq!(drain(&mut rx), vec![]);
    rx.flush();
    rx.flush();
    assert_eq!(drain(&mut rx), vec![('4', 10_000, 320)]);
}

#[test]
fn every_loss_pattern_that_leaves_a_packet_yields_the_digit_exactly_once() {
    let first = event('8', 0, 100);
    let second = event('0', 4000, 60);
    for mask in 1u32..(1 << first.len()) {
        let kept: Vec<DtmfPacket> = first
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| *p)
            .collect();
        let mut rx = Rfc4733Receiver::new();
        feed(&mut rx, &kept);
        feed(&mut rx, &second);
        let got: Vec<char> = drain(&mut rx).iter().map(|d| d.0).collect();
        assert_eq!(got, vec!['8', '0'], "loss mask {mask:#b}");
    }
}

#[test]
fn duplicated_and_reordered_packets_yield_each_digit_once() {
    let mut stream = event('1', 0, 100);
    stream.extend(event('2', 1600, 100));
    stream.extend(event('2', 3200, 100)); // the same digit pressed again
    let mut shuffled = Vec::new();
    for (i, p) in stream.iter().enumerate() {
        shuffled.push(*p);
        if i % 3 == 0 {
            shuffled.push(*p); // duplicate
        }
    }
    for i in (0..shuffled.len() - 1).step_by(2) {
        shuffled.swap(i, i + 1); // swap neighbours
    }
    let mut rx = Rfc4733Receiver::new();
    feed(&mut rx, &shuffled);
    let got: Vec<(char, u32)> = drain(&mut rx).iter().map(|d| (d.0, d.1)).collect();
    assert_eq!(got, vec![('1', 0), ('2', 1600), ('2', 3200)]);
}

#[test]
fn late_packet_of_an_earlier_event_is_ignored() {
    let first = event('6', 0, 100);
    let mut rx = Rfc4733Receiver::new();
    feed(&mut rx, &first[..2]);
    feed(&mut rx, &event('7', 1600, 100)[..2]);
    feed(&mut rx, &first[2..]); // everything of '6' arrives after '7' started
    feed(&mut rx, &event('7', 1600, 100)[2..]);
    assert_eq!(drain(&mut rx), vec![('6', 0, 320), ('7', 1600, 800)]);
}

#[test]
fn events_across_timestamp_wrap_are_both_reported() {
    let mut rx = Rfc4733Receiver::new();
    feed(&mut rx, &event('A', u32::MAX - 100, 100)[..3]);
    feed(&mut rx, &event('B', 2000, 100));
    assert_eq!(
        drain(&mut rx),
        vec![('A', u32::MAX - 100, 480), ('B', 2000, 800)]
    );
}

#[test]
fn non_dtmf_events_are_not_reported_as_digits() {
    let flash = TelephoneEvent {
        event: 16,
        end: true,
        volume: 10,
        duration: 800,
    }
    .to_bytes();
    let mut rx = Rfc4733Receiver::new();
    let header = RtpHeader {
        marker: true,
        payload_type: PT,
        sequence: 0,
        timestamp: 0,
        ssrc: 1,
    };
    rx.handle_packet(&RtpPacket {
        header,
        payload: &flash,
    })
    .unwrap();
    rx.flush();
    assert_eq!(drain(&mut rx), vec![]);
}

#[test]
fn long_event_split_into_segments_is_one_digit_with_the_total_duration() {
    let mut rx = Rfc4733Receiver::new();
    let mut send = |ts: u32, marker: bool, duration: u16, end: bool| {
        let payload = TelephoneEvent {
            event: 0,
            end,
            volume: 10,
            duration,
        }
        .to_bytes();
        let header = RtpHeader {
            marker,
            payload_type: PT,
            sequence: 0,
            timestamp: ts,
            ssrc: 1,
        };
        rx.handle_packet(&RtpPacket {
            header,
            payload: &payload,
        })
        .unwrap();
    };
    send(100, true, 30_000, false);
    send(100, false, 0xFFFF, false);
    send(100 + 0xFFFF, false, 1000, false);
    send(100 + 0xFFFF, false, 1600, true);
    assert_eq!(drain(&mut rx), vec![('0', 100, 0xFFFF + 1600)]);
}

#[test]
fn truncated_payload_is_an_error_and_changes_nothing() {
    let mut rx = Rfc4733Receiver::new();
    let header = RtpHeader {
        marker: true,
        payload_type: PT,
        sequence: 0,
        timestamp: 0,
        ssrc: 1,
    };
    let err = rx.handle_packet(&RtpPacket {
        header,
        payload: &[1, 0x80, 0],
    });
    assert_eq!(err, Err(DtmfError::Truncated(3)));
    rx.flush();
    assert_eq!(drain(&mut rx), vec![]);
}
