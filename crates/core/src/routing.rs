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

    /// The prompt that says its label (`presence-in-office`...).
    pub fn prompt(self) -> &'static str {
        match self {
            Presence::InOffice => "presence-in-office",
            Presence::AtAMeeting => "presence-at-a-meeting",
            Presence::OnVacation => "presence-on-vacation",
            Presence::OnBusinessTrip => "presence-on-business-trip",
            Presence::AtHome => "presence-at-home",
            Presence::Away => "presence-away",
            Presence::Busy => "presence-busy",
        }
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
    /// Follow-Me: a number outside (E.164), called through a trunk as the user would dial it,
    /// showing the company's central number; the person answering hears who is calling and must
    /// press 1 to take the call (2 declines), so that a mobile's own voicemail never takes it.
    Number(String),
}

impl Destination {
    /// A destination as a person writes it: `handsets`, a number outside in E.164 (`+1 585 555
    /// 0123`), or an extension.
    pub fn to(target: &str) -> Destination {
        let t = target.trim();
        if t.eq_ignore_ascii_case("handsets") {
            return Destination::Handsets;
        }
        match Finally::to(t) {
            Finally::Number(n) => Destination::Number(n),
            _ => Destination::Extension(t.to_string()),
        }
    }
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
    /// A number outside (E.164, `+` and digits), called through a trunk as the user would dial it
    /// (the user's dialling class and outside-call limits apply), showing the company's central
    /// number; if it cannot be called, the user's voicemail.
    Number(String),
    /// Callisto's "Voicemail with Transfer": the user's voicemail, whose greeting offers the caller
    /// `0` instead of leaving a message, to be transferred to this extension or number.
    VoicemailTransfer(String),
    /// The caller hears that nobody is available (480).
    HangUp,
}

impl Finally {
    /// The Finally route to `target` as a person writes it: an outside number in E.164 (`+1 585
    /// 555 0123`: spaces, dashes, dots and parentheses are dropped) or an extension.
    pub fn to(target: &str) -> Finally {
        let t = target.trim();
        if t.starts_with('+') {
            Finally::Number(
                t.chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
                    .collect(),
            )
        } else {
            Finally::Extension(t.to_string())
        }
    }

    /// What it goes to, as [`Finally::to`] reads it: the extension or the number.
    pub fn target(&self) -> Option<&str> {
        match self {
            Finally::Extension(t) | Finally::Number(t) | Finally::VoicemailTransfer(t) => Some(t),
            Finally::Voicemail | Finally::HangUp => None,
        }
    }
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
    /// A caller number pattern that is not digits and `*`.
    #[error("{0:?} is not a caller number pattern: digits, with * for any digits (585*)")]
    Pattern(String),
    /// Too many Caller-ID routes.
    #[error("at most {MAX_CALLER_ROUTES} Caller-ID routes per presence")]
    Callers,
    /// An outside number that is not one.
    #[error(
        "{0:?} is not an outside number: + and the country code, then the number (+1 585 555 0123)"
    )]
    Number(String),
    /// More than one number outside among a route's connection attempts.
    #[error("a call route rings at most one number outside (Follow-Me)")]
    Numbers,
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
                match d {
                    Destination::Extension(e) => check_extension(e)?,
                    Destination::Number(n) => check_number(n)?,
                    Destination::Handsets => {}
                }
            }
        }
        // One number outside at most: one screened leg at a time, and one outside call per route.
        let mut numbers = self
            .attempts
            .iter()
            .flat_map(|a| &a.destinations)
            .filter_map(|d| match d {
                Destination::Number(n) => Some(n),
                _ => None,
            })
            .collect::<Vec<_>>();
        numbers.sort();
        numbers.dedup();
        if numbers.len() > 1 {
            return Err(RouteError::Numbers);
        }
        match &self.finally {
            Finally::Extension(e) => check_extension(e)?,
            Finally::Number(n) => check_number(n)?,
            Finally::VoicemailTransfer(t) if t.starts_with('+') => check_number(t)?,
            Finally::VoicemailTransfer(e) => check_extension(e)?,
            Finally::Voicemail | Finally::HangUp => {}
        }
        Ok(())
    }

    /// The extensions it names (to check that they exist).
    pub fn extensions(&self) -> impl Iterator<Item = &str> {
        let rung = self.attempts.iter().flat_map(|a| {
            a.destinations.iter().filter_map(|d| match d {
                Destination::Extension(e) => Some(e.as_str()),
                Destination::Handsets | Destination::Number(_) => None,
            })
        });
        let finally = match &self.finally {
            Finally::Extension(e) => Some(e.as_str()),
            Finally::VoicemailTransfer(e) if !e.starts_with('+') => Some(e.as_str()),
            _ => None,
        };
        rung.chain(finally)
    }
}

