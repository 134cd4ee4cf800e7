//! Voicemail by telephone, without IO: leaving a message (greeting selection, beep, recording, review),
//! and the mailbox menu (login, counts, listening, folders, greetings, PIN change). A [`Session`] is one
//! caller's conversation with the voicemail system; it is driven by digits, "prompt finished",
//! "recording finished" and lookup results, and asks the shell to play, record, store and look up.
//! The keys are data: a [`profile::Profile`] is a graph of menus (the classic ClusterPBX/Asterisk profile
//! is [`profile::classic`]); a second profile is a second graph over the same [`profile::Act`]s.

pub mod divert;
pub mod pin;
pub mod profile;
pub mod say;
mod session;

use std::time::Duration;

pub use say::LocalTime;
pub use session::{Deposit, Session, HANGUP_LINGER};

/// A voicemail folder, with the digit that selects it in the classic menus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Folder {
    /// New (unheard) messages: key 0.
    New,
    /// Old (heard) messages: key 1.
    Old,
    /// Work: key 2.
    Work,
    /// Family: key 3.
    Family,
    /// Friends: key 4.
    Friends,
}

impl Folder {
    /// Where a new message goes: Old when the owner chose "mark as read" (no lamp, no count), else New.
    pub fn for_new_message(mark_read: bool) -> Folder {
        if mark_read {
            Folder::Old
        } else {
            Folder::New
        }
    }

    /// Every folder, in key order.
    pub const ALL: [Folder; 5] = [
        Folder::New,
        Folder::Old,
        Folder::Work,
        Folder::Family,
        Folder::Friends,
    ];

    /// The folder's name as stored and shown ("new", "old", "work", "family", "friends").
    pub fn as_str(self) -> &'static str {
        match self {
            Folder::New => "new",
            Folder::Old => "old",
            Folder::Work => "work",
            Folder::Family => "family",
            Folder::Friends => "friends",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Folder> {
        Folder::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Its name for people ("New", "Work", ...).
    pub fn label(self) -> &'static str {
        match self {
            Folder::New => "New",
            Folder::Old => "Old",
            Folder::Work => "Work",
            Folder::Family => "Family",
            Folder::Friends => "Friends",
        }
    }

    /// The prompt that says the folder's adjective ("new", "work", ...): Asterisk's folder sound names.
    pub fn prompt(self) -> &'static str {
        match self {
            Folder::New => "vm-INBOX",
            Folder::Old => "vm-Old",
            Folder::Work => "vm-Work",
            Folder::Family => "vm-Family",
            Folder::Friends => "vm-Friends",
        }
    }
}

/// A mailbox owner's recorded greetings: the classic ones (seed 001) and the Callisto custom
/// announcements A, B and C (seed 000). Each is one WAV file named by [`GreetingKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GreetingKind {
    /// Played when the owner does not answer or is not registered.
    Unavailable,
    /// Played when the owner is busy.
    Busy,
    /// The owner's recorded name (system greeting, directory).
    Name,
    /// The temporary ("out of office") greeting: overrides the others while active.
    Temporary,
    /// Custom announcement A (Callisto "custom welcome message A").
    AnnouncementA,
    /// Custom announcement B.
    AnnouncementB,
    /// Custom announcement C.
    AnnouncementC,
}

impl GreetingKind {
    /// Every kind.
    pub const ALL: [GreetingKind; 7] = [
        GreetingKind::Unavailable,
        GreetingKind::Busy,
        GreetingKind::Name,
        GreetingKind::Temporary,
        GreetingKind::AnnouncementA,
        GreetingKind::AnnouncementB,
        GreetingKind::AnnouncementC,
    ];

