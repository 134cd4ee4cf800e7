//! The switch's B2BUA calls: a call is planned once the callee's phones are known, starts when its relay
//! is open, is driven (its outputs become commands), hands an unanswered caller to voicemail, and ends
//! with one call record whose outcome is decided here and only here.

use std::time::{Duration, Instant};

use tracing::{info, info_span, Span};

use super::{Account, CallId, CallSummary, ClientRoute, Command, Opening, Switch};
use crate::call::{Call, CallEvent, ForkTarget, NewCall, Output, Side, TxId};
use crate::registrar::Binding;
use crate::sip::Request;
use crate::sip::StatusCode;
use crate::target::Target;
use crate::text::Printable;
use crate::trunk::TrunkName;
use crate::vm::Reason;

/// How a call ended, for its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The callee answered.
    Answered,
    /// The callee was busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The caller hung up before an answer.
    Cancelled,
    /// The call could not be set up.
    Failed,
    /// The caller reached the callee's voicemail.
    Voicemail,
    /// A call to the mailbox menu (`*97`, `*98`, the pilot).
    Mailbox,
    /// A feature code (a presence set from the phone).
    Feature,
    /// A call to the Conference Center.
    Conference,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 9] = [
        Outcome::Answered,
        Outcome::Busy,
        Outcome::NoAnswer,
        Outcome::Cancelled,
        Outcome::Failed,
        Outcome::Voicemail,
        Outcome::Mailbox,
        Outcome::Feature,
        Outcome::Conference,
    ];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no-answer",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
            Outcome::Voicemail => "voicemail",
            Outcome::Mailbox => "mailbox",
            Outcome::Feature => "feature",
            Outcome::Conference => "conference",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Answered => "Answered",
            Outcome::Busy => "Busy",
            Outcome::NoAnswer => "No answer",
            Outcome::Cancelled => "Cancelled",
            Outcome::Failed => "Failed",
            Outcome::Voicemail => "Voicemail",
            Outcome::Mailbox => "Mailbox menu",
            Outcome::Feature => "Feature code",
            Outcome::Conference => "Conference",
        }
    }

    /// The outcome of a call that was never answered, from the final status its caller saw.
    pub fn of_unanswered(status: Option<StatusCode>) -> Outcome {
        let Some(status) = status else {
            return Outcome::Failed;
        };
        match status {
            s if s.is_busy() => Outcome::Busy,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TEMPORARILY_UNAVAILABLE => Outcome::NoAnswer,
            StatusCode::REQUEST_TERMINATED => Outcome::Cancelled,
            _ => Outcome::Failed,
        }
    }
}

impl serde::Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Which way a call went, for its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Between Parley's own extensions (or to voicemail from one).
    #[default]
    Internal,
    /// From outside, through a trunk.
    Inbound,
    /// To the outside, through a trunk.
    Outbound,
}

impl Direction {
    /// Every direction.
    pub const ALL: [Direction; 3] = [Direction::Internal, Direction::Inbound, Direction::Outbound];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Internal => "internal",
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Direction::Internal => "Internal",
            Direction::Inbound => "From outside",
            Direction::Outbound => "To outside",
        }
    }
}

impl serde::Serialize for Direction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The lockout's address for Follow-Me PINs entered for `mailbox`: every leg comes from the
/// carrier's address, which all callers through it share, so a stand-in per mailbox takes its
/// place (an address of the documentation range, never a real peer's): wrong PINs lock that
/// mailbox's Follow-Me only, not the carrier's other callers.
pub(super) fn screen_address(mailbox: &str) -> std::net::IpAddr {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in mailbox.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let w = |n: u32| (h >> n) as u16;
    std::net::IpAddr::V6(std::net::Ipv6Addr::new(
        0x2001,
        0x0db8,
        0xf011,
        0x0000,
        w(48),
        w(32),
        w(16),
        w(0),
    ))
}

/// The legs that ring a callee's registered phones.
pub(super) fn phone_forks(ext: &str, contacts: &[Binding]) -> Vec<ForkTarget> {
    contacts
        .iter()
        .map(|b| ForkTarget {
            uri: b.uri.clone(),
            target: b.target,
            outward: None,
            owner: ext.to_string(),
        })
        .collect()
}

