//! The shell of voicemail sessions: answers the caller with an [`Endpoint`], runs a [`Session`] (the
//! menus, in core) over a [`Media`] task, and carries out what the session asks: play prompts, greetings
//! and messages; record to files; check PINs (argon2 off the actor, with a lockout across calls); and
//! change the store, then update message-waiting lamps.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, TimeZone, Timelike};
use parley_core::call::{CallConfig, CallEvent, LocalAddr, Output};
use parley_core::endpoint::{Endpoint, NewEndpoint};
use parley_core::guard::{AuthGuard, GuardConfig, Lockout};
use parley_core::limits::{NewVoicemail, OpenVoicemail};
use parley_core::sip::Request;
use parley_core::target::Target;
use parley_core::text::Printable;
use parley_core::vm::profile::Profile;
use parley_core::vm::{
    Announcement, Audio, Command, Deposit, Folder, GreetingKind, Greetings, LocalTime, LoginResult,
    MailboxView, MessageInfo, Reason, RecordResult, RecordingFor, Session, VmConfig,
};
use parley_store::{CallRecord, Outcome};
use tracing::{info, info_span, warn, Instrument, Span};

use super::{now, unix_now, Server};
use crate::adapter::TxId;
use crate::media::{Clip, Media, MediaEvent, RecordSpec};
use crate::prompts::read_wav;

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
    pub default_pin: String,
    /// Directory of prompt files overriding the bundled ones.
    pub prompts: Option<PathBuf>,
    /// Lockout after wrong PINs (per mailbox and per caller address, across calls).
    pub pin_guard: GuardConfig,
    /// Where `0` during a greeting or after a message transfers the caller (an extension).
    pub operator: Option<String>,
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
            default_pin: "1234".into(),
            prompts: None,
            pin_guard: GuardConfig {
                max_failures: 5,
                window: Duration::from_secs(900),
                lockout: Duration::from_secs(300),
            },
            operator: None,
        }
    }
}

/// The recording a session is making or has made, until it is kept or discarded.
#[derive(Debug)]
enum TakeFile {
    Message {
        id: i64,
        mailbox: String,
    },
    Greeting {
        mailbox: String,
        kind: GreetingKind,
        tmp: PathBuf,
    },
}

/// One voicemail conversation in progress.
pub(super) struct VmEntry {
    endpoint: Endpoint,
    session: Session,
    media: Media,
    span: Span,
    started: Instant,
    source: IpAddr,
    caller: String,
    /// Opened by the owner's own authenticated phone (`*97`).
    own_phone: bool,
    /// The mailbox a message is being left in (`None`: a mailbox menu).
    deposit_mailbox: Option<String>,
    label: String,
    take: Option<TakeFile>,
    take_ms: u64,
    /// A REFER to the operator is pending: the session is over, the dialog ends with the transfer.
    transferring: bool,
    /// The call record written when it ends.
    record: CallRecord,
    /// When the record's call started (earlier than `started` for a diverted call).
    record_since: Instant,
}

/// Results of work done off the actor.
#[derive(Debug)]
pub(super) enum Work {
    Pin {
        id: u64,
        mailbox: String,
        /// The account the attempt was reserved for (`None`: no such mailbox, the address only).
        account: Option<String>,
        /// The caller's address the attempt was reserved for.
        source: IpAddr,
        ok: bool,
    },
    /// The NOTIFY that follows a SUBSCRIBE's 200 (sent a moment later, so that it does not overtake it).
    SubscriptionNotify { call_id: String, end: bool },
}

impl Work {
    /// The voicemail session the work is for, if any.
    pub(super) fn session(&self) -> Option<u64> {
        match self {
            Work::Pin { id, .. } => Some(*id),
            Work::SubscriptionNotify { .. } => None,
        }
    }
}

/// What a new voicemail call is.
pub(super) enum VmKind {
    Deposit {
        mailbox: String,
        reason: Reason,
        /// The call that was diverted here started then (wall clock, monotonic).
        since: Option<(u64, Instant)>,
    },
    Retrieval {
        mailbox: Option<String>,
        own: bool,
    },
}

