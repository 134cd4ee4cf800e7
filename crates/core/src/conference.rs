//! The Conference Center's model (Allworx, "My Conferences"): a conference with its ID, password,
//! description and seats; unscheduled conferences, which the administrator enables or disables;
//! scheduled ones with a date and time in their Creator's time zone (daylight saving included, from
//! the tz database bundled by `jiff`), a duration and a repetition (one time only, or every 1, 7, 14,
//! 21 or 28 days), whose state (Active, Queued, Expired, Canceled) follows from the wall clock and
//! whether anyone is still in them (a conference extends itself while attendees remain); the
//! Conference Center's settings (its extension, seats, how many rooms may be in session at once); and
//! the rooms in session, which the switch keeps to decide who may enter, and which conference a
//! scheduled one that begins ends when every room is in use (the seed's rule: the unscheduled one with
//! the oldest start first, else the one farthest past its scheduled duration; starting an unscheduled
//! conference never ends one). No IO: the wall clock comes in as seconds since the epoch, the store
//! keeps the conferences, the shell mixes the audio.

use std::fmt;
use std::time::Instant;

use thiserror::Error;

use crate::switch::CallId;

/// Longest Conference ID (digits).
pub const ID_MAX_DIGITS: usize = 10;
/// Longest conference password (digits).
pub const PASSWORD_MAX_DIGITS: usize = 20;
/// The unscheduled conferences an installation starts with (Allworx's: ID and password alike).
pub const DEFAULT_UNSCHEDULED: [&str; 4] = ["480", "481", "482", "483"];

/// Why a conference value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConferenceError {
    /// A Conference ID is 1 to 10 digits.
    #[error("a conference ID is 1 to {ID_MAX_DIGITS} digits")]
    BadId,
    /// A password is 1 to 20 digits (attendees key it in).
    #[error("a conference password is 1 to {PASSWORD_MAX_DIGITS} digits")]
    BadPassword,
    /// Not a time zone of the tz database.
    #[error("unknown time zone {0:?} (a tz database name such as America/New_York)")]
    BadTimeZone(String),
    /// A date or time that cannot be read, or that does not exist.
    #[error("{0}")]
    BadTime(String),
    /// Repetition in days: 0, 1, 7, 14, 21 or 28.
    #[error("a conference repeats every 0 (one time only), 1, 7, 14, 21 or 28 days")]
    BadRepeat,
    /// A duration from one minute to one day.
    #[error("a conference lasts from 1 minute to 24 hours")]
    BadDuration,
}

/// The number attendees key in to name a conference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConferenceId(String);

impl ConferenceId {
    /// Checked: 1 to [`ID_MAX_DIGITS`] ASCII digits.
    pub fn new(s: &str) -> Result<ConferenceId, ConferenceError> {
        if s.is_empty() || s.len() > ID_MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConferenceError::BadId);
        }
        Ok(ConferenceId(s.to_string()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConferenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The numeric PIN that admits attendees. Shown to the conference's Creator and Moderators (they hand
/// it out), never logged: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConferencePassword(String);

impl ConferencePassword {
    /// Checked: 1 to [`PASSWORD_MAX_DIGITS`] ASCII digits.
    pub fn new(s: &str) -> Result<ConferencePassword, ConferenceError> {
        if s.is_empty() || s.len() > PASSWORD_MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConferenceError::BadPassword);
        }
        Ok(ConferencePassword(s.to_string()))
    }

    /// The digits (to show the Creator, or to store).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `entered` is this password, in time independent of where they differ.
    pub fn matches(&self, entered: &str) -> bool {
        crate::sip::digest::constant_time_eq(self.0.as_bytes(), entered.as_bytes())
    }
}

impl fmt::Debug for ConferencePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConferencePassword(***)")
    }
}

/// What kind of conference, and whether callers may enter it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Always there; the administrator enables or disables it.
    Unscheduled {
        /// Callers may enter.
        enabled: bool,
    },
    /// Planned by its Creator.
    Scheduled(Schedule),
}

/// How often a scheduled conference repeats (the seed's "Repeat every X days").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeat {
    /// One time only (the default).
    #[default]
    Once,
    /// Every day.
    Daily,
    /// Once a week.
    Weekly,
    /// Every 2 weeks.
    TwoWeeks,
    /// Every 3 weeks.
    ThreeWeeks,
    /// Every 4 weeks.
    FourWeeks,
}