/// A call whose callee's phones are known, waiting for its relay.
#[derive(Debug)]
pub(super) struct Planned {
    pub(super) tx: TxId,
    pub(super) invite: Request,
    pub(super) source: Target,
    pub(super) caller: String,
    pub(super) caller_name: Option<String>,
    /// The user whose outside-call limits the call counts against (the caller, or the user whose
    /// route forwarded it outside).
    pub(super) payer: String,
    pub(super) callee: String,
    /// The legs to ring: the callee's phones, or a trunk.
    pub(super) forks: Vec<ForkTarget>,
    /// The callee's account (its voicemail, should the call be diverted); the caller's for a call to
    /// the outside.
    pub(super) account: Account,
    pub(super) divert: bool,
    /// How long it rings, when not the no-answer time.
    pub(super) ring_for: Option<Duration>,
    /// Legs to try in turn when the way fails (the next trunks).
    pub(super) alternates: Vec<ForkTarget>,
    /// The connection attempts of the callee's route after the first.
    pub(super) next_attempts: Vec<crate::call::NextAttempt>,
    /// Where the call goes when nobody answered (the callee's voicemail, another user, or 480).
    pub(super) finally: crate::routing::Finally,
    /// A call forwarded from another user's route: the caller's To tag, when it started, and how
    /// many times it was forwarded.
    pub(super) forwarded: Option<Forwarded>,
    /// It follows the callee's On-Busy route (its voicemail greets as busy).
    pub(super) on_busy: bool,
}

/// A call forwarded from one user's route to another user.
#[derive(Debug, Clone)]
pub(super) struct Forwarded {
    /// The To tag the caller already saw.
    pub(super) tag: String,
    /// When the call started.
    pub(super) since: Instant,
    /// Forwards so far (1 for the first).
    pub(super) hops: u32,
    /// The users whose routes the call went through, in order (it never goes to one twice, so no
    /// phone rings twice for a loop of forwards).
    pub(super) visited: Vec<String>,
}

/// A B2BUA call in progress.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) call: Call,
    pub(super) span: Span,
    pub(super) started: Instant,
    caller_name: Option<String>,
    answered_at: Option<Instant>,
    /// The final status the caller saw.
    end_status: Option<StatusCode>,
    /// Handed to voicemail: the voicemail call writes the record.
    diverted: bool,
    account: Account,
    /// A call to the outside that counts towards the limits (not an emergency call).
    pub(super) outside: bool,
    /// Whose limits it counts against.
    pub(super) payer: String,
    /// The trunk a call from outside came in through.
    pub(super) inbound: Option<TrunkName>,
    /// Where it goes when nobody answers.
    finally: crate::routing::Finally,
    /// It follows the callee's On-Busy route.
    on_busy: bool,
    /// How many times it was forwarded before (0: dialled).
    hops: u32,
    /// A Follow-Me PIN being checked: for which screening, and whose mailbox.
    pub(super) screen_pin: Option<(u64, String)>,
    /// The users whose routes it went through before this one.
    visited: Vec<String>,
}

impl Switch {
    /// Ring the callee's phones: first the relay is opened.
    pub(super) fn ring(&mut self, planned: Planned) {
        let id = self.new_call_id();
        self.server_txs.insert(planned.tx, id);
        self.opening.insert(id, Opening::Relay(Box::new(planned)));
        self.out.push_back(Command::OpenRelay(id));
    }

    /// A CANCEL for a call whose media is still being opened (a shell that opens media later).
    pub(super) fn cancel_opening(&mut self, now: Instant, id: CallId, tx: TxId) {
        let (invite, tag, caller) = match self.opening.get(&id) {
            Some(Opening::Relay(p)) => (p.invite.clone(), None, p.caller.clone()),
            Some(Opening::Voicemail(p)) => (
                p.invite.clone(),
                p.local_tag.clone(),
                p.caller().to_string(),
            ),
            None => return,
        };
        // The media, once open, is closed: `handle_relay` / `handle_media_opened` find no call.
        self.opening.remove(&id);
        self.server_txs.remove(&tx);
        info!("caller cancelled before the call was set up");
        let tag = tag.unwrap_or_else(|| self.tag());
        self.respond(
            tx,
            crate::sip::Response::to_request(&invite, StatusCode::REQUEST_TERMINATED, Some(&tag)),
        );
        let callee = invite.uri.user_base().unwrap_or_default().to_string();
        self.refused_record(now, &caller, &callee, Outcome::Cancelled);
    }