/// A destination (an extension or a number outside) as a person writes it, the way routes keep it:
/// a number's spaces, dashes, dots and parentheses dropped, an extension trimmed.
pub fn target(text: &str) -> String {
    Finally::to(text).target().unwrap_or_default().to_string()
}

/// E.164: `+`, then 7 to 15 digits, the first not 0.
fn check_number(n: &str) -> Result<(), RouteError> {
    let digits = n.strip_prefix('+').unwrap_or("");
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(())
    } else {
        Err(RouteError::Number(crate::text::printable(n)))
    }
}

fn check_extension(e: &str) -> Result<(), RouteError> {
    Extension::parse(e)
        .map(|_| ())
        .map_err(|_| RouteError::Extension(crate::text::printable(e)))
}

/// At most this many Caller-ID routes per presence.
pub const MAX_CALLER_ROUTES: usize = 32;

/// Which callers a Caller-ID route is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum CallerMatch {
    /// Callers from outside whose number matches: digits, with `*` standing for any digits
    /// (`5854213850`, `585*`, `*`), compared with the number in E.164 without its `+` and in its
    /// national form, so that `585*` and `1585*` both find +1 585 numbers.
    External(String),
    /// Calls from this extension's phones.
    Internal(String),
}

impl CallerMatch {
    /// Whether a caller (`external`: from a trunk, `forms`: the number as E.164 digits and in
    /// national form; else the calling extension in `forms[0]`) is one this route is for.
    pub fn matches(&self, external: bool, forms: &[&str]) -> bool {
        match self {
            CallerMatch::External(pattern) => external && forms.iter().any(|f| glob(pattern, f)),
            CallerMatch::Internal(ext) => !external && forms.first() == Some(&ext.as_str()),
        }
    }

    fn check(&self) -> Result<(), RouteError> {
        match self {
            CallerMatch::External(p) => {
                let ok = !p.is_empty()
                    && p.len() <= 20
                    && p.bytes().all(|b| b.is_ascii_digit() || b == b'*');
                if ok {
                    Ok(())
                } else {
                    Err(RouteError::Pattern(crate::text::printable(p)))
                }
            }
            CallerMatch::Internal(e) => check_extension(e),
        }
    }
}

/// `*` for any run of characters, everything else itself; whole string.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // Iterative matching with one backtrack point (patterns are at most 20 bytes).
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && p[i] != b'*' && p[i] == t[j] {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&b| b == b'*')
}

/// A route for some callers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerRoute {
    /// Which callers.
    pub caller: CallerMatch,
    /// Their route.
    pub route: CallRoute,
}

/// Who is calling, as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// From outside (a trunk).
    pub external: bool,
    /// The calling extension, or the number in E.164 without `+` and in national form.
    pub forms: &'a [&'a str],
}

/// A user's routing: the current presence and the routes the user set (a presence without one has
/// the default route), with, per presence, the On-Busy route and the Caller-ID routes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Routing {
    /// The current presence.
    #[serde(default)]
    pub presence: Presence,
    /// The routes set, by presence.
    #[serde(default)]
    pub routes: BTreeMap<Presence, CallRoute>,
    /// The On-Busy routes, by presence: used instead of the whole route while the user is on a
    /// call.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_busy: BTreeMap<Presence, CallRoute>,
    /// The Caller-ID routes, by presence, tried in order before the presence's route.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub callers: BTreeMap<Presence, Vec<CallerRoute>>,
}

impl Routing {
    /// The route of the next call: the current presence's.
    pub fn route(&self) -> CallRoute {
        self.routes.get(&self.presence).cloned().unwrap_or_default()
    }

