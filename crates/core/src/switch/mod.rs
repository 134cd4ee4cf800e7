//! The switch: the parent state machine of the phone system. It owns the registrar, digest
//! authentication and the lockout guards, every B2BUA [`Call`], every voicemail call (an [`Endpoint`]
//! with its menu [`Session`]) and the message-waiting notifier, and it decides where each request goes
//! and what happens when a child finishes (an unanswered call becomes a voicemail call). It never does
//! IO: the shell feeds `handle_*` with time passed in and carries out the [`Command`]s drained with
//! [`Switch::poll_command`]; lookups in the directory and the store are commands whose answers come back
//! as inputs, so a slow database never stalls signalling.
//!
//! Inputs: [`Switch::handle_request`], [`Switch::handle_in_transaction`], [`Switch::handle_server_done`],
//! [`Switch::handle_response`], [`Switch::handle_client_done`], [`Switch::handle_credentials`],
//! [`Switch::handle_accounts`], [`Switch::handle_counts`], [`Switch::handle_relay`],
//! [`Switch::handle_media_opened`], [`Switch::handle_voicemail`], [`Switch::handle_timeout`], and the
//! administrator's controls ([`Switch::set_lamp`], [`Switch::mailbox_changed`],
//! [`Switch::account_removed`], [`Switch::unlock`]). Outputs: [`Switch::poll_command`],
//! [`Switch::poll_timeout`], [`Switch::view`].

mod auth;
mod calls;
pub mod control;
mod mwi;
mod outside;
mod route;
pub mod status;
mod trunks;
mod vm;

#[cfg(test)]
mod sim;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::{CallConfig, LocalAddr, MediaUpdate, Side, TxId};
use crate::guard::{AuthGuard, GuardConfig};
use crate::ids::Ids;
use crate::limits::{Limits, Refusal};
use crate::registrar::{Registrar, RegistrarConfig};
use crate::sip::digest::{Algorithm, DigestAuth};
use crate::sip::StatusCode;
use crate::sip::{Request, Response};
use crate::target::Target;
use crate::vm::pin::Pin;
use crate::vm::profile::Profile;
use crate::vm::{Folder, Greetings, MailboxView, RecordResult, RecordingFor, VmConfig};

pub use calls::{Direction, Outcome};
pub use control::{Control, Reply};
pub use mwi::Counts;
pub use trunks::TrunkRetry;

/// Names one child of the switch: a B2BUA call or a voicemail call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Names one lookup the switch asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Voicemail settings.
#[derive(Debug, Clone)]
pub struct VmSettings {
    /// Unanswered, busy and unregistered calls go to voicemail (false: the caller gets 480/486).
    pub enabled: bool,
    /// Menu timings and limits.
    pub menus: VmConfig,
    /// Feature code for one's own mailbox (`*97`).
    pub own_code: String,
    /// Feature code for any mailbox (`*98`).
    pub any_code: String,
    /// Number that another PBX sends diverted calls to (and that opens the mailbox menu otherwise).
    pub pilot: String,
    /// Addresses of PBXs allowed to send calls to the pilot without digest authentication.
    pub pbx_peers: Vec<IpAddr>,
    /// The PIN of a mailbox whose PIN was never set.
    pub default_pin: Pin,
    /// Directory of prompt files overriding the bundled ones.
    pub prompts: Option<PathBuf>,
    /// Lockout after wrong PINs (per mailbox and per caller address, across calls).
    pub pin_guard: GuardConfig,
    /// Where `0` during a greeting or after a message transfers the caller (an extension).
    pub operator: Option<String>,
    /// The menus (chosen once; the switch and the portal share it).
    pub profile: Arc<Profile>,
}

impl Default for VmSettings {
    fn default() -> Self {
        VmSettings {
            enabled: true,
            menus: VmConfig::default(),
            own_code: "*97".into(),
            any_code: "*98".into(),
            pilot: "*86".into(),
            pbx_peers: Vec::new(),
            default_pin: Pin::new("1234").expect("digits"),
            prompts: None,
            pin_guard: GuardConfig {
                max_failures: 5,
                window: Duration::from_secs(900),
                lockout: Duration::from_secs(300),
            },
            operator: None,
            profile: Arc::new(crate::vm::profile::classic()),
        }
    }
}

