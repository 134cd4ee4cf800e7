//! The switch's voicemail calls: a caller answered by Parley itself (an [`Endpoint`]) and talking to a
//! menu [`Session`]. The switch admits the call (bounds per mailbox, caller and address), opens its
//! media, turns the session's commands into IO ([`VmIo`]) carried out in order by the shell, and decides
//! what the IO alone cannot: which folder a new message goes to ("mark as read"), that recording a
//! temporary greeting turns it on, the PIN checks (counted before the slow check, the default-PIN rule,
//! the lockout across calls), the operator transfer, and the call record.

use std::net::IpAddr;
use std::time::Instant;

use tracing::{info, info_span, warn, Span};

use super::{
    Account, CallId, CallSummary, ClientRoute, Command, Opening, Outcome, PinCheck, Switch,
    VmInput, VmIo,
};
use crate::call::{CallEvent, Output, Side, TxId};
use crate::conference::{Conference, ConferenceId, Refused};
use crate::endpoint::{Endpoint, NewEndpoint};
use crate::extension::Extension;
use crate::guard::Lockout;
use crate::limits::{NewVoicemail, OpenVoicemail};
use crate::sip::StatusCode;
use crate::sip::{Method, Request};
use crate::target::Target;
use crate::text::Printable;
use crate::vm::pin::Pin;
use crate::vm::{
    Command as VmCommand, ConferenceAnswer, ConferenceRefusal, Deposit, Folder, GreetingKind,
    LoginResult, Reason, RecordEnd, RecordResult, RecordingFor, Session,
};

/// What a new voicemail call is.
#[derive(Debug, Clone)]
pub(super) enum VmKind {
    /// Leaving a message.
    Deposit {
        mailbox: String,
        reason: Reason,
        /// The call that was diverted here started then.
        since: Option<Instant>,
        /// "Voicemail with Transfer": `0` in the greeting transfers the caller here instead.
        transfer_to: Option<String>,
    },
    /// The mailbox menu (`mailbox` known for `*97`).
    Retrieval { mailbox: Option<String>, own: bool },
    /// A feature code's answer: what it did, said, then the call ends.
    Notice { audio: Vec<crate::vm::Audio> },
    /// The Conference Center: ID, password, then the conference room.
    Conference,
}

/// Where a Conference Center caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Seat {
    /// Not in a conference yet.
    #[default]
    None,
    /// The password opened it and a seat is held (the caller hears that it goes in).
    Held,
    /// The caller's audio is in the room.
    Joined,
}

/// A voicemail call admitted, waiting for its media port.
#[derive(Debug)]
pub(super) struct Planned {
    pub(super) tx: TxId,
    pub(super) invite: Request,
    source: Target,
    pub(super) local_tag: Option<String>,
    caller: String,
    kind: VmKind,
    account: Option<Account>,
}

/// Where a login is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Login {
    /// Asked whether the mailbox exists, before the attempt is reserved.
    Exists { mailbox: String, pin: Pin },
    /// The attempt is reserved; the PIN is being checked.
    Checking {
        mailbox: String,
        pin: Pin,
        account: Option<String>,
    },
}

/// One voicemail conversation in progress.
#[derive(Debug)]
pub(super) struct VmCall {
    pub(super) endpoint: Endpoint,
    pub(super) session: Session,
    pub(super) span: Span,
    started: Instant,
    source: IpAddr,
    pub(super) caller: String,
    /// Opened by the owner's own authenticated phone (`*97`).
    own_phone: bool,
    /// The mailbox a message is being left in (`None`: a mailbox menu).
    deposit_into: Option<String>,
    /// The deposit mailbox's account (its "mark as read").
    account: Option<Account>,
    label: String,
    /// What the recording in progress (or last made) is for.
    take: Option<RecordingFor>,
    take_ms: u64,
    /// The current playback (a "done" of an older one is ignored).
    generation: u64,
    login: Option<Login>,
    /// A REFER to the operator is pending: the dialog ends with the transfer.
    transferring: bool,
    /// Where `0` transfers the caller instead of the operator ("Voicemail with Transfer").
    transfer_to: Option<String>,
    /// The media was told to close; its answer is awaited.
    closing: bool,
    /// The media has closed.
    closed: bool,
    /// The conference whose ID a Conference Center caller entered (and the wall clock when it was
    /// read), and the seat in it.
    conference: Option<(Box<Conference>, i64)>,
    seat: Seat,
    /// When the caller's audio went into the room.
    joined_at: Option<Instant>,
    record: CallSummary,
}

