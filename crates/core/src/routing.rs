//! Where a call to a user goes: one model that both vendors' editors write to. A user has a current
//! [`Presence`] (Allworx's seven) and a [`CallRoute`] per presence: connection attempts in order,
//! each ringing one or more destinations at once for a while, then the **Finally** route (voicemail by
//! default, another extension, or hang up). A user who never set a route has today's behaviour: ring
//! the user's handsets for the system's no-answer time, then voicemail. The switch asks
//! [`Routing::route`] for the route of the next call; the plan is data, the switch carries it out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::extension::Extension;

/// At most this many connection attempts in one route.
pub const MAX_ATTEMPTS: usize = 8;
/// At most this many destinations rung at once in one attempt.
pub const MAX_DESTINATIONS: usize = 8;
/// The shortest and longest time one attempt rings, in seconds.
pub const RING_SECS: std::ops::RangeInclusive<u32> = 5..=300;
/// At most this many times one call is forwarded from user to user (a Finally route to another
/// extension whose route forwards back): past it the call goes to the last user's voicemail.
pub const MAX_HOPS: u32 = 5;

/// A user's presence (Allworx's seven), which chooses the call route of the next call.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    /// In Office (the default).
    #[default]
    InOffice,
    /// At A Meeting.
    AtAMeeting,
    /// On Vacation.
    OnVacation,
    /// On Business Trip.
    OnBusinessTrip,
    /// At Home.
    AtHome,
    /// Away.
    Away,
    /// Busy.
    Busy,
}

impl Presence {
    /// Every presence, in the seed's order.
    pub const ALL: [Presence; 7] = [
        Presence::InOffice,
        Presence::AtAMeeting,
        Presence::OnVacation,
        Presence::OnBusinessTrip,
        Presence::AtHome,
        Presence::Away,
        Presence::Busy,
    ];

    /// Its stored name (`in-office`, `at-a-meeting`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::InOffice => "in-office",
            Presence::AtAMeeting => "at-a-meeting",
            Presence::OnVacation => "on-vacation",
            Presence::OnBusinessTrip => "on-business-trip",
            Presence::AtHome => "at-home",
            Presence::Away => "away",
            Presence::Busy => "busy",
        }
    }

    /// Its name as users read it ("In Office", "At A Meeting", …).
    pub fn label(self) -> &'static str {
        match self {
            Presence::InOffice => "In Office",
            Presence::AtAMeeting => "At A Meeting",
            Presence::OnVacation => "On Vacation",
            Presence::OnBusinessTrip => "On Business Trip",
            Presence::AtHome => "At Home",
            Presence::Away => "Away",
            Presence::Busy => "Busy",
        }
    }

    /// A presence by its stored name or its label, in any case.
    pub fn parse(s: &str) -> Option<Presence> {
        let s = s.trim();
        Presence::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s) || p.label().eq_ignore_ascii_case(s))
    }

    /// Its number on the phone's feature code (`*80` + 1-7: In Office is 1).
    pub fn digit(self) -> char {
        let i = Presence::ALL.iter().position(|p| *p == self).unwrap_or(0);
        char::from(b'1' + i as u8)
    }

    /// The presence a feature-code digit names.
    pub fn from_digit(d: char) -> Option<Presence> {
        let i = d.to_digit(10)?.checked_sub(1)? as usize;
        Presence::ALL.get(i).copied()
    }
}

impl fmt::Display for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What one connection attempt rings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "extension", rename_all = "kebab-case")]
pub enum Destination {
    /// The user's own handsets (every phone registered to the extension).
    Handsets,
    /// Another user's handsets.
    Extension(String),
}

/// One connection attempt: its destinations ring at once, for `ring_secs` (none: the system's
/// no-answer time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// What rings.
    pub destinations: Vec<Destination>,
    /// For how long, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_secs: Option<u32>,
}

impl Attempt {
    /// How long it rings, given the system's no-answer time.
    pub fn ring_for(&self, default: Duration) -> Duration {
        self.ring_secs
            .map_or(default, |s| Duration::from_secs(s.into()))
    }
}

/// Where an unanswered call goes at the end of its route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", content = "extension", rename_all = "kebab-case")]
pub enum Finally {
    /// The user's voicemail (the default).
    #[default]
    Voicemail,
    /// Another user, as if the caller had dialled that extension (its own route applies).
    Extension(String),
    /// The caller hears that nobody is available (480).
    HangUp,
}

/// A call route: connection attempts, then the Finally route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRoute {
    /// Tried in order.
    pub attempts: Vec<Attempt>,
    /// Where the call goes when no attempt was answered.
    #[serde(default)]
    pub finally: Finally,
}

impl Default for CallRoute {
    /// Today's behaviour: the user's handsets for the no-answer time, then voicemail.
    fn default() -> Self {
        CallRoute {
            attempts: vec![Attempt {
                destinations: vec![Destination::Handsets],
                ring_secs: None,
            }],
            finally: Finally::Voicemail,
        }
    }
}

/// Why a route was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Too many attempts.
    #[error("a call route has at most {MAX_ATTEMPTS} connection attempts")]
    Attempts,
    /// An attempt without destinations, or with too many.
    #[error("a connection attempt rings 1 to {MAX_DESTINATIONS} destinations")]
    Destinations,
    /// A ring time out of range.
    #[error("a connection attempt rings {}-{} seconds", RING_SECS.start(), RING_SECS.end())]
    Ring,
    /// An extension that is not one.
    #[error("{0:?} is not an extension")]
    Extension(String),
    /// A destination given twice in one attempt.
    #[error("a destination is given twice in one connection attempt")]
    Twice,
}