/// How calls to the outside are dialled and shown.
#[derive(Debug, Clone, Default)]
pub struct OutsideSettings {
    /// The outside-line prefix, home country and emergency numbers.
    pub dialplan: crate::trunk::dialplan::Dialplan,
    /// The company's main number (E.164), the caller ID of users without a number of their own.
    pub main_number: Option<String>,
    /// Premium-rate numbers may be dialled (by users allowed national calls).
    pub allow_premium: bool,
    /// Where calls from a trunk to a number that is no DID go (an extension, the operator); none:
    /// they get 404.
    pub inbound_default: Option<String>,
    /// Toll-fraud limits on calls to the outside.
    pub limits: crate::trunk::limits::OutsideLimits,
}

/// Everything the switch needs to know at start.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    /// Parley's address in Via and Contact.
    pub local: LocalAddr,
    /// The IP written into SDP.
    pub media_ip: IpAddr,
    /// How long a callee rings before the call gives up.
    pub no_answer: Duration,
    /// Registration expiry limits.
    pub registrar: RegistrarConfig,
    /// Digest realm.
    pub realm: String,
    /// Key that signs digest nonces (random per start).
    pub digest_key: [u8; 32],
    /// Digest nonce lifetime.
    pub nonce_ttl: Duration,
    /// Digest algorithms offered, in order.
    pub algorithms: Vec<Algorithm>,
    /// Accept digest responses without `qop` (RFC 2069 phones); each nonce then serves one request.
    pub dangerous_digest_rfc2069: bool,
    /// Brute-force lockout settings for digest authentication.
    pub guard: GuardConfig,
    /// Whether a callee already in a call is rung again; when false, the switch answers busy itself.
    pub call_waiting: bool,
    /// Voicemail.
    pub vm: VmSettings,
    /// Bounds on what one account or address may hold at once.
    pub limits: Limits,
    /// When registrations to trunks retry after failures.
    pub trunk_retry: TrunkRetry,
    /// Dialling out: the prefix, the home country, emergency numbers, the caller ID.
    pub outside: OutsideSettings,
    /// Feature code that sets the caller's presence, followed by its digit (`*80` then 1 In Office
    /// ... 7 Busy, the digits of the Allworx message center's presence menu); empty: none.
    pub presence_code: String,
    /// The Conference Center.
    pub conference: crate::conference::ConferenceConfig,
    /// Seed for tags, branches, Call-IDs and nonces.
    pub seed: u64,
}

/// What the directory knows about an account, as the switch needs it for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Display name.
    pub name: String,
    /// Ask for the PIN even from the owner's own phone.
    pub always_prompt: bool,
    /// Arriving messages are stored as already read.
    pub mark_read: bool,
    /// The greetings callers would hear.
    pub greetings: Greetings,
    /// What the account may dial outside.
    pub dial_class: crate::trunk::dialplan::DialClass,
    /// The number callers outside see (E.164), if the account has its own.
    pub outside_number: Option<String>,
    /// Its presence and call routes.
    pub routing: crate::routing::Routing,
    /// Follow-Me and Mobile Connect calls are taken with the mailbox PIN, not with 1 (the
    /// administrator's choice for this user).
    pub follow_me_pin: bool,
}

/// Why messages are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountFor {
    /// A phone of the mailbox registered: the phones that do not subscribe learn the counts.
    Registered,
    /// The NOTIFY that follows a subscription's 200 (`end`: its final one).
    Subscription {
        /// The subscription's Call-ID.
        call_id: String,
        /// The subscription ended.
        end: bool,
    },
    /// The mailbox changed: every phone learns the counts if they changed.
    Changed,
}

