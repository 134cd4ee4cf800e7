//! The PIN rules: digits only, a minimum length, and nothing trivial (one repeated digit, a straight run
//! up or down, or the mailbox's own number).

/// Why a PIN is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinProblem {
    /// Something other than digits.
    #[error("a PIN has digits only")]
    NotDigits,
    /// Shorter than the minimum.
    #[error("a PIN needs at least {0} digits")]
    TooShort(usize),
    /// Too easy to guess.
    #[error("that PIN is too easy to guess (one repeated digit, a straight run, or the extension number)")]
    Trivial,
}

/// Check a new PIN for `mailbox`.
pub fn check(pin: &str, min_len: usize, mailbox: &str) -> Result<(), PinProblem> {
    if pin.is_empty() || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinProblem::NotDigits);
    }
    if pin.len() < min_len {
        return Err(PinProblem::TooShort(min_len));
    }
    let d: Vec<i8> = pin.bytes().map(|b| (b - b'0') as i8).collect();
    let all_same = d.windows(2).all(|w| w[0] == w[1]);
    let run = |step: i8| {
        d.windows(2)
            .all(|w| (w[1] - w[0]).rem_euclid(10) == step.rem_euclid(10))
    };
    if all_same || run(1) || run(-1) || pin == mailbox {
        return Err(PinProblem::Trivial);
    }
    Ok(())
}

/// Whether a mailbox whose PIN was never set may open with the default PIN: only from its owner's own
/// authenticated phone (`own_phone`: the call is `*97`), never from `*98`, the pilot or a call from
/// outside, so that the first stranger to try the default cannot choose the PIN and own the mailbox.
pub fn default_pin_opens(own_phone: bool, caller: &str, mailbox: &str) -> bool {
    own_phone && caller == mailbox
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pin_opens_a_mailbox_from_its_owners_own_phone_only() {
        assert!(default_pin_opens(true, "101", "101"));
        assert!(!default_pin_opens(false, "101", "101")); // *98 or the pilot, even from the owner
        assert!(!default_pin_opens(true, "100", "101"));
    }

    #[test]
    fn good_pins_pass() {
        assert_eq!(check("2580", 4, "101"), Ok(()));
        assert_eq!(check("918273", 4, "101"), Ok(()));
    }

    #[test]
    fn trivial_pins_are_refused() {
        for p in ["1111", "1234", "4321", "8901", "0000", "98765"] {
            assert_eq!(check(p, 4, "101"), Err(PinProblem::Trivial), "{p}");
        }
        assert_eq!(check("1010", 4, "1010"), Err(PinProblem::Trivial));
    }

    #[test]
    fn short_and_non_digit_pins_are_refused() {
        assert_eq!(check("258", 4, "101"), Err(PinProblem::TooShort(4)));
        assert_eq!(check("2580", 5, "101"), Err(PinProblem::TooShort(5)));
        assert_eq!(check("25a0", 4, "101"), Err(PinProblem::NotDigits));
        assert_eq!(check("", 4, "101"), Err(PinProblem::NotDigits));
    }
}