    /// A key pressed on the Follow-Me leg of `call` being screened (RFC 4733 or in-band, as the
    /// relay's media end heard it).
    pub fn handle_screen_digit(&mut self, now: Instant, call: CallId, key: char) {
        if let Some(e) = self.calls.get_mut(&call) {
            // The key itself is not logged: it may be a digit of a PIN.
            e.call.handle_screen_digit(now, key);
        }
        self.drive_call(now, call);
    }

    /// The mailbox PIN a Follow-Me leg of `call` entered (for screening number `screening`) was
    /// checked.
    pub fn handle_screen_pin(
        &mut self,
        now: Instant,
        call: CallId,
        screening: u64,
        check: super::PinCheck,
    ) {
        let Some(e) = self.calls.get_mut(&call) else {
            return;
        };
        // An answer for a check that ended already (its leg gone, another check since) is dropped.
        if e.screen_pin.as_ref().is_none_or(|(g, _)| *g != screening) {
            return;
        }
        let Some((_, mailbox)) = e.screen_pin.take() else {
            return;
        };
        // A PIN never set opens nothing from outside (the default PIN is for the owner's phone);
        // that is no guess at a PIN, so it does not count towards the lockout.
        let ok = check == super::PinCheck::Matches;
        let counted_ok = ok || check == super::PinCheck::NotSet;
        let _g = e.span.clone().entered();
        info!(%mailbox, ok, "Follow-Me PIN");
        e.call.handle_screen_pin(now, screening, ok);
        let locks = self
            .pin_guard
            .end(now, screen_address(&mailbox), Some(&mailbox), counted_ok);
        if !locks.is_empty() {
            tracing::warn!(%mailbox, "Follow-Me PINs locked after repeated wrong ones");
        }
        self.changed = true;
        drop(_g);
        self.drive_call(now, call);
    }

    /// The relay of `call` is open with these ports facing the caller and the callee, or could not
    /// be opened.
    pub fn handle_relay(&mut self, now: Instant, call: CallId, ports: Result<(u16, u16), ()>) {
        let Some(Opening::Relay(p)) = self.opening.remove(&call) else {
            if ports.is_ok() {
                // Cancelled meanwhile.
                self.out.push_back(Command::CloseRelay(call));
            }
            return;
        };
        let Ok((a_port, b_port)) = ports else {
            tracing::warn!("cannot allocate media ports: 503");
            self.server_txs.remove(&p.tx);
            return self.reply(p.tx, &p.invite, StatusCode::SERVICE_UNAVAILABLE);
        };
        let Planned {
            tx,
            invite,
            source,
            caller,
            caller_name,
            callee,
            forks,
            account,
            divert,
            ring_for,
            alternates,
            next_attempts,
            finally,
            forwarded,
            on_busy,
            payer,
        } = *p;
        let outside = self.counts_as_outside(&forks, &callee)
            || next_attempts
                .iter()
                .any(|a| self.counts_as_outside(&a.forks, &callee));
        let inbound = self.trunk_of(source.addr.ip()).cloned();
        let span =
            info_span!("call", id = call.0, from = %Printable(&caller), to = %Printable(&callee));
        let seed = self.ids.next_u64();
        let c = {
            let _g = span.enter();
            info!(legs = forks.len(), "call started");
            Call::new(
                now,
                self.call_config.clone(),
                NewCall {
                    invite,
                    tx,
                    source,
                    caller,
                    caller_name: caller_name.clone(),
                    callee,
                    forks,
                    a_media_port: a_port,
                    b_media_port: b_port,
                    seed,
                    divert,
                    ring_for,
                    alternates,
                    next_attempts,
                    a_tag: forwarded.as_ref().map(|f| f.tag.clone()),
                },
            )
        };
        self.by_call_id
            .insert(c.a_call_id().to_string(), (call, Side::A));
        for (i, cid) in c.b_call_ids().into_iter().enumerate() {
            self.by_call_id.insert(cid, (call, Side::B(i)));
        }
        self.calls.insert(
            call,
            Entry {
                call: c,
                span,
                started: forwarded.as_ref().map_or(now, |f| f.since),
                finally,
                on_busy,
                hops: forwarded.as_ref().map_or(0, |f| f.hops),
                screen_pin: None,
                visited: forwarded
                    .as_ref()
                    .map(|f| f.visited.clone())
                    .unwrap_or_default(),
                caller_name,
                answered_at: None,
                end_status: None,
                diverted: false,
                account,
                outside,
                payer,
                inbound,
            },
        );
        self.changed = true;
        self.drive_call(now, call);
    }