/// Where a client transaction's responses go; the shell hands it back with each response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRoute {
    /// A leg of a B2BUA call (`request`: what was sent, to answer 408 for it on a timeout).
    Call {
        /// The call.
        call: CallId,
        /// Its side.
        side: Side,
        /// The request sent.
        request: Request,
    },
    /// A NOTIFY of a subscription.
    Notify {
        /// The subscription's Call-ID.
        call_id: String,
    },
    /// A REFER sending a voicemail caller to the operator.
    Transfer {
        /// The voicemail call.
        call: CallId,
    },
    /// A REGISTER of Parley's to a trunk.
    Register {
        /// The registration (the switch's own number for it).
        reg: u64,
    },
    /// An OPTIONS keep-alive of a trunk.
    Options {
        /// The keep-alive (the switch's own number for it).
        probe: u64,
    },
    /// Nothing waits for the answer.
    Ignore,
}

/// What a PIN check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// The PIN matches the stored hash.
    Matches,
    /// It does not.
    Differs,
    /// The mailbox never had a PIN set (the default PIN rule applies).
    NotSet,
}

/// Input and output of a voicemail call's IO (media, files, the store), carried out in order per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmIo {
    /// Where the caller's RTP goes and which payload types were agreed.
    Remote {
        /// The caller's RTP address.
        remote: Option<std::net::SocketAddr>,
        /// The caller's signalling IP (its media may come from there, behind NAT).
        signalling: Option<IpAddr>,
        /// Audio payload type.
        audio_pt: u8,
        /// Telephone-event payload type.
        event_pt: Option<u8>,
    },
    /// Play in order, replacing what plays; [`VmInput::PlayDone`] with `generation` follows.
    Play {
        /// Tells this playback's end from an older one's.
        generation: u64,
        /// What to play.
        audio: Vec<crate::vm::Audio>,
    },
    /// Stop playing.
    StopPlay,
    /// Move within the message playing.
    Seek(i64),
    /// Start recording ([`VmInput::RecordDone`] follows, or [`VmInput::RecordFailed`]).
    Record {
        /// What for.
        purpose: RecordingFor,
        /// Longest take.
        max: Duration,
        /// End on this much silence.
        silence: Option<Duration>,
    },
    /// Stop the recording.
    StopRecord,
    /// Keep the recorded message, `duration` long, in `folder`.
    KeepMessage {
        /// Its length.
        duration_ms: u64,
        /// Where it goes.
        folder: Folder,
    },
    /// Install the recorded greeting.
    KeepGreeting,
    /// Throw the take away.
    DiscardTake,
    /// Does this mailbox exist? ([`VmInput::MailboxExists`]).
    MailboxExists(String),
    /// Check a PIN against the mailbox's hash ([`VmInput::PinChecked`]).
    VerifyPin {
        /// Mailbox.
        mailbox: String,
        /// The digits entered (never logged).
        pin: Pin,
    },
    /// Load what the menus need of a mailbox ([`VmInput::Mailbox`]).
    LoadMailbox(String),
    /// Move a message to a folder.
    MoveMessage {
        /// The message.
        id: i64,
        /// Where to.
        folder: Folder,
    },
    /// Delete a message.
    DeleteMessage(i64),
    /// Turn the temporary greeting of a mailbox on or off.
    SetTemporary {
        /// Mailbox.
        mailbox: String,
        /// On or off.
        active: bool,
    },
    /// Store a new PIN.
    SetPin {
        /// Mailbox.
        mailbox: String,
        /// The PIN (never logged).
        pin: Pin,
    },
    /// Count a mailbox's messages ([`Switch::handle_counts`] with [`CountFor::Changed`]).
    CountMessages(String),
    /// Look up a conference ([`VmInput::Conference`]).
    LoadConference(crate::conference::ConferenceId),
    /// Put the caller's audio into the conference room (opened if nobody is there); `chime`: the
    /// others hear the ding of an arrival.
    JoinRoom {
        /// The conference.
        room: crate::conference::ConferenceId,
        /// Ding for the others.
        chime: bool,
    },
    /// Take the caller's audio out of its conference room (the room closes with its last);
    /// `chime`: the others hear the dong of a departure.
    LeaveRoom {
        /// Dong for the others.
        chime: bool,
    },
    /// The call is over: stop the media ([`VmInput::Closed`] follows with a recording cut short).
    Close,
    /// Nothing more comes for this call.
    Finish,
}