impl Repeat {
    /// Every choice, as the portal lists them.
    pub const ALL: [Repeat; 6] = [
        Repeat::Once,
        Repeat::Daily,
        Repeat::Weekly,
        Repeat::TwoWeeks,
        Repeat::ThreeWeeks,
        Repeat::FourWeeks,
    ];

    /// Days between occurrences (0: one time only).
    pub fn days(self) -> u32 {
        match self {
            Repeat::Once => 0,
            Repeat::Daily => 1,
            Repeat::Weekly => 7,
            Repeat::TwoWeeks => 14,
            Repeat::ThreeWeeks => 21,
            Repeat::FourWeeks => 28,
        }
    }

    /// From days: 0, 1, 7, 14, 21 or 28.
    pub fn from_days(days: u32) -> Result<Repeat, ConferenceError> {
        Repeat::ALL
            .into_iter()
            .find(|r| r.days() == days)
            .ok_or(ConferenceError::BadRepeat)
    }

    /// The seed's words.
    pub fn label(self) -> &'static str {
        match self {
            Repeat::Once => "One time only",
            Repeat::Daily => "Daily",
            Repeat::Weekly => "Once a week",
            Repeat::TwoWeeks => "Every 2 weeks",
            Repeat::ThreeWeeks => "Every 3 weeks",
            Repeat::FourWeeks => "Every 4 weeks",
        }
    }
}

/// When a scheduled conference takes place: its first start, how long, how often, in which time zone
/// (repetitions keep the local time of day across daylight saving changes), and whether it was
/// canceled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The first occurrence's start, seconds since the epoch.
    pub starts_at: i64,
    /// Its length, in seconds.
    pub duration_secs: u32,
    /// How often it repeats.
    pub repeat: Repeat,
    /// The Creator's time zone (a tz database name).
    pub time_zone: String,
    /// When the Creator or a Moderator canceled it (seconds since the epoch).
    pub canceled_at: Option<i64>,
}

/// Longest conference.
pub const MAX_DURATION_SECS: u32 = 24 * 3600;

/// A checked tz database zone.
fn zone(name: &str) -> Result<jiff::tz::TimeZone, ConferenceError> {
    jiff::tz::TimeZone::get(name).map_err(|_| ConferenceError::BadTimeZone(name.to_string()))
}

impl Schedule {
    /// A schedule from what a Creator types: a local date (`2026-12-07`) and time (`10:00`) in time
    /// zone `time_zone`. A local time that a daylight saving change skips is refused; one that occurs
    /// twice is the first.
    pub fn from_local(
        date: &str,
        time: &str,
        time_zone: &str,
        duration_secs: u32,
        repeat: Repeat,
    ) -> Result<Schedule, ConferenceError> {
        let tz = zone(time_zone)?;
        let day: jiff::civil::Date = date
            .trim()
            .parse()
            .map_err(|_| ConferenceError::BadTime(format!("{date:?} is no date (YYYY-MM-DD)")))?;
        let at: jiff::civil::Time = time
            .trim()
            .parse()
            .map_err(|_| ConferenceError::BadTime(format!("{time:?} is no time (HH:MM)")))?;
        let local = day.to_datetime(at);
        let ambiguous = tz.to_ambiguous_zoned(local);
        if matches!(ambiguous.offset(), jiff::tz::AmbiguousOffset::Gap { .. }) {
            return Err(ConferenceError::BadTime(format!(
                "{local} does not exist in {time_zone} (the clocks skip it)"
            )));
        }
        let zoned = ambiguous
            .earlier()
            .map_err(|e| ConferenceError::BadTime(e.to_string()))?;
        let s = Schedule {
            starts_at: zoned.timestamp().as_second(),
            duration_secs,
            repeat,
            time_zone: time_zone.to_string(),
            canceled_at: None,
        };
        s.check()?;
        Ok(s)
    }

    /// The rules a stored schedule meets.
    pub fn check(&self) -> Result<(), ConferenceError> {
        zone(&self.time_zone)?;
        if !(60..=MAX_DURATION_SECS).contains(&self.duration_secs) {
            return Err(ConferenceError::BadDuration);
        }
        Ok(())
    }