    /// The route of a call from `caller` with the user `busy` (on a call): the presence's On-Busy
    /// route if there is one and the user is busy, else its first Caller-ID route that takes the
    /// caller, else its route.
    pub fn route_for(&self, caller: Caller<'_>, busy: bool) -> (CallRoute, Chosen) {
        if busy {
            if let Some(r) = self.on_busy.get(&self.presence) {
                return (r.clone(), Chosen::OnBusy);
            }
        }
        let by_caller = self.callers.get(&self.presence).and_then(|list| {
            list.iter()
                .find(|c| c.caller.matches(caller.external, caller.forms))
        });
        match by_caller {
            Some(c) => (c.route.clone(), Chosen::Caller),
            None => (self.route(), Chosen::Presence),
        }
    }

    /// Every rule of its routes.
    pub fn check(&self) -> Result<(), RouteError> {
        for r in self.routes.values().chain(self.on_busy.values()) {
            r.check()?;
        }
        for list in self.callers.values() {
            if list.len() > MAX_CALLER_ROUTES {
                return Err(RouteError::Callers);
            }
            for c in list {
                c.caller.check()?;
                c.route.check()?;
            }
        }
        Ok(())
    }

    /// Every extension its routes name.
    pub fn extensions(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .routes
            .values()
            .chain(self.on_busy.values())
            .flat_map(CallRoute::extensions)
            .collect();
        for c in self.callers.values().flatten() {
            out.extend(c.route.extensions());
            if let CallerMatch::Internal(e) = &c.caller {
                out.push(e);
            }
        }
        out
    }
}

/// Which of a user's routes a call took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// The presence's route.
    Presence,
    /// The On-Busy route.
    OnBusy,
    /// A Caller-ID route.
    Caller,
}

/// Callisto's forwarding of one call-diversion state (seed 000).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTo {
    /// "No Forwarding": the phone is called directly.
    NoForwarding,
    /// "Voicemail": to the user's voice mail box.
    Voicemail,
    /// "To Number": to another extension, or to a number outside (`+` and the country code).
    Number(String),
    /// "Voicemail with Transfer": to voicemail, whose greeting offers `0` to be transferred to
    /// this extension or number instead of leaving a message.
    VoicemailTransfer(String),
    /// "Mobile Connect": to a number outside that is offered the call (the caller's number said,
    /// press 1 to take it), the company's central number shown; not taken: voicemail. The same
    /// leg as Allworx's Follow-Me, in an attempt of its own.
    MobileConnect(String),
}

/// The connection attempt of Mobile Connect to `number`.
fn mobile_attempt(number: &str) -> Attempt {
    Attempt {
        destinations: vec![Destination::Number(number.to_string())],
        ring_secs: None,
    }
}