/// Results of a voicemail call's IO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmInput {
    /// A playback ended.
    PlayDone(u64),
    /// The caller pressed a key (RFC 4733).
    Digit(char),
    /// A recording ended.
    RecordDone(RecordResult),
    /// A recording could not start.
    RecordFailed,
    /// Whether a mailbox exists.
    MailboxExists(String, bool),
    /// The result of a PIN check.
    PinChecked(PinCheck),
    /// A mailbox's contents (`None`: no such mailbox).
    Mailbox(Option<Box<MailboxView>>),
    /// The media stopped; the recording it cut short, if any.
    Closed(Option<RecordResult>),
    /// A conference looked up (`None`: there is none with that ID), and the wall clock when it was
    /// read (seconds since the epoch: a scheduled conference's state depends on it).
    Conference(
        crate::conference::ConferenceId,
        Option<Box<crate::conference::Conference>>,
        i64,
    ),
}

/// One participant's time in a conference, for its statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendance {
    /// The conference.
    pub conference: crate::conference::ConferenceId,
    /// The session (when its room opened, seconds since the epoch).
    pub session: i64,
    /// The caller.
    pub caller: String,
    /// When its audio went in.
    pub joined: Instant,
    /// When it left.
    pub left: Instant,
}

/// A finished call, for its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSummary {
    /// When it started.
    pub started: Instant,
    /// Calling extension or number.
    pub caller: String,
    /// The caller's name.
    pub caller_name: Option<String>,
    /// Number called.
    pub callee: String,
    /// The user whose call route sent the call elsewhere (the extension first dialled), if it
    /// was routed on.
    pub routed_by: Option<String>,
    /// Who took it: the extension whose phone answered, or the number outside.
    pub answered_by: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Time connected.
    pub talk: Duration,
    /// From start to end.
    pub total: Duration,
    /// Which way it went.
    pub direction: Direction,
    /// The trunk it went through, if any.
    pub trunk: Option<String>,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // drained at once; boxing would cost an allocation per message
pub enum Command {
    /// Respond on a server transaction.
    Respond {
        /// The transaction.
        tx: TxId,
        /// The response.
        response: Response,
    },
    /// Send a request in a new client transaction; hand `route` back with its responses.
    Send {
        /// The request.
        request: Request,
        /// Where.
        target: Target,
        /// Where its responses go.
        route: ClientRoute,
    },
    /// Look up an account's digest HA1 ([`Switch::handle_credentials`]).
    Credentials {
        /// The lookup.
        job: JobId,
        /// The account (a valid extension).
        account: String,
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// Look up accounts in the directory ([`Switch::handle_accounts`], one answer per name, in order):
    /// the first in full (its mailbox and greetings), the others for their display names only.
    Accounts {
        /// The lookup.
        job: JobId,
        /// Extensions.
        names: Vec<String>,
    },
    /// Count a mailbox's messages ([`Switch::handle_counts`]).
    CountMessages {
        /// The mailbox.
        mailbox: String,
        /// Why.
        why: CountFor,
    },
    /// Open a media relay of two port pairs for a call ([`Switch::handle_relay`]).
    OpenRelay(CallId),
    /// Steer a call's relay.
    SteerRelay(CallId, MediaUpdate),
    /// Close a call's relay.
    CloseRelay(CallId),
    /// Start Parley's own media on the callee side of a call's relay to screen a Follow-Me leg
    /// (keys back through [`Switch::handle_screen_digit`]), or stop it (`None`).
    Screen(CallId, Option<crate::call::Screening>),
    /// Open Parley's own media end for a voicemail call ([`Switch::handle_media_opened`]).
    OpenMedia(CallId),
    /// IO of a voicemail call, to be carried out in order.
    Voicemail(CallId, VmIo),
    /// Write a call record.
    RecordCall(CallSummary),
    /// Write who attended a conference session, from when to when.
    Attended(Attendance),
    /// An outside call was refused by a toll-fraud limit: write an audit entry (`audit`) and alert
    /// the administrators (`alert`, once per limit and hour).
    OutsideLimit(LimitRefusal),
    /// Check the PIN a Follow-Me leg entered for `mailbox` ([`Switch::handle_screen_pin`]).
    ScreenPin {
        /// The call.
        call: CallId,
        /// The mailbox whose PIN it is.
        mailbox: String,
        /// The digits entered.
        pin: crate::vm::pin::Pin,
        /// Which screening of the call it is for (handed back with the answer).
        screening: u64,
    },
    /// A user set their presence from the phone: store it (webhooks follow), audit it.
    SetPresence {
        /// The user.
        ext: String,
        /// The new presence.
        presence: crate::routing::Presence,
        /// Where the call came from (for the audit log).
        source: IpAddr,
    },
}

/// A call to the outside that a limit refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitRefusal {
    /// The calling extension.
    pub caller: String,
    /// Where its INVITE came from.
    pub source: IpAddr,
    /// The number dialled (E.164).
    pub number: String,
    /// The limit (`user.hourly`, `system.simultaneous`...).
    pub limit: &'static str,
    /// The reason the caller was given.
    pub reason: String,
    /// Write an audit entry.
    pub audit: bool,
    /// Alert the administrators.
    pub alert: bool,
}