impl Planned {
    /// The caller.
    pub(super) fn caller(&self) -> &str {
        &self.caller
    }

    /// Where its INVITE came from.
    pub(super) fn source_ip(&self) -> IpAddr {
        self.source.addr.ip()
    }
}

impl VmCall {
    /// A Conference Center caller whose audio is in its conference room.
    pub(super) fn in_room(&self) -> bool {
        self.seat == Seat::Joined
    }

    /// The trunk a call from outside came through.
    pub(super) fn trunk(&self) -> Option<&str> {
        self.record.trunk.as_deref()
    }

    /// The reservation of a PIN check still running: its address and account.
    pub(super) fn login_in_flight(&self) -> Option<(IpAddr, Option<String>)> {
        match &self.login {
            Some(Login::Checking { account, .. }) => Some((self.source, account.clone())),
            _ => None,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<(Instant, &'static str)> {
        self.session.poll_timeout()
    }

    pub(super) fn view(&self, id: CallId, now: Instant) -> super::status::VoicemailView {
        super::status::VoicemailView {
            id: id.0,
            caller: self.caller.clone(),
            what: self.label.clone(),
            recording: self.take.is_some(),
            age_secs: now.saturating_duration_since(self.started).as_secs(),
            packets_received: 0,
            packets_lost: 0,
            packets_from_strangers: 0,
        }
    }
}

impl Switch {
    /// Admit a voicemail call and open its media (`local_tag`: the To tag the caller already saw).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_voicemail(
        &mut self,
        _now: Instant,
        tx: TxId,
        invite: Request,
        source: Target,
        local_tag: Option<String>,
        caller: String,
        kind: VmKind,
        account: Option<Account>,
    ) {
        let new = match &kind {
            VmKind::Deposit { mailbox, .. } => NewVoicemail::Deposit { mailbox },
            VmKind::Retrieval { own, .. } => NewVoicemail::Menu {
                caller: &caller,
                own: *own,
            },
            VmKind::Notice { .. } | VmKind::Conference => NewVoicemail::Menu {
                caller: &caller,
                own: true,
            },
        };
        let open = self.voicemail.values().map(|v| OpenVoicemail {
            deposit_into: v.deposit_into.as_deref(),
            caller: &v.caller,
            source: v.source,
        });
        let trusted = self.config.vm.pbx_peers.contains(&source.addr.ip());
        if let Err(refusal) =
            self.config
                .limits
                .admit_voicemail(new, source.addr.ip(), trusted, open)
        {
            info!(caller = %Printable(&caller), source = %source, status = refusal.status.as_u16(), "voicemail call refused: {}", refusal.reason);
            return self.refuse(tx, &invite, local_tag.as_deref(), refusal);
        }
        let id = self.new_call_id();
        self.server_txs.insert(tx, id);
        self.opening.insert(
            id,
            Opening::Voicemail(Box::new(Planned {
                tx,
                invite,
                source,
                local_tag,
                caller,
                kind,
                account,
            })),
        );
        self.out.push_back(Command::OpenMedia(id));
    }

    /// The media end of voicemail call `call` listens on this port, or could not be opened.
    pub fn handle_media_opened(&mut self, now: Instant, call: CallId, port: Result<u16, ()>) {
        let Some(Opening::Voicemail(p)) = self.opening.remove(&call) else {
            if port.is_ok() {
                self.out.push_back(Command::Voicemail(call, VmIo::Finish));
            }
            return;
        };
        let Planned {
            tx,
            invite,
            source,
            local_tag,
            caller,
            kind,
            account,
        } = *p;
        let Ok(port) = port else {
            warn!("cannot allocate media ports for voicemail: 503");
            self.server_txs.remove(&tx);
            let tag = local_tag.unwrap_or_else(|| self.tag());
            return self.respond(
                tx,
                crate::sip::Response::to_request(
                    &invite,
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(&tag),
                ),
            );
        };
        let inbound = self.trunk_of(source.addr.ip()).cloned();
        let (label, span) = match &kind {
            VmKind::Deposit {
                mailbox, reason, ..
            } => (
                format!("voicemail {mailbox}"),
                info_span!("voicemail", id = call.0, from = %Printable(&caller), mailbox = %Printable(mailbox), reason = ?reason),
            ),
            VmKind::Retrieval { mailbox, .. } => (
                "mailbox menu".to_string(),
                info_span!("mailbox-menu", id = call.0, from = %Printable(&caller), mailbox = %Printable(mailbox.as_deref().unwrap_or("?"))),
            ),
            VmKind::Notice { .. } => (
                "feature code".to_string(),
                info_span!("feature-code", id = call.0, from = %Printable(&caller)),
            ),
            VmKind::Conference => (
                "conference center".to_string(),
                info_span!("conference", id = call.0, from = %Printable(&caller)),
            ),
        };
        let record = CallSummary {
            started: match &kind {
                VmKind::Deposit {
                    since: Some(since), ..
                } => *since,
                _ => now,
            },
            caller: caller.clone(),
            caller_name: None,
            routed_by: None,
            answered_by: None,
            callee: match &kind {
                VmKind::Deposit { mailbox, .. } => mailbox.clone(),
                VmKind::Retrieval { .. } | VmKind::Notice { .. } | VmKind::Conference => {
                    invite.uri.user_base().unwrap_or("").to_string()
                }
            },
            outcome: match &kind {
                VmKind::Deposit { .. } => Outcome::Voicemail,
                VmKind::Retrieval { .. } => Outcome::Mailbox,
                VmKind::Notice { .. } => Outcome::Feature,
                VmKind::Conference => Outcome::Conference,
            },
            talk: Default::default(),
            total: Default::default(),
            direction: match inbound {
                Some(_) => super::Direction::Inbound,
                None => super::Direction::Internal,
            },
            trunk: inbound.as_ref().map(|t| t.to_string()),
        };
        let mut menus = self.config.vm.menus.clone();
        let profile = self.config.vm.profile.clone();
        let transfer_to = match &kind {
            VmKind::Deposit { transfer_to, .. } => transfer_to.clone(),
            _ => None,
        };
        if transfer_to.is_some() {
            // The greeting's 0 leads there.
            menus.operator = true;
        }
        let own_phone = matches!(kind, VmKind::Retrieval { own: true, .. });
        let deposit_into = match &kind {
            VmKind::Deposit { mailbox, .. } => Some(mailbox.clone()),
            VmKind::Retrieval { .. } | VmKind::Notice { .. } | VmKind::Conference => None,
        };
        let session = match kind {
            VmKind::Deposit {
                mailbox, reason, ..
            } => Session::deposit(
                profile,
                menus,
                Deposit {
                    mailbox,
                    caller: (!caller.is_empty()).then(|| caller.clone()),
                    reason,
                    greetings: account.as_ref().map(|a| a.greetings).unwrap_or_default(),
                    transfer: transfer_to.is_some(),
                },
            ),
            VmKind::Retrieval { mailbox, own } => {
                // "Always prompt" off lets the owner's own phone in without the PIN.
                let prompt =
                    !(own && mailbox.is_some()) || account.as_ref().is_none_or(|a| a.always_prompt);
                Session::retrieval(profile, menus, mailbox, prompt)
            }
            VmKind::Notice { audio } => Session::notice(profile, menus, audio),
            VmKind::Conference => Session::conference(profile, menus),
        };
        let user = invite.uri.user_base().unwrap_or("voicemail").to_string();
        let seed = self.ids.next_u64();
        let endpoint = {
            let _g = span.enter();
            info!("voicemail answered");
            Endpoint::answer(
                now,
                self.call_config.clone(),
                NewEndpoint {
                    invite,
                    tx,
                    source,
                    local_tag,
                    user,
                    media_port: port,
                    seed,
                },
            )
        };
        self.by_call_id
            .insert(endpoint.call_id().to_string(), (call, Side::A));
        self.voicemail.insert(
            call,
            VmCall {
                endpoint,
                session,
                span,
                started: now,
                source: source.addr.ip(),
                caller,
                own_phone,
                deposit_into,
                account,
                label,
                take: None,
                take_ms: 0,
                generation: 0,
                login: None,
                transferring: false,
                transfer_to,
                closing: false,
                closed: false,
                conference: None,
                seat: Seat::None,
                joined_at: None,
                record,
            },
        );
        self.changed = true;
        self.drive_vm(now, call);
    }

    /// A result of a voicemail call's IO.
    pub fn handle_voicemail(&mut self, now: Instant, call: CallId, input: VmInput) {
        let Some(v) = self.voicemail.get_mut(&call) else {
            return;
        };
        let _g = v.span.clone().entered();
        match input {
            VmInput::PlayDone(generation) => {
                if generation == v.generation {
                    v.session.handle_play_done(now);
                }
            }
            // Keys are never logged: they may be a PIN.
            VmInput::Digit(d) => v.session.handle_dtmf(now, d),
            VmInput::RecordDone(r) => {
                v.take_ms = r.duration_ms;
                info!(ms = r.duration_ms, end = ?r.end, "recording ended");
                v.session.handle_record_done(now, r);
            }
            VmInput::RecordFailed => {
                v.take = None;
                v.session.handle_record_done(
                    now,
                    RecordResult {
                        duration_ms: 0,
                        end: RecordEnd::Stopped,
                    },
                );
            }
            VmInput::MailboxExists(number, exists) => match v.login.take() {
                Some(Login::Exists { mailbox, pin }) if mailbox == number => {
                    drop(_g);
                    return self.login_reserve(now, call, mailbox, pin, exists);
                }
                other => {
                    v.login = other;
                    v.session.handle_mailbox_exists(now, &number, exists);
                }
            },
            VmInput::PinChecked(check) => {
                drop(_g);
                return self.pin_checked(now, call, check);
            }
            VmInput::Mailbox(view) => {
                v.login = None;
                let result = match view {
                    Some(view) => LoginResult::Ok(*view),
                    None => LoginResult::Wrong,
                };
                v.session.handle_login(now, result);
            }
            VmInput::Conference(cid, conference, unix) => {
                drop(_g);
                return self.conference_found(now, call, cid, conference, unix);
            }
            VmInput::Closed(cut) => {
                if let Some(r) = cut {
                    v.take_ms = r.duration_ms;
                    v.session.handle_record_done(now, r);
                }
                v.session.handle_hangup(now);
                v.closing = false;
                v.closed = true;
            }
        }
        drop(_g);
        self.drive_vm(now, call);
    }

    /// The caller's phone answered the REFER to the operator (or never did): the call ends either way.
    pub(super) fn transfer_result(&mut self, now: Instant, call: CallId, status: StatusCode) {
        if let Some(v) = self.voicemail.get_mut(&call) {
            let _g = v.span.clone().entered();
            if status.is_success() {
                info!(
                    status = status.as_u16(),
                    "transfer accepted by the caller's phone"
                );
            } else {
                warn!(
                    status = status.as_u16(),
                    "the caller's phone refused the transfer"
                );
            }
            v.transferring = false;
            v.endpoint.hangup(now);
        }
        self.drive_vm(now, call);
    }

    /// Carry out what a voicemail call's endpoint and session ask; drop the call once it is over.
    pub(super) fn drive_vm(&mut self, now: Instant, id: CallId) {
        loop {
            let Some(v) = self.voicemail.get_mut(&id) else {
                return;
            };
            let span = v.span.clone();
            let _g = span.enter();
            if let Some(out) = v.endpoint.poll_output() {
                match out {
                    Output::Respond { tx, response } => {
                        self.out.push_back(Command::Respond { tx, response })
                    }
                    Output::Request {
                        request, target, ..
                    } => {
                        let route = if request.method == Method::Refer {
                            ClientRoute::Transfer { call: id }
                        } else {
                            ClientRoute::Ignore
                        };
                        self.out.push_back(Command::Send {
                            request,
                            target,
                            route,
                        });
                    }
                    // An endpoint screens nothing.
                    Output::Ack { .. }
                    | Output::Screen(_)
                    | Output::ScreenEnd
                    | Output::ScreenPin { .. } => {}
                    Output::Media(u) => {
                        let n = v.endpoint.negotiated();
                        let io = VmIo::Remote {
                            remote: u.a_remote,
                            signalling: u.a_signalling,
                            audio_pt: n.audio_pt,
                            event_pt: n.event_pt,
                        };
                        self.out.push_back(Command::Voicemail(id, io));
                    }
                    Output::Event(CallEvent::Dtmf(d)) => v.session.handle_dtmf(now, d),
                    Output::Event(CallEvent::Ended { status, reason }) => {
                        info!(status = status.as_u16(), reason, "voicemail call ended");
                        // A recording still running is finalized first; the session then decides.
                        v.closing = true;
                        if let Some(leave) = leave_room(&mut self.rooms, &mut self.out, now, id, v)
                        {
                            self.out.push_back(Command::Voicemail(id, leave));
                        }
                        self.out.push_back(Command::Voicemail(id, VmIo::Close));
                    }
                    Output::Event(_) => {}
                }
                continue;
            }
            if let Some(cmd) = v.session.poll_command() {
                drop(_g);
                self.vm_command(now, id, cmd);
                continue;
            }
            if v.closing {
                return;
            }
            if v.endpoint.is_ended() && v.closed {
                drop(_g);
                self.finish_vm(now, id);
                return;
            }
            if v.endpoint.is_ended() {
                // Ended without a BYE of ours (488 to an unusable offer): close the media too.
                v.closing = true;
                if let Some(leave) = leave_room(&mut self.rooms, &mut self.out, now, id, v) {
                    self.out.push_back(Command::Voicemail(id, leave));
                }
                self.out.push_back(Command::Voicemail(id, VmIo::Close));
                return;
            }
            if v.session.is_done() && !v.transferring {
                v.endpoint.hangup(now);
                continue;
            }
            return;
        }
    }

    fn finish_vm(&mut self, now: Instant, id: CallId) {
        let Some(mut v) = self.voicemail.remove(&id) else {
            return;
        };
        if let Some(leave) = leave_room(&mut self.rooms, &mut self.out, now, id, &mut v) {
            self.out.push_back(Command::Voicemail(id, leave));
        }
        self.out.push_back(Command::Voicemail(id, VmIo::Finish));
        let mut r = v.record;
        r.talk = now.saturating_duration_since(v.started);
        r.total = now.saturating_duration_since(r.started);
        self.out.push_back(Command::RecordCall(r));
        self.by_call_id.retain(|_, (c, _)| *c != id);
        self.server_txs.retain(|_, c| *c != id);
        self.changed = true;
    }

    fn io(&mut self, id: CallId, io: VmIo) {
        self.out.push_back(Command::Voicemail(id, io));
    }

    fn vm_command(&mut self, now: Instant, id: CallId, cmd: VmCommand) {
        let Some(v) = self.voicemail.get_mut(&id) else {
            return;
        };
        let mailbox = v.session.mailbox().map(str::to_string);
        match cmd {
            VmCommand::Play(audio) => {
                v.generation += 1;
                let generation = v.generation;
                self.io(id, VmIo::Play { generation, audio });
            }
            VmCommand::StopPlay => {
                v.generation += 1;
                self.io(id, VmIo::StopPlay);
            }
            VmCommand::Seek(ms) => self.io(id, VmIo::Seek(ms)),
            VmCommand::Record {
                purpose,
                max,
                silence,
            } => {
                v.take = Some(purpose.clone());
                v.take_ms = 0;
                self.changed = true;
                self.io(
                    id,
                    VmIo::Record {
                        purpose,
                        max,
                        silence,
                    },
                );
            }
            VmCommand::StopRecord => self.io(id, VmIo::StopRecord),
            VmCommand::KeepTake => {
                let take = v.take.take();
                let ms = v.take_ms;
                let mark_read = v.account.as_ref().is_some_and(|a| a.mark_read);
                self.changed = true;
                match take {
                    Some(RecordingFor::Message { mailbox, .. }) => {
                        let folder = Folder::for_new_message(mark_read);
                        self.io(
                            id,
                            VmIo::KeepMessage {
                                duration_ms: ms,
                                folder,
                            },
                        );
                        self.io(id, VmIo::CountMessages(mailbox));
                    }
                    Some(RecordingFor::Greeting { mailbox, kind }) => {
                        self.io(id, VmIo::KeepGreeting);
                        if kind == GreetingKind::Temporary {
                            // Recording a temporary greeting turns it on.
                            self.io(
                                id,
                                VmIo::SetTemporary {
                                    mailbox,
                                    active: true,
                                },
                            );
                        }
                    }
                    None => {}
                }
            }
            VmCommand::DiscardTake => {
                v.take = None;
                self.changed = true;
                self.io(id, VmIo::DiscardTake);
            }
            VmCommand::Login { mailbox, pin } => self.login(now, id, mailbox, pin),
            VmCommand::CheckMailbox(n) => {
                if Extension::is_valid(&n) {
                    self.io(id, VmIo::MailboxExists(n));
                } else {
                    v.session.handle_mailbox_exists(now, &n, false);
                }
            }
            VmCommand::MoveMessage { id: mid, folder } => {
                self.io(id, VmIo::MoveMessage { id: mid, folder });
                if let Some(m) = mailbox {
                    self.io(id, VmIo::CountMessages(m));
                }
            }
            VmCommand::DeleteMessage(mid) => {
                info!(message = mid, "message deleted");
                self.io(id, VmIo::DeleteMessage(mid));
                if let Some(m) = mailbox {
                    self.io(id, VmIo::CountMessages(m));
                }
            }
            VmCommand::DeactivateTemporary => {
                if let Some(m) = mailbox {
                    info!(mailbox = %m, "temporary greeting deactivated");
                    self.io(
                        id,
                        VmIo::SetTemporary {
                            mailbox: m,
                            active: false,
                        },
                    );
                }
            }
            VmCommand::SetPin(pin) => {
                if let Some(m) = mailbox {
                    self.io(id, VmIo::SetPin { mailbox: m, pin });
                }
            }
            VmCommand::ConferenceId(digits) => self.conference_id(now, id, digits),
            VmCommand::ConferencePassword(pin) => self.conference_password(now, id, pin),
            VmCommand::JoinConference => {
                if let (Some((c, _)), Seat::Held) = (&v.conference, v.seat) {
                    let room = c.id.clone();
                    v.seat = Seat::Joined;
                    v.joined_at = Some(now);
                    self.changed = true;
                    self.io(id, VmIo::JoinRoom { room, chime: true });
                }
            }
            VmCommand::Operator => {
                // Blind transfer: the caller's phone is asked (REFER) to call the operator; the call
                // ends once the phone accepts, or at once if it refuses.
                match v
                    .transfer_to
                    .clone()
                    .or_else(|| self.config.vm.operator.clone())
                {
                    Some(op) => {
                        info!(operator = %op, "transferring the caller to the operator");
                        v.endpoint.refer(now, &op);
                        v.transferring = true;
                    }
                    None => v.endpoint.hangup(now),
                }
            }
            VmCommand::Hangup => v.endpoint.hangup(now),
        }
    }

    fn login(&mut self, now: Instant, id: CallId, mailbox: String, pin: Option<Pin>) {
        let Some(v) = self.voicemail.get_mut(&id) else {
            return;
        };
        match pin {
            // Opened from the owner's own phone without a PIN prompt.
            None => {
                v.login = None;
                self.io(id, VmIo::LoadMailbox(mailbox));
            }
            Some(pin) if Extension::is_valid(&mailbox) => {
                v.login = Some(Login::Exists {
                    mailbox: mailbox.clone(),
                    pin,
                });
                self.io(id, VmIo::MailboxExists(mailbox));
            }
            Some(pin) => self.login_reserve(now, id, mailbox, pin, false),
        }
    }

    /// Count the attempt before the slow check starts, so that parallel calls cannot outrun the
    /// lockout; only a mailbox that exists is counted by name (made-up numbers cannot fill the table).
    fn login_reserve(&mut self, now: Instant, id: CallId, mailbox: String, pin: Pin, exists: bool) {
        let Some(v) = self.voicemail.get_mut(&id) else {
            return;
        };
        let account = exists.then(|| mailbox.clone());
        if let Err(refusal) = self.pin_guard.begin(now, v.source, account.as_deref()) {
            info!(mailbox = %Printable(&mailbox), ?refusal, "mailbox login refused: locked after repeated wrong PINs");
            v.login = None;
            v.session.handle_login(now, LoginResult::Locked);
            return self.drive_vm(now, id);
        }
        if !exists {
            v.login = Some(Login::Checking {
                mailbox,
                pin,
                account,
            });
            return self.pin_checked(now, id, PinCheck::Differs);
        }
        v.login = Some(Login::Checking {
            mailbox: mailbox.clone(),
            pin: pin.clone(),
            account,
        });
        self.io(id, VmIo::VerifyPin { mailbox, pin });
    }

    fn pin_checked(&mut self, now: Instant, id: CallId, check: PinCheck) {
        let Some(v) = self.voicemail.get_mut(&id) else {
            return;
        };
        let Some(Login::Checking {
            mailbox,
            pin,
            account,
        }) = v.login.take()
        else {
            return;
        };
        let ok = match check {
            PinCheck::Matches => true,
            PinCheck::Differs => false,
            PinCheck::NotSet => {
                crate::vm::pin::default_pin_opens(v.own_phone, &v.caller, &mailbox)
                    && crate::sip::digest::constant_time_eq(
                        pin.expose().as_bytes(),
                        self.config.vm.default_pin.expose().as_bytes(),
                    )
            }
        };
        let locks = self.pin_guard.end(now, v.source, account.as_deref(), ok);
        self.changed = true;
        let _g = v.span.clone().entered();
        info!(mailbox = %mailbox, ok, "mailbox login");
        if ok {
            v.login = None;
            drop(_g);
            return self.io(id, VmIo::LoadMailbox(mailbox));
        }
        self.pin_guard.prune(now);
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
        v.session.handle_login(now, LoginResult::Wrong);
        drop(_g);
        self.drive_vm(now, id);
    }
}

/// The guard's name for a conference (wrong passwords count per conference, whoever guesses).
fn conference_key(id: &ConferenceId) -> String {
    format!("conference {id}")
}

/// Give up a Conference Center caller's seat, if it holds one: the IO that takes its audio out of
/// the room (with the dong for the others once it was in).
fn leave_room(
    rooms: &mut crate::conference::Rooms,
    out: &mut std::collections::VecDeque<Command>,
    now: Instant,
    id: CallId,
    v: &mut VmCall,
) -> Option<VmIo> {
    let seat = std::mem::take(&mut v.seat);
    let (conference, _) = v.conference.as_ref()?;
    match seat {
        Seat::None => None,
        Seat::Held | Seat::Joined => {
            if let (Some(joined), Some(session)) =
                (v.joined_at.take(), rooms.session(&conference.id))
            {
                out.push_back(Command::Attended(super::Attendance {
                    conference: conference.id.clone(),
                    session,
                    caller: v.caller.clone(),
                    joined,
                    left: now,
                }));
            }
            rooms.leave(&conference.id, id);
            info!(conference = %conference.id, "left the conference");
            Some(VmIo::LeaveRoom {
                chime: seat == Seat::Joined,
            })
        }
    }
}

impl Switch {
    /// A Conference ID was entered: look it up, unless this caller or this conference is locked out.
    fn conference_id(&mut self, now: Instant, id: CallId, digits: String) {
        let Some(v) = self.voicemail.get(&id) else {
            return;
        };
        let source = v.source;
        match ConferenceId::new(&digits) {
            Ok(cid) => {
                if self
                    .conf_guard
                    .is_locked(now, source, Some(&conference_key(&cid)), false)
                {
                    return self.conference_answer(
                        now,
                        id,
                        ConferenceAnswer::Refused(ConferenceRefusal::Locked),
                    );
                }
                self.io(id, VmIo::LoadConference(cid));
            }
            Err(_) => self.wrong_conference_id(now, id),
        }
    }

