//! A snapshot of what the SIP server is doing (registrations, calls in progress), shared with the HTTP
//! API and `parley status`. Plain data; the server replaces it after every change.

use serde::Serialize;

/// One registered contact.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RegistrationView {
    /// Extension.
    pub extension: String,
    /// Contact URI.
    pub contact: String,
    /// Flow it is reached over (`udp:1.2.3.4:5060`).
    pub source: String,
    /// Seconds until it lapses.
    pub expires_in: u64,
    /// The phone's User-Agent.
    pub user_agent: String,
}

/// One call in progress.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CallView {
    /// Parley's id for the call.
    pub id: u64,
    /// Caller extension.
    pub caller: String,
    /// Callee extension.
    pub callee: String,
    /// `ringing` or `answered`.
    pub state: String,
    /// Seconds since the call started.
    pub age_secs: u64,
    /// RTP packets relayed caller → callee.
    pub packets_a_to_b: u64,
    /// RTP packets relayed callee → caller.
    pub packets_b_to_a: u64,
    /// Packets dropped because they came from neither party (someone spraying the relay's ports).
    pub packets_from_strangers: u64,
}

/// An account or address locked out after repeated authentication failures.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LockoutView {
    /// `account 100` or `address 192.0.2.7`.
    pub what: String,
    /// What to unlock it by: the account, mailbox or address itself.
    pub key: String,
    /// Seconds until the lockout ends.
    pub seconds_left: u64,
}

/// A call answered by voicemail (leaving a message or in the mailbox menu).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VoicemailView {
    /// Parley's id for the call.
    pub id: u64,
    /// Caller.
    pub caller: String,
    /// `voicemail 101` or `mailbox menu`.
    pub what: String,
    /// A recording is being made.
    pub recording: bool,
    /// Seconds since it started.
    pub age_secs: u64,
    /// RTP packets received from the caller.
    pub packets_received: u64,
    /// RTP packets from the caller that never arrived.
    pub packets_lost: u64,
    /// Packets dropped because they did not come from the caller.
    pub packets_from_strangers: u64,
}

/// Everything `parley status` shows.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Status {
    /// Live registrations.
    pub registrations: Vec<RegistrationView>,
    /// Calls in progress.
    pub calls: Vec<CallView>,
    /// Current authentication and mailbox lockouts.
    pub lockouts: Vec<LockoutView>,
    /// Calls answered by voicemail.
    pub voicemail: Vec<VoicemailView>,
    /// Live message-waiting subscriptions.
    pub mwi_subscriptions: usize,
}

/// Shared, cheaply readable status.
pub type StatusHandle = std::sync::Arc<std::sync::RwLock<Status>>;
