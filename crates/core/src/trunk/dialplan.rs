//! What a dialled number is when it leaves the building: the outside-line prefix (default `9`, as in
//! the Allworx guide's examples) taken off, the rest parsed with libphonenumber's rules for the home
//! country (the `phonenumber` crate), written in E.164, and classed for the dialling permissions:
//! emergency, national, international, or premium rate. Emergency numbers (`911`, `112`, configurable)
//! are recognised with or without the prefix and go out as dialled.

use std::fmt;

use phonenumber::country;
use phonenumber::{Mode, Type};

/// The longest number taken from a Request-URI for parsing (E.164 has at most 15 digits; an
/// international prefix and the outside-line prefix add a few).
const MAX_DIGITS: usize = 24;

/// What a user may dial outside, from least to most: each class allows those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DialClass {
    /// Extensions only (emergency numbers always go through).
    Internal,
    /// Numbers of the company's own area: the home country's numbers with the national
    /// destination code (area code) of the company's main number.
    Local,
    /// Numbers of the home country.
    National,
    /// Any country.
    International,
}

impl DialClass {
    /// `internal`, `local`/`national`, `international`.
    pub fn parse(s: &str) -> Option<DialClass> {
        match s.trim().to_ascii_lowercase().as_str() {
            "internal" => Some(DialClass::Internal),
            "local" => Some(DialClass::Local),
            "national" => Some(DialClass::National),
            "international" => Some(DialClass::International),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            DialClass::Internal => "internal",
            DialClass::Local => "local",
            DialClass::National => "national",
            DialClass::International => "international",
        }
    }

    /// Whether a number of `class` may be dialled with this permission (`premium`: premium-rate
    /// numbers are allowed on this system).
    pub fn allows(self, class: NumberClass, premium: bool) -> bool {
        match class {
            NumberClass::Emergency => true,
            NumberClass::Premium => premium && self >= DialClass::National,
            NumberClass::Local => self >= DialClass::Local,
            NumberClass::National => self >= DialClass::National,
            NumberClass::International => self >= DialClass::International,
        }
    }
}

impl serde::Serialize for DialClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for DialClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of outside number was dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberClass {
    /// An emergency number: always allowed, never limited.
    Emergency,
    /// In the company's own area (the area code of its main number).
    Local,
    /// Elsewhere in the home country.
    National,
    /// Another country.
    International,
    /// A premium-rate or shared-cost number (refused unless allowed).
    Premium,
}

impl NumberClass {
    /// Its name, for logs, refusals and call records.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberClass::Emergency => "emergency",
            NumberClass::Local => "local",
            NumberClass::National => "national",
            NumberClass::International => "international",
            NumberClass::Premium => "premium-rate",
        }
    }
}

/// An outside number, ready for a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outside {
    /// E.164 with `+` (`+15855550123`), or the emergency number as dialled (`911`).
    pub number: String,
    /// Its class.
    pub class: NumberClass,
    /// The caller asked that the carrier not show its number to the far end (the anonymous prefix,
    /// `*67`, dialled first; never for an emergency call).
    pub anonymous: bool,
}

/// Why a dialled number that meant to go outside cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// Not a number the home country's rules (or any country's) accept.
    #[error("not a valid number")]
    Invalid,
}

/// How numbers are dialled outside.
#[derive(Debug, Clone)]
pub struct Dialplan {
    /// The outside-line prefix (`9`); empty: none (then only `+` numbers and emergency numbers go
    /// out, the rest is internal).
    pub prefix: String,
    /// The home country, for national numbers.
    pub home: country::Id,
    /// Emergency numbers.
    pub emergency: Vec<String>,
    /// Dialled before a number, asks that the caller's number not be shown (`*67`, as in North
    /// America; empty: none).
    pub anonymous_prefix: String,
    /// The company's own area: the national destination code (area code) of its main number
    /// ([`area_of`]); none: every number of the home country is national.
    pub home_area: Option<String>,
}

impl Default for Dialplan {
    fn default() -> Self {
        Dialplan {
            prefix: "9".into(),
            home: country::Id::US,
            emergency: vec!["911".into(), "112".into()],
            anonymous_prefix: "*67".into(),
            home_area: None,
        }
    }
}

