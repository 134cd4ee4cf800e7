//! An extension number: the one validation of what a phone system's internal number is (2 to 10 digits),
//! used by the store, the web faces and the switch alike. Parse at the edge; hold an [`Extension`] after.

use std::fmt;

/// A valid extension number (2 to 10 ASCII digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Extension(String);

/// Why a string is not an extension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("extension must be 2 to 10 digits, got {0:?}")]
pub struct InvalidExtension(pub String);

impl Extension {
    /// Parse an extension; the error quotes (at most 20 characters of) the input.
    pub fn parse(s: &str) -> Result<Extension, InvalidExtension> {
        if Extension::is_valid(s) {
            Ok(Extension(s.to_string()))
        } else {
            Err(InvalidExtension(s.chars().take(20).collect()))
        }
    }

    /// Whether `s` is a valid extension.
    pub fn is_valid(s: &str) -> bool {
        (2..=10).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Extension {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_two_to_ten_digits() {
        assert!(Extension::parse("10").is_ok());
        assert!(Extension::parse("1234567890").is_ok());
        assert!(Extension::parse("1").is_err());
        assert!(Extension::parse("12345678901").is_err());
        assert!(Extension::parse("10a").is_err());
        assert!(Extension::parse("١٢").is_err());
        let long = "€".repeat(40);
        assert_eq!(Extension::parse(&long).unwrap_err().0.chars().count(), 20);
    }
}