impl VmEntry {
    pub(super) fn session_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout().map(|t| t.0)
    }

    pub(super) fn hangup(&mut self) {
        self.endpoint.hangup(now());
    }

    /// Whether an in-dialog request from `source` belongs to this call's dialog and party.
    pub(super) fn accepts(&self, req: &Request, source: IpAddr) -> bool {
        self.endpoint.accepts(req, source)
    }

    /// Whether the authenticated caller of this voicemail call is `account`.
    pub(super) fn is_from(&self, account: &str) -> bool {
        self.caller == account
    }

    pub(super) fn view(&self, id: u64, now: Instant) -> crate::status::VoicemailView {
        use std::sync::atomic::Ordering::Relaxed;
        crate::status::VoicemailView {
            id,
            caller: self.caller.clone(),
            what: self.label.clone(),
            recording: self.take.is_some(),
            age_secs: now.saturating_duration_since(self.started).as_secs(),
            packets_received: self.media.stats.received.load(Relaxed),
            packets_lost: self.media.stats.lost.load(Relaxed),
            packets_from_strangers: self.media.stats.strangers.load(Relaxed),
        }
    }
}

fn local_time(unix: i64) -> LocalTime {
    let t = chrono::Local
        .timestamp_opt(unix, 0)
        .single()
        .unwrap_or_else(|| chrono::Local.timestamp_opt(0, 0).unwrap());
    LocalTime {
        weekday: t.weekday().num_days_from_sunday() as u8,
        month: t.month() as u8,
        day: t.day() as u8,
        hour: t.hour() as u8,
        minute: t.minute() as u8,
    }
}

/// A PIN guard built from settings.
pub(super) fn pin_guard(s: &VmSettings) -> AuthGuard {
    AuthGuard::new(s.pin_guard.clone())
}

impl Server {
    fn profile(&self) -> Profile {
        self.vm_profile.clone()
    }