/// The national destination code (area code) of a number in E.164 (`585` of `+15855550123`, `30`
/// of `+4930123456`), as libphonenumber finds it: the first group after the country code of its
/// international format; none for a number whose format has no such group.
pub fn area_of(number: &str) -> Option<String> {
    let n = phonenumber::parse(None, number).ok()?;
    let text = n.format().mode(Mode::International).to_string();
    let groups: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    (groups.len() > 2).then(|| groups[1].to_string())
}

/// A home country by its ISO 3166 code (`US`, `DE`).
pub fn country(code: &str) -> Option<country::Id> {
    code.trim().to_ascii_uppercase().parse().ok()
}

impl Dialplan {
    /// What `dialled` (a Request-URI's user part) is outside: `None` when it is not meant to leave
    /// (no prefix, not `+`, not an emergency number: an extension or a feature code).
    pub fn outside(&self, dialled: &str) -> Option<Result<Outside, DialError>> {
        let hidden = (!self.anonymous_prefix.is_empty())
            .then(|| dialled.strip_prefix(self.anonymous_prefix.as_str()))
            .flatten()
            .filter(|rest| !rest.is_empty());
        match hidden {
            Some(rest) => self.outside_shown(rest).map(|r| {
                r.map(|o| Outside {
                    anonymous: o.class != NumberClass::Emergency,
                    ..o
                })
            }),
            None => self.outside_shown(dialled),
        }
    }

    fn outside_shown(&self, dialled: &str) -> Option<Result<Outside, DialError>> {
        if self.emergency.iter().any(|e| e == dialled) {
            return Some(Ok(self.emergency_number(dialled)));
        }
        let rest = if let Some(intl) = dialled.strip_prefix('+') {
            return Some(self.parse(&format!("+{intl}")));
        } else if !self.prefix.is_empty() && dialled.len() > self.prefix.len() {
            dialled.strip_prefix(self.prefix.as_str())?
        } else {
            return None;
        };
        if self.emergency.iter().any(|e| e == rest) {
            return Some(Ok(self.emergency_number(rest)));
        }
        Some(self.parse(rest))
    }

    /// A number as a carrier wrote it (`+15855550100`, `15855550100`, `5855550100`, `0030123456`) in
    /// E.164, if it is one under the home country's rules.
    pub fn e164(&self, number: &str) -> Option<String> {
        if let Ok(o) = self.parse(number) {
            return Some(o.number);
        }
        // A carrier that leaves out the `+` of an international number.
        self.parse(&format!("+{number}")).ok().map(|o| o.number)
    }

    /// `number` (E.164 with `+`, or an emergency number as dialled, which is sent as it is) as a
    /// carrier that wants `format` writes it.
    pub fn format(&self, number: &str, format: super::NumberFormat) -> String {
        use super::NumberFormat;
        let Some(digits) = number.strip_prefix('+') else {
            return number.to_string();
        };
        match format {
            NumberFormat::E164 => number.to_string(),
            NumberFormat::Digits => digits.to_string(),
            NumberFormat::National => {
                let db = &*phonenumber::metadata::DATABASE;
                let Ok(n) = phonenumber::parse(None, number) else {
                    return number.to_string();
                };
                let home = db.by_id(self.home.as_ref());
                if home.is_some_and(|h| h.country_code() == n.code().value()) {
                    // The national form (`(585) 555-0123`, `030 123456`) without its punctuation.
                    return n
                        .format()
                        .mode(Mode::National)
                        .to_string()
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect();
                }
                // Another country: the home country's international prefix, when it has one
                // that is digits (`011`, `00`), else E.164 as it is.
                let prefix = home.and_then(|h| {
                    h.preferred_international_prefix()
                        .or(h.international_prefix().map(|r| r.as_str()))
                        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                });
                match prefix {
                    Some(p) => format!("{p}{digits}"),
                    None => number.to_string(),
                }
            }
        }
    }

    fn emergency_number(&self, n: &str) -> Outside {
        Outside {
            number: n.to_string(),
            class: NumberClass::Emergency,
            anonymous: false,
        }
    }