    /// No conference callers may enter has the ID entered: it counts against the caller's address
    /// only (made-up IDs cannot fill the guard's table).
    fn wrong_conference_id(&mut self, now: Instant, id: CallId) {
        let Some(source) = self.voicemail.get(&id).map(|v| v.source) else {
            return;
        };
        let locks = self.conf_guard.record_failure(now, source, None);
        self.conference_locks(now, locks);
        self.conference_answer(now, id, ConferenceAnswer::WrongId)
    }

    /// The conference a caller named, looked up: its password is asked for if callers may enter it.
    /// A wrong ID counts against the caller's address.
    fn conference_found(
        &mut self,
        now: Instant,
        id: CallId,
        cid: ConferenceId,
        found: Option<Box<Conference>>,
        unix: i64,
    ) {
        use crate::conference::State;
        let Some(v) = self.voicemail.get_mut(&id) else {
            return;
        };
        let found = found.filter(|c| c.id == cid).map(|c| {
            let state = c.state(unix, self.rooms.in_session(&c.id));
            (c, state)
        });
        match found {
            Some((c, State::Enabled | State::Active)) => {
                v.conference = Some((c, unix));
                self.conference_answer(now, id, ConferenceAnswer::AskPassword)
            }
            // A scheduled conference before its time: the caller is told so (no wrong entry).
            Some((_, State::Queued)) => self.conference_answer(
                now,
                id,
                ConferenceAnswer::Refused(ConferenceRefusal::NotStarted),
            ),
            _ => self.wrong_conference_id(now, id),
        }
    }