    /// The start of occurrence `k` (0: the first): the first's local date and time `k × repeat`
    /// days later, in the time zone.
    pub fn occurrence(&self, k: i64) -> Option<i64> {
        if k == 0 {
            return Some(self.starts_at);
        }
        let days = i64::from(self.repeat.days());
        if days == 0 || k < 0 {
            return None;
        }
        let tz = zone(&self.time_zone).ok()?;
        let first = jiff::Timestamp::from_second(self.starts_at)
            .ok()?
            .to_zoned(tz.clone())
            .datetime();
        let later = first
            .checked_add(jiff::Span::new().days(days.checked_mul(k)?))
            .ok()?;
        let zoned = tz.to_ambiguous_zoned(later).compatible().ok()?;
        Some(zoned.timestamp().as_second())
    }

    /// The occurrence that started last at `now` (its start and scheduled end), if one has.
    pub fn current(&self, now: i64) -> Option<(i64, i64)> {
        let end = |s: i64| s + i64::from(self.duration_secs);
        if now < self.starts_at {
            return None;
        }
        let period = i64::from(self.repeat.days()) * 86_400;
        if period == 0 {
            return Some((self.starts_at, end(self.starts_at)));
        }
        // The estimate by whole days is at most one off (a daylight saving change moves an
        // occurrence by an hour or so).
        let k = (now - self.starts_at) / period;
        [k + 1, k, k - 1]
            .into_iter()
            .filter(|k| *k >= 0)
            .filter_map(|k| self.occurrence(k))
            .find(|s| *s <= now)
            .map(|s| (s, end(s)))
    }

    /// The first occurrence that starts after `now`, if there is one.
    pub fn next(&self, now: i64) -> Option<i64> {
        if now < self.starts_at {
            return Some(self.starts_at);
        }
        let period = i64::from(self.repeat.days()) * 86_400;
        if period == 0 {
            return None;
        }
        let k = (now - self.starts_at) / period;
        (k..k + 3)
            .filter_map(|k| self.occurrence(k))
            .find(|s| *s > now)
    }

    /// A time in the Creator's time zone, as people read it (`2026-12-07 10:00 EST`).
    pub fn local(&self, at: i64) -> String {
        local_time(at, &self.time_zone)
    }
}

impl Schedule {
    /// Its occurrences that overlap `from..to`, as (start, end); at most 500.
    pub fn occurrences(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let len = i64::from(self.duration_secs);
        let mut out = Vec::new();
        if self.canceled_at.is_some() {
            return out;
        }
        let mut at = self
            .current(from)
            .map(|(s, _)| s)
            .or_else(|| self.next(from));
        while let Some(start) = at {
            if start >= to || out.len() >= 500 {
                break;
            }
            if start + len > from {
                out.push((start, start + len));
            }
            at = self.next(start);
        }
        out
    }
}

/// How far ahead conflicts are looked for (eight weeks).
pub const CONFLICT_HORIZON_SECS: i64 = 8 * 7 * 86_400;

/// The scheduled conferences' times over the [`CONFLICT_HORIZON_SECS`] from `now`, worked out once
/// (time-zone arithmetic) for as many conflict checks as needed (a list of conferences checks each
/// against all the others).
#[derive(Debug)]
pub struct Timetable<'a> {
    now: i64,
    entries: Vec<(&'a Conference, Vec<(i64, i64)>)>,
}

impl<'a> Timetable<'a> {
    /// The times of the scheduled conferences among `conferences` (canceled ones take none).
    pub fn new(conferences: &'a [Conference], now: i64) -> Timetable<'a> {
        let until = now + CONFLICT_HORIZON_SECS;
        let entries = conferences
            .iter()
            .filter_map(|c| match &c.kind {
                Kind::Scheduled(s) => Some((c, s.occurrences(now, until))),
                Kind::Unscheduled { .. } => None,
            })
            .collect();
        Timetable { now, entries }
    }

    /// The conferences (other than `except`) whose times overlap `schedule`'s.
    pub fn conflicts(
        &self,
        schedule: &Schedule,
        except: Option<&ConferenceId>,
    ) -> Vec<&'a Conference> {
        let mine = schedule.occurrences(self.now, self.now + CONFLICT_HORIZON_SECS);
        self.entries
            .iter()
            .filter(|(c, _)| Some(&c.id) != except)
            .filter(|(_, times)| overlap(&mine, times))
            .map(|(c, _)| *c)
            .collect()
    }
}