/// The lookups waiting for an answer.
#[derive(Debug)]
enum Pending {
    /// A request waiting for its account's HA1.
    Credentials(auth::Waiting),
    /// An authenticated INVITE waiting for the directory.
    Invite(route::Waiting),
}

/// At most this many requests wait for lookups at once; more are answered 503.
const MAX_PENDING: usize = 4096;
/// At most this many of them from one address (IPv6: one /64): a quarter, so that one source cannot
/// crowd out the rest, while an office behind one NAT address (or an SBC) re-registering at once
/// still fits.
const MAX_PENDING_PER_ADDRESS: usize = MAX_PENDING / 4;

/// The phone system. See the module documentation.
#[derive(Debug)]
pub struct Switch {
    config: SwitchConfig,
    call_config: CallConfig,
    epoch: Instant,
    ids: Ids,
    auth: DigestAuth,
    registrar: Registrar,
    guard: AuthGuard,
    pin_guard: AuthGuard,
    /// Wrong Conference IDs and passwords, per caller address and per conference.
    conf_guard: AuthGuard,
    /// The conferences in session on this node.
    rooms: crate::conference::Rooms,
    calls: BTreeMap<CallId, calls::Entry>,
    voicemail: BTreeMap<CallId, vm::VmCall>,
    /// Calls whose media is being opened.
    opening: BTreeMap<CallId, Opening>,
    by_call_id: HashMap<String, (CallId, Side)>,
    server_txs: HashMap<TxId, CallId>,
    pending: HashMap<JobId, Pending>,
    /// INVITE transactions waiting for a lookup, so that a CANCEL finds them.
    waiting_invites: HashMap<TxId, JobId>,
    mwi: mwi::Mwi,
    trunks: trunks::Trunks,
    /// Outside calls placed in the last hour, and the limit refusals reported.
    outside_hourly: crate::trunk::limits::Hourly,
    next_id: u64,
    out: VecDeque<Command>,
    changed: bool,
}

/// A call whose media ports are being opened.
#[derive(Debug)]
enum Opening {
    Relay(Box<calls::Planned>),
    Voicemail(Box<vm::Planned>),
}