impl CallRoute {
    /// Every rule a route meets before it is stored (the extensions it names are checked to exist
    /// by the store).
    pub fn check(&self) -> Result<(), RouteError> {
        if self.attempts.len() > MAX_ATTEMPTS {
            return Err(RouteError::Attempts);
        }
        for a in &self.attempts {
            if a.destinations.is_empty() || a.destinations.len() > MAX_DESTINATIONS {
                return Err(RouteError::Destinations);
            }
            if a.ring_secs.is_some_and(|s| !RING_SECS.contains(&s)) {
                return Err(RouteError::Ring);
            }
            for (i, d) in a.destinations.iter().enumerate() {
                if a.destinations[..i].contains(d) {
                    return Err(RouteError::Twice);
                }
                if let Destination::Extension(e) = d {
                    check_extension(e)?;
                }
            }
        }
        if let Finally::Extension(e) = &self.finally {
            check_extension(e)?;
        }
        Ok(())
    }

    /// The extensions it names (to check that they exist).
    pub fn extensions(&self) -> impl Iterator<Item = &str> {
        let rung = self.attempts.iter().flat_map(|a| {
            a.destinations.iter().filter_map(|d| match d {
                Destination::Extension(e) => Some(e.as_str()),
                Destination::Handsets => None,
            })
        });
        let finally = match &self.finally {
            Finally::Extension(e) => Some(e.as_str()),
            _ => None,
        };
        rung.chain(finally)
    }
}

fn check_extension(e: &str) -> Result<(), RouteError> {
    Extension::parse(e)
        .map(|_| ())
        .map_err(|_| RouteError::Extension(crate::text::printable(e)))
}

/// A user's routing: the current presence and the routes the user set (a presence without one has
/// the default route).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Routing {
    /// The current presence.
    #[serde(default)]
    pub presence: Presence,
    /// The routes set, by presence.
    #[serde(default)]
    pub routes: BTreeMap<Presence, CallRoute>,
}

impl Routing {
    /// The route of the next call: the current presence's.
    pub fn route(&self) -> CallRoute {
        self.routes.get(&self.presence).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_user_rings_the_handsets_then_voicemail_and_presences_have_names_and_digits() {
        let r = Routing::default();
        assert_eq!(r.presence, Presence::InOffice);
        assert_eq!(r.route(), CallRoute::default());
        assert_eq!(r.route().attempts[0].destinations, [Destination::Handsets]);
        for (i, p) in Presence::ALL.into_iter().enumerate() {
            assert_eq!(Presence::parse(p.as_str()), Some(p));
            assert_eq!(Presence::parse(&p.label().to_uppercase()), Some(p));
            assert_eq!(Presence::from_digit(p.digit()), Some(p));
            assert_eq!(p.digit(), char::from(b'1' + i as u8));
        }
        assert_eq!(
            Presence::parse("On Business Trip"),
            Some(Presence::OnBusinessTrip)
        );
        assert_eq!(Presence::from_digit('8'), None);
        assert_eq!(Presence::from_digit('0'), None);
        assert_eq!(Presence::parse("asleep"), None);
    }

    #[test]
    fn routes_are_checked_and_the_presence_chooses_one() {
        let meeting = CallRoute {
            attempts: vec![
                Attempt {
                    destinations: vec![Destination::Handsets, Destination::Extension("102".into())],
                    ring_secs: Some(10),
                },
                Attempt {
                    destinations: vec![Destination::Extension("103".into())],
                    ring_secs: None,
                },
            ],
            finally: Finally::Extension("104".into()),
        };
        assert_eq!(meeting.check(), Ok(()));
        assert_eq!(
            meeting.extensions().collect::<Vec<_>>(),
            ["102", "103", "104"]
        );
        let mut r = Routing::default();
        r.routes.insert(Presence::AtAMeeting, meeting.clone());
        assert_eq!(r.route(), CallRoute::default());
        r.presence = Presence::AtAMeeting;
        assert_eq!(r.route(), meeting);
        let bad = |f: &dyn Fn(&mut CallRoute)| {
            let mut c = meeting.clone();
            f(&mut c);
            c.check().unwrap_err()
        };
        assert_eq!(
            bad(&|c| c.attempts[0].ring_secs = Some(1)),
            RouteError::Ring
        );
        assert_eq!(
            bad(&|c| c.attempts[1].destinations.clear()),
            RouteError::Destinations
        );
        assert_eq!(
            bad(&|c| c.attempts[0].destinations.push(Destination::Handsets)),
            RouteError::Twice
        );
        assert!(matches!(
            bad(&|c| c.finally = Finally::Extension("x\r\n".into())),
            RouteError::Extension(_)
        ));
        assert_eq!(
            bad(&|c| c.attempts = vec![c.attempts[0].clone(); 9]),
            RouteError::Attempts
        );
        // Stored as JSON and read back.
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"at-a-meeting\""), "{text}");
        assert_eq!(serde_json::from_str::<Routing>(&text).unwrap(), r);
    }
}