/// Whether two lists of periods in order overlap anywhere.
fn overlap(a: &[(i64, i64)], b: &[(i64, i64)]) -> bool {
    let (mut i, mut j) = (0, 0);
    while let (Some(&(a0, a1)), Some(&(b0, b1))) = (a.get(i), b.get(j)) {
        if a0 < b1 && b0 < a1 {
            return true;
        }
        if a1 <= b1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    false
}

/// The scheduled conferences (other than `except`, not canceled) whose times overlap `new`'s within
/// [`CONFLICT_HORIZON_SECS`] from `now`.
pub fn conflicts<'a>(
    new: &Schedule,
    others: &'a [Conference],
    now: i64,
    except: Option<&ConferenceId>,
) -> Vec<&'a Conference> {
    Timetable::new(others, now).conflicts(new, except)
}

/// The periods within `from..to` when fewer than `limit` scheduled conferences take place (when
/// another may be scheduled without a conflict over rooms), in order.
pub fn available(others: &[Conference], from: i64, to: i64, limit: usize) -> Vec<(i64, i64)> {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for c in others {
        if let Kind::Scheduled(s) = &c.kind {
            for (a, b) in s.occurrences(from, to) {
                edges.push((a.max(from), 1));
                edges.push((b.min(to), -1));
            }
        }
    }
    edges.sort();
    let mut free = Vec::new();
    let (mut busy, mut open_at) = (0i32, Some(from));
    for (t, d) in edges {
        let was_free = (busy as usize) < limit;
        busy += d;
        let is_free = (busy.max(0) as usize) < limit;
        match (was_free, is_free) {
            (true, false) => {
                if let Some(a) = open_at.take() {
                    if t > a {
                        free.push((a, t));
                    }
                }
            }
            (false, true) => open_at = Some(t),
            _ => {}
        }
    }
    if let Some(a) = open_at {
        if to > a {
            free.push((a, to));
        }
    }
    free
}

/// A time (seconds since the epoch) in time zone `zone`, as people read it (`2026-12-07 10:00
/// EST`); the seconds themselves when the zone is unknown.
pub fn local_time(at: i64, zone_name: &str) -> String {
    match (jiff::Timestamp::from_second(at), zone(zone_name)) {
        (Ok(t), Ok(tz)) => t.to_zoned(tz).strftime("%Y-%m-%d %H:%M %Z").to_string(),
        _ => at.to_string(),
    }
}

/// Today's date (`YYYY-MM-DD`) at `now` in time zone `zone` (UTC when unknown).
pub fn local_date(now: i64, zone_name: &str) -> String {
    let tz = zone(zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(now)
        .map(|t| t.to_zoned(tz).date().to_string())
        .unwrap_or_default()
}

/// A conference's state as the portal shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A scheduled conference available for attendees to join (from its start until its duration is
    /// reached and all attendees have left).
    Active,
    /// A scheduled conference waiting for its start.
    Queued,
    /// A scheduled conference past its duration with nobody in it, and no repetition to come.
    Expired,
    /// Ended by its Creator or a Moderator.
    Canceled,
    /// An unscheduled conference open to callers.
    Enabled,
    /// An unscheduled conference closed to callers.
    Disabled,
}

impl State {
    /// The seed's word for it.
    pub fn label(self) -> &'static str {
        match self {
            State::Active => "Active",
            State::Queued => "Queued",
            State::Expired => "Expired",
            State::Canceled => "Canceled",
            State::Enabled => "Enabled",
            State::Disabled => "Disabled",
        }
    }
}

/// One conference as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// The Conference ID.
    pub id: ConferenceId,
    /// The attendees' password.
    pub password: ConferencePassword,
    /// Its purpose.
    pub description: String,
    /// Unscheduled (or, later, scheduled) and its state.
    pub kind: Kind,
    /// Attendees at once; `None`: the Conference Center's setting.
    pub seats: Option<u16>,
}

impl Conference {
    /// Its state at `now` (seconds since the epoch); `in_session`: somebody is in it (a scheduled
    /// conference past its end stays Active while attendees remain).
    pub fn state(&self, now: i64, in_session: bool) -> State {
        match &self.kind {
            Kind::Unscheduled { enabled: true } => State::Enabled,
            Kind::Unscheduled { enabled: false } => State::Disabled,
            Kind::Scheduled(s) if s.canceled_at.is_some() => State::Canceled,
            Kind::Scheduled(s) => match s.current(now) {
                Some((_, end)) if now < end || in_session => State::Active,
                _ if s.next(now).is_some() => State::Queued,
                _ => State::Expired,
            },
        }
    }

    /// Whether callers may enter at `now`.
    pub fn joinable(&self, now: i64, in_session: bool) -> bool {
        matches!(self.state(now, in_session), State::Enabled | State::Active)
    }