    /// Start a voicemail conversation on a caller's INVITE (answered at once).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn start_voicemail(
        &mut self,
        tx: TxId,
        invite: Request,
        source: Target,
        local_tag: Option<String>,
        caller: String,
        kind: VmKind,
    ) {
        let new = match &kind {
            VmKind::Deposit { mailbox, .. } => NewVoicemail::Deposit { mailbox },
            VmKind::Retrieval { own, .. } => NewVoicemail::Menu {
                caller: &caller,
                own: *own,
            },
        };
        let open = self.sessions.values().map(|e| OpenVoicemail {
            deposit_into: e.deposit_mailbox.as_deref(),
            caller: &e.caller,
            source: e.source,
        });
        let trusted = self.config.vm.pbx_peers.contains(&source.addr.ip());
        if let Err(refusal) =
            self.config
                .limits
                .admit_voicemail(new, source.addr.ip(), trusted, open)
        {
            info!(caller = %Printable(&caller), source = %source, status = refusal.status, "voicemail call refused: {}", refusal.reason);
            return self.refuse(tx, &invite, local_tag.as_deref(), refusal);
        }
        let sockets = match self.ports.allocate().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot allocate media ports for voicemail");
                self.adapter.respond(
                    tx,
                    &parley_core::sip::Response::to_request(&invite, 503, Some(&super::tag())),
                );
                return;
            }
        };
        let id = self.next_call;
        self.next_call += 1;
        let media = match Media::start(sockets, id, self.media_events.clone()) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot start media");
                return;
            }
        };
        let (label, span) = match &kind {
            VmKind::Deposit {
                mailbox, reason, ..
            } => (
                format!("voicemail {mailbox}"),
                info_span!("voicemail", id, from = %Printable(&caller), mailbox = %Printable(mailbox), reason = ?reason),
            ),
            VmKind::Retrieval { mailbox, .. } => (
                "mailbox menu".to_string(),
                info_span!("mailbox-menu", id, from = %Printable(&caller), mailbox = %Printable(mailbox.as_deref().unwrap_or("?"))),
            ),
        };
        let (since_unix, record_since) = match &kind {
            VmKind::Deposit {
                since: Some(since), ..
            } => *since,
            _ => (super::unix_now(), now()),
        };
        let record = CallRecord {
            id: 0,
            started_at: since_unix as i64,
            caller: caller.clone(),
            caller_name: None,
            callee: match &kind {
                VmKind::Deposit { mailbox, .. } => mailbox.clone(),
                VmKind::Retrieval { .. } => invite.uri.user_base().unwrap_or("").to_string(),
            },
            outcome: match &kind {
                VmKind::Deposit { .. } => Outcome::Voicemail,
                VmKind::Retrieval { .. } => Outcome::Mailbox,
            },
            talk_ms: 0,
            total_ms: 0,
        };
        let menus = self.config.vm.menus.clone();
        let own_phone = matches!(kind, VmKind::Retrieval { own: true, .. });
        let deposit_mailbox = match &kind {
            VmKind::Deposit { mailbox, .. } => Some(mailbox.clone()),
            VmKind::Retrieval { .. } => None,
        };
        let session = match kind {
            VmKind::Deposit {
                mailbox, reason, ..
            } => {
                let greetings = self.greetings(&mailbox).await;
                Session::deposit(
                    self.profile(),
                    menus,
                    Deposit {
                        mailbox,
                        caller: (!caller.is_empty()).then(|| caller.clone()),
                        reason,
                        greetings,
                    },
                )
            }
            VmKind::Retrieval { mailbox, own } => {
                let prompt = match (&mailbox, own) {
                    (Some(m), true) => self
                        .store
                        .mailbox_settings(m)
                        .await
                        .map(|s| s.always_prompt)
                        .unwrap_or(true),
                    _ => true,
                };
                Session::retrieval(self.profile(), menus, mailbox, prompt)
            }
        };
        let user = invite.uri.user_base().unwrap_or("voicemail").to_string();
        let endpoint = {
            let _g = span.enter();
            info!("voicemail answered");
            Endpoint::answer(
                now(),
                CallConfig {
                    local: LocalAddr {
                        host: self.config.public_ip.to_string(),
                        port: self.config.listen.port(),
                    },
                    media_ip: self.config.public_ip,
                    no_answer: self.config.no_answer,
                },
                NewEndpoint {
                    invite,
                    tx,
                    source,
                    local_tag,
                    user,
                    media_port: media.port,
                    seed: rand::random(),
                },
            )
        };
        self.by_call_id.insert(
            endpoint.call_id().to_string(),
            (id, parley_core::call::Side::A),
        );
        self.server_txs.insert(tx, id);
        self.sessions.insert(
            id,
            VmEntry {
                endpoint,
                session,
                media,
                span,
                started: now(),
                source: source.addr.ip(),
                caller,
                own_phone,
                deposit_mailbox,
                label,
                take: None,
                take_ms: 0,
                transferring: false,
                record,
                record_since,
            },
        );
        self.drive_vm(id).await;
        self.publish_status();
    }

    /// Which greetings a mailbox has (files present; temporary also needs to be active).
    async fn greetings(&self, mailbox: &str) -> Greetings {
        let has = |k: GreetingKind| self.store.greeting_path(mailbox, k.as_str()).is_file();
        let settings = self
            .store
            .mailbox_settings(mailbox)
            .await
            .unwrap_or_default();
        // A chosen announcement whose recording is missing falls back to the standard greeting,
        // with the standard greeting's "Recording active".
        let active = match settings.announcement.greeting() {
            Some(k) if has(k) => settings.announcement,
            _ => Announcement::Standard,
        };
        Greetings {
            unavailable: has(GreetingKind::Unavailable),
            busy: has(GreetingKind::Busy),
            name: has(GreetingKind::Name),
            temporary: settings.temp_active && has(GreetingKind::Temporary),
            announcement: active.greeting(),
            record: settings.records(active),
        }
    }

    async fn mailbox_view(&self, mailbox: &str) -> Option<MailboxView> {
        let user = self.store.get_user(mailbox).await.ok().flatten()?;
        let messages = self
            .store
            .list_messages(mailbox)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let is_ext = m
                    .caller
                    .as_deref()
                    .is_some_and(|c| parley_store::validate_extension(c).is_ok());
                MessageInfo {
                    id: m.id,
                    folder: Folder::parse(&m.folder).unwrap_or(Folder::Old),
                    received: local_time(m.received_at),
                    caller: m.caller,
                    caller_is_extension: is_ext,
                }
            })
            .collect();
        Some(MailboxView {
            number: user.extension,
            greetings: self.greetings(mailbox).await,
            messages,
            pin_is_default: self.store.pin_is_default(mailbox).await.unwrap_or(false),
        })
    }

    /// An in-dialog request for a voicemail call.
    pub(super) async fn vm_request(&mut self, id: u64, tx: TxId, req: &Request) {
        if let Some(e) = self.sessions.get_mut(&id) {
            let _g = e.span.clone().entered();
            e.endpoint.handle_request(now(), tx, req);
        }
        self.drive_vm(id).await;
    }

    /// The caller's phone answered our REFER (or never did): the voicemail call ends either way; on
    /// success the phone is already calling the operator.
    pub(super) async fn transfer_result(&mut self, id: u64, status: u16) {
        if let Some(e) = self.sessions.get_mut(&id) {
            let _g = e.span.clone().entered();
            if (200..300).contains(&status) {
                info!(status, "transfer accepted by the caller's phone");
            } else {
                warn!(status, "the caller's phone refused the transfer");
            }
            e.transferring = false;
            e.endpoint.hangup(now());
        }
        self.drive_vm(id).await;
    }

    /// An event from a session's media task.
    pub(super) async fn vm_media_event(&mut self, id: u64, ev: MediaEvent) {
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        let _g = e.span.clone().entered();
        match ev {
            MediaEvent::PlayDone(generation) => {
                if generation == e.media.generation() {
                    e.session.handle_play_done(now());
                }
            }
            // Keys are never logged: they may be a PIN.
            MediaEvent::Digit(d) => e.session.handle_dtmf(now(), d),
            MediaEvent::RecordDone(r) => {
                e.take_ms = r.duration_ms;
                info!(ms = r.duration_ms, end = ?r.end, "recording ended");
                e.session.handle_record_done(now(), r);
            }
        }
        drop(_g);
        self.drive_vm(id).await;
    }

    /// Work finished off the actor.
    pub(super) async fn vm_work(&mut self, w: Work) {
        match w {
            Work::SubscriptionNotify { call_id, end } => {
                self.subscription_notify(&call_id, end).await
            }
            Work::Pin {
                id,
                mailbox,
                account,
                source,
                ok,
            } => {
                let t = now();
                let locks = self.pin_guard.end(t, source, account.as_deref(), ok);
                let result = if ok {
                    match self.mailbox_view(&mailbox).await {
                        Some(v) => LoginResult::Ok(v),
                        None => LoginResult::Wrong,
                    }
                } else {
                    self.pin_guard.prune(t);
                    for lock in locks {
                        match lock {
                            Lockout::Account(m, d) => {
                                warn!(mailbox = %m, secs = d.as_secs(), "mailbox locked after repeated wrong PINs")
                            }
                            Lockout::Address(a, d) => {
                                warn!(address = %a, secs = d.as_secs(), "mailbox logins from an address locked after repeated wrong PINs")
                            }
                        }
                    }
                    LoginResult::Wrong
                };
                if let Some(e) = self.sessions.get_mut(&id) {
                    let _g = e.span.clone().entered();
                    info!(mailbox = %mailbox, ok, "mailbox login");
                    e.session.handle_login(t, result);
                }
                self.drive_vm(id).await;
                self.publish_status();
            }
        }
    }

    pub(super) async fn vm_timeouts(&mut self, t: Instant) {
        let due: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.session.poll_timeout().is_some_and(|(d, _)| d <= t))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(e) = self.sessions.get_mut(&id) {
                e.session.handle_timeout(t);
            }
            self.drive_vm(id).await;
        }
    }

    /// Carry out what a voicemail call's endpoint and session ask; drop the call once it is over.
    pub(super) async fn drive_vm(&mut self, id: u64) {
        loop {
            let Some(e) = self.sessions.get_mut(&id) else {
                return;
            };
            let span = e.span.clone();
            if let Some(out) = e.endpoint.poll_output() {
                let mut ended = false;
                span.in_scope(|| match out {
                    Output::Respond { tx, response } => self.adapter.respond(tx, &response),
                    Output::Request {
                        request, target, ..
                    } => {
                        let ctx = self.adapter.send_request(&request, target);
                        let route = if request.method == parley_core::sip::Method::Refer {
                            super::ClientRoute::Transfer { session: id }
                        } else {
                            super::ClientRoute::Ignore
                        };
                        self.client_txs.insert(ctx, route);
                    }
                    Output::Ack { .. } => {}
                    Output::Media(u) => {
                        let n = e.endpoint.negotiated().clone();
                        e.media
                            .set_remote(u.a_remote, u.a_signalling, n.audio_pt, n.event_pt);
                    }
                    Output::Event(CallEvent::Dtmf(d)) => e.session.handle_dtmf(now(), d),
                    Output::Event(CallEvent::Ended { status, reason }) => {
                        info!(status, reason, "voicemail call ended");
                        ended = true;
                    }
                    Output::Event(_) => {}
                });
                if ended {
                    // Finalize a recording still running, then let the session decide what to keep.
                    if let Some(r) = e.media.close().await {
                        e.take_ms = r.duration_ms;
                        e.session.handle_record_done(now(), r);
                    }
                    e.session.handle_hangup(now());
                }
                continue;
            }
            if let Some(cmd) = e.session.poll_command() {
                self.vm_command(id, cmd).instrument(span).await;
                continue;
            }
            if e.endpoint.is_ended() || (e.session.is_done() && !e.transferring) {
                if !e.endpoint.is_ended() {
                    e.endpoint.hangup(now());
                    continue;
                }
                let _ = e.media.close().await;
                if let Some(e) = self.sessions.remove(&id) {
                    let end = now();
                    let mut r = e.record;
                    r.talk_ms = end.saturating_duration_since(e.started).as_millis() as i64;
                    r.total_ms = end.saturating_duration_since(e.record_since).as_millis() as i64;
                    self.write_call_record(r);
                }
                self.by_call_id.retain(|_, (c, _)| *c != id);
                self.server_txs.retain(|_, c| *c != id);
                self.publish_status();
            }
            return;
        }
    }

    fn clips(&mut self, audio: Vec<Audio>, messages: &HashMap<i64, PathBuf>) -> Vec<Clip> {
        let mut clips = Vec::with_capacity(audio.len());
        for a in audio {
            let (samples, seekable) = match a {
                Audio::Prompt(p) => (self.prompts.get(&p), false),
                Audio::Greeting { mailbox, kind } => (
                    read_wav(&self.store.greeting_path(&mailbox, kind.as_str()))
                        .unwrap_or_else(|| Arc::from(Vec::new())),
                    false,
                ),
                Audio::Message(mid) => {
                    let path = messages.get(&mid).cloned();
                    (
                        path.and_then(|p| read_wav(&p))
                            .unwrap_or_else(|| Arc::from(Vec::new())),
                        true,
                    )
                }
                Audio::Take => continue,
            };
            clips.push(Clip { samples, seekable });
        }
        clips
    }

    async fn vm_command(&mut self, id: u64, cmd: Command) {
        match cmd {
            Command::Play(audio) => {
                // Resolve message paths (they need the store) before taking the entry.
                let mut messages = HashMap::new();
                for a in &audio {
                    if let Audio::Message(mid) = a {
                        if let Ok(Some(m)) = self.store.get_message(*mid).await {
                            messages.insert(*mid, self.store.message_path(&m.mailbox, m.id));
                        }
                    }
                }
                let take_path = self.sessions.get(&id).and_then(|e| match &e.take {
                    Some(TakeFile::Message { id: mid, mailbox }) => {
                        Some(self.store.message_path(mailbox, *mid))
                    }
                    Some(TakeFile::Greeting { tmp, .. }) => Some(tmp.clone()),
                    None => None,
                });
                let has_take = audio.contains(&Audio::Take);
                let mut clips = self.clips(audio, &messages);
                if has_take {
                    if let Some(s) = take_path.and_then(|p| read_wav(&p)) {
                        clips.push(Clip {
                            samples: s,
                            seekable: true,
                        });
                    }
                }
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.media.play(clips);
                }
            }
            Command::StopPlay => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.media.stop_play();
                }
            }
            Command::Seek(ms) => {
                if let Some(e) = self.sessions.get(&id) {
                    e.media.seek(ms);
                }
            }
            Command::Record {
                purpose,
                max,
                silence,
            } => self.start_take(id, purpose, max, silence).await,
            Command::StopRecord => {
                if let Some(e) = self.sessions.get(&id) {
                    e.media.stop_record();
                }
            }
            Command::KeepTake => self.keep_take(id).await,
            Command::DiscardTake => self.discard_take(id).await,
            Command::Login { mailbox, pin } => self.login(id, mailbox, pin).await,
            Command::CheckMailbox(n) => {
                let exists = parley_store::validate_extension(&n).is_ok()
                    && matches!(self.store.get_user(&n).await, Ok(Some(_)));
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.session.handle_mailbox_exists(now(), &n, exists);
                }
            }
            Command::MoveMessage { id: mid, folder } => {
                if let Err(err) = self.store.move_message(mid, folder.as_str()).await {
                    warn!(error = %err, "cannot move message");
                }
                self.after_mailbox_change(id).await;
            }
            Command::DeleteMessage(mid) => {
                if let Err(err) = self.store.delete_message(mid).await {
                    warn!(error = %err, "cannot delete message");
                }
                info!(message = mid, "message deleted");
                self.after_mailbox_change(id).await;
            }
            Command::DeactivateTemporary => {
                if let Some(m) = self.session_mailbox(id) {
                    if let Ok(mut s) = self.store.mailbox_settings(&m).await {
                        s.temp_active = false;
                        let _ = self.store.set_mailbox_settings(&m, s).await;
                    }
                    info!(mailbox = %m, "temporary greeting deactivated");
                }
            }
            Command::SetPin(pin) => {
                if let Some(m) = self.session_mailbox(id) {
                    let changes = parley_store::UserChanges {
                        pin: Some(pin),
                        ..Default::default()
                    };
                    match self.store.update_user(&m, &changes).await {
                        Ok(()) => info!(mailbox = %m, "PIN changed by phone"),
                        Err(err) => warn!(mailbox = %m, error = %err, "PIN change refused"),
                    }
                }
            }
            Command::Operator => {
                // Blind transfer: the caller's phone is asked (REFER) to call the operator; Parley hangs
                // up once the phone accepts, or at once if it refuses.
                let operator = self.config.vm.operator.clone();
                if let (Some(e), Some(op)) = (self.sessions.get_mut(&id), operator) {
                    info!(operator = %op, "transferring the caller to the operator");
                    e.endpoint.refer(now(), &op);
                    e.transferring = true;
                } else if let Some(e) = self.sessions.get_mut(&id) {
                    e.endpoint.hangup(now());
                }
            }
            Command::Hangup => {
                if let Some(e) = self.sessions.get_mut(&id) {
                    e.endpoint.hangup(now());
                }
            }
        }
    }

    fn session_mailbox(&self, id: u64) -> Option<String> {
        self.sessions
            .get(&id)
            .and_then(|e| e.session.mailbox().map(str::to_string))
    }

    async fn after_mailbox_change(&mut self, id: u64) {
        if let Some(m) = self.session_mailbox(id) {
            self.mwi_update(&m).await;
        }
    }

    async fn start_take(
        &mut self,
        id: u64,
        purpose: RecordingFor,
        max: Duration,
        silence: Option<Duration>,
    ) {
        let (take, path) = match purpose {
            RecordingFor::Message { mailbox, caller } => {
                let name = match caller.as_deref() {
                    Some(c) => self.store.get_user(c).await.ok().flatten().map(|u| u.name),
                    None => None,
                };
                let mid = match self
                    .store
                    .start_message(
                        &mailbox,
                        caller.as_deref(),
                        name.as_deref(),
                        unix_now() as i64,
                    )
                    .await
                {
                    Ok(mid) => mid,
                    Err(err) => {
                        warn!(error = %err, "cannot create message");
                        return self.record_failed(id);
                    }
                };
                let path = self.store.message_path(&mailbox, mid);
                info!(message = mid, mailbox = %mailbox, "recording message");
                (TakeFile::Message { id: mid, mailbox }, path)
            }
            RecordingFor::Greeting { mailbox, kind } => {
                let fin = self.store.greeting_path(&mailbox, kind.as_str());
                let tmp = fin.with_file_name(format!(".{}.recording.wav", kind.as_str()));
                info!(mailbox = %mailbox, greeting = kind.as_str(), "recording greeting");
                (
                    TakeFile::Greeting {
                        mailbox,
                        kind,
                        tmp: tmp.clone(),
                    },
                    tmp,
                )
            }
        };
        if let Some(dir) = path.parent() {
            if let Err(err) = std::fs::create_dir_all(dir) {
                warn!(error = %err, dir = %dir.display(), "cannot create voicemail directory");
            }
        }
        if let Some(e) = self.sessions.get_mut(&id) {
            e.take = Some(take);
            e.take_ms = 0;
            e.media.record(RecordSpec { path, max, silence });
        }
        self.publish_status();
    }

    fn record_failed(&mut self, id: u64) {
        if let Some(e) = self.sessions.get_mut(&id) {
            e.session.handle_record_done(
                now(),
                RecordResult {
                    duration_ms: 0,
                    end: parley_core::vm::RecordEnd::Stopped,
                },
            );
        }
    }

    async fn keep_take(&mut self, id: u64) {
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        let ms = e.take_ms;
        match e.take.take() {
            Some(TakeFile::Message { id: mid, mailbox }) => {
                let mark_read = self
                    .store
                    .mailbox_settings(&mailbox)
                    .await
                    .map(|s| s.mark_read)
                    .unwrap_or(false);
                let folder = if mark_read { "old" } else { "new" };
                match self.store.finish_message(mid, ms as i64, folder).await {
                    Ok(()) => info!(message = mid, mailbox = %mailbox, ms, "message saved"),
                    Err(err) => warn!(error = %err, message = mid, "cannot save message"),
                }
                self.mwi_update(&mailbox).await;
            }
            Some(TakeFile::Greeting { mailbox, kind, tmp }) => {
                let fin = self.store.greeting_path(&mailbox, kind.as_str());
                match std::fs::rename(&tmp, &fin) {
                    Ok(()) => {
                        info!(mailbox = %mailbox, greeting = kind.as_str(), ms, "greeting saved")
                    }
                    Err(err) => warn!(error = %err, "cannot install greeting"),
                }
                if kind == GreetingKind::Temporary {
                    if let Ok(mut s) = self.store.mailbox_settings(&mailbox).await {
                        s.temp_active = true;
                        let _ = self.store.set_mailbox_settings(&mailbox, s).await;
                    }
                }
            }
            None => {}
        }
        self.publish_status();
    }

    async fn discard_take(&mut self, id: u64) {
        let Some(e) = self.sessions.get_mut(&id) else {
            return;
        };
        match e.take.take() {
            Some(TakeFile::Message { id: mid, .. }) => {
                info!(
                    message = mid,
                    ms = e.take_ms,
                    "message discarded (too short or re-recorded)"
                );
                let _ = self.store.delete_message(mid).await;
            }
            Some(TakeFile::Greeting { tmp, .. }) => {
                let _ = std::fs::remove_file(tmp);
            }
            None => {}
        }
        self.publish_status();
    }

    async fn login(&mut self, id: u64, mailbox: String, pin: Option<String>) {
        let Some(source) = self.sessions.get(&id).map(|e| e.source) else {
            return;
        };
        let t = now();
        let valid = parley_store::validate_extension(&mailbox).is_ok();
        let Some(pin) = pin else {
            // Opened from the owner's own phone without a PIN prompt.
            let result = match self.mailbox_view(&mailbox).await {
                Some(v) => LoginResult::Ok(v),
                None => LoginResult::Wrong,
            };
            if let Some(e) = self.sessions.get_mut(&id) {
                e.session.handle_login(t, result);
            }
            return;
        };
        // The attempt is counted before the slow check starts: parallel calls cannot outrun the lockout.
        // Only a mailbox that exists is counted by name: made-up numbers cannot fill the table.
        let exists = valid && matches!(self.store.get_user(&mailbox).await, Ok(Some(_)));
        let account = exists.then(|| mailbox.clone());
        if let Err(refusal) = self.pin_guard.begin(t, source, account.as_deref()) {
            info!(mailbox = %Printable(&mailbox), ?refusal, "mailbox login refused: locked after repeated wrong PINs");
            if let Some(e) = self.sessions.get_mut(&id) {
                e.session.handle_login(t, LoginResult::Locked);
            }
            return;
        }
        let default_allowed = self.sessions.get(&id).is_some_and(|e| {
            parley_core::vm::pin::default_pin_opens(e.own_phone, &e.caller, &mailbox)
        });
        // argon2 is slow on purpose: verify off the actor and come back with the answer.
        let store = self.store.clone();
        let work = self.work.clone();
        let default_pin = self.config.vm.default_pin.clone();
        let lookup = mailbox.clone();
        tokio::spawn(async move {
            let check = async move {
                valid
                    && match store.pin_hash(&lookup).await {
                        Ok(None) => default_allowed && pin == default_pin,
                        Ok(Some(hash)) => tokio::task::spawn_blocking(move || {
                            parley_store::verify_secret(&pin, &hash)
                        })
                        .await
                        .unwrap_or(false),
                        Err(_) => false,
                    }
            };
            // The answer always comes back, so the reservation always ends (a fault is a wrong PIN).
            let ok = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(check))
                .await
                .unwrap_or(false);
            let _ = work.send(Work::Pin {
                id,
                mailbox,
                account,
                source,
                ok,
            });
        });
    }
}
