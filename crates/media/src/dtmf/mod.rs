//! DTMF: the mapping between digits and RFC 4733 event codes, telephone-event packets
//! ([`rfc4733`]) and in-band tone detection ([`inband`]). It never decides what a digit means
//! (that is the IVR's job) and never reads a clock.

pub mod inband;
pub mod rfc4733;

/// The DTMF digits in RFC 4733 event-code order (events 0-15).
pub const DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The digit of an RFC 4733 DTMF event code (0-15), or `None` for other events (flash, tones...).
pub fn event_to_digit(event: u8) -> Option<char> {
    DIGITS.get(usize::from(event)).copied()
}

/// The RFC 4733 event code of a digit ('0'-'9', '*', '#', 'A'-'D'; lower-case letters accepted).
pub fn digit_to_event(digit: char) -> Option<u8> {
    let upper = digit.to_ascii_uppercase();
    DIGITS.iter().position(|&d| d == upper).map(|i| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_digit_maps_to_its_event_and_back() {
        for (i, &d) in DIGITS.iter().enumerate() {
            assert_eq!(digit_to_event(d), Some(i as u8));
            assert_eq!(event_to_digit(i as u8), Some(d));
        }
        assert_eq!(digit_to_event('*'), Some(10));
        assert_eq!(digit_to_event('#'), Some(11));
        assert_eq!(digit_to_event('d'), Some(15));
    }

    #[test]
    fn non_dtmf_events_and_characters_have_no_mapping() {
        assert_eq!(event_to_digit(16), None); // flash
        assert_eq!(digit_to_event('E'), None);
        assert_eq!(digit_to_event('x'), None);
    }
}
