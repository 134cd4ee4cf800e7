//! A snapshot of what the switch is doing (registrations, calls in progress, lockouts, voicemail
//! calls), shared with the HTTP API and `parley status`. Plain data; the shell replaces it after every
//! change and adds the packet counters its relays and media ends keep.

use std::time::Instant;

use serde::Serialize;

use super::Switch;

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

/// A trunk and its registration, as `parley trunk status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TrunkView {
    /// Its name.
    pub name: String,
    /// `registering` or `peer`.
    pub kind: String,
    /// Where its requests go (`udp:192.0.2.5:5060`), or its host and port when unresolved.
    pub address: String,
    /// `registered`, `registering`, `failed`, `unregistered`, `peer` (no registration, up), or
    /// `down` (its OPTIONS keep-alive failed: it carries no calls).
    pub state: String,
    /// Calls through it now, both ways.
    pub calls: usize,
    /// Why it failed (`403 Forbidden`, `wrong credentials`, `no answer from the registrar`).
    pub reason: Option<String>,
    /// Seconds until the binding lapses, when registered.
    pub expires_in: Option<u64>,
    /// Seconds until the next attempt, when failed.
    pub retry_in: Option<u64>,
}

/// A conference in session and who is in it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoomView {
    /// The Conference ID.
    pub id: String,
    /// Seconds since the first entered.
    pub age_secs: u64,
    /// Who is in it (or holds a seat, hearing that it goes in), in the order they entered.
    pub participants: Vec<ParticipantView>,
}

/// One participant of a conference.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ParticipantView {
    /// Parley's id for the call.
    pub call: u64,
    /// The caller.
    pub caller: String,
    /// Its audio is in the room (else it holds a seat and hears that it goes in).
    pub joined: bool,
    /// Talking now (the shell fills it from the room's mixer).
    pub talking: bool,
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
    /// The trunks and their registrations.
    pub trunks: Vec<TrunkView>,
    /// Conferences in session.
    pub conferences: Vec<RoomView>,
}

impl Switch {
    /// What `parley status` shows (packet counters zero: the shell adds them).
    pub fn view(&self, now: Instant) -> Status {
        let registrations = self
            .registrar
            .all(now)
            .into_iter()
            .flat_map(|(ext, list)| {
                list.into_iter().map(move |b| RegistrationView {
                    extension: ext.clone(),
                    contact: b.uri.to_string(),
                    source: b.target.to_string(),
                    expires_in: b.expires_at.saturating_duration_since(now).as_secs(),
                    user_agent: b.user_agent,
                })
            })
            .collect();
        let calls = self
            .calls
            .iter()
            .map(|(id, c)| {
                let (a, b) = c.call.parties();
                CallView {
                    id: id.0,
                    caller: a.to_string(),
                    callee: b.to_string(),
                    state: if c.call.is_answered() {
                        "answered"
                    } else {
                        "ringing"
                    }
                    .to_string(),
                    age_secs: now.saturating_duration_since(c.started).as_secs(),
                    packets_a_to_b: 0,
                    packets_b_to_a: 0,
                    packets_from_strangers: 0,
                }
            })
            .collect();
        let sip_accounts = self
            .guard
            .locked_accounts(now)
            .into_iter()
            .map(|(a, d)| LockoutView {
                what: format!("account {a}"),
                key: a,
                seconds_left: d.as_secs(),
            });
        let sip_addresses =
            self.guard
                .locked_addresses(now)
                .into_iter()
                .map(|(a, d)| LockoutView {
                    what: format!("address {a}"),
                    key: a.to_string(),
                    seconds_left: d.as_secs(),
                });
        let mailboxes = self
            .pin_guard
            .locked_accounts(now)
            .into_iter()
            .map(|(m, d)| LockoutView {
                what: format!("mailbox {m}"),
                key: m,
                seconds_left: d.as_secs(),
            });
        let pin_addresses = self
            .pin_guard
            .locked_addresses(now)
            .into_iter()
            .map(|(a, d)| LockoutView {
                what: format!("mailbox logins from {a}"),
                key: a.to_string(),
                seconds_left: d.as_secs(),
            });
        let conferences = self
            .conf_guard
            .locked_accounts(now)
            .into_iter()
            .map(|(c, d)| LockoutView {
                what: c.clone(),
                key: c,
                seconds_left: d.as_secs(),
            });
        let conference_addresses =
            self.conf_guard
                .locked_addresses(now)
                .into_iter()
                .map(|(a, d)| LockoutView {
                    what: format!("Conference Center entries from {a}"),
                    key: a.to_string(),
                    seconds_left: d.as_secs(),
                });
        let lockouts = sip_accounts
            .chain(sip_addresses)
            .chain(mailboxes)
            .chain(pin_addresses)
            .chain(conferences)
            .chain(conference_addresses)
            .collect();
        let voicemail = self
            .voicemail
            .iter()
            .map(|(id, v)| v.view(*id, now))
            .collect();
        Status {
            registrations,
            calls,
            lockouts,
            voicemail,
            mwi_subscriptions: self.mwi.len(),
            trunks: self.trunk_views(now),
            conferences: self
                .rooms
                .iter()
                .map(|(id, r)| RoomView {
                    id: id.to_string(),
                    age_secs: now.saturating_duration_since(r.since).as_secs(),
                    participants: r
                        .participants
                        .iter()
                        .map(|c| ParticipantView {
                            call: c.0,
                            caller: self
                                .voicemail
                                .get(c)
                                .map(|v| v.caller.clone())
                                .unwrap_or_default(),
                            joined: self.voicemail.get(c).is_some_and(|v| v.in_room()),
                            talking: false,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Shared, cheaply readable status.
pub type StatusHandle = std::sync::Arc<std::sync::RwLock<Status>>;

/// Read the live status.
pub fn snapshot(status: &StatusHandle) -> Status {
    status.read().map(|s| s.clone()).unwrap_or_default()
}