impl Switch {
    /// A switch with nothing registered and no calls.
    pub fn new(now: Instant, mut config: SwitchConfig) -> Switch {
        // The menus offer the operator key exactly when an operator is configured.
        config.vm.menus.operator = config.vm.operator.is_some();
        let auth = DigestAuth::new(
            &config.realm,
            &config.digest_key,
            config.nonce_ttl.as_secs(),
            config.algorithms.clone(),
        )
        .dangerous_allow_rfc2069(config.dangerous_digest_rfc2069);
        Switch {
            call_config: CallConfig {
                local: config.local.clone(),
                media_ip: config.media_ip,
                no_answer: config.no_answer,
            },
            epoch: now,
            ids: Ids::new(config.seed),
            auth,
            registrar: Registrar::new(config.registrar.clone()),
            guard: AuthGuard::new(config.guard.clone()),
            pin_guard: AuthGuard::new(config.vm.pin_guard.clone()),
            conf_guard: AuthGuard::new(config.vm.pin_guard.clone()),
            rooms: Default::default(),
            calls: BTreeMap::new(),
            voicemail: BTreeMap::new(),
            opening: BTreeMap::new(),
            by_call_id: HashMap::new(),
            server_txs: HashMap::new(),
            pending: HashMap::new(),
            waiting_invites: HashMap::new(),
            mwi: mwi::Mwi::default(),
            trunks: trunks::Trunks::default(),
            outside_hourly: Default::default(),
            next_id: 1,
            out: VecDeque::new(),
            changed: false,
            config,
        }
    }

    /// The next thing for the shell to do.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    /// When [`Switch::handle_timeout`] must next be called, and why.
    pub fn poll_timeout(&self) -> Option<(Instant, &'static str)> {
        let calls = self.calls.values().filter_map(|c| c.call.poll_timeout());
        let vm = self.voicemail.values().filter_map(|v| v.poll_timeout());
        calls
            .chain(vm)
            .chain(self.registrar.poll_timeout())
            .chain(self.mwi.poll_timeout())
            .chain(self.trunks.poll_timeout())
            .min_by_key(|(t, _)| *t)
    }

    /// Whether what [`Switch::view`] shows changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Time is `now`: fire every timer that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.mwi_timeouts(now);
        self.trunk_timeouts(now);
        if !self.registrar.expire(now).is_empty() {
            self.changed = true;
        }
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.call.poll_timeout().is_some_and(|(t, _)| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(c) = self.calls.get_mut(&id) {
                c.call.handle_timeout(now);
            }
            self.drive_call(now, id);
        }
        let due: Vec<CallId> = self
            .voicemail
            .iter()
            .filter(|(_, v)| v.poll_timeout().is_some_and(|(t, _)| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(v) = self.voicemail.get_mut(&id) {
                v.session.handle_timeout(now);
            }
            self.drive_vm(now, id);
        }
    }

    /// The calls and voicemail calls whose timers are due at `now` (dropped when a timer faulted).
    pub fn due_children(&self, now: Instant) -> Vec<CallId> {
        let calls = self
            .calls
            .iter()
            .filter(|(_, c)| c.call.poll_timeout().is_some_and(|(t, _)| t <= now))
            .map(|(id, _)| *id);
        let vm = self
            .voicemail
            .iter()
            .filter(|(_, v)| v.poll_timeout().is_some_and(|(t, _)| t <= now))
            .map(|(id, _)| *id);
        calls.chain(vm).collect()
    }

    /// Forget a call or voicemail call (its handling faulted): nothing more is sent for it.
    pub fn forget(&mut self, now: Instant, id: CallId) {
        if let Some(e) = self.calls.remove(&id) {
            if let Some((_, mailbox)) = &e.screen_pin {
                // A Follow-Me PIN check in flight ends here, as wrong, releasing its place.
                let from = calls::screen_address(mailbox);
                self.pin_guard.end(now, from, Some(mailbox), false);
            }
            self.out.push_back(Command::CloseRelay(id));
        }
        if let Some(v) = self.voicemail.remove(&id) {
            // A PIN check in flight ends here, as a wrong PIN, so that its reservation is released.
            if let Some((source, account)) = v.login_in_flight() {
                self.pin_guard.end(now, source, account.as_deref(), false);
            }
            self.out.push_back(Command::Voicemail(id, VmIo::Finish));
        }
        match self.opening.remove(&id) {
            Some(Opening::Relay(_)) => self.out.push_back(Command::CloseRelay(id)),
            Some(Opening::Voicemail(_)) => self.out.push_back(Command::Voicemail(id, VmIo::Finish)),
            None => {}
        }
        self.by_call_id.retain(|_, (c, _)| *c != id);
        self.server_txs.retain(|_, c| *c != id);
        self.changed = true;
    }