    /// When the occurrence in progress at `now` is scheduled to end (`None`: unscheduled).
    pub fn scheduled_end(&self, now: i64) -> Option<i64> {
        match &self.kind {
            Kind::Scheduled(s) => s.current(now).map(|(_, end)| end),
            Kind::Unscheduled { .. } => None,
        }
    }

    /// Whether it is an unscheduled conference.
    pub fn unscheduled(&self) -> bool {
        matches!(self.kind, Kind::Unscheduled { .. })
    }
}

/// The Conference Center's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceConfig {
    /// The extension callers dial (Allworx: 4081); empty: no Conference Center.
    pub extension: String,
    /// Attendees per conference unless the conference says otherwise (Allworx: 8 or 30).
    pub seats: u16,
    /// Conferences in session at once, server-wide (Allworx's larger servers: 4).
    pub active_limit: usize,
}

impl Default for ConferenceConfig {
    fn default() -> Self {
        ConferenceConfig {
            extension: "4081".into(),
            seats: 30,
            active_limit: 4,
        }
    }
}

/// A conference in session on this node: who is in it, since when.
#[derive(Debug, Clone)]
pub struct Room {
    /// Participants (their calls), in the order they entered.
    pub participants: Vec<CallId>,
    /// When the first entered.
    pub since: Instant,
    /// The same, in seconds since the epoch (which unscheduled conference started first).
    pub since_unix: i64,
    /// When a scheduled conference's occurrence is due to end (`None`: unscheduled).
    pub ends_at: Option<i64>,
}

/// Why a caller may not enter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every seat is taken.
    Full,
    /// Every conference room of the server is in session, and none may be ended for this one.
    NoRoom,
}

/// The rooms in session.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: std::collections::BTreeMap<ConferenceId, Room>,
}

impl Rooms {
    /// Whether `conference` has a free seat for one more and a room (in session, or one free) at
    /// `now_unix`. With every room in use, a scheduled conference that begins ends another (the one
    /// named in `Ok(Some(..))`): the unscheduled one with the oldest start first, else the one farthest
    /// past its scheduled end; a scheduled conference within its time is never ended, and starting an
    /// unscheduled conference never ends one in session: it is refused.
    pub fn admits(
        &self,
        conference: &Conference,
        config: &ConferenceConfig,
        now_unix: i64,
    ) -> Result<Option<ConferenceId>, Refused> {
        let seats = usize::from(conference.seats.unwrap_or(config.seats));
        match self.rooms.get(&conference.id) {
            Some(r) if r.participants.len() >= seats => return Err(Refused::Full),
            Some(_) => return Ok(None),
            None if self.rooms.len() < config.active_limit => return Ok(None),
            None => {}
        }
        if conference.unscheduled() {
            return Err(Refused::NoRoom);
        }
        let oldest_unscheduled = self
            .rooms
            .iter()
            .filter(|(_, r)| r.ends_at.is_none())
            .min_by_key(|(_, r)| r.since_unix);
        let farthest_past = self
            .rooms
            .iter()
            .filter_map(|(id, r)| r.ends_at.filter(|e| *e <= now_unix).map(|e| (id, e)))
            .min_by_key(|(_, e)| *e);
        oldest_unscheduled
            .map(|(id, _)| id)
            .or(farthest_past.map(|(id, _)| id))
            .map(|id| Some(id.clone()))
            .ok_or(Refused::NoRoom)
    }

    /// The session of `conference` in progress: when its room opened (seconds since the epoch).
    pub fn session(&self, conference: &ConferenceId) -> Option<i64> {
        self.rooms.get(conference).map(|r| r.since_unix)
    }

    /// Whether `conference` is in session.
    pub fn in_session(&self, conference: &ConferenceId) -> bool {
        self.rooms.contains_key(conference)
    }

    /// The participants of `conference`.
    pub fn participants(&self, conference: &ConferenceId) -> Vec<CallId> {
        self.rooms
            .get(conference)
            .map(|r| r.participants.clone())
            .unwrap_or_default()
    }

    /// Seat `call` (checked with [`Rooms::admits`] first); returns whether it is the first there.
    pub fn enter(
        &mut self,
        now: Instant,
        now_unix: i64,
        conference: &Conference,
        call: CallId,
    ) -> bool {
        let room = self.rooms.entry(conference.id.clone()).or_insert(Room {
            participants: Vec::new(),
            since: now,
            since_unix: now_unix,
            ends_at: conference.scheduled_end(now_unix),
        });
        if !room.participants.contains(&call) {
            room.participants.push(call);
        }
        room.participants.len() == 1
    }