    /// The password entered for the conference named: a right one seats the caller if there is a
    /// seat and a room; a wrong one counts against the caller's address and the conference.
    fn conference_password(&mut self, now: Instant, id: CallId, pin: Pin) {
        let Some(v) = self.voicemail.get_mut(&id) else {
            return;
        };
        let Some((c, unix)) = v.conference.clone() else {
            return self.conference_answer(now, id, ConferenceAnswer::WrongId);
        };
        let (source, key) = (v.source, conference_key(&c.id));
        let answer = if self.conf_guard.is_locked(now, source, Some(&key), false) {
            ConferenceAnswer::Refused(ConferenceRefusal::Locked)
        } else if !c.password.matches(pin.expose()) {
            let locks = self.conf_guard.record_failure(now, source, Some(&key));
            self.conference_locks(now, locks);
            ConferenceAnswer::WrongPassword
        } else {
            match self.rooms.admits(&c, &self.config.conference, unix) {
                Err(Refused::Full) => ConferenceAnswer::Refused(ConferenceRefusal::Full),
                Err(Refused::NoRoom) => ConferenceAnswer::Refused(ConferenceRefusal::NoRoom),
                Ok(victim) => {
                    if let Some(victim) = victim {
                        info!(conference = %c.id, ended = %victim, "a scheduled conference begins with every room in use: another is ended");
                        let _ = self.end_conference(now, &victim);
                    }
                    let Some(v) = self.voicemail.get_mut(&id) else {
                        return;
                    };
                    let alone = self.rooms.enter(now, unix, &c, id);
                    v.seat = Seat::Held;
                    v.label = format!("conference {}", c.id);
                    self.changed = true;
                    let _g = v.span.enter();
                    info!(conference = %c.id, alone, "entering the conference");
                    ConferenceAnswer::Enter { alone }
                }
            }
        };
        self.conference_answer(now, id, answer);
    }