    /// End every call (BYE or a final response) and remove Parley's registrations at the trunks,
    /// before the server stops.
    pub fn shutdown(&mut self, now: Instant) {
        self.unregister_all(now);
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            if let Some(c) = self.calls.get_mut(&id) {
                c.call.hangup(now);
            }
            self.drive_call(now, id);
        }
        let ids: Vec<CallId> = self.voicemail.keys().copied().collect();
        for id in ids {
            if let Some(v) = self.voicemail.get_mut(&id) {
                v.endpoint.hangup(now);
            }
            self.drive_vm(now, id);
        }
    }

    /// Calls in progress (B2BUA and voicemail).
    pub fn calls_in_progress(&self) -> usize {
        self.calls.len() + self.voicemail.len()
    }

    /// The transaction and request waiting for lookup `job` (the shell answers it 500 should the
    /// lookup's answer fault).
    pub fn waiting_request(&self, job: JobId) -> Option<(TxId, Request)> {
        match self.pending.get(&job)? {
            Pending::Credentials(w) => {
                let (tx, req) = w.request();
                Some((tx, req.clone()))
            }
            Pending::Invite(w) => {
                let (tx, req) = w.request();
                Some((tx, req.clone()))
            }
        }
    }

    /// Drop what waited on `tx` (its handling faulted and it was answered 500).
    pub fn abandon(&mut self, tx: TxId) {
        if let Some(job) = self.waiting_invites.remove(&tx) {
            self.pending.remove(&job);
        }
        self.server_txs.remove(&tx);
    }

    /// Lookups waiting from one address.
    fn pending_from(&self, ip: IpAddr) -> usize {
        let ip = crate::guard::address_key(ip);
        self.pending
            .values()
            .filter(|p| match p {
                Pending::Credentials(w) => w.source_ip() == ip,
                Pending::Invite(w) => w.source_ip() == ip,
            })
            .count()
    }

    /// Calls an account has in progress, including those still being set up.
    fn calls_of(&self, caller: &str) -> usize {
        let up = self
            .calls
            .values()
            .filter(|c| c.call.parties().0 == caller)
            .count();
        let vm = self
            .voicemail
            .values()
            .filter(|v| v.caller == caller)
            .count();
        let waiting = self
            .pending
            .values()
            .filter(|p| matches!(p, Pending::Invite(w) if w.caller() == caller))
            .count();
        let opening = self
            .opening
            .values()
            .filter(|o| match o {
                Opening::Relay(p) => p.caller == caller,
                Opening::Voicemail(p) => p.caller() == caller,
            })
            .count();
        up + vm + waiting + opening
    }

    fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_id);
        self.next_id += 1;
        id
    }

    fn new_job(&mut self) -> JobId {
        let id = JobId(self.next_id);
        self.next_id += 1;
        id
    }

    fn tag(&mut self) -> String {
        self.ids.tag()
    }

    fn respond(&mut self, tx: TxId, response: Response) {
        self.out.push_back(Command::Respond { tx, response });
    }

    /// Answer `req` with `status` and a fresh To tag.
    fn reply(&mut self, tx: TxId, req: &Request, status: StatusCode) {
        let tag = self.tag();
        self.respond(tx, Response::to_request(req, status, Some(&tag)));
    }

    /// Answer a request a bound refused (`to_tag`: the one its dialog already has, if any).
    fn refuse(&mut self, tx: TxId, req: &Request, to_tag: Option<&str>, refusal: Refusal) {
        let tag = to_tag.map_or_else(|| self.tag(), str::to_string);
        let mut r = Response::to_request(req, refusal.status, Some(&tag));
        r.reason = refusal.reason.into();
        if let Some(secs) = refusal.retry_after {
            r.headers.push("Retry-After", &secs.to_string());
        }
        self.respond(tx, r);
    }

    /// Digest time: seconds since the switch started (monotonic, never jumps).
    fn digest_secs(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }
}

/// The methods Parley answers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, SUBSCRIBE, NOTIFY";