    fn parse(&self, digits: &str) -> Result<Outside, DialError> {
        let body = digits.strip_prefix('+').unwrap_or(digits);
        if body.is_empty() || body.len() > MAX_DIGITS || !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DialError::Invalid);
        }
        let n = phonenumber::parse(Some(self.home), digits).map_err(|_| DialError::Invalid)?;
        if !phonenumber::is_valid(&n) {
            return Err(DialError::Invalid);
        }
        // The region, not the country calling code: +1 is shared by the whole North American
        // numbering plan (Jamaica's 876, the Dominican Republic's 809: the classic toll-fraud
        // destinations), and +7 by Russia and Kazakhstan.
        let number = n.format().mode(Mode::E164).to_string();
        let class = match n.number_type(&phonenumber::metadata::DATABASE) {
            Type::PremiumRate | Type::SharedCost => NumberClass::Premium,
            _ if n.country().id() == Some(self.home) => {
                if self.home_area.is_some() && area_of(&number) == self.home_area {
                    NumberClass::Local
                } else {
                    NumberClass::National
                }
            }
            _ => NumberClass::International,
        };
        // libphonenumber accepts some numbers longer than E.164 allows (15 digits); a carrier
        // would not.
        if number.len() > 16 {
            return Err(DialError::Invalid);
        }
        Ok(Outside {
            number,
            class,
            anonymous: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(plan: &Dialplan, d: &str) -> Option<Result<Outside, DialError>> {
        plan.outside(d)
    }

    fn ok(number: &str, class: NumberClass) -> Option<Result<Outside, DialError>> {
        Some(Ok(Outside {
            number: number.into(),
            class,
            anonymous: false,
        }))
    }

    #[test]
    fn the_prefix_national_and_international_forms_become_e164_with_their_class() {
        let us = Dialplan::default();
        assert_eq!(
            out(&us, "95855550123"),
            ok("+15855550123", NumberClass::National)
        );
        assert_eq!(
            out(&us, "915855550123"),
            ok("+15855550123", NumberClass::National)
        );
        assert_eq!(
            out(&us, "9011442079460123"),
            ok("+442079460123", NumberClass::International)
        );
        assert_eq!(
            out(&us, "+442079460123"),
            ok("+442079460123", NumberClass::International)
        );
        assert_eq!(
            out(&us, "99005550123"),
            ok("+19005550123", NumberClass::Premium)
        );
        // Emergency numbers with or without the prefix, as dialled.
        assert_eq!(out(&us, "911"), ok("911", NumberClass::Emergency));
        assert_eq!(out(&us, "9911"), ok("911", NumberClass::Emergency));
        assert_eq!(out(&us, "112"), ok("112", NumberClass::Emergency));
        // The anonymous prefix hides the caller's number, never an emergency caller's.
        let hidden = |n: &str| {
            Some(Ok(Outside {
                anonymous: true,
                ..out(&us, n).unwrap().unwrap()
            }))
        };
        assert_eq!(out(&us, "*6795855550123"), hidden("95855550123"));
        assert_eq!(out(&us, "*67+442079460123"), hidden("+442079460123"));
        assert_eq!(out(&us, "*67911"), ok("911", NumberClass::Emergency));
        assert_eq!(out(&us, "*679911"), ok("911", NumberClass::Emergency));
        assert_eq!(out(&us, "*67"), None, "the prefix alone is a feature code");
        assert_eq!(out(&us, "*67101"), None, "an extension stays inside");
        // Extensions and feature codes stay inside.
        for internal in ["101", "*97", "9", "4081", ""] {
            assert_eq!(out(&us, internal), None, "{internal:?}");
        }
        // Meant to go out, but not a number.
        for bad in [
            "9123",
            "9abc",
            "9+1",
            &format!("9{}", "5".repeat(40)),
            "+",
            "+1x",
        ] {
            assert_eq!(out(&us, bad), Some(Err(DialError::Invalid)), "{bad:?}");
        }
        // Germany, no prefix: national numbers with the trunk prefix 0, international with 00.
        let de = Dialplan {
            prefix: String::new(),
            home: country("de").unwrap(),
            emergency: vec!["112".into()],
            anonymous_prefix: String::new(),
            home_area: None,
        };
        assert_eq!(
            out(&de, "030123456"),
            None,
            "without a prefix only + numbers go out"
        );
        assert_eq!(
            out(&de, "+4930123456"),
            ok("+4930123456", NumberClass::National)
        );
        assert_eq!(
            out(&de, "+15855550123"),
            ok("+15855550123", NumberClass::International)
        );
        let de9 = Dialplan {
            prefix: "0".into(),
            ..de
        };
        assert_eq!(
            out(&de9, "0030123456"),
            ok("+4930123456", NumberClass::National)
        );
        assert_eq!(
            out(&de9, "00015855550123"),
            ok("+15855550123", NumberClass::International)
        );
    }

    #[test]
    fn numbers_are_written_as_the_carrier_wants_them() {
        use crate::trunk::NumberFormat::*;
        let us = Dialplan::default();
        let de = Dialplan {
            home: country("de").unwrap(),
            ..Dialplan::default()
        };
        let cases = [
            (&us, "+15855550123", E164, "+15855550123"),
            (&us, "+15855550123", Digits, "15855550123"),
            (&us, "+15855550123", National, "5855550123"),
            // Canada shares the calling code: dialled from the US as a national number.
            (&us, "+14165550123", National, "4165550123"),
            (&us, "+442079460123", National, "011442079460123"),
            (&us, "911", National, "911"),
            (&us, "911", Digits, "911"),
            (&de, "+4930123456", National, "030123456"),
            (&de, "+442079460123", National, "00442079460123"),
            (&de, "+4930123456", Digits, "4930123456"),
        ];
        for (plan, n, f, want) in cases {
            assert_eq!(plan.format(n, f), want, "{n} {f:?} from {:?}", plan.home);
            // What a carrier sends back in the same format reads as the same number.
            if n.starts_with('+') {
                assert_eq!(plan.e164(want).as_deref(), Some(n), "{want} read back");
            }
        }
    }

    #[test]
    fn numbers_as_carriers_write_them_become_e164() {
        let us = Dialplan::default();
        for n in ["+15855550100", "15855550100", "5855550100"] {
            assert_eq!(us.e164(n).as_deref(), Some("+15855550100"), "{n}");
        }
        assert_eq!(us.e164("4930123456").as_deref(), Some("+4930123456"));
        for bad in ["", "anonymous", "123", "+", &"9".repeat(30)] {
            assert_eq!(us.e164(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_area_of_the_main_number_makes_its_numbers_local() {
        assert_eq!(area_of("+15855550100").as_deref(), Some("585"));
        assert_eq!(area_of("+4930123456").as_deref(), Some("30"));
        assert_eq!(area_of("+442079460123").as_deref(), Some("20"));
        assert_eq!(area_of("nonsense"), None);
        let us = Dialplan {
            home_area: area_of("+15855550100"),
            ..Dialplan::default()
        };
        assert_eq!(
            out(&us, "95855550123"),
            ok("+15855550123", NumberClass::Local)
        );
        assert_eq!(
            out(&us, "915855550123"),
            ok("+15855550123", NumberClass::Local)
        );
        assert_eq!(
            out(&us, "97165550123"),
            ok("+17165550123", NumberClass::National)
        );
        // Without a main number there is no area: the home country's numbers are national.
        assert_eq!(
            out(&Dialplan::default(), "95855550123"),
            ok("+15855550123", NumberClass::National)
        );
    }

    #[test]
    fn dial_classes_allow_what_they_name_and_emergency_always() {
        use NumberClass::*;
        let c = DialClass::parse("internal").unwrap();
        assert!(c.allows(Emergency, false) && !c.allows(National, false));
        assert!(!c.allows(Local, false));
        let c = DialClass::parse("LOCAL").unwrap();
        assert_eq!(c, DialClass::Local);
        assert!(c.allows(Local, false) && c.allows(Emergency, false));
        assert!(!c.allows(National, false) && !c.allows(Premium, true));
        let c = DialClass::parse("national").unwrap();
        assert!(c.allows(Local, false) && c.allows(National, false));
        assert!(!c.allows(International, false));
        assert!(!c.allows(Premium, false) && c.allows(Premium, true));
        let c = DialClass::parse("international").unwrap();
        assert!(c.allows(International, false) && !c.allows(Premium, false));
        assert_eq!(DialClass::parse("everything"), None);
        assert!(!DialClass::Internal.allows(Premium, true));
    }
}
