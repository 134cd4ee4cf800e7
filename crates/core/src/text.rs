//! Text from strangers as it may appear in a log line or the audit output: control characters
//! (newlines, escape sequences, NUL) are written as escapes, so that a log-in name, a Callisto
//! parameter or a SIP display name can neither forge a log line nor steer a terminal; long text is cut.

use std::fmt;

/// Most characters of untrusted text written to a log line (the rest is cut, with `…`).
pub const LOG_TEXT_LIMIT: usize = 128;

/// Displays untrusted text safely: control characters escaped (`\n`, `\u{1b}`), cut after
/// [`LOG_TEXT_LIMIT`] characters. Printable Unicode is kept as it is.
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == LOG_TEXT_LIMIT {
                return f.write_str("…");
            }
            if is_unsafe(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Untrusted text made safe for a log line, as a `String` (cut after [`LOG_TEXT_LIMIT`]).
pub fn printable(s: &str) -> String {
    Printable(s).to_string()
}

/// Untrusted text with its control characters escaped, whole (for the audit log, whose lines are
/// shown in terminals and pages).
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202e}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_is_cut() {
        assert_eq!(printable("100\nFAKE login ok"), "100\\nFAKE login ok");
        assert_eq!(printable("\u{1b}[31mred\0"), "\\u{1b}[31mred\\u{0}");
        assert_eq!(printable("Zoë Ångström"), "Zoë Ångström");
        assert_eq!(
            printable(&"x".repeat(500)).chars().count(),
            LOG_TEXT_LIMIT + 1
        );
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(escape_controls(&"y\n".repeat(100)).len(), 300);
    }
}
