//! The PIN rules: digits only, a minimum length, and nothing trivial (one repeated digit, a straight run
//! up or down, or the mailbox's own number).

/// A PIN as typed on a keypad or given by an administrator: 0 to [`Pin::MAX_LEN`] ASCII digits (an
/// empty entry is a PIN that opens nothing). Its `Debug` never shows the digits, so that no log,
/// command dump or panic message carries one; [`Pin::expose`] is the one way to read them.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    /// The longest PIN stored.
    pub const MAX_LEN: usize = 32;

    /// Digits as entered; `None` unless `s` is at most [`Pin::MAX_LEN`] ASCII digits.
    pub fn new(s: impl Into<String>) -> Option<Pin> {
        let s = s.into();
        (s.len() <= Pin::MAX_LEN && s.bytes().all(|b| b.is_ascii_digit())).then_some(Pin(s))
    }

    /// The empty entry (matches no PIN).
    pub fn empty() -> Pin {
        Pin(String::new())
    }

    /// The digits (to hash, or to compare in constant time).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no digit was entered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(..)")
    }
}

/// Why a PIN is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinProblem {
    /// Something other than digits.
    #[error("a PIN has digits only")]
    NotDigits,
    /// Shorter than the minimum.
    #[error("a PIN needs at least {0} digits")]
    TooShort(usize),
    /// Longer than Parley stores.
    #[error("a PIN has at most {0} digits")]
    TooLong(usize),
    /// Too easy to guess.
    #[error("that PIN is too easy to guess (one repeated digit, a straight run, or the extension number)")]
    Trivial,
}

/// Check a new PIN for `mailbox` against the policy; the PIN it allows.
pub fn check(pin: &str, min_len: usize, mailbox: &str) -> Result<Pin, PinProblem> {
    if pin.is_empty() || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PinProblem::NotDigits);
    }
    let Some(p) = Pin::new(pin) else {
        return Err(PinProblem::TooLong(Pin::MAX_LEN));
    };
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
    Ok(p)
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
        assert!(check("2580", 4, "101").is_ok());
        assert!(check("918273", 4, "101").is_ok());
        assert_eq!(
            check(&"7".repeat(33), 4, "101"),
            Err(PinProblem::TooLong(32))
        );
        assert_eq!(format!("{:?}", check("2580", 4, "101").unwrap()), "Pin(..)");
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