    /// End conference `conference`: every participant is told so and its call ends. Returns how many
    /// were in it.
    pub fn end_conference(&mut self, now: Instant, conference: &ConferenceId) -> usize {
        let calls = self.rooms.participants(conference);
        info!(conference = %conference, participants = calls.len(), "conference ended");
        for call in &calls {
            self.remove_participant(now, *call, false);
        }
        calls.len()
    }

    /// Disconnect participant `call` of `conference` (a Creator or Moderator asked): it is told so
    /// and its call ends. Returns whether it was in that conference.
    pub fn disconnect(&mut self, now: Instant, conference: &ConferenceId, call: u64) -> bool {
        let call = CallId(call);
        if !self.rooms.participants(conference).contains(&call) {
            return false;
        }
        info!(conference = %conference, call = call.0, "participant disconnected");
        self.remove_participant(now, call, true)
    }

    /// Take `call` out of its conference (`removed`: disconnected by a Creator or Moderator, else the
    /// conference ended): its audio leaves the room (the others hear the dong), it is told why, and
    /// its call ends. Returns whether it was in a conference.
    pub(super) fn remove_participant(&mut self, now: Instant, call: CallId, removed: bool) -> bool {
        let Some(v) = self.voicemail.get_mut(&call) else {
            return false;
        };
        let Some(leave) = leave_room(&mut self.rooms, &mut self.out, now, call, v) else {
            return false;
        };
        self.out.push_back(Command::Voicemail(call, leave));
        v.session.conference_ended(now, removed);
        self.changed = true;
        self.drive_vm(now, call);
        true
    }

    fn conference_answer(&mut self, now: Instant, id: CallId, answer: ConferenceAnswer) {
        if let Some(v) = self.voicemail.get_mut(&id) {
            let _g = v.span.clone().entered();
            if let ConferenceAnswer::Refused(why) = answer {
                info!(?why, "conference entry refused");
            }
            v.session.handle_conference(now, answer);
        }
        self.drive_vm(now, id);
    }

    fn conference_locks(&mut self, now: Instant, locks: Vec<Lockout>) {
        self.conf_guard.prune(now);
        for lock in locks {
            match lock {
                Lockout::Account(c, d) => {
                    warn!(conference = %c, secs = d.as_secs(), "conference locked after repeated wrong passwords")
                }
                Lockout::Address(a, d) => {
                    warn!(address = %a, secs = d.as_secs(), "Conference Center entries from an address locked after repeated wrong IDs or passwords")
                }
            }
        }
    }
}