    /// `call` left `conference`; the room closes when it was the last. Returns whether it was there.
    pub fn leave(&mut self, conference: &ConferenceId, call: CallId) -> bool {
        let Some(room) = self.rooms.get_mut(conference) else {
            return false;
        };
        let before = room.participants.len();
        room.participants.retain(|c| *c != call);
        let left = room.participants.len() != before;
        if room.participants.is_empty() {
            self.rooms.remove(conference);
        }
        left
    }

    /// The rooms in session.
    pub fn iter(&self) -> impl Iterator<Item = (&ConferenceId, &Room)> {
        self.rooms.iter()
    }

    /// How many are in session.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(id: &str, seats: Option<u16>) -> Conference {
        Conference {
            id: ConferenceId::new(id).unwrap(),
            password: ConferencePassword::new(id).unwrap(),
            description: String::new(),
            kind: Kind::Unscheduled { enabled: true },
            seats,
        }
    }

    fn epoch() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    #[test]
    fn ids_and_passwords_are_digits_and_the_password_never_shows_in_debug() {
        assert!(ConferenceId::new("480").is_ok());
        for bad in ["", "48a", "12345678901", "4 8", "٤٨٠"] {
            assert_eq!(ConferenceId::new(bad), Err(ConferenceError::BadId), "{bad}");
        }
        assert!(ConferencePassword::new("123456789012345678901").is_err());
        let p = ConferencePassword::new("4242").unwrap();
        assert!(!format!("{p:?}").contains("4242"));
        assert!(p.matches("4242") && !p.matches("424") && !p.matches("42420"));
    }

    #[test]
    fn a_full_conference_and_a_server_out_of_rooms_refuse_and_a_room_closes_with_its_last() {
        let config = ConferenceConfig {
            seats: 2,
            active_limit: 2,
            ..ConferenceConfig::default()
        };
        let mut rooms = Rooms::default();
        let (a, b, c) = (conf("480", None), conf("481", Some(1)), conf("482", None));
        let t = epoch();
        assert!(rooms.enter(t, NOON, &a, CallId(1)));
        assert!(!rooms.enter(t, NOON, &a, CallId(2)));
        assert_eq!(rooms.admits(&a, &config, NOON), Err(Refused::Full));
        rooms.enter(t, NOON, &b, CallId(3));
        assert_eq!(
            rooms.admits(&b, &config, NOON),
            Err(Refused::Full),
            "its own seats: 1"
        );
        assert_eq!(rooms.admits(&c, &config, NOON), Err(Refused::NoRoom));
        assert!(rooms.leave(&b.id, CallId(3)));
        assert!(!rooms.leave(&b.id, CallId(3)));
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms.admits(&c, &config, NOON), Ok(None));
    }

    /// 2026-03-02 12:00 UTC, a Monday: the clock of these tests.
    const NOON: i64 = 1_772_452_800;
    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;

    fn scheduled(id: &str, date: &str, time: &str, minutes: u32, repeat: Repeat) -> Conference {
        Conference {
            id: ConferenceId::new(id).unwrap(),
            password: ConferencePassword::new("2468").unwrap(),
            description: "Feature Team Meeting".into(),
            kind: Kind::Scheduled(
                Schedule::from_local(date, time, "America/New_York", minutes * 60, repeat).unwrap(),
            ),
            seats: None,
        }
    }

    fn schedule(c: &Conference) -> &Schedule {
        match &c.kind {
            Kind::Scheduled(s) => s,
            Kind::Unscheduled { .. } => panic!("unscheduled"),
        }
    }

    #[test]
    fn a_one_time_conference_is_queued_active_for_its_duration_extended_while_attended_then_expired(
    ) {
        // 2026-03-02 10:00 in New York is 15:00 UTC.
        let c = scheduled("4001", "2026-03-02", "10:00", 60, Repeat::Once);
        let start = schedule(&c).starts_at;
        assert_eq!(start, NOON + 3 * HOUR);
        assert_eq!(schedule(&c).local(start), "2026-03-02 10:00 EST");
        assert_eq!(c.state(start - 1, false), State::Queued);
        assert!(!c.joinable(start - 1, false));
        assert_eq!(c.state(start, false), State::Active);
        assert_eq!(c.state(start + HOUR - 1, false), State::Active);
        assert_eq!(c.state(start + HOUR, false), State::Expired);
        // Past its end with attendees still in it: it extends itself.
        assert_eq!(c.state(start + 3 * HOUR, true), State::Active);
        assert!(c.joinable(start + 3 * HOUR, true));
        assert_eq!(c.scheduled_end(start + 3 * HOUR), Some(start + HOUR));
        // Moved to a future time, it keeps its ID and password and is queued again.
        let mut moved = c.clone();
        moved.kind = Kind::Scheduled(
            Schedule::from_local(
                "2026-03-09",
                "10:00",
                "America/New_York",
                3600,
                Repeat::Once,
            )
            .unwrap(),
        );
        assert_eq!(moved.state(start + 2 * DAY, false), State::Queued);
        assert_eq!(
            (moved.id.as_str(), moved.password.matches("2468")),
            ("4001", true)
        );
        let mut canceled = c.clone();
        if let Kind::Scheduled(s) = &mut canceled.kind {
            s.canceled_at = Some(start - DAY);
        }
        assert_eq!(canceled.state(start, false), State::Canceled);
        assert!(!canceled.joinable(start, false));
    }

    #[test]
    fn a_weekly_conference_keeps_its_local_time_across_daylight_saving_and_never_expires() {
        // Mondays 10:00 New York from 2026-03-02; the clocks go forward on 2026-03-08.
        let c = scheduled("4002", "2026-03-02", "10:00", 30, Repeat::Weekly);
        let s = schedule(&c);
        let second = s.occurrence(1).unwrap();
        assert_eq!(s.local(second), "2026-03-09 10:00 EDT");
        assert_eq!(
            second - s.starts_at,
            7 * DAY - HOUR,
            "an hour less between the two"
        );
        // Walk the simulated days: Active exactly in each Monday's half hour, Queued otherwise.
        let mut active = Vec::new();
        let mut t = s.starts_at - DAY;
        while t < s.starts_at + 60 * DAY {
            match c.state(t, false) {
                State::Active => active.push(s.local(t)),
                State::Queued => {}
                other => panic!("{other:?} at {}", s.local(t)),
            }
            t += 15 * 60;
        }
        assert_eq!(
            active.len(),
            2 * 9,
            "two quarter hours on each of nine Mondays: {active:?}"
        );
        assert!(
            active
                .iter()
                .all(|a| a.contains(" 10:00 ") || a.contains(" 10:15 ")),
            "{active:?}"
        );
        assert_eq!(
            s.next(s.starts_at + 60 * DAY).map(|n| s.local(n)).unwrap(),
            "2026-05-04 10:00 EDT"
        );
    }

    #[test]
    fn every_repetition_and_daily_ones_follow_each_day() {
        for r in Repeat::ALL {
            assert_eq!(Repeat::from_days(r.days()), Ok(r));
        }
        assert_eq!(Repeat::from_days(2), Err(ConferenceError::BadRepeat));
        let c = scheduled("4003", "2026-03-02", "09:00", 15, Repeat::Daily);
        let s = schedule(&c);
        for day in 0..40 {
            let (start, end) = s.current(s.starts_at + day * DAY + 20 * HOUR).unwrap();
            assert!(s.local(start).ends_with("09:00 EST") || s.local(start).ends_with("09:00 EDT"));
            assert_eq!(end - start, 15 * 60);
        }
    }

    #[test]
    fn times_that_do_not_exist_unknown_zones_and_absurd_durations_are_refused() {
        let gap =
            Schedule::from_local("2026-03-08", "02:30", "America/New_York", 600, Repeat::Once);
        assert!(matches!(gap, Err(ConferenceError::BadTime(_))), "{gap:?}");
        assert!(matches!(
            Schedule::from_local("2026-03-02", "10:00", "Mars/Olympus", 600, Repeat::Once),
            Err(ConferenceError::BadTimeZone(_))
        ));
        for (d, t) in [
            ("2026-02-30", "10:00"),
            ("tomorrow", "10:00"),
            ("2026-03-02", "25:00"),
        ] {
            assert!(
                Schedule::from_local(d, t, "UTC", 600, Repeat::Once).is_err(),
                "{d} {t}"
            );
        }
        for secs in [0, 59, MAX_DURATION_SECS + 1] {
            assert_eq!(
                Schedule::from_local("2026-03-02", "10:00", "UTC", secs, Repeat::Once),
                Err(ConferenceError::BadDuration)
            );
        }
    }

    #[test]
    fn a_scheduled_conference_that_begins_with_every_room_in_use_ends_the_oldest_unscheduled_first()
    {
        let config = ConferenceConfig {
            active_limit: 2,
            ..ConferenceConfig::default()
        };
        let t = epoch();
        let mut rooms = Rooms::default();
        let (u1, u2) = (conf("480", None), conf("481", None));
        rooms.enter(t, NOON - 2 * HOUR, &u1, CallId(1));
        rooms.enter(t, NOON - HOUR, &u2, CallId(2));
        let s = scheduled("4001", "2026-03-02", "07:00", 60, Repeat::Once);
        let start = schedule(&s).starts_at;
        assert_eq!(start, NOON);
        assert_eq!(
            rooms.admits(&s, &config, start),
            Ok(Some(u1.id.clone())),
            "the unscheduled one with the oldest start"
        );
        // An unscheduled conference starting never ends one.
        assert_eq!(
            rooms.admits(&conf("482", None), &config, start),
            Err(Refused::NoRoom)
        );
    }

    #[test]
    fn with_only_scheduled_conferences_in_use_the_one_farthest_past_its_end_is_ended_and_none_within_its_time(
    ) {
        let config = ConferenceConfig {
            active_limit: 2,
            ..ConferenceConfig::default()
        };
        let t = epoch();
        // Two scheduled conferences, ending at 07:00 and 07:30 New York, both still attended.
        let a = scheduled("4001", "2026-03-02", "06:00", 60, Repeat::Once);
        let b = scheduled("4002", "2026-03-02", "06:00", 90, Repeat::Once);
        let six = schedule(&a).starts_at;
        let mut rooms = Rooms::default();
        rooms.enter(t, six, &a, CallId(1));
        rooms.enter(t, six, &b, CallId(2));
        let c = scheduled("4003", "2026-03-02", "07:00", 60, Repeat::Once);
        let c_start = schedule(&c).starts_at;
        // At 07:00 a is at its end, b within its time: a is ended.
        assert_eq!(rooms.admits(&c, &config, c_start), Ok(Some(a.id.clone())));
        // At 06:45 both are within their time: the new one cannot start.
        assert_eq!(
            rooms.admits(&c, &config, c_start - 15 * 60),
            Err(Refused::NoRoom)
        );
        // At 08:00 both are past: the farthest past (a, ended at 07:00) goes.
        assert_eq!(
            rooms.admits(&c, &config, c_start + HOUR),
            Ok(Some(a.id.clone()))
        );
        rooms.leave(&a.id, CallId(1));
        assert_eq!(rooms.admits(&c, &config, c_start + HOUR), Ok(None));
    }

    #[test]
    fn conflicts_are_overlapping_times_and_available_periods_leave_room_for_the_limit() {
        let t1 = scheduled("4001", "2026-03-02", "10:00", 60, Repeat::Weekly);
        let t2 = scheduled("4002", "2026-03-09", "10:30", 60, Repeat::Once);
        let t3 = scheduled("4003", "2026-03-02", "14:00", 30, Repeat::Once);
        let all = vec![t1.clone(), t2.clone(), t3.clone()];
        let now = schedule(&t1).starts_at - DAY;
        // A one-time conference Monday 9 March 10:45 overlaps the weekly one and t2, not t3.
        let new = Schedule::from_local(
            "2026-03-09",
            "10:45",
            "America/New_York",
            1800,
            Repeat::Once,
        )
        .unwrap();
        let ids: Vec<&str> = conflicts(&new, &all, now, None)
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["4001", "4002"]);
        // Editing t2 itself: it is no conflict of its own.
        let ids: Vec<&str> = conflicts(&new, &all, now, Some(&t2.id))
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, ["4001"]);
        // Monday 9 March in New York, one room: busy 10:00-11:30 (t1 then t2 overlapping).
        let day = schedule(&t2).starts_at - 10 * HOUR - 30 * 60;
        let free = available(&all, day, day + DAY, 1);
        assert_eq!(
            free,
            [
                (day, day + 10 * HOUR),
                (day + 11 * HOUR + 30 * 60, day + DAY)
            ]
        );
        // Two rooms: only 10:30-11:00, when both take place, is full.
        let free = available(&all, day, day + DAY, 2);
        assert_eq!(
            free,
            [
                (day, day + 10 * HOUR + 30 * 60),
                (day + 11 * HOUR, day + DAY)
            ]
        );
    }
}