    /// Carry out everything a call asked for; drop it once it has ended.
    pub(super) fn drive_call(&mut self, now: Instant, id: CallId) {
        let mut diverted = None;
        let mut pin_refused = None;
        {
            let Some(entry) = self.calls.get_mut(&id) else {
                return;
            };
            while let Some(out) = entry.call.poll_output() {
                match out {
                    Output::Respond { tx, response } => {
                        self.out.push_back(Command::Respond { tx, response })
                    }
                    Output::Request {
                        side,
                        request,
                        target,
                    } => {
                        // A leg started later (the next trunk after a failure) is found by its
                        // Call-ID like the first ones.
                        if let (Side::B(_), crate::sip::Method::Invite) = (side, &request.method) {
                            self.by_call_id
                                .entry(request.call_id().to_string())
                                .or_insert((id, side));
                        }
                        self.out.push_back(Command::Send {
                            route: ClientRoute::Call {
                                call: id,
                                side,
                                request: request.clone(),
                            },
                            request,
                            target,
                        })
                    }
                    // The SIP stack's client INVITE transaction ACKs every 2xx itself (and its
                    // retransmissions), so the core's ACK is not sent a second time.
                    Output::Ack { .. } => {}
                    Output::Media(update) => self.out.push_back(Command::SteerRelay(id, update)),
                    Output::Screen(s) => {
                        let _g = entry.span.enter();
                        info!(remote = %s.remote, "Follow-Me leg answered: screening it");
                        self.out.push_back(Command::Screen(id, Some(s)))
                    }
                    Output::ScreenEnd => self.out.push_back(Command::Screen(id, None)),
                    Output::ScreenPin { pin, screening } => {
                        // Counted before the check, so that parallel entries cannot outrun the
                        // lockout (the mailbox's, shared with the mailbox menu's logins). The
                        // leg's address is the carrier's, shared by every caller through it: the
                        // mailbox stands in for it, so wrong PINs lock this mailbox only.
                        let mailbox = entry.call.parties().1.to_string();
                        let from = screen_address(&mailbox);
                        if let Some((_, old)) = entry.screen_pin.take() {
                            // A check still out for a leg that is gone: it ends here, as wrong.
                            self.pin_guard
                                .end(now, screen_address(&old), Some(&old), false);
                        }
                        match self.pin_guard.begin(now, from, Some(&mailbox)) {
                            Ok(()) => {
                                entry.screen_pin = Some((screening, mailbox.clone()));
                                self.out.push_back(Command::ScreenPin {
                                    call: id,
                                    mailbox,
                                    pin,
                                    screening,
                                });
                            }
                            Err(refusal) => {
                                let _g = entry.span.enter();
                                info!(
                                    ?refusal,
                                    "Follow-Me PIN refused: locked after repeated wrong PINs"
                                );
                                pin_refused = Some(screening);
                            }
                        }
                    }
                    Output::Event(ev) => {
                        let _g = entry.span.enter();
                        match ev {
                            CallEvent::Answered => {
                                info!("call answered");
                                entry.answered_at = Some(now);
                            }
                            CallEvent::Ended { status, reason } => {
                                info!(status = status.as_u16(), reason, "call ended");
                                entry.end_status = Some(status);
                            }
                            CallEvent::Unanswered { busy } => {
                                info!(busy, finally = ?entry.finally, "callee did not take the call: its Finally route");
                                entry.diverted = true;
                                let (a, b) = entry.call.parties();
                                diverted = Some((
                                    entry.call.a_leg(),
                                    a.to_string(),
                                    b.to_string(),
                                    busy || entry.on_busy,
                                    entry.started,
                                    entry.account.clone(),
                                    entry.finally.clone(),
                                    (entry.hops, entry.visited.clone()),
                                ));
                            }
                            CallEvent::Dtmf(_) => {}
                        }
                        self.changed = true;
                    }
                }
            }
        }
        if let Some(screening) = pin_refused {
            if let Some(e) = self.calls.get_mut(&id) {
                e.call.handle_screen_pin(now, screening, false);
            }
            return self.drive_call(now, id);
        }
        if let Some((leg, caller, callee, busy, since, account, finally, (hops, visited))) =
            diverted
        {
            // The caller's requests now belong to the voicemail call, or to the next user's call.
            let reason = if busy { Reason::Busy } else { Reason::NoAnswer };
            self.finally(
                now,
                leg,
                caller,
                callee,
                account,
                finally,
                reason,
                Some(since),
                (hops, visited),
            );
        }
        let ended = self.calls.get(&id).is_some_and(|e| e.call.is_ended());
        if !ended {
            return;
        }
        let Some(e) = self.calls.remove(&id) else {
            return;
        };
        if let Some((_, mailbox)) = &e.screen_pin {
            // A PIN check out when the call ended: it ends here, as wrong, releasing its place.
            self.pin_guard
                .end(now, screen_address(mailbox), Some(mailbox), false);
        }
        // The voicemail call that took the caller keeps its own routes.
        self.by_call_id.retain(|_, (c, _)| *c != id);
        self.server_txs.retain(|_, c| *c != id);
        self.out.push_back(Command::CloseRelay(id));
        self.changed = true;
        if !e.diverted {
            let (a, b) = e.call.parties();
            let outcome = match e.answered_at {
                Some(_) => Outcome::Answered,
                None => Outcome::of_unanswered(e.end_status),
            };
            let (direction, trunk) = match (&e.inbound, e.call.trunk()) {
                (Some(t), _) => (Direction::Inbound, Some(t.to_string())),
                (None, Some(t)) => (Direction::Outbound, Some(t.to_string())),
                (None, None) => (Direction::Internal, None),
            };
            // How it was routed: the user whose route sent it on (the first it went through),
            // and who took it.
            let answered_by = e.call.answered_by().map(str::to_string);
            let routed_by = e.visited.first().cloned().or_else(|| {
                answered_by
                    .as_deref()
                    .filter(|who| *who != b && !b.is_empty())
                    .map(|_| b.to_string())
            });
            self.out.push_back(Command::RecordCall(CallSummary {
                started: e.started,
                caller: a.to_string(),
                caller_name: e.caller_name.clone(),
                callee: b.to_string(),
                routed_by,
                answered_by,
                outcome,
                talk: e
                    .answered_at
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default(),
                total: now.saturating_duration_since(e.started),
                direction,
                trunk,
            }));
        }
    }

    /// The record of a call refused before anything rang (unknown number, nobody registered, busy).
    pub(super) fn refused_record(
        &mut self,
        now: Instant,
        caller: &str,
        callee: &str,
        outcome: Outcome,
    ) {
        self.refused_via(now, caller, callee, outcome, Direction::Internal, None);
    }

    /// The record of a call from or to the outside refused before anything rang.
    pub(super) fn refused_via(
        &mut self,
        now: Instant,
        caller: &str,
        callee: &str,
        outcome: Outcome,
        direction: Direction,
        trunk: Option<&TrunkName>,
    ) {
        self.out.push_back(Command::RecordCall(CallSummary {
            started: now,
            caller: caller.to_string(),
            caller_name: None,
            callee: callee.to_string(),
            routed_by: None,
            answered_by: None,
            outcome,
            talk: Duration::ZERO,
            total: Duration::ZERO,
            direction,
            trunk: trunk.map(TrunkName::to_string),
        }));
    }
}