/// The number a route of Mobile Connect alone offers the call to (that attempt, then voicemail).
fn mobile_of(route: &CallRoute) -> Option<String> {
    match (route.attempts.as_slice(), &route.finally) {
        ([a], Finally::Voicemail) if a.ring_secs.is_none() => match a.destinations.as_slice() {
            [Destination::Number(n)] => Some(n.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Callisto's forwarding settings (Unconditional, Busy, No Answer with "Forward after N seconds"):
/// a simpler editor of the current presence's routes. Unconditional replaces the route (no attempt,
/// straight to its target), Busy is the On-Busy route, No Answer sets the first attempt's ring time
/// and the Finally route ("No Forwarding" there: the phones ring for the longest time a route
/// allows, then the caller hears that nobody is available).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// Unconditional.
    pub unconditional: ForwardTo,
    /// Busy.
    pub busy: ForwardTo,
    /// No Answer.
    pub no_answer: ForwardTo,
    /// "Forward after N seconds" (No Answer only; none: the system's no-answer time).
    pub after_secs: Option<u32>,
    /// The routes hold more than these settings can say (set in My Extension): saving them
    /// replaces those routes.
    pub custom: bool,
}

fn handsets_only_attempt(a: &Attempt) -> bool {
    a.destinations == [Destination::Handsets]
}

fn forward_of(finally: &Finally) -> ForwardTo {
    match finally {
        Finally::Voicemail => ForwardTo::Voicemail,
        Finally::Extension(e) | Finally::Number(e) => ForwardTo::Number(e.clone()),
        Finally::VoicemailTransfer(t) => ForwardTo::VoicemailTransfer(t.clone()),
        Finally::HangUp => ForwardTo::NoForwarding,
    }
}

/// The route that sends every call straight to `to` (none for No Forwarding).
fn straight_to(to: &ForwardTo) -> Option<CallRoute> {
    let finally = match to {
        ForwardTo::NoForwarding => return None,
        ForwardTo::Voicemail => Finally::Voicemail,
        ForwardTo::Number(e) => Finally::to(e),
        ForwardTo::VoicemailTransfer(t) => Finally::VoicemailTransfer(target(t)),
        ForwardTo::MobileConnect(n) => {
            return Some(CallRoute {
                attempts: vec![mobile_attempt(n)],
                finally: Finally::Voicemail,
            })
        }
    };
    Some(CallRoute {
        attempts: Vec::new(),
        finally,
    })
}

impl Routing {
    /// The current presence's routes as Callisto's forwarding settings.
    pub fn forwarding(&self) -> Forwarding {
        let route = self.route();
        let handsets_only =
            route.attempts.len() == 1 && route.attempts[0].destinations == [Destination::Handsets];
        // No Answer to Mobile Connect: the phones, then the mobile, then voicemail.
        let no_answer_mobile = match (route.attempts.as_slice(), &route.finally) {
            ([first, second], Finally::Voicemail) if handsets_only_attempt(first) => {
                mobile_of(&CallRoute {
                    attempts: vec![second.clone()],
                    finally: Finally::Voicemail,
                })
            }
            _ => None,
        };
        let (unconditional, no_answer, after_secs, plain) = if let Some(n) = mobile_of(&route) {
            (
                ForwardTo::MobileConnect(n),
                ForwardTo::Voicemail,
                None,
                true,
            )
        } else if let Some(n) = no_answer_mobile {
            (
                ForwardTo::NoForwarding,
                ForwardTo::MobileConnect(n),
                route.attempts[0].ring_secs,
                true,
            )
        } else if route.attempts.is_empty() {
            (forward_of(&route.finally), ForwardTo::Voicemail, None, true)
        } else {
            let secs = route.attempts[0].ring_secs;
            let no_answer = match (&route.finally, secs) {
                // No Forwarding: the longest ring, then nobody.
                (Finally::HangUp, Some(s)) if s == *RING_SECS.end() => ForwardTo::NoForwarding,
                (f, _) => forward_of(f),
            };
            let after = match no_answer {
                ForwardTo::NoForwarding => None,
                _ => secs,
            };
            let plain = handsets_only
                && !(matches!(route.finally, Finally::HangUp)
                    && no_answer != ForwardTo::NoForwarding);
            (ForwardTo::NoForwarding, no_answer, after, plain)
        };
        let busy_route = self.on_busy.get(&self.presence);
        let (busy, busy_plain) = match (busy_route, busy_route.and_then(mobile_of)) {
            (None, _) => (ForwardTo::NoForwarding, true),
            (Some(_), Some(n)) => (ForwardTo::MobileConnect(n), true),
            (Some(r), None) => (
                forward_of(&r.finally),
                r.attempts.is_empty() && r.finally != Finally::HangUp,
            ),
        };
        let callers = self
            .callers
            .get(&self.presence)
            .is_some_and(|c| !c.is_empty());
        Forwarding {
            unconditional,
            busy,
            no_answer,
            after_secs,
            custom: !plain || !busy_plain || callers,
        }
    }

    /// Apply Callisto's forwarding settings to the current presence's routes (its Caller-ID
    /// routes are left as they are).
    pub fn set_forwarding(&mut self, f: &Forwarding) {
        let route = match straight_to(&f.unconditional) {
            Some(r) => r,
            None => {
                let (finally, ring_secs) = match &f.no_answer {
                    ForwardTo::NoForwarding => (Finally::HangUp, Some(*RING_SECS.end())),
                    other => (
                        straight_to(other).map(|r| r.finally).unwrap_or_default(),
                        f.after_secs,
                    ),
                };
                let mut attempts = vec![Attempt {
                    destinations: vec![Destination::Handsets],
                    ring_secs,
                }];
                if let ForwardTo::MobileConnect(n) = &f.no_answer {
                    attempts.push(mobile_attempt(n));
                }
                CallRoute { attempts, finally }
            }
        };
        if route == CallRoute::default() {
            self.routes.remove(&self.presence);
        } else {
            self.routes.insert(self.presence, route);
        }
        match straight_to(&f.busy) {
            Some(r) => {
                self.on_busy.insert(self.presence, r);
            }
            None => {
                self.on_busy.remove(&self.presence);
            }
        }
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
    fn the_on_busy_route_then_caller_id_routes_then_the_presence_route() {
        let to = |e: &str| CallRoute {
            attempts: vec![Attempt {
                destinations: vec![Destination::Extension(e.into())],
                ring_secs: None,
            }],
            finally: Finally::Voicemail,
        };
        let mut r = Routing::default();
        r.routes.insert(Presence::InOffice, to("102"));
        r.callers.insert(
            Presence::InOffice,
            vec![
                CallerRoute {
                    caller: CallerMatch::External("5854213850".into()),
                    route: to("103"),
                },
                CallerRoute {
                    caller: CallerMatch::External("585*".into()),
                    route: to("104"),
                },
                CallerRoute {
                    caller: CallerMatch::Internal("100".into()),
                    route: to("105"),
                },
            ],
        );
        let first = |r: &Routing, external, forms: &[&str], busy| {
            let (route, chosen) = r.route_for(Caller { external, forms }, busy);
            match &route.attempts[0].destinations[0] {
                Destination::Extension(e) | Destination::Number(e) => (e.clone(), chosen),
                Destination::Handsets => ("handsets".into(), chosen),
            }
        };
        let out = |n: &'static str, national: &'static str| [n, national];
        assert_eq!(
            first(&r, true, &out("15854213850", "5854213850"), false),
            ("103".into(), Chosen::Caller),
            "exactly"
        );
        assert_eq!(
            first(&r, true, &out("15855550199", "5855550199"), false),
            ("104".into(), Chosen::Caller),
            "585*"
        );
        assert_eq!(
            first(&r, true, &out("442079460123", "02079460123"), false),
            ("102".into(), Chosen::Presence),
            "nobody's: the presence route"
        );
        assert_eq!(
            first(&r, false, &["100"], false),
            ("105".into(), Chosen::Caller)
        );
        assert_eq!(
            first(&r, false, &["101"], false),
            ("102".into(), Chosen::Presence)
        );
        assert_eq!(
            first(&r, true, &["100"], false),
            ("102".into(), Chosen::Presence),
            "an outside number 100 is no internal caller"
        );
        // Busy, with an On-Busy route: it replaces everything.
        assert_eq!(
            first(&r, false, &["100"], true),
            ("105".into(), Chosen::Caller)
        );
        r.on_busy.insert(Presence::InOffice, to("106"));
        assert_eq!(
            first(&r, false, &["100"], true),
            ("106".into(), Chosen::OnBusy)
        );
        // Another presence has none of these.
        r.presence = Presence::Away;
        assert_eq!(
            first(&r, true, &out("15854213850", "5854213850"), true).0,
            "handsets"
        );
        assert_eq!(r.check(), Ok(()));
        assert_eq!(r.extensions().len(), 6);
        r.callers.get_mut(&Presence::InOffice).unwrap()[1].caller =
            CallerMatch::External("58a".into());
        assert!(matches!(r.check(), Err(RouteError::Pattern(_))));
    }

    #[test]
    fn callisto_forwarding_edits_the_same_routes_and_reads_them_back() {
        let mut r = Routing::default();
        let f = r.forwarding();
        assert_eq!(
            (
                f.unconditional.clone(),
                f.busy.clone(),
                f.no_answer.clone(),
                f.after_secs,
                f.custom
            ),
            (
                ForwardTo::NoForwarding,
                ForwardTo::NoForwarding,
                ForwardTo::Voicemail,
                None,
                false
            ),
            "a new user: the phones, then voicemail"
        );
        let cases = [
            Forwarding {
                unconditional: ForwardTo::Number("102".into()),
                busy: ForwardTo::NoForwarding,
                no_answer: ForwardTo::Voicemail,
                after_secs: None,
                custom: false,
            },
            Forwarding {
                unconditional: ForwardTo::Voicemail,
                busy: ForwardTo::Voicemail,
                no_answer: ForwardTo::Voicemail,
                after_secs: None,
                custom: false,
            },
            Forwarding {
                unconditional: ForwardTo::NoForwarding,
                busy: ForwardTo::Number("103".into()),
                no_answer: ForwardTo::Voicemail,
                after_secs: Some(5),
                custom: false,
            },
            Forwarding {
                unconditional: ForwardTo::NoForwarding,
                busy: ForwardTo::NoForwarding,
                no_answer: ForwardTo::Number("104".into()),
                after_secs: Some(20),
                custom: false,
            },
            Forwarding {
                unconditional: ForwardTo::NoForwarding,
                busy: ForwardTo::NoForwarding,
                no_answer: ForwardTo::NoForwarding,
                after_secs: None,
                custom: false,
            },
            Forwarding {
                unconditional: ForwardTo::MobileConnect("+15855550199".into()),
                busy: ForwardTo::MobileConnect("+15855550199".into()),
                no_answer: ForwardTo::Voicemail,
                after_secs: None,
                custom: false,
            },
            Forwarding {
                unconditional: ForwardTo::NoForwarding,
                busy: ForwardTo::Voicemail,
                no_answer: ForwardTo::MobileConnect("+15855550199".into()),
                after_secs: Some(15),
                custom: false,
            },
            Forwarding {
                unconditional: ForwardTo::VoicemailTransfer("102".into()),
                busy: ForwardTo::VoicemailTransfer("+15855550199".into()),
                no_answer: ForwardTo::Voicemail,
                after_secs: None,
                custom: false,
            },
            Forwarding {
                unconditional: ForwardTo::NoForwarding,
                busy: ForwardTo::NoForwarding,
                no_answer: ForwardTo::VoicemailTransfer("102".into()),
                after_secs: Some(10),
                custom: false,
            },
        ];
        for f in cases {
            r.set_forwarding(&f);
            assert_eq!(r.check(), Ok(()));
            assert_eq!(r.forwarding(), f, "{:?}", r);
        }
        // Unconditional to 102: no attempt, straight there.
        r.set_forwarding(&Forwarding {
            unconditional: ForwardTo::Number("102".into()),
            busy: ForwardTo::NoForwarding,
            no_answer: ForwardTo::Voicemail,
            after_secs: None,
            custom: false,
        });
        assert!(r.route().attempts.is_empty());
        assert_eq!(r.route().finally, Finally::Extension("102".into()));
        // No Answer after 5 s to voicemail: the handsets for 5 s.
        r.set_forwarding(&Forwarding {
            unconditional: ForwardTo::NoForwarding,
            busy: ForwardTo::NoForwarding,
            no_answer: ForwardTo::Voicemail,
            after_secs: Some(5),
            custom: false,
        });
        assert_eq!(r.route().attempts[0].ring_secs, Some(5));
        // A route from My Extension that Callisto cannot show is flagged.
        r.routes.get_mut(&Presence::InOffice).unwrap().attempts[0]
            .destinations
            .push(Destination::Extension("102".into()));
        assert!(r.forwarding().custom);
    }

    #[test]
    fn caller_patterns_are_globs_over_the_whole_number() {
        for (p, t, want) in [
            ("*", "123", true),
            ("*", "", true),
            ("585*", "5851234", true),
            ("585*", "1585123", false),
            ("*123", "9999123", true),
            ("5*5", "5123455", true),
            ("5*5", "51234", false),
            ("123", "1234", false),
            ("1**3", "13", true),
        ] {
            assert_eq!(glob(p, t), want, "{p} {t}");
        }
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
        for n in [
            "+0123456789",
            "+1",
            "+1234567890123456",
            "+1585x550123",
            "5855550123",
        ] {
            let f = Finally::Number(n.into());
            assert!(
                matches!(bad(&|c| c.finally = f.clone()), RouteError::Number(_)),
                "{n}"
            );
        }
        // A number as a person writes it is a Finally route outside; digits alone an extension.
        assert_eq!(
            Finally::to(" +1 (585) 555-0123 "),
            Finally::Number("+15855550123".into())
        );
        assert_eq!(Finally::to("102"), Finally::Extension("102".into()));
        let mut outside = r.clone();
        outside
            .routes
            .get_mut(&Presence::AtAMeeting)
            .unwrap()
            .finally = Finally::to("+15855550123");
        outside.check().unwrap();
        // Stored as JSON and read back.
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"at-a-meeting\""), "{text}");
        assert_eq!(serde_json::from_str::<Routing>(&text).unwrap(), r);
    }
}
