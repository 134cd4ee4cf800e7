//! The Conference Center's model (Allworx, "My Conferences"): a conference with its ID, password,
//! description, Creator, Moderators and seats; unscheduled conferences, which the administrator
//! enables or disables; the Conference Center's settings (its extension, seats, how many rooms may be
//! in session at once); and the rooms in session, which the switch keeps (who is in each, since when)
//! to decide who may enter. No IO: the store keeps the conferences, the shell mixes the audio.

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
}

/// A conference's state as the portal shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// An unscheduled conference open to callers.
    Enabled,
    /// An unscheduled conference closed to callers.
    Disabled,
}

impl State {
    /// The seed's word for it.
    pub fn label(self) -> &'static str {
        match self {
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
    /// Its state.
    pub fn state(&self) -> State {
        match self.kind {
            Kind::Unscheduled { enabled: true } => State::Enabled,
            Kind::Unscheduled { enabled: false } => State::Disabled,
        }
    }

    /// Whether callers may enter now.
    pub fn joinable(&self) -> bool {
        matches!(self.state(), State::Enabled)
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
    /// It is an unscheduled conference.
    pub unscheduled: bool,
}

/// Why a caller may not enter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every seat is taken.
    Full,
    /// Every conference room of the server is in session.
    NoRoom,
}

/// The rooms in session.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: std::collections::BTreeMap<ConferenceId, Room>,
}

impl Rooms {
    /// Whether `conference` has a free seat for one more and a room (in session, or one free).
    /// Starting an unscheduled conference never ends one in session: with every room in use it is
    /// refused.
    pub fn admits(
        &self,
        conference: &Conference,
        config: &ConferenceConfig,
    ) -> Result<(), Refused> {
        let seats = usize::from(conference.seats.unwrap_or(config.seats));
        match self.rooms.get(&conference.id) {
            Some(r) if r.participants.len() >= seats => Err(Refused::Full),
            Some(_) => Ok(()),
            None if self.rooms.len() >= config.active_limit => Err(Refused::NoRoom),
            None => Ok(()),
        }
    }

    /// Seat `call` (checked with [`Rooms::admits`] first); returns whether it is the first there.
    pub fn enter(&mut self, now: Instant, conference: &Conference, call: CallId) -> bool {
        let room = self.rooms.entry(conference.id.clone()).or_insert(Room {
            participants: Vec::new(),
            since: now,
            unscheduled: conference.unscheduled(),
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
        assert!(rooms.enter(t, &a, CallId(1)));
        assert!(!rooms.enter(t, &a, CallId(2)));
        assert_eq!(rooms.admits(&a, &config), Err(Refused::Full));
        rooms.enter(t, &b, CallId(3));
        assert_eq!(
            rooms.admits(&b, &config),
            Err(Refused::Full),
            "its own seats: 1"
        );
        assert_eq!(rooms.admits(&c, &config), Err(Refused::NoRoom));
        assert!(rooms.leave(&b.id, CallId(3)));
        assert!(!rooms.leave(&b.id, CallId(3)));
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms.admits(&c, &config), Ok(()));
    }
}