    /// Stored name ("unavailable", "busy", "name", "temporary", "announcement-a", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            GreetingKind::Unavailable => "unavailable",
            GreetingKind::Busy => "busy",
            GreetingKind::Name => "name",
            GreetingKind::Temporary => "temporary",
            GreetingKind::AnnouncementA => "announcement-a",
            GreetingKind::AnnouncementB => "announcement-b",
            GreetingKind::AnnouncementC => "announcement-c",
        }
    }

    /// What a person calls it ("Unavailable", "Announcement A", ...).
    pub fn label(self) -> &'static str {
        match self {
            GreetingKind::Unavailable => "Unavailable",
            GreetingKind::Busy => "Busy",
            GreetingKind::Name => "Name",
            GreetingKind::Temporary => "Temporary",
            GreetingKind::AnnouncementA => "Announcement A",
            GreetingKind::AnnouncementB => "Announcement B",
            GreetingKind::AnnouncementC => "Announcement C",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<GreetingKind> {
        GreetingKind::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// Which welcome message callers hear (Callisto's "Announcements"): the standard one (the classic
/// greetings, or the system greeting when none is recorded) or a custom announcement. Each has its own
/// "Recording active" switch: off means announce-only, no message can be left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Announcement {
    /// The standard welcome message.
    #[default]
    Standard,
    /// Custom announcement A.
    A,
    /// Custom announcement B.
    B,
    /// Custom announcement C.
    C,
}

impl Announcement {
    /// Every announcement, in the order they are shown.
    pub const ALL: [Announcement; 4] = [
        Announcement::Standard,
        Announcement::A,
        Announcement::B,
        Announcement::C,
    ];

    /// Stored name ("standard", "a", "b", "c").
    pub fn as_str(self) -> &'static str {
        match self {
            Announcement::Standard => "standard",
            Announcement::A => "a",
            Announcement::B => "b",
            Announcement::C => "c",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Announcement> {
        Announcement::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Its position in [`Announcement::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The recording a custom announcement plays (none for the standard one).
    pub fn greeting(self) -> Option<GreetingKind> {
        match self {
            Announcement::Standard => None,
            Announcement::A => Some(GreetingKind::AnnouncementA),
            Announcement::B => Some(GreetingKind::AnnouncementB),
            Announcement::C => Some(GreetingKind::AnnouncementC),
        }
    }

    /// What a person calls it.
    pub fn label(self) -> &'static str {
        match self {
            Announcement::Standard => "Standard",
            Announcement::A => "Announcement A",
            Announcement::B => "Announcement B",
            Announcement::C => "Announcement C",
        }
    }

    /// Callisto's default "Recording active": on for the standard message only.
    pub fn records_by_default(self) -> bool {
        self == Announcement::Standard
    }
}

/// Why a call reached voicemail: chooses the greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The callee did not answer in time.
    NoAnswer,
    /// The callee is busy.
    Busy,
    /// The callee has no registered phone.
    Unavailable,
}

/// Which greetings a mailbox has recorded, which announcement is active, and whether callers may
/// leave a message after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greetings {
    /// An unavailable greeting is recorded.
    pub unavailable: bool,
    /// A busy greeting is recorded.
    pub busy: bool,
    /// A name is recorded.
    pub name: bool,
    /// A temporary greeting is recorded and active.
    pub temporary: bool,
    /// The active custom announcement, when one is chosen and recorded (else the standard greeting).
    pub announcement: Option<GreetingKind>,
    /// "Recording active" of the active announcement: false means announce-only.
    pub record: bool,
}

impl Greetings {
    /// What callers hear, from which greeting files are recorded (`recorded`) and the mailbox's
    /// settings: the temporary greeting only while active, and a chosen announcement whose recording
    /// is missing falls back to the standard greeting, with the standard greeting's "Recording active".
    pub fn resolve(
        recorded: impl Fn(GreetingKind) -> bool,
        temporary_active: bool,
        announcement: Announcement,
        recording: [bool; 4],
    ) -> Greetings {
        let active = match announcement.greeting() {
            Some(k) if recorded(k) => announcement,
            _ => Announcement::Standard,
        };
        Greetings {
            unavailable: recorded(GreetingKind::Unavailable),
            busy: recorded(GreetingKind::Busy),
            name: recorded(GreetingKind::Name),
            temporary: temporary_active && recorded(GreetingKind::Temporary),
            announcement: active.greeting(),
            record: recording[active.index()],
        }
    }
}

impl Default for Greetings {
    fn default() -> Self {
        Greetings {
            unavailable: false,
            busy: false,
            name: false,
            temporary: false,
            announcement: None,
            record: true,
        }
    }
}

/// One stored message, as the menus need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Store id.
    pub id: i64,
    /// Current folder.
    pub folder: Folder,
    /// When it was received, in the owner's local time.
    pub received: LocalTime,
    /// The caller's number, if known.
    pub caller: Option<String>,
    /// Whether the caller's number is an extension of this system.
    pub caller_is_extension: bool,
}

/// What the menus know about a mailbox after login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxView {
    /// The mailbox (extension) number.
    pub number: String,
    /// Its greetings.
    pub greetings: Greetings,
    /// Its messages, oldest first.
    pub messages: Vec<MessageInfo>,
    /// Whether the PIN is still the system default (a change is required at login).
    pub pin_is_default: bool,
}

/// Something to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audio {
    /// A system prompt by id (file name under the prompt directory, without `.wav`).
    Prompt(String),
    /// A mailbox's recorded greeting.
    Greeting {
        /// Mailbox number.
        mailbox: String,
        /// Which greeting.
        kind: GreetingKind,
    },
    /// A stored message's audio (seekable with rewind and fast-forward).
    Message(i64),
    /// The recording just made in this session (for "listen again").
    Take,
}

/// What a recording is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingFor {
    /// A message left in `mailbox` by `caller`.
    Message {
        /// Mailbox number.
        mailbox: String,
        /// The caller's number, if known.
        caller: Option<String>,
    },
    /// A greeting of the logged-in mailbox.
    Greeting {
        /// Mailbox number.
        mailbox: String,
        /// Which greeting.
        kind: GreetingKind,
    },
}

/// How a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    /// The session asked to stop (a key was pressed).
    Stopped,
    /// The caller was silent for the configured time.
    Silence,
    /// The maximum length was reached.
    MaxLength,
    /// The caller hung up.
    Hangup,
}

/// A finished recording, as the media layer reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordResult {
    /// Audio kept, in milliseconds (trailing silence trimmed when it ended on silence).
    pub duration_ms: u64,
    /// Why it ended.
    pub end: RecordEnd,
}

/// The result of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginResult {
    /// Accepted; the mailbox's contents.
    Ok(MailboxView),
    /// Wrong mailbox or PIN.
    Wrong,
    /// The mailbox is locked after repeated failures.
    Locked,
}

/// The switch's answer to a Conference ID or password entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConferenceAnswer {
    /// The ID names a conference callers may enter: ask for its password.
    AskPassword,
    /// No such conference, or none that is open.
    WrongId,
    /// Not the conference's password.
    WrongPassword,
    /// The password is right and a seat is held: the caller goes in (`alone`: nobody else is there).
    Enter {
        /// Nobody else is in the conference.
        alone: bool,
    },
    /// The caller may not enter.
    Refused(ConferenceRefusal),
}

/// Why a caller may not enter a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConferenceRefusal {
    /// Every seat is taken.
    Full,
    /// Every conference room of the server is in session.
    NoRoom,
    /// Too many wrong entries from this caller or for this conference.
    Locked,
    /// A scheduled conference that has not started yet.
    NotStarted,
}

/// What the shell must do for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Play these in order, replacing anything playing; [`Session::handle_play_done`] follows unless
    /// the session stops it first.
    Play(Vec<Audio>),
    /// Stop playing (no "done" is reported for the stopped playback).
    StopPlay,
    /// Move the playback position of the message playing (negative rewinds).
    Seek(i64),
    /// Start recording what the caller says; [`Session::handle_record_done`] follows.
    Record {
        /// What it is for.
        purpose: RecordingFor,
        /// Maximum length.
        max: Duration,
        /// End after this much silence (`None`: never).
        silence: Option<Duration>,
    },
    /// Stop the recording in progress (its result is then reported).
    StopRecord,
    /// Keep the last recording (store the message, or install the greeting).
    KeepTake,
    /// Throw the last recording away.
    DiscardTake,
    /// Check a mailbox and PIN (`pin: None` when the session was opened from the owner's own phone
    /// without a PIN prompt); the answer comes back in [`Session::handle_login`].
    Login {
        /// Mailbox number.
        mailbox: String,
        /// The digits entered.
        pin: Option<pin::Pin>,
    },
    /// Does this mailbox exist? The answer comes back in [`Session::handle_mailbox_exists`].
    CheckMailbox(String),
    /// Move a message to a folder (also how "heard" is recorded: New to Old).
    MoveMessage {
        /// Message id.
        id: i64,
        /// Destination.
        folder: Folder,
    },
    /// Delete a message.
    DeleteMessage(i64),
    /// Turn the temporary greeting off.
    DeactivateTemporary,
    /// Store a new PIN for the logged-in mailbox.
    SetPin(pin::Pin),
    /// Transfer the caller to the operator.
    Operator,
    /// Is there a conference with this ID that callers may enter? Answered with
    /// [`Session::handle_conference`].
    ConferenceId(String),
    /// The password entered for the conference named before (never logged); answered with
    /// [`Session::handle_conference`].
    ConferencePassword(pin::Pin),
    /// Put the caller's audio into the conference the password opened.
    JoinConference,
    /// End the call.
    Hangup,
}

/// Settings of the voicemail menus.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Longest message.
    pub max_message: Duration,
    /// Messages shorter than this are discarded.
    pub min_message: Duration,
    /// A recording ends after this much silence.
    pub silence: Duration,
    /// Rewind and fast-forward step.
    pub skip: Duration,
    /// Whether an operator destination is configured (key 0).
    pub operator: bool,
    /// Minimum PIN length.
    pub pin_min_len: usize,
    /// Wrong PINs allowed in one call.
    pub max_login_attempts: u32,
    /// How long to wait for a key after a menu prompt.
    pub digit_timeout: Duration,
    /// Longest greeting.
    pub max_greeting: Duration,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            max_message: Duration::from_secs(180),
            min_message: Duration::from_secs(1),
            silence: Duration::from_secs(10),
            skip: Duration::from_secs(3),
            operator: false,
            pin_min_len: 4,
            max_login_attempts: 3,
            digit_timeout: Duration::from_secs(6),
            max_greeting: Duration::from_secs(120),
        }
    }
}
